"""Stage `align`: every prepared photo cropped around its face to the model input size, affine kept,
in shards (`faceparse.crops`), one process per core (FACEPARSE_THREADS caps them).

    python -m stages.align data/prepared data/aligned
"""

import shutil

import pandas as pd

from stages._common import ROOT, arguments, get, parse, setup

from faceparse import threads
from faceparse.align import align_manifest
from faceparse.geometry import AlignParams
from faceparse.detect import FaceFinder
from faceparse.prepare import PrepareParams


def main() -> None:
    args = arguments(__doc__, "prepared_path", "aligned_path")
    params = setup()
    p = parse(AlignParams, get(params, "align"), "align")
    formats = {name: d.format for name, d in parse(PrepareParams, get(params, "prepare"), "prepare").datasets.items()}
    manifest = pd.read_csv(args.prepared_path / "manifest.csv", keep_default_na=False)
    out = args.aligned_path
    shutil.rmtree(out, ignore_errors=True)
    aligned = align_manifest(manifest, p, FaceFinder, ROOT, out, formats, workers=threads.current())
    aligned.to_csv(out / "manifest.csv", index=False)


if __name__ == "__main__":
    main()
