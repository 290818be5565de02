"""Nothing faceparse is handed runs code when opened: a model or adapter file built to run a command
when unpickled is refused from the shell with one line, and its command never runs."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from faceparse.crops import load_arrays
from faceparse.errors import FaceparseDataError
from faceparse.models import ModelSpec, build_model, load_checkpoint, load_encoder_weights, save_checkpoint


class Payload:
    """Unpickling this runs `touch <marker>`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def booby_trapped(tmp_path) -> tuple[Path, Path]:
    """A file shaped like a faceparse model whose metadata is the payload, and the payload's marker."""
    marker = tmp_path / "payload-ran"
    model = build_model(ModelSpec(arch="compact", num_classes=6))
    path = tmp_path / "evil.pt"
    torch.save({"spec": {"arch": "compact", "encoder": "", "in_channels": 3, "num_classes": 6},
                "state_dict": model.state_dict(), "label_set": "fasseg6", "input_size": 64, "note": Payload(marker)},
               path)
    return path, marker


def test_the_payload_is_real(booby_trapped):
    """Unpickled the old way, the file runs its command: the refusals below are worth something."""
    path, marker = booby_trapped
    torch.load(path, weights_only=False)
    assert marker.exists()


def _faceparse(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "faceparse.cli", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("command", ["predict", "profile", "evaluate"])
def test_every_command_refuses_a_booby_trapped_model_in_one_line(command, booby_trapped, mirror, tmp_path):
    path, marker = booby_trapped
    photo = str(mirror / "fasseg/V2/Test_RGB/1.png")
    args = {"predict": [photo, "--out", str(tmp_path / "pred")],
            "profile": [photo, "--out", str(tmp_path / "profile.csv")],
            "evaluate": ["--dataset", "fasseg", "--root", str(mirror / "fasseg"), "--out", str(tmp_path / "eval")]}
    run = _faceparse(command, "--model", str(path), *args[command])
    assert run.returncode == 2
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in run.stderr
    assert str(path) in lines[0] and "refused" in lines[0] and "posix.system" in lines[0]
    assert not marker.exists()


def test_a_booby_trapped_adapter_is_refused(model, booby_trapped, mirror, tmp_path):
    path, marker = booby_trapped
    run = _faceparse("predict", "--model", str(model), "--adapter", str(path), str(mirror / "fasseg/V2/Test_RGB/1.png"),
                     "--out", str(tmp_path / "pred"))
    assert run.returncode == 2 and f"{path}: refused" in run.stderr and "Traceback" not in run.stderr
    assert not marker.exists()


def test_booby_trapped_imagenet_weights_are_refused(tmp_path):
    marker = tmp_path / "payload-ran"
    path = tmp_path / "mobilenet_v2.pth"
    torch.save({"features.0.0.weight": torch.zeros(1), "extra": Payload(marker)}, path)
    spec = ModelSpec(arch="Unet", encoder="mobilenet_v2", num_classes=6)
    with pytest.raises(FaceparseDataError, match="refused"):
        load_encoder_weights(build_model(spec), spec, str(path))
    assert not marker.exists()


def test_aligned_shards_holding_objects_are_refused(tmp_path):
    from faceparse.crops import Shards
    from faceparse.shard_writer import ShardWriter

    layout = {"images": ((2, 2, 3), np.dtype(np.uint8)), "affines": ((2, 3), np.dtype(np.float64))}
    w = ShardWriter(tmp_path, "fasseg", 1, layout)
    w.add(images=np.zeros((2, 2, 3), np.uint8), affines=np.zeros((2, 3)))
    w.close()
    # a colleague's copy whose affines were swapped for pickled objects
    np.save(tmp_path / "fasseg" / "affines-00000.npy", np.array([{"not": "an array"}], dtype=object), allow_pickle=True)
    assert load_arrays(tmp_path, "fasseg", keys=("images",))["images"].shape == (1, 2, 2, 3)
    with pytest.raises(FaceparseDataError, match="affines-00000.npy: holds object"):
        Shards(tmp_path / "fasseg", "affines").row(0)


def test_a_checkpoint_holds_only_tensors_and_plain_values(tmp_path):
    model = build_model(ModelSpec(arch="compact", num_classes=6))
    path = tmp_path / "m.pt"
    save_checkpoint(path, model, ModelSpec(arch="compact", num_classes=6),
                    {"label_set": "fasseg6", "input_size": np.int64(64), "mean": (0.485, 0.456, 0.406),
                     "val": {"mean_f1": np.float32(0.5)}})
    raw = torch.load(path, weights_only=True)  # the restricted unpickler opens it
    assert raw["input_size"] == 64 and type(raw["input_size"]) is int
    assert raw["mean"] == [0.485, 0.456, 0.406] and raw["val"]["mean_f1"] == 0.5
    loaded, meta = load_checkpoint(path)
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(TypeError, match="meta.align is a PosixPath"):
        save_checkpoint(path, model, ModelSpec(arch="compact"), {"align": Path("x")})


def test_a_model_saved_by_earlier_faceparse_still_loads(tmp_path):
    """Earlier releases saved tuples (mean, std) and nested dicts beside the weights: all plain values
    that the restricted unpickler allows, so the study's existing files need no conversion."""
    spec = ModelSpec(arch="compact", encoder="", in_channels=3, num_classes=6)
    model = build_model(spec)
    path = tmp_path / "old.pt"
    torch.save({"spec": dataclasses.asdict(spec), "state_dict": model.state_dict(), "label_set": "fasseg6",
                "classes": ["background", "skin", "hair", "eyes", "nose", "mouth"], "input_size": 256,
                "mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225), "epoch": 23,
                "train_params": {"arch": "compact", "loss": {"ce": 1.0, "dice": 1.0}}, "init_weights": None,
                "val": {"mean_f1": 0.91, "f1": {"skin": 0.96}}, "align": {"size": 256, "scale": 1.8}}, path)
    _, meta = load_checkpoint(path)
    assert meta["mean"] == (0.485, 0.456, 0.406) and meta["align"] == {"size": 256, "scale": 1.8}


def test_a_truncated_model_is_named(model, tmp_path):
    cut = tmp_path / "cut.pt"
    cut.write_bytes(model.read_bytes()[:5000])
    with pytest.raises(FaceparseDataError, match="cut.pt: not a faceparse model"):
        load_checkpoint(cut)


def test_encoder_weights_are_named_by_file_and_sha256_not_by_path(tmp_path):
    """A checkpoint records the ImageNet file it started from without the machine's path (which
    made every clone's models, and so dvc.lock, differ)."""
    import hashlib

    from faceparse.models import resolve_imagenet_weights

    spec = ModelSpec(arch="Unet", encoder="mobilenet_v2")
    weights = resolve_imagenet_weights("mobilenet_v2")
    named = load_encoder_weights(build_model(spec), spec, "imagenet")
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert named == f"mobilenet_v2-b0353104.pth sha256={digest}"
    assert digest == "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"
    copy = tmp_path / "elsewhere" / weights.name  # the same file in another folder: the same name
    copy.parent.mkdir()
    copy.write_bytes(weights.read_bytes())
    assert load_encoder_weights(build_model(spec), spec, str(copy)) == named
    assert "/" not in named
