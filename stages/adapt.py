"""Stage `adapt`: train the label adapter on FASSEG train from the synthetic model's softmax."""

import pandas as pd

from _common import ROOT, get, setup, write_json

from faceparse import tracking
from faceparse.aligned import select_split
from faceparse.adapter import adapter_spec, source_probs
from faceparse.labels import get_label_set
from faceparse.models import load_checkpoint
from faceparse.train import TrainData, TrainParams, train


def main() -> None:
    params = setup()
    cfg = dict(get(params, "adapt"))
    source, datasets, label_set = cfg.pop("source"), cfg.pop("datasets"), cfg.pop("label_set")
    arch = cfg.pop("arch")
    p = TrainParams.from_dict({**cfg, "arch": arch, "encoder": "", "weights": "none"})
    src_model, src_meta = load_checkpoint(ROOT / "models" / f"{source}.pt")
    manifest = pd.read_csv(ROOT / "data/aligned/manifest.csv", keep_default_na=False)
    tx, ty, _ = select_split(ROOT / "data/aligned", manifest, datasets, label_set, "train")
    vx, vy, _ = select_split(ROOT / "data/aligned", manifest, datasets, label_set, "val")
    src_set = src_meta["label_set"]
    k_src = get_label_set(src_set).num_classes
    spec = adapter_spec(arch, k_src, get_label_set(label_set).num_classes)
    out = ROOT / "models/adapter.pt"
    with tracking.run("adapt", ROOT) as t:
        t.params({"source": source, "datasets": datasets, "label_set": label_set, "arch": arch, **cfg})
        result = train(p, label_set, TrainData(tx, ty, source_probs(src_model, tx, k_src)),
                       TrainData(vx, vy, source_probs(src_model, vx, k_src)), out, spec=spec,
                       meta={"name": "adapter", "source": source, "align": src_meta.get("align", {})},
                       extra_label_set=src_set, on_epoch=lambda e, rec: t.metrics(rec, step=e))
        _, meta = load_checkpoint(out)
        summary = {"source": source, "n_train": int(len(tx)), "n_val": int(len(vx)), "parameters": result["parameters"],
                   "steps": result["steps"], "best_epoch": result["best_epoch"], "val_mean_f1": meta["val"]["mean_f1"],
                   "val_f1": meta["val"]["f1"]}
        write_json("metrics/adapt.json", summary)
        write_json("metrics/timings/adapt.json", {"seconds": round(result["seconds"], 1)})
        pd.DataFrame(result["history"])[["epoch", "loss", "val_mean_f1", "lr", "seconds"]].to_csv(
            ROOT / "metrics/curves/train_adapter.csv", index=False)
        t.metrics({"best_val_mean_f1": meta["val"]["mean_f1"]})


if __name__ == "__main__":
    main()
