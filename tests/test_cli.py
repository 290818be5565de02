"""The `faceparse` command on real photos: predict, evaluate (PNG and the publisher's BMP layout), errors."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceparse.cli import main
from faceparse.labels import get_label_set
from faceparse.train import TrainData, TrainParams, train

PHOTOS = ["1", "2", "3"]


@pytest.fixture(scope="module")
def model(tmp_path_factory, mirror) -> Path:
    """A small model trained for a few steps on aligned FASSEG crops: weak, but a real model."""
    from faceparse.align import AlignParams, HaarFaceFinder, align_sample, warp_image, warp_mask
    from faceparse.datasets import get_reader, read_image

    reader = get_reader("fasseg", versions=("V2",))
    samples = [s for s in reader.samples(mirror / "fasseg") if s.split == "train"][:6]
    params = AlignParams(size=64)
    finder = HaarFaceFinder(params)
    images, masks = [], []
    for s in samples:
        image = read_image(s.image)
        a = align_sample(image, None, finder, params)
        images.append(warp_image(image, a.matrix, 64))
        masks.append(warp_mask(reader.read_mask(s)[0], a.matrix, 64))
    out = tmp_path_factory.mktemp("model") / "tiny.pt"
    p = TrainParams(arch="compact", weights="none", epochs=3, batch_size=3, num_workers=0, lr=0.01)
    data = TrainData(np.stack(images), np.stack(masks))
    train(p, "fasseg6", data, data, out, meta={"align": {"size": 64, "scale": 1.8, "shift": 0.05, "level_eyes": True}})
    return out


def _fasseg_subset(mirror: Path, dest: Path, suffix: str) -> Path:
    """FASSEG V2 Test photos 1-3 in the publisher's layout, as PNG or as the original BMP."""
    for folder in ("Test_RGB", "Test_Labels"):
        (dest / "V2" / folder).mkdir(parents=True)
        for n in PHOTOS:
            Image.open(mirror / "fasseg/V2" / folder / f"{n}.png").save(dest / "V2" / folder / f"{n}{suffix}")
    return dest


def _truth(mirror: Path, n: str) -> np.ndarray:
    """FASSEG label by an independent nearest-colour search (brute force over the six colours)."""
    rgb = np.asarray(Image.open(mirror / f"fasseg/V2/Test_Labels/{n}.png").convert("RGB")).astype(np.int64)
    palette = np.array(get_label_set("fasseg6").colors)
    return ((rgb[:, :, None, :] - palette[None, None]) ** 2).sum(-1).argmin(-1)


def test_predict_then_evaluate_agree_with_an_independent_count(model, mirror, tmp_path, capsys):
    root = _fasseg_subset(mirror, tmp_path / "png", ".png")
    photos = [str(root / "V2/Test_RGB" / f"{n}.png") for n in PHOTOS]
    assert main(["predict", "--model", str(model), "--no-tta", "--confidence", *photos, "--out", str(tmp_path / "pred")]) == 0
    correct = total = 0
    for n in PHOTOS:
        pred = np.asarray(Image.open(tmp_path / "pred" / f"{n}_labels.png"))
        truth = _truth(mirror, n)
        assert pred.shape == truth.shape  # original resolution
        correct += int((pred == truth).sum())
        total += truth.size
        assert (tmp_path / "pred" / f"{n}_overlay.jpg").exists() and (tmp_path / "pred" / f"{n}_confidence.png").exists()
    assert main(["evaluate", "--model", str(model), "--no-tta", "--dataset", "fasseg", "--root", str(root),
                 "--split", "test", "--bootstrap", "50", "--out", str(tmp_path / "eval")]) == 0
    metrics = json.loads((tmp_path / "eval/metrics.json").read_text())
    assert metrics["n_images"] == 3
    assert metrics["pixel_accuracy"] == pytest.approx(correct / total, abs=1e-6)  # JSON keeps 6 decimals
    assert (tmp_path / "eval/confusion.png").stat().st_size > 1000


def test_evaluate_reads_the_publishers_bmp_layout(model, mirror, tmp_path):
    png = _fasseg_subset(mirror, tmp_path / "png", ".png")
    bmp = _fasseg_subset(mirror, tmp_path / "bmp", ".bmp")
    for root, out in ((png, "a"), (bmp, "b")):
        assert main(["evaluate", "--model", str(model), "--dataset", "fasseg", "--root", str(root),
                     "--bootstrap", "0", "--out", str(tmp_path / out)]) == 0
    a = json.loads((tmp_path / "a/metrics.json").read_text())
    b = json.loads((tmp_path / "b/metrics.json").read_text())
    assert a["f1"] == b["f1"] and a["n_images"] == b["n_images"] == 3


def test_bad_arguments_give_one_clear_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "faceparse.cli", "predict", "--model", str(tmp_path / "missing.pt"),
                           str(tmp_path), "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "missing.pt" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_help_teaches_each_command():
    for command in ("evaluate", "predict", "profile"):
        proc = subprocess.run([sys.executable, "-m", "faceparse.cli", command, "--help"], capture_output=True, text=True)
        assert proc.returncode == 0 and "--model" in proc.stdout and "--out" in proc.stdout
