"""`faceparse profile`, `predict` and `evaluate` against the model's own floor, in one run.

- The model floor: the main model's forward pass on the 80 London crops at its input size, flip TTA
  (two passes), batch 8, through the runtime the commands use (ONNX Runtime) and through PyTorch,
  with the largest difference between their probabilities.
- `faceparse profile` on the 80 London photos (1350x1350 JPEG), start-up included: a fresh process
  timed from launch to exit, the model's ONNX graph already in the cache (its one-off export is
  timed on its own).
- `faceparse predict` and `faceparse evaluate` on the 100 FaceSynthetics photos (512x512), start-up
  included.

Results go to metrics/bench.json. Run it with nothing else on the machine: two heavy processes on
two cores slow each other several times over.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from _bench import ROOT, record  # noqa: E402

from faceparse.geometry import warp_image  # noqa: E402
from faceparse.datasets import read_image  # noqa: E402
from faceparse.datasets.base import list_images  # noqa: E402
from faceparse.predict import Predictor  # noqa: E402
from faceparse.runtime import graph_path  # noqa: E402

MIRROR = Path(os.environ.get("FACEPARSE_MIRROR") or ROOT.parent / "shared/data")


def floor_seconds(predictor: Predictor, crops: np.ndarray, batch: int = 8) -> tuple[float, np.ndarray]:
    """Best of two timed passes of `crop_probs` over `crops` in batches of `batch` (one warm-up)."""
    predictor.crop_probs(crops[:batch])
    best, out = float("inf"), None
    for _ in range(2):
        t0 = time.perf_counter()
        out = np.concatenate([predictor.crop_probs(crops[i:i + batch]) for i in range(0, len(crops), batch)])
        best = min(best, time.perf_counter() - t0)
    return best, out


def timed(command: list[str]) -> float:
    """Wall seconds of a fresh `faceparse` process, from launch to exit (start-up included)."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "faceparse.cli", *command], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models/main.pt")
    parser.add_argument("--london", type=Path, default=MIRROR / "london_faces")
    parser.add_argument("--synthetic", type=Path, default=MIRROR / "facesynthetics_100")
    args = parser.parse_args()
    london = list_images(args.london, recursive=True)
    synthetic = sorted(p for p in args.synthetic.glob("*.png") if not p.stem.endswith("_seg"))

    graph = graph_path(args.model, tta=True)
    for old in graph.parent.glob(f"{graph.stem}.*"):
        old.unlink()  # time the one-off export, then use the cached graph as every later run does
    t0 = time.perf_counter()
    onnx = Predictor(args.model, tta=True, target_label_set="fasseg6", runtime="onnx")
    export_s = time.perf_counter() - t0
    torch_ = Predictor(args.model, tta=True, target_label_set="fasseg6", runtime="torch")

    crops = []
    for photo in london:
        image = read_image(photo)
        faces = onnx.find_faces(image)
        crops += [warp_image(image, faces[0].matrix, onnx.size)] if faces else []
    crops = np.stack(crops)
    floor_onnx, p_onnx = floor_seconds(onnx, crops)
    floor_torch, p_torch = floor_seconds(torch_, crops)
    del onnx, torch_

    with tempfile.TemporaryDirectory() as tmp:
        profile_s = timed(["profile", "--model", str(args.model), "--out", f"{tmp}/profile.csv", str(args.london)])
        predict_s = timed(["predict", "--model", str(args.model), "--out", f"{tmp}/predict",
                           *map(str, synthetic)])
        evaluate_s = timed(["evaluate", "--model", str(args.model), "--dataset", "facesynthetics",
                            "--root", str(args.synthetic), "--out", f"{tmp}/evaluate"])
    faces = len(crops)
    results = {
        "profile_benchmark": "80 London photos (1350x1350 JPEG), flip TTA, a fresh `faceparse profile` process "
                             "timed launch to exit; the model floor: its forward passes alone on the same crops, batch 8",
        "profile_photos": len(london),
        "profile_faces_per_second": round(faces / profile_s, 3),
        "profile_seconds": round(profile_s, 2),
        "profile_model_floor_seconds": round(floor_onnx, 2),
        "profile_model_floor_ratio": round(floor_onnx / profile_s, 3),
        "profile_model_floor_seconds_torch": round(floor_torch, 2),
        "profile_onnx_export_seconds": round(export_s, 2),
        "onnx_vs_torch_max_abs_diff": float(f"{np.abs(p_onnx - p_torch).max():.2e}"),
        "predict_photos_per_second": round(len(synthetic) / predict_s, 3),
        "evaluate_photos_per_second": round(len(synthetic) / evaluate_s, 3),
        "predict_benchmark": f"{len(synthetic)} FaceSynthetics photos (512x512 PNG), flip TTA, fresh processes "
                             "timed launch to exit",
    }
    record(results)
    for key, value in results.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
