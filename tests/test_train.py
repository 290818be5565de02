"""Models and the training loop: every architecture trains a step, runs are reproducible."""

import numpy as np
import pandas as pd
import pytest
import torch

from faceparse.sampling import oversample
from faceparse.errors import FaceparseConfigError, FaceparseDataError
from faceparse.models import (ARCHITECTURES, ENCODERS, ModelSpec, build_model, count_parameters,
                              load_checkpoint, load_encoder_weights, resolve_imagenet_weights)
from faceparse.params import parse
from faceparse.train import TrainData, TrainParams, lr_factor, train


def _data(n=6, size=64, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)
    masks = np.zeros((n, size, size), np.uint8)
    masks[:, size // 4: 3 * size // 4, size // 4: 3 * size // 4] = 1
    masks[:, : size // 8] = 2
    images[masks == 1] = (220, 180, 150)
    return TrainData(images, masks)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
@pytest.mark.parametrize("encoder", ENCODERS)
def test_every_architecture_trains_one_step(arch, encoder, tmp_path):
    if arch == "compact" and encoder != ENCODERS[0]:
        pytest.skip("the compact model has no encoder choice")
    data = _data(n=4)
    p = TrainParams(arch=arch, encoder=encoder, weights="none", epochs=1, batch_size=2, max_steps=1,
                    num_workers=0, augment={})
    out = tmp_path / "m.pt"
    result = train(p, "fasseg6", data, _data(n=2, seed=1), out)
    assert result["steps"] == 1
    model, meta = load_checkpoint(out)
    with torch.no_grad():
        y = model(torch.zeros(1, 3, 64, 64))
    assert y.shape == (1, 6, 64, 64)
    assert meta["label_set"] == "fasseg6" and meta["input_size"] == 64


def test_compact_model_is_under_two_million_parameters():
    n = count_parameters(build_model(ModelSpec(arch="compact", num_classes=19)))
    assert n <= 2_000_000
    assert n > 100_000  # a real network, not a stub


def test_two_runs_with_the_same_seed_give_the_same_metrics(tmp_path):
    p = TrainParams(arch="compact", weights="none", epochs=2, batch_size=2, num_workers=1, lr=0.01)
    a = train(p, "fasseg6", _data(), _data(n=3, seed=2), tmp_path / "a.pt")
    b = train(p, "fasseg6", _data(), _data(n=3, seed=2), tmp_path / "b.pt")
    assert [h["loss"] for h in a["history"]] == [h["loss"] for h in b["history"]]
    assert [h["val_mean_f1"] for h in a["history"]] == [h["val_mean_f1"] for h in b["history"]]
    c = train(TrainParams(**{**p.__dict__, "seed": 1}), "fasseg6", _data(), _data(n=3, seed=2), tmp_path / "c.pt")
    assert [h["loss"] for h in a["history"]] != [h["loss"] for h in c["history"]]


def test_training_keeps_the_best_epochs_per_crop_counts_and_restores_threads(tmp_path):
    threads = torch.get_num_threads()
    val = _data(n=3, seed=2)
    p = TrainParams(arch="compact", weights="none", epochs=2, batch_size=2, num_workers=0, lr=0.01, threads=1)
    result = train(p, "fasseg6", _data(), val, tmp_path / "m.pt")
    assert torch.get_num_threads() == threads
    cms = result["best_val_per_image"]
    assert cms.shape == (3, 6, 6)
    for i in range(3):  # each crop's rows count its true labels
        assert (cms[i].sum(1) == np.bincount(val.masks[i].ravel(), minlength=6)).all()
    _, meta = load_checkpoint(tmp_path / "m.pt")
    total = cms.sum(0)
    assert meta["val"]["pixel_accuracy"] == pytest.approx(np.trace(total) / total.sum(), abs=1e-6)


def test_imagenet_weights_resolve_by_sha256_and_load():
    path = resolve_imagenet_weights("mobilenet_v2")
    spec = ModelSpec(arch="Unet", encoder="mobilenet_v2")
    model = build_model(spec)
    load_encoder_weights(model, spec, "imagenet")
    state = torch.load(path, map_location="cpu", weights_only=True)
    # the first conv of the encoder now holds torchvision's ImageNet kernel
    assert torch.equal(model.encoder.state_dict()["features.0.0.weight"], state["features.0.0.weight"])


def test_weights_that_do_not_fit_the_encoder_fail_clearly(tmp_path):
    path = resolve_imagenet_weights("mobilenet_v2")
    spec = ModelSpec(arch="Unet", encoder="resnet18")
    with pytest.raises(FaceparseDataError, match="does not fit encoder resnet18"):
        load_encoder_weights(build_model(spec), spec, str(path))


def test_warmup_then_cosine():
    assert lr_factor(0, 100, 10, "cosine") == pytest.approx(0.1)
    assert lr_factor(9, 100, 10, "cosine") == pytest.approx(1.0)
    assert lr_factor(10, 100, 10, "cosine") == pytest.approx(1.0)
    assert lr_factor(55, 100, 10, "cosine") == pytest.approx(0.5)
    assert lr_factor(100, 100, 10, "cosine") == pytest.approx(0.0)


def test_oversampling_repeats_the_named_photos_only():
    rows = pd.DataFrame({"dataset": ["fasseg", "fasseg", "fasseg", "fasseg", "other"],
                         "id": ["V2_train_1", "V3_train_0_a", "V2_train_2", "V3_train_15_b", "V2_train_1"]})
    order = oversample(rows, {"fasseg": {"V2_": 3}})
    assert np.bincount(order).tolist() == [3, 1, 3, 1, 1]
    assert order.tolist() == [0, 1, 2, 3, 4, 0, 2, 0, 2]
    assert oversample(rows, {}).tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(FaceparseConfigError, match="no training photo matches"):
        oversample(rows, {"fasseg": {"V1_": 2}})
    with pytest.raises(FaceparseConfigError, match="at least 1"):
        oversample(rows, {"fasseg": {"V2_": 0}})


def test_a_train_section_parses_into_train_params_naming_a_wrong_key():
    section = {"datasets": ["fasseg"], "label_set": "fasseg6", "epochs": 3, "lr": 0.01, "warmup_epochs": 1}
    p = parse(TrainParams, section, "train.main")
    assert p == TrainParams(datasets=["fasseg"], label_set="fasseg6", epochs=3, lr=0.01)
    assert isinstance(p.warmup_epochs, float)                   # an int where a float is meant is taken
    with pytest.raises(FaceparseConfigError, match="unknown key train.main.epoch;"):
        parse(TrainParams, {"epoch": 3}, "train.main")
    with pytest.raises(FaceparseConfigError, match="train.main.epochs must be int, found '3'"):
        parse(TrainParams, {"epochs": "3"}, "train.main")
    with pytest.raises(FaceparseConfigError, match="train.main.datasets must be a list"):
        parse(TrainParams, {"datasets": "fasseg"}, "train.main")


def test_workers_start_after_the_parent_used_opencvs_thread_pool(tmp_path):
    """A forked DataLoader worker inherited OpenCV's thread pool from a parent that had used it (the
    background lever's inpainting, a detector) and hung for ever in cv2.setNumThreads; workers are
    spawned fresh."""
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        from pathlib import Path
        import cv2
        import numpy as np
        sys.path.insert(0, {str(Path(__file__).resolve().parents[1] / "src")!r})
        from faceparse.train import TrainData, TrainParams, train

        def main():
            cv2.setNumThreads(2)
            img = np.random.default_rng(0).integers(0, 255, (256, 256, 3), np.uint8)
            for _ in range(10):
                cv2.inpaint(img, (img[..., 0] > 128).astype(np.uint8), 5, cv2.INPAINT_TELEA)
            x, y = np.zeros((8, 64, 64, 3), np.uint8), np.zeros((8, 64, 64), np.uint8)
            p = TrainParams(arch="compact", weights="none", epochs=1, batch_size=4, num_workers=1,
                            augment={{"background": 1.0}})
            train(p, "fasseg6", TrainData(x, y), TrainData(x, y), Path({str(tmp_path / "m.pt")!r}))
            print("trained")

        if __name__ == "__main__":
            main()
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=240)
    assert done.returncode == 0 and "trained" in done.stdout, done.stderr[-2000:]


def test_training_reads_crops_from_shards_as_from_arrays(tmp_path):
    """The align stage's shards, read row by row (`Rows`), train the same weights as the arrays."""
    from faceparse.crops import Rows, Shards, crop_layout
    from faceparse.shard_writer import ShardWriter

    data = _data(n=6)
    w = ShardWriter(tmp_path, "d", 6, crop_layout(64), shard_size=4)
    for x, y in zip(data.images, data.masks):
        w.add(images=x, labels=y, native_labels=y, affines=np.zeros((2, 3)))
    w.close()
    order = np.array([5, 0, 3, 3, 1, 2, 4])  # oversampled and mixed, as training_data orders them
    lazy = TrainData(Rows.of(Shards(tmp_path / "d", "images"), order), Rows.of(Shards(tmp_path / "d", "labels"), order))
    p = TrainParams(arch="compact", weights="none", epochs=2, batch_size=2, num_workers=1, lr=0.01, threads=1,
                    class_weights=True)
    a = train(p, "fasseg6", TrainData(data.images[order], data.masks[order]), data, tmp_path / "a.pt")
    b = train(p, "fasseg6", lazy, data, tmp_path / "b.pt")
    assert [h["loss"] for h in a["history"]] == [h["loss"] for h in b["history"]]
    for k, v in a["model"].state_dict().items():
        assert torch.equal(v, b["model"].state_dict()[k]), k


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains_and_an_unknown_precision_is_refused(precision, tmp_path):
    p = TrainParams(arch="compact", weights="none", epochs=1, batch_size=2, num_workers=0, lr=0.01, threads=1,
                    precision=precision, max_steps=3)
    result = train(p, "fasseg6", _data(), _data(n=3, seed=2), tmp_path / "m.pt")
    assert result["steps"] == 3 and np.isfinite(result["history"][-1]["loss"])
    assert next(result["model"].parameters()).dtype == torch.float32  # weights stay fp32; autocast lowers the ops
    with pytest.raises(FaceparseConfigError, match="precision 'fp8'; known: fp32, bf16, fp16"):
        train(TrainParams(**{**p.__dict__, "precision": "fp8"}), "fasseg6", _data(), _data(), tmp_path / "x.pt")
