"""Shared fixtures: where the real data mirror is, a quiet, offline environment, and a small real model."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# The models the tests train are exported to ONNX in faceparse's cache (`faceparse.runtime`): keep
# those graphs out of the user's, in one folder for the whole run (other tools' caches stay put).
if "FACEPARSE_CACHE_DIR" not in os.environ:
    import atexit
    import tempfile

    os.environ["FACEPARSE_CACHE_DIR"] = tempfile.mkdtemp(prefix="faceparse-cache-")
    atexit.register(shutil.rmtree, os.environ["FACEPARSE_CACHE_DIR"], ignore_errors=True)


def chromium() -> str:
    """The headless browser the page tests render with; the test is skipped without one."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no chromium or chromium-browser on PATH (Debian: apt-get install chromium)")


def mirror_root() -> Path | None:
    env = os.environ.get("FACEPARSE_MIRROR")
    candidates = [Path(env)] if env else []
    candidates.append(ROOT.parent / "shared" / "data")
    for c in candidates:
        if (c / "fasseg").is_dir():
            return c.resolve()
    return None


@pytest.fixture(scope="session")
def mirror() -> Path:
    root = mirror_root()
    if root is None:
        pytest.skip("no data mirror: set FACEPARSE_MIRROR to the folder holding fasseg/")
    return root


@pytest.fixture(scope="session")
def model(tmp_path_factory, mirror) -> Path:
    """A small model trained for a few steps on aligned FASSEG crops: weak, but a real model."""
    from faceparse.geometry import AlignParams, align_sample, warp_image, warp_mask
    from faceparse.detect import FaceFinder
    from faceparse.datasets import get_reader, read_image
    from faceparse.train import TrainData, TrainParams, train

    reader = get_reader("fasseg", versions=("V2",))
    samples = [s for s in reader.samples(mirror / "fasseg") if s.split == "train"][:6]
    params = AlignParams(size=64)
    finder = FaceFinder(params)
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


def whole_photo_probs(probs, matrix, shape):
    """`(K, H, W)` class probabilities over a whole photo of `shape` from one face's crop `(K, S, S)`:
    the plain reference for a face's map (whole arrays, then `np.argmax`), built from the library's
    one warp back (`geometry.warp_region` over the crop's box), background (class 0) elsewhere."""
    import numpy as np

    from faceparse.geometry import crop_region, warp_region

    out = np.zeros((probs.shape[0], *shape[:2]), np.float32)
    out[0] = 1.0
    x0, y0, x1, y1 = box = crop_region(matrix, probs.shape[1], shape[:2])
    if x1 > x0 and y1 > y0:
        out[:, y0:y1, x0:x1] = warp_region(probs, matrix, box).transpose(2, 0, 1)
    return out
