"""Stage `align`: every prepared photo cropped around its face to the model input size, affine kept."""

import shutil

import pandas as pd

from _common import ROOT, get, setup

from faceparse.align import AlignParams
from faceparse.aligned import align_manifest


def main() -> None:
    params = setup()
    cfg = get(params, "align")
    manifest = pd.read_csv(ROOT / "data/prepared/manifest.csv", keep_default_na=False)
    formats = {name: d["format"] for name, d in get(params, "prepare.datasets").items()}
    out = ROOT / "data/aligned"
    shutil.rmtree(out, ignore_errors=True)
    aligned = align_manifest(manifest, AlignParams(**cfg), ROOT, out, formats)
    aligned.to_csv(out / "manifest.csv", index=False)


if __name__ == "__main__":
    main()
