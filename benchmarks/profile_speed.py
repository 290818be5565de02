"""`faceparse profile`, `predict` and `evaluate` in fp32 and bf16 against the model's own floor, in one run.

- The model floor: the main model's forward passes on the 80 London crops at its input size, flip
  TTA (two passes), batch 8: the exported graph in ONNX Runtime (fp32) and in OpenVINO (bf16, where
  the CPU has it), and PyTorch; the largest differences between their probabilities.
- `faceparse profile` on the 80 London photos (1350x1350 JPEG) with each precision, start-up
  included: fresh processes timed from launch to exit, the model's graph already cached (its
  one-off export is timed on its own). The bf16 rows against the fp32 rows: every numeric column's
  largest and mean difference, the share of ITA categories that agree, and the London test-retest
  ICCs computed from each.
- `faceparse predict` and `faceparse evaluate` on the 100 FaceSynthetics photos (512x512) with each
  precision, start-up included.
- Each command is timed `--rounds` times (3), from faceparse's compiled bytecode (compiled first),
  the two precisions taking turns: these machines' speed drifts by up to twofold within the hour, so
  one run says as much about the hour as about the code. The median is the headline figure
  (`..._per_second`), the best (`..._per_second_best`) and every run (`..._seconds_all`) beside it.

Results go to metrics/bench.json. Run it with nothing else on the machine: two heavy processes on
two cores slow each other several times over.
"""

from __future__ import annotations

import argparse
import compileall
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from _bench import ROOT, machine, record  # noqa: E402

from faceparse.datasets import read_image  # noqa: E402
from faceparse.datasets.base import list_images  # noqa: E402
from faceparse.geometry import warp_image  # noqa: E402
from faceparse.predict import Predictor  # noqa: E402
from faceparse.profile.london import london_table, validate_london  # noqa: E402
from faceparse.runtime import bf16_problem, graph_path  # noqa: E402

MIRROR = Path(os.environ.get("FACEPARSE_MIRROR") or ROOT.parent / "shared/data")


def crops_of(predictor: Predictor, photos: list[Path]) -> np.ndarray:
    """The aligned crop of the largest face of each photo that has one."""
    crops = []
    for photo in photos:
        image = read_image(photo)
        faces = predictor.find_faces(image)
        crops += [warp_image(image, faces[0].matrix, predictor.size)] if faces else []
    return np.stack(crops)


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


def agreement(fp32: pd.DataFrame, bf16: pd.DataFrame) -> dict:
    """Every numeric column's largest and mean absolute difference between two profile tables of the
    same photos (rows paired by photo and face), and the share of equal ITA categories."""
    keys = ["photo", "face_index"]
    both = fp32.merge(bf16, on=keys, suffixes=("_fp32", "_bf16"))
    out = {"rows": len(both)}
    for column in fp32.columns:
        if column in keys or not pd.api.types.is_numeric_dtype(fp32[column]):
            continue
        d = (both[f"{column}_fp32"] - both[f"{column}_bf16"]).abs().dropna()
        if len(d):
            out[column] = {"max": float(f"{d.max():.3g}"), "mean": float(f"{d.mean():.3g}")}
    for column in ("cheeks_ita_category", "skin_ita_category"):
        if column in fp32:
            out[f"{column}_agree"] = round(float((both[f"{column}_fp32"] == both[f"{column}_bf16"]).mean()), 4)
    return out


def london_iccs(table: pd.DataFrame, folder: Path) -> dict:
    """The London test-retest ICCs (neutral against smiling) of a profile table."""
    summary = validate_london(london_table(table, folder))
    return {k: v for k, v in summary.items() if k.startswith("icc")}


def bf16_figure(key: str) -> bool:
    """Whether a metrics/bench.json key is one of this benchmark's bf16 figures."""
    return key.endswith("_bf16") or key.startswith("bf16_vs_fp32")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models/main.pt")
    parser.add_argument("--london", type=Path, default=MIRROR / "london_faces")
    parser.add_argument("--synthetic", type=Path, default=MIRROR / "facesynthetics_100")
    parser.add_argument("--rounds", type=int, default=3,
                        help="timed runs of each command in each precision, the precisions taking turns")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, found {args.rounds}")
    london = list_images(args.london, recursive=True)
    synthetic = sorted(p for p in args.synthetic.glob("*.png") if not p.stem.endswith("_seg"))

    graph = graph_path(args.model, tta=True)
    for old in graph.parent.glob(f"{graph.stem}.*"):
        old.unlink()  # time the one-off export, then use the cached graph as every later run does
    t0 = time.perf_counter()
    onnx = Predictor(args.model, tta=True, target_label_set="fasseg6", runtime="onnx")
    export_s = time.perf_counter() - t0
    torch_ = Predictor(args.model, tta=True, target_label_set="fasseg6", runtime="torch")
    bf16 = None if bf16_problem() else Predictor(args.model, tta=True, target_label_set="fasseg6", precision="bf16")

    crops = crops_of(onnx, london)
    floor_onnx, p_onnx = floor_seconds(onnx, crops)
    floor_torch, p_torch = floor_seconds(torch_, crops)
    floor_bf16, p_bf16 = floor_seconds(bf16, crops) if bf16 is not None else (None, None)
    del onnx, torch_, bf16

    # Each timed process reads faceparse's compiled bytecode, as an installed faceparse does (pip
    # compiles it on install): a checkout run with PYTHONDONTWRITEBYTECODE would compile it anew in
    # every run, a tenth of a second or more of start-up no user pays twice.
    compileall.compile_dir(ROOT / "src" / "faceparse", quiet=1)
    precisions = ["fp32"] + ([] if bf16_problem() else ["bf16"])
    runs: dict[str, dict[str, list[float]]] = {p: {"profile": [], "predict": [], "evaluate": []} for p in precisions}
    tables: dict[str, pd.DataFrame] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for precision in precisions:
                model = ["--model", str(args.model), "--precision", precision]
                out = f"{tmp}/{precision}{round_}"  # a new folder each time: nothing to continue from
                times = runs[precision]
                times["profile"].append(timed(["profile", *model, "--out", f"{out}/profile.csv", str(args.london)]))
                times["predict"].append(timed(["predict", *model, "--out", f"{out}/predict", *map(str, synthetic)]))
                times["evaluate"].append(timed(["evaluate", *model, "--dataset", "facesynthetics", "--root",
                                                str(args.synthetic), "--out", f"{out}/evaluate"]))
                tables.setdefault(precision, pd.read_csv(f"{out}/profile.csv"))
    seconds = {p: {k: float(np.median(v)) for k, v in times.items()} for p, times in runs.items()}
    faces = len(crops)
    results = {
        "profile_benchmark": "80 London photos (1350x1350 JPEG), flip TTA, a fresh `faceparse profile` process "
                             "timed launch to exit; the model floor: its forward passes alone on the same crops, batch 8",
        "cpu_bf16": bf16_problem() or "yes",
        "profile_machine": machine(),
        "profile_photos": len(london),
        "profile_onnx_export_seconds": round(export_s, 2),
        "profile_model_floor_seconds": round(floor_onnx, 2),
        "profile_model_floor_seconds_torch": round(floor_torch, 2),
        "onnx_vs_torch_max_abs_diff": float(f"{np.abs(p_onnx - p_torch).max():.2e}"),
        "predict_benchmark": f"{len(synthetic)} FaceSynthetics photos (512x512 PNG), flip TTA, fresh processes "
                             "timed launch to exit",
        "rounds": f"each command timed {args.rounds} times, "
                  + ("fp32 and bf16 taking turns" if len(precisions) > 1 else f"in fp32 alone (bf16: {bf16_problem()})")
                  + ": the median, the best (_best) and every run (_seconds_all)",
    }
    if floor_bf16 is not None:
        results["profile_model_floor_seconds_bf16"] = round(floor_bf16, 2)
        results["bf16_vs_fp32_max_abs_prob_diff"] = float(f"{np.abs(p_onnx - p_bf16).max():.3g}")
        results["bf16_vs_fp32_argmax_agree"] = round(float((p_onnx.argmax(1) == p_bf16.argmax(1)).mean()), 5)
    counts = {"profile": ("faces", faces), "predict": ("photos", len(synthetic)), "evaluate": ("photos", len(synthetic))}
    for precision, s in seconds.items():
        suffix = "" if precision == "fp32" else f"_{precision}"
        results[f"profile_seconds{suffix}"] = round(s["profile"], 2)
        for command, (unit, n) in counts.items():
            results[f"{command}_{unit}_per_second{suffix}"] = round(n / s[command], 3)
            results[f"{command}_{unit}_per_second_best{suffix}"] = round(n / min(runs[precision][command]), 3)
            results[f"{command}_seconds_all{suffix}"] = [round(t, 2) for t in runs[precision][command]]
        results[f"london_icc{suffix}"] = london_iccs(tables[precision], args.london)
    results["profile_model_floor_ratio"] = round(floor_onnx / seconds["fp32"]["profile"], 3)
    if "bf16" in tables:
        results["bf16_vs_fp32_profile_rows"] = agreement(tables["fp32"], tables["bf16"])
    # Every bf16 figure is this run's: on a CPU without bf16, those of an earlier run (another
    # machine) are removed, not left beside this run's fp32 ones.
    record(results, drop=bf16_figure)
    for key, value in results.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
