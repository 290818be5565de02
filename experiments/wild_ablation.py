"""The ablation of the training levers for photos from the wild (docs/wild.md).

    python experiments/wild_ablation.py data/aligned --epochs 14 --out metrics/ablation.json

Trains the study's `main` model (params.yaml `train.main`) once per configuration, each lever alone,
then all together, for `--epochs` epochs (fewer than the study's, so the whole table fits in an
hour on 2 cores; a configuration that mixes in another dataset trains for the same number of steps
as one without), and scores each on the proxies for photos from the wild that the study has:
FaceSynthetics test (synthetic people in real scenes, with accessories), FASSEG validation per pose,
the London template check (`--london`, built by the `london_check` stage: skin, brows, eyes, nose and
lips filled from hand-placed templates on 40 photos under another camera; it labels no background, so
its mean F1 is read without it), and FASSEG V2 test.
Models go to `--models`, the table to `--out` (one entry per configuration, written as each ends,
so a stopped run keeps the finished ones and `--only` reruns a few).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import pandas as pd  # noqa: E402

from faceparse.crops import load_arrays  # noqa: E402
from faceparse.sampling import select_split  # noqa: E402
from faceparse.evaluate import evaluate_folder, evaluate_split  # noqa: E402
from faceparse.jsonio import write_json  # noqa: E402
from faceparse.params import get, load_params, parse  # noqa: E402
from faceparse.predict import Predictor  # noqa: E402
from faceparse.threads import configure  # noqa: E402
from faceparse.train import TrainData, TrainParams, train, training_data  # noqa: E402

SCENES = ["facesynthetics_100"]
CONFIGS = {
    "none": {},
    "background": {"augment": {"background": 0.6}, "scenes": SCENES},
    "camera": {"augment": {"camera": 0.6}},
    "occlusion": {"augment": {"occlusion": 0.4}},
    "mix": {"datasets": ["fasseg", "facesynthetics_100"], "mix": {"facesynthetics_100": 0.4}},
    "background+mix": {"augment": {"background": 0.6}, "scenes": SCENES,
                       "datasets": ["fasseg", "facesynthetics_100"], "mix": {"facesynthetics_100": 0.4}},
    "all": {"augment": {"background": 0.6, "camera": 0.6, "occlusion": 0.4}, "scenes": SCENES,
            "datasets": ["fasseg", "facesynthetics_100"], "mix": {"facesynthetics_100": 0.4}},
}


def configured(base: TrainParams, change: dict, epochs: int) -> TrainParams:
    augment = {**base.augment, **change.get("augment", {})}
    rest = {k: v for k, v in change.items() if k != "augment"}
    return dataclasses.replace(base, augment=augment, epochs=epochs, **rest)


def evaluate(model: Path, aligned: Path, manifest: pd.DataFrame, london: Path | None) -> dict:
    predictor = Predictor(model, tta=True, target_label_set="fasseg6")
    out = {}
    for split in ("fasseg/test", "fasseg/val", "facesynthetics_100/test"):
        dataset, _, name = split.partition("/")
        rows = manifest[(manifest["dataset"] == dataset) & (manifest["split"] == name)]
        affines = load_arrays(aligned, dataset, keys=("affines",))["affines"]
        s = evaluate_split(predictor, rows, affines, ROOT, bootstrap=0).summary
        out[split] = {k: s[k] for k in ("pixel_accuracy", "mean_f1", "mean_f1_fg", "f1", "mean_f1_by_pose") if k in s}
    if london is not None and london.is_dir():
        s = evaluate_folder(predictor, london, "fasseg6", bootstrap=0).summary
        out["london_check"] = {k: s[k] for k in ("pixel_accuracy", "mean_f1", "mean_f1_fg", "f1") if k in s}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("aligned", type=Path, help="the align stage's output folder (data/aligned)")
    parser.add_argument("--epochs", type=int, default=14)
    parser.add_argument("--london", type=Path, default=ROOT / "data/london_check")
    parser.add_argument("--models", type=Path, default=ROOT / "data/ablation")
    parser.add_argument("--out", type=Path, default=ROOT / "metrics/ablation.json")
    parser.add_argument("--only", nargs="*", choices=sorted(CONFIGS), help="run these configurations only")
    parser.add_argument("--score-only", action="store_true", help="score the models already in --models")
    args = parser.parse_args()
    configure()
    params = load_params(ROOT / "params.yaml")
    base = parse(TrainParams, get(params, "train.main"), "train.main")
    manifest = pd.read_csv(args.aligned / "manifest.csv", keep_default_na=False)
    table = json.loads(args.out.read_text()) if args.out.exists() else {}
    args.models.mkdir(parents=True, exist_ok=True)
    for name in args.only or CONFIGS:
        p = configured(base, CONFIGS[name], args.epochs)
        model = args.models / f"{name}.pt"
        t0 = time.time()
        if not args.score_only:
            data, rows = training_data(p, args.aligned, manifest)
            if p.mix:  # the same number of steps as without the mixed-in crops, so no lever trains longer
                unmixed = round(len(data.images) * (1 - sum(p.mix.values())))
                p = dataclasses.replace(p, max_steps=args.epochs * (unmixed // p.batch_size))
            vx, vy, _ = select_split(args.aligned, manifest, p.datasets, p.label_set, "val")
            train(p, p.label_set, data, TrainData(vx, vy), model, meta={"name": name, "align": get(params, "align")})
        minutes = (time.time() - t0) / 60
        scores = evaluate(model, args.aligned, manifest, args.london)
        table[name] = {"change": CONFIGS[name], "epochs": args.epochs, **scores}
        if not args.score_only:
            table[name]["train_minutes"] = round(minutes, 1)
        write_json(args.out, table)
        print(name, {k: round(v["mean_f1_fg" if k == "london_check" else "mean_f1"], 4) for k, v in scores.items()},
              flush=True)


if __name__ == "__main__":
    main()
