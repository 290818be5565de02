"""Stage `prepare`: native masks -> label PNGs in the study's label set + data/prepared/manifest.csv."""

import logging
import shutil

import pandas as pd

from _common import ROOT, get, setup

from faceparse.prepare import prepare_dataset


def main() -> None:
    params = setup()
    cfg = get(params, "prepare")
    out = ROOT / "data/prepared"
    shutil.rmtree(out, ignore_errors=True)
    frames = [prepare_dataset(name, d, ROOT / "data/raw", out, cfg["label_set"], int(cfg["seed"]), cfg["on_error"], ROOT)
              for name, d in get(params, "prepare.datasets").items()]
    manifest = pd.concat(frames, ignore_index=True)
    manifest.to_csv(out / "manifest.csv", index=False)
    counts = manifest.groupby(["dataset", "split", "status"]).size()
    logging.info("manifest:\n%s", counts.to_string())


if __name__ == "__main__":
    main()
