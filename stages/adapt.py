"""Stage `adapt`: train the label adapter on FASSEG train from the synthetic model's softmax.

    python -m stages.adapt models/synthetic.pt data/aligned models/adapter.pt
"""

import pandas as pd

from stages._common import ROOT, arguments, get, parse, setup, write_json

from faceparse import tracking
from faceparse.adapter import AdaptParams, adapter_spec, source_probs
from faceparse.sampling import oversample, select_split
from faceparse.labels import get_label_set
from faceparse.launch import ranks
from faceparse.models import load_checkpoint
from faceparse.train import TrainData, train


def main() -> None:
    args = arguments(__doc__, "source_path", "aligned_path", "adapter_path")
    p = parse(AdaptParams, get(setup(), "adapt"), "adapt")
    src_model, src_meta = load_checkpoint(args.source_path)
    aligned = args.aligned_path
    manifest = pd.read_csv(aligned / "manifest.csv", keep_default_na=False)
    tx, ty, train_rows = select_split(aligned, manifest, p.datasets, p.label_set, "train")
    order = oversample(train_rows, p.oversample)
    tx, ty = tx[order], ty[order]
    vx, vy, _ = select_split(aligned, manifest, p.datasets, p.label_set, "val")
    src_set = src_meta["label_set"]
    k_src = get_label_set(src_set).num_classes
    spec = adapter_spec(p.arch, k_src, get_label_set(p.label_set).num_classes, p.encoder)
    out = args.adapter_path
    train_data = TrainData(tx, ty, source_probs(src_model, tx, k_src))
    val_data = TrainData(vx, vy, source_probs(src_model, vx, k_src))
    meta = {"name": "adapter", "source": p.source, "align": src_meta.get("align", {})}
    if not ranks().main:  # under torchrun the other ranks train beside rank 0, which alone writes
        train(p, p.label_set, train_data, val_data, out, spec=spec, meta=meta, extra_label_set=src_set)
        return
    with tracking.run("adapt", ROOT) as t:
        t.params({"source": p.source, "datasets": p.datasets, "label_set": p.label_set, "arch": p.arch,
                  "epochs": p.epochs, "batch_size": p.batch_size, "lr": p.lr, "loss": p.loss, "seed": p.seed})
        result = train(p, p.label_set, train_data, val_data, out, spec=spec, meta=meta, extra_label_set=src_set,
                       on_epoch=lambda e, rec: t.metrics(rec, step=e))
        _, meta = load_checkpoint(out)
        summary = {"source": p.source, "n_train": int(len(tx)), "n_val": int(len(vx)),
                   "parameters": result["parameters"], "steps": result["steps"], "best_epoch": result["best_epoch"],
                   "val_mean_f1": meta["val"]["mean_f1"], "val_f1": meta["val"]["f1"]}
        write_json("metrics/adapt.json", summary)
        write_json("metrics/timings/adapt.json", {"seconds": round(result["seconds"], 1),
                                                  "epoch_seconds": [round(r["seconds"], 1) for r in result["history"]]})
        pd.DataFrame(result["history"])[["epoch", "loss", "val_mean_f1", "lr"]].to_csv(
            ROOT / "metrics/curves/train_adapter.csv", index=False)
        t.metrics({"best_val_mean_f1": meta["val"]["mean_f1"]})


if __name__ == "__main__":
    main()
