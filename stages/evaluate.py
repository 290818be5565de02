"""Stage `evaluate`: every model of the study on every test split, scored at original resolution.

    python -m stages.evaluate models data/aligned

Also scores the labelled folders of `evaluate.folders` (the London template check), finding each
face as `faceparse evaluate` does. Writes metrics/evaluate.json shaped
{model: {split: {pixel_accuracy, mean_f1, mean_iou, f1: {...}}}},
confusion-matrix and F1 plots under metrics/plots/, and overlays of the best and worst photos.
"""

from dataclasses import asdict
from pathlib import Path

import pandas as pd

from stages._common import ROOT, arguments, get, parse, setup, write_json

from faceparse import tracking
from faceparse.crops import load_arrays
from faceparse.evaluate import EvaluateParams, evaluate_folder, evaluate_split, write_overlays
from faceparse.plots import plot_confusion, plot_f1_bars
from faceparse.predict import Predictor


def predictor_for(models: Path, name: str, label_set: str, tta: bool, precision: str = "fp32") -> Predictor:
    """'main' -> models/main.pt; 'synthetic+adapter' -> the synthetic model read by models/adapter.pt."""
    base, _, adapter = name.partition("+")
    return Predictor(models / f"{base}.pt", models / f"{adapter}.pt" if adapter else None, tta=tta,
                     target_label_set=label_set, precision=precision)


def main() -> None:
    args = arguments(__doc__, "models_path", "aligned_path")
    params = setup()
    cfg = parse(EvaluateParams, get(params, "evaluate"), "evaluate")
    label_set = get(params, "prepare.label_set")
    manifest = pd.read_csv(args.aligned_path / "manifest.csv", keep_default_na=False)
    plots = ROOT / "metrics/plots/evaluate"
    results, confusions = {}, {}
    datasets = {s.partition("/")[0] for s in cfg.splits}
    affines = {d: load_arrays(args.aligned_path, d, keys=("affines",))["affines"] for d in datasets}
    with tracking.run("evaluate", ROOT) as t:
        t.params(asdict(cfg))
        for model in cfg.models:
            predictor = predictor_for(args.models_path, model, label_set, cfg.tta, cfg.precision)
            results[model] = {}
            for split in cfg.splits:
                dataset, _, split_name = split.partition("/")
                rows = manifest[(manifest["dataset"] == dataset) & (manifest["split"] == split_name)]
                r = evaluate_split(predictor, rows, affines[dataset], ROOT, cfg.bootstrap, cfg.seed)
                results[model][split] = r.summary
                tag = f"{model}_{split}".replace("/", "_").replace("+", "_")
                confusions[f"{model}/{split}"] = {"classes": list(predictor.classes), "matrix": r.confusion.tolist()}
                plot_confusion(r.confusion, predictor.classes, plots / f"confusion_{tag}.png",
                               title=f"{model} on {split}: confusion matrix")
                plot_f1_bars(r.summary["f1"], plots / f"f1_{tag}.png", title=f"{model} on {split}: F1 per class")
                if cfg.overlays and split == cfg.splits[0]:
                    write_overlays(predictor, r, rows, affines[dataset], ROOT, plots / "overlays", tag, cfg.overlays)
                t.metrics({f"{tag}.{k}": v for k, v in r.summary.items() if isinstance(v, float)})
                print(f"{model:>20} {split:<24} pixel acc {r.summary['pixel_accuracy']:.4f}  "
                      f"mean F1 {r.summary['mean_f1']:.4f}  mean IoU {r.summary['mean_iou']:.4f}")
            for name, folder in cfg.folders.items():
                r = evaluate_folder(predictor, ROOT / folder["root"], folder["vocabulary"], cfg.bootstrap, cfg.seed)
                results[model][name] = r.summary
                t.metrics({f"{model}_{name}.{k}".replace("+", "_"): v for k, v in r.summary.items()
                           if isinstance(v, float)})
                print(f"{model:>20} {name:<24} pixel acc {r.summary['pixel_accuracy']:.4f}  "
                      f"mean F1 (no bg) {r.summary['mean_f1_fg']:.4f}")
        write_json("metrics/evaluate.json", results)
        write_json("metrics/confusion.json", confusions)
        t.artifact(ROOT / "metrics/evaluate.json")


if __name__ == "__main__":
    main()
