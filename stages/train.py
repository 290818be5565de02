"""Stage `train@<name>`: one model of the study, from `params.yaml: train.<name>`.

    python -m stages.train main data/aligned models/main.pt
    torchrun --nproc_per_node 2 -m stages.train main data/aligned models/main.pt   # data-parallel

Writes models/<name>.pt (best by validation mean F1; weights plus label set, input size,
normalisation and arch), metrics/train_<name>.json (with validation F1 per pose), the run's
seconds and peak memory in metrics/timings/train_<name>.json and the curve
metrics/curves/train_<name>.csv.
"""

import resource
from dataclasses import asdict

import pandas as pd

from stages._common import ROOT, arguments, get, parse, setup, write_json

from faceparse import tracking
from faceparse.sampling import select_split
from faceparse.labels import get_label_set
from faceparse.launch import ranks
from faceparse.metrics import mean_f1_by_group
from faceparse.models import load_checkpoint
from faceparse.train import TrainData, TrainParams, train, training_data


def peak_memory_mb() -> dict:
    """Peak resident memory of this process and of its largest finished child (the DataLoader worker)."""
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"main": round(self_kb / 1024), "largest_worker": round(child_kb / 1024)}


def main() -> None:
    args = arguments(__doc__, "name", "aligned_path", "model_path")
    params = setup()
    name = args.name
    p = parse(TrainParams, get(params, f"train.{name}"), f"train.{name}")
    datasets, label_set = p.datasets, p.label_set
    aligned = args.aligned_path
    manifest = pd.read_csv(aligned / "manifest.csv", keep_default_na=False)
    data, train_rows = training_data(p, aligned, manifest)
    train_x = data.images
    val_x, val_y, val_rows = select_split(aligned, manifest, datasets, label_set, "val")
    out = args.model_path
    meta = {"name": name, "datasets": datasets, "align": get(params, "align")}
    if not ranks().main:  # under torchrun the other ranks train beside rank 0, which alone writes
        train(p, label_set, data, TrainData(val_x, val_y), out, meta=meta)
        return
    with tracking.run("train", ROOT, run_name=f"train-{name}") as t:
        t.params({"model": name, **asdict(p), "n_train": len(train_rows), "n_train_oversampled": len(train_x),
                  "n_val": len(val_x)})
        result = train(p, label_set, data, TrainData(val_x, val_y), out, meta=meta,
                       on_epoch=lambda epoch, rec: t.metrics(rec, step=epoch))
        _, meta = load_checkpoint(out)
        classes = get_label_set(label_set).classes
        best = meta["val"]
        summary = {
            "n_train": int(len(train_rows)), "n_train_oversampled": int(len(train_x)), "n_val": int(len(val_x)),
            "parameters": result["parameters"],
            "init_weights": "imagenet" if result["init_weights"] else "none",
            "steps": result["steps"], "best_epoch": result["best_epoch"],
            "val_pixel_accuracy": best["pixel_accuracy"], "val_mean_f1": best["mean_f1"],
            "val_f1": best["f1"],
            "val_mean_f1_by_pose": mean_f1_by_group(result["best_val_per_image"], val_rows["pose"], classes),
        }
        write_json(f"metrics/train_{name}.json", summary)
        # Timings move with the machine and its load: a file of their own, which DVC does not track, so
        # `dvc metrics diff` shows scores and a rerun of the study leaves dvc.lock as it was.
        write_json(f"metrics/timings/train_{name}.json",
                   {"seconds": round(result["seconds"], 1), "peak_memory_mb": peak_memory_mb(),
                    "epoch_seconds": [round(r["seconds"], 1) for r in result["history"]]})
        curve = pd.DataFrame(result["history"])[["epoch", "loss", "val_mean_f1", "lr"]]
        (ROOT / "metrics/curves").mkdir(parents=True, exist_ok=True)
        curve.to_csv(ROOT / f"metrics/curves/train_{name}.csv", index=False)
        t.metrics({"best_val_mean_f1": best["mean_f1"], "train_seconds": result["seconds"]})
        t.artifact(ROOT / f"metrics/train_{name}.json")


if __name__ == "__main__":
    main()
