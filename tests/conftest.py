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


LIGHT_SKIN = (194, 150, 130)  # ColorChecker light skin, 8-bit sRGB


def ellipse_face(ears: bool = False, eyes: bool = True, mouth: bool = True, mouth_shift: int = 0,
                 skin: tuple[int, int, int] = LIGHT_SKIN) -> tuple[np.ndarray, np.ndarray]:
    """A frontal 512 x 512 fasseg6 face map (skin 1, hair 2, eyes 3, nose 4, mouth 5) and its photo:
    a skin ellipse centred (256, 270), axes (150, 200), hair above row 110, brows at row 188, eyes
    (22 x 10 half-axes) at row 220 with centres 120 px apart (x 196, 316), the nose at (256, 290), the
    mouth at (256, 370 + mouth_shift); `ears`: two ear ellipses 24 px beyond the face's edge at rows
    235-315. Skin in `skin`, everything else grey 90."""
    import cv2

    labels = np.zeros((512, 512), np.uint8)
    cv2.ellipse(labels, (256, 270), (150, 200), 0, 0, 360, 1, -1)
    if ears:
        cv2.ellipse(labels, (100, 275), (18, 40), 0, 0, 360, 1, -1)
        cv2.ellipse(labels, (412, 275), (18, 40), 0, 0, 360, 1, -1)
    head = labels == 1
    labels[:110][head[:110]] = 2
    for x in (196, 316):
        cv2.ellipse(labels, (x, 188), (30, 6), 0, 0, 360, 2, -1)
        if eyes:
            cv2.ellipse(labels, (x, 220), (22, 10), 0, 0, 360, 3, -1)
    cv2.ellipse(labels, (256, 290), (22, 45), 0, 0, 360, 4, -1)
    if mouth:
        cv2.ellipse(labels, (256, 370 + mouth_shift), (45, 14), 0, 0, 360, 5, -1)
    image = np.full((512, 512, 3), 90, np.uint8)
    image[labels == 1] = skin
    return image, labels


def reference_lab(rgb) -> np.ndarray:
    """CIE L*a*b* (D65) of 8-bit sRGB colours `(..., 3)`, written here from IEC 61966-2-1 and CIE 15
    (the RGB -> XYZ matrix from the primaries' and D65's chromaticities), not by the code under test.
    (194, 150, 130) gives 65.667, 13.672, 16.898 (colour-science, with the rounded IEC matrix: 65.666,
    13.680, 16.900)."""
    v = np.asarray(rgb, float) / 255
    lin = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)
    prim = np.array([[x / y, 1.0, (1 - x - y) / y] for x, y in [(0.64, 0.33), (0.30, 0.60), (0.15, 0.06)]]).T
    white = np.array([0.3127 / 0.3290, 1.0, (1 - 0.3127 - 0.3290) / 0.3290])
    xyz = lin @ (prim * np.linalg.solve(prim, white)).T / white
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)
