"""Faces per second of `faceparse profile` on the London photos (detection + alignment +
segmentation + measurement, batched), with the study's main model; written to metrics/bench.json."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from _bench import ROOT, record  # noqa: E402

from faceparse.datasets.base import list_images  # noqa: E402
from faceparse.predict import Predictor  # noqa: E402
from faceparse.profile import ProfileParams  # noqa: E402
from faceparse.profile.run import timed_profile  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models/main.pt")
    parser.add_argument("--photos", type=Path,
                        default=Path(os.environ.get("FACEPARSE_MIRROR") or ROOT.parent / "shared/data") / "london_faces")
    args = parser.parse_args()
    photos = list_images(args.photos, recursive=True)
    rows, seconds = timed_profile(Predictor(args.model, tta=True, target_label_set="fasseg6"), photos, ProfileParams())
    faces = sum(row["face_index"] >= 0 for row in rows)
    results = {"profile_faces_per_second": round(faces / seconds, 3), "profile_photos": len(photos),
               "profile_benchmark": "London set photos (1350x1350), flip TTA, detection to measurement"}
    record(results)
    print(results)


if __name__ == "__main__":
    main()
