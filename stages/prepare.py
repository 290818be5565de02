"""Stage `prepare`: native masks -> label PNGs in the study's label set + <prepared>/manifest.csv.

    python -m stages.prepare data/raw data/prepared
"""

import logging
import shutil

import pandas as pd

from stages._common import ROOT, arguments, get, parse, setup

from faceparse.prepare import PrepareParams, prepare_dataset


def main() -> None:
    args = arguments(__doc__, "raw_path", "prepared_path")
    p = parse(PrepareParams, get(setup(), "prepare"), "prepare")
    out = args.prepared_path
    shutil.rmtree(out, ignore_errors=True)
    frames = [prepare_dataset(name, d, args.raw_path, out, p.label_set, p.seed, p.on_error, ROOT)
              for name, d in p.datasets.items()]
    manifest = pd.concat(frames, ignore_index=True)
    manifest.to_csv(out / "manifest.csv", index=False)
    counts = manifest.groupby(["dataset", "split", "status"]).size()
    logging.info("manifest:\n%s", counts.to_string())


if __name__ == "__main__":
    main()
