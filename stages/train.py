"""Stage `train@<name>`: one model of the study, from `params.yaml: train.<name>`.

Writes models/<name>.pt (best by validation mean F1; weights plus label set, input size,
normalisation and arch), metrics/train_<name>.json and the curve metrics/curves/train_<name>.csv.
"""

import sys

import numpy as np
import pandas as pd

from _common import ROOT, get, setup, write_json

from faceparse import tracking
from faceparse.aligned import select_split
from faceparse.labels import get_label_set
from faceparse.metrics import confusion_matrix, scores
from faceparse.models import load_checkpoint
from faceparse.train import TrainData, TrainParams, predict_probs, train


def per_pose_f1(model, images, masks, rows, classes) -> dict:
    if not len(images):
        return {}
    probs = predict_probs(model, images)
    preds = probs.argmax(1).astype(np.uint8)
    out = {}
    for pose, g in rows.groupby("pose"):
        if not pose:
            continue
        cm = sum(confusion_matrix(masks[i], preds[i], len(classes)) for i in g.index)
        out[str(pose)] = scores(cm, classes)["mean_f1"]
    return dict(sorted(out.items(), key=lambda kv: float(kv[0])))


def main(name: str) -> None:
    params = setup()
    cfg = dict(get(params, f"train.{name}"))
    datasets, label_set = cfg.pop("datasets"), cfg.pop("label_set")
    p = TrainParams.from_dict(cfg)
    manifest = pd.read_csv(ROOT / "data/aligned/manifest.csv", keep_default_na=False)
    aligned = ROOT / "data/aligned"
    train_x, train_y, _ = select_split(aligned, manifest, datasets, label_set, "train")
    val_x, val_y, val_rows = select_split(aligned, manifest, datasets, label_set, "val")
    out = ROOT / "models" / f"{name}.pt"
    with tracking.run("train", ROOT, run_name=f"train-{name}") as t:
        t.params({"model": name, "datasets": datasets, "label_set": label_set, **cfg,
                  "n_train": len(train_x), "n_val": len(val_x)})
        result = train(p, label_set, TrainData(train_x, train_y), TrainData(val_x, val_y), out,
                       meta={"name": name, "datasets": datasets, "align": get(params, "align")},
                       on_epoch=lambda epoch, rec: t.metrics(rec, step=epoch))
        model, meta = load_checkpoint(out)
        classes = get_label_set(label_set).classes
        best = meta["val"]
        summary = {
            "n_train": int(len(train_x)), "n_val": int(len(val_x)), "parameters": result["parameters"],
            "init_weights": "imagenet" if result["init_weights"] else "none",
            "steps": result["steps"], "seconds": round(result["seconds"], 1), "best_epoch": result["best_epoch"],
            "val_pixel_accuracy": best["pixel_accuracy"], "val_mean_f1": best["mean_f1"],
            "val_f1": best["f1"], "val_mean_f1_by_pose": per_pose_f1(model, val_x, val_y, val_rows, classes),
        }
        write_json(f"metrics/train_{name}.json", summary)
        curve = pd.DataFrame(result["history"])[["epoch", "loss", "val_mean_f1", "lr", "seconds"]]
        (ROOT / "metrics/curves").mkdir(parents=True, exist_ok=True)
        curve.to_csv(ROOT / f"metrics/curves/train_{name}.csv", index=False)
        t.metrics({"best_val_mean_f1": best["mean_f1"], "train_seconds": result["seconds"]})
        t.artifact(ROOT / f"metrics/train_{name}.json")


if __name__ == "__main__":
    main(sys.argv[1])
