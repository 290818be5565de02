"""Does ImageNet initialisation beat training from scratch? Same params, seed and number of steps,
two runs side by side on the aligned FASSEG crops of `dvc repro`; validation mean F1 of each
(crop resolution) goes to metrics/bench.json. `--steps` sets the budget of each run."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from _bench import ROOT, main_model_params, record  # noqa: E402

from faceparse.sampling import select_split  # noqa: E402
from faceparse.train import TrainData, train  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    _, cfg = main_model_params()
    datasets, label_set = cfg.datasets, cfg.label_set
    manifest = pd.read_csv(ROOT / "data/aligned/manifest.csv", keep_default_na=False)
    aligned = ROOT / "data/aligned"
    tx, ty, _ = select_split(aligned, manifest, datasets, label_set, "train")
    vx, vy, _ = select_split(aligned, manifest, datasets, label_set, "val")
    results = {}
    for weights in ("imagenet", "none"):
        p = replace(cfg, weights=weights, max_steps=args.steps,
                    epochs=max(1, -(-args.steps * cfg.batch_size // len(tx))))
        r = train(p, label_set, TrainData(tx, ty), TrainData(vx, vy), Path(f"/tmp/faceparse_init_{weights}.pt"))
        results[f"init_{'imagenet' if weights == 'imagenet' else 'scratch'}_val_mean_f1"] = round(r["best_val_mean_f1"], 4)
    results["init_comparison_steps"] = args.steps
    record(results)
    print(results)


if __name__ == "__main__":
    main()
