"""Alignment: crops and their stored affines carry predictions back onto the original photo."""

import cv2
import numpy as np
import pytest

from faceparse.geometry import AlignParams, align_from_landmarks, align_whole_image, crop_matrix, warp_image, warp_mask
from faceparse.labels import IGNORE

from conftest import whole_photo_probs as unwarp_probs


def test_crop_matrix_maps_centre_and_side():
    m = crop_matrix((100.0, 50.0), 80.0, 0.0, 64)
    # the centre goes to the crop centre, the square's corner to the crop corner
    assert np.allclose(m @ [100, 50, 1], [32, 32])
    assert np.allclose(m @ [60, 10, 1], [0, 0])
    assert np.allclose(m @ [140, 90, 1], [64, 64])


def test_rotation_levels_the_eye_line():
    # eyes on a line rising 30 degrees (image y grows downwards)
    left, right = np.array([100.0, 200.0]), np.array([100 + 80 * np.cos(np.pi / 6), 200 - 80 * np.sin(np.pi / 6)])
    pts = np.zeros((68, 2))
    pts[:, 0] = np.linspace(60, 200, 68)
    pts[:, 1] = np.linspace(150, 300, 68)
    pts[36:42] = left
    pts[42:48] = right
    a = align_from_landmarks(pts, AlignParams(size=128))
    assert abs(a.angle - (-30.0)) < 1e-6
    l2, r2 = a.matrix @ np.append(left, 1), a.matrix @ np.append(right, 1)
    assert abs(l2[1] - r2[1]) < 1e-6  # level after alignment


def test_mask_warp_is_nearest_neighbour_and_ignore_outside():
    rng = np.random.default_rng(0)
    mask = rng.integers(0, 6, size=(90, 70), dtype=np.uint8)
    a = align_whole_image(mask.shape, AlignParams(size=64))
    warped = warp_mask(mask, a.matrix, 64)
    values = set(np.unique(warped).tolist())
    assert values <= set(range(6)) | {IGNORE}  # no interpolated labels
    assert IGNORE in values  # letter-box bars are ignored, not background


def test_unwarp_recovers_labels_through_the_affine():
    # A label map at "original" resolution, its crop, one-hot probabilities on the crop, warped back:
    # away from region edges the original labels come back.
    h, w = 120, 100
    labels = np.zeros((h, w), np.uint8)
    cv2.ellipse(labels, (50, 60), (30, 40), 0, 0, 360, 1, -1)
    cv2.rectangle(labels, (40, 40), (60, 50), 2, -1)
    m = crop_matrix((50.0, 60.0), 110.0, 10.0, 128)
    crop = warp_mask(labels, m, 128)
    onehot = np.stack([(crop == k) for k in range(3)]).astype(np.float32)
    back = unwarp_probs(onehot, m, (h, w)).argmax(0)
    interior = cv2.erode((labels == 1).astype(np.uint8), np.ones((5, 5))) > 0
    assert (back[interior] == 1).all()
    block = np.zeros_like(labels, bool)
    block[43:48, 43:58] = True
    assert (back[block] == 2).all()


def test_unwarp_outside_crop_is_background():
    m = crop_matrix((20.0, 20.0), 20.0, 0.0, 16)  # covers x, y in [10, 30]
    probs = np.zeros((3, 16, 16), np.float32)
    probs[1] = 1.0
    back = unwarp_probs(probs, m, (60, 60))
    assert back[:, 50, 50].tolist() == [1.0, 0.0, 0.0]
    assert back[1, 20, 20] == 1.0


def test_warp_image_shape_and_dtype():
    img = np.full((50, 40, 3), 200, np.uint8)
    out = warp_image(img, align_whole_image(img.shape, AlignParams(size=32)).matrix, 32)
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    assert out[16, 16].tolist() == [200, 200, 200]
    assert out[16, 0].tolist() == [0, 0, 0]  # letter-box


def test_unwarp_of_the_crop_region_matches_a_whole_photo_warp():
    """Only the crop's box is resampled; a whole-photo cv2 warp is the reference (OpenCV quantises
    bilinear weights to 1/32, so moving the origin can shift a weight by one step)."""
    from faceparse.geometry import crop_coverage, crop_region

    rng = np.random.default_rng(0)
    for _ in range(8):
        logits = cv2.GaussianBlur(rng.normal(size=(64, 64, 6)).astype(np.float32), (0, 0), 3) * 10
        probs = np.exp(logits - logits.max(-1, keepdims=True))
        probs = np.ascontiguousarray((probs / probs.sum(-1, keepdims=True)).transpose(2, 0, 1))
        shape = (int(rng.integers(80, 300)), int(rng.integers(80, 300)))
        m = crop_matrix((rng.uniform(-30, shape[1] + 30), rng.uniform(-30, shape[0] + 30)), rng.uniform(40, 250),
                        rng.uniform(-40, 40), 64)
        whole = np.stack([cv2.warpAffine(np.ascontiguousarray(c), m, shape[::-1], flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                         borderMode=cv2.BORDER_CONSTANT, borderValue=1.0 if k == 0 else 0.0)
                          for k, c in enumerate(probs)])
        got = unwarp_probs(probs, m, shape)
        assert np.abs(got - whole).max() <= 1 / 32 + 1e-6
        assert (got.argmax(0) != whole.argmax(0)).mean() < 1e-3
        x0, y0, x1, y1 = crop_region(m, 64, shape)
        outside = np.ones(shape, bool)
        outside[y0:y1, x0:x1] = False
        assert (whole[0][outside] == 1).all()                  # nothing of the crop lies outside the region
        cover = cv2.warpAffine(np.ones((64, 64), np.float32), m, shape[::-1], flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
        assert np.abs(crop_coverage(m, 64, shape) - cover).max() <= 1 / 32 + 1e-6


def test_align_in_two_processes_writes_the_bytes_of_one(tmp_path, mirror):
    """The align stage's pool: same rows, same manifest, same shard bytes, in the manifest's order."""
    import pandas as pd
    from PIL import Image

    from faceparse.align import align_manifest
    from faceparse.crops import load_arrays
    from faceparse.detect import FaceFinder

    photos = sorted((mirror / "fasseg" / "V2" / "Train_RGB").iterdir())[:7]
    rows = []
    for i, photo in enumerate(photos):
        w, h = Image.open(photo).size
        label = tmp_path / f"{i}.png"
        Image.fromarray(np.full((h, w), i % 6, np.uint8)).save(label)
        rows.append({"dataset": "fasseg", "id": photo.stem, "status": "ok", "image": str(photo), "label": str(label),
                     "native_label": str(label), "landmarks": ""})
    rows.append({**rows[0], "id": "broken", "status": "unreadable"})
    manifest = pd.DataFrame(rows)
    p = AlignParams(size=64)
    one = align_manifest(manifest, p, FaceFinder, tmp_path, tmp_path / "one", {"fasseg": "fasseg"}, workers=1, shard_size=3)
    # two photos a task: four tasks over two workers, collected in order
    two = align_manifest(manifest, p, FaceFinder, tmp_path, tmp_path / "two", {"fasseg": "fasseg"}, workers=2, shard_size=3,
                         chunk=2)
    pd.testing.assert_frame_equal(one, two)
    assert list(one["index"]) == [0, 1, 2, 3, 4, 5, 6, -1] and (one["align_method"][:7] == "yunet").all()
    a, b = load_arrays(tmp_path / "one", "fasseg"), load_arrays(tmp_path / "two", "fasseg")
    for key in ("images", "labels", "native_labels", "affines"):
        assert a[key].tobytes() == b[key].tobytes(), key
    for i, photo in enumerate(photos):  # row i holds photo i: its label map, and its crop by its recorded affine
        assert set(np.unique(b["labels"][i])) <= {i % 6, 255}, photo.name
        image = np.asarray(Image.open(photo).convert("RGB"))
        assert np.array_equal(b["images"][i], warp_image(image, b["affines"][i], 64)), photo.name


def test_a_detector_that_cannot_start_stops_align_with_its_own_message(tmp_path):
    import pandas as pd

    from faceparse.align import align_manifest
    from faceparse.errors import FaceparseDataError

    def broken(params):
        raise FaceparseDataError(tmp_path / "detector.onnx", "missing")

    manifest = pd.DataFrame([{"dataset": "d", "id": "a", "status": "ok", "image": "a.png", "label": "a.png",
                              "native_label": "a.png", "landmarks": ""}])
    with pytest.raises(FaceparseDataError, match="detector.onnx: missing"):
        align_manifest(manifest, AlignParams(size=64), broken, tmp_path, tmp_path / "out", {"d": "folder"}, workers=2)
