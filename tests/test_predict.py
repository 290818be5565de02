"""Predictions carried back onto the photo: each face's crop decides its own pixels."""

import cv2
import numpy as np

from faceparse.align import AlignParams, Alignment, align_whole_image, crop_coverage, crop_matrix
from faceparse.labels import get_label_set
from faceparse.predict import Predictor


class BrightIsHead(Predictor):
    """A stand-in model that needs no checkpoint: in FASSEG's classes, bright pixels are `head` (skin
    by default), dark ones background."""

    def __init__(self, size: int = 64, head: str = "skin") -> None:
        self.size, self.label_set = size, "fasseg6"
        self.align_params = AlignParams(size=size)
        self.head = get_label_set("fasseg6").classes.index(head)
        self.calls = 0

    def crop_probs(self, crops: np.ndarray) -> np.ndarray:
        self.calls += 1
        bright = (crops.mean(-1) > 127).astype(np.float32)
        probs = np.zeros((len(crops), 6) + bright.shape[1:], np.float32)
        probs[:, 0], probs[:, self.head] = 1 - bright, bright
        return probs


def crop(center: tuple[float, float], side: float, method: str = "yunet") -> Alignment:
    """A 64-px crop of a `side`-pixel square, as a face detector (or landmarks) would frame it."""
    box = (center[0] - side / 2, center[1] - side / 2, side, side)
    return Alignment(matrix=crop_matrix(center, side, 0.0, 64), method=method, box=box, angle=0.0)


def photo_with_head(axes: tuple[int, int], center: tuple[int, int] = (45, 60)) -> tuple[np.ndarray, np.ndarray]:
    """A 120 x 90 dark photo with a bright ellipse (the head); also its mask."""
    head = np.zeros((120, 90), np.uint8)
    cv2.ellipse(head, center, axes, 0, 0, 360, 1, -1)
    return np.repeat(head[..., None] * 255, 3, axis=2).astype(np.uint8), head.astype(bool)


def interior(mask: np.ndarray, margin: int = 3) -> np.ndarray:
    """Pixels at least `margin` away from the mask's edge, on either side (resampling blurs the edge)."""
    k = np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)
    m = mask.astype(np.uint8)
    return (cv2.erode(m, k) > 0) | (cv2.dilate(m, k) == 0)


def test_head_inside_the_crop_is_predicted_once_at_photo_resolution():
    image, head = photo_with_head((15, 20))
    face = crop((45.0, 60.0), 70.0)
    model = BrightIsHead()
    probs = model.photo_probs(image, face)
    assert model.calls == 1 and probs.shape == (6, 120, 90)
    assert np.allclose(probs.sum(0), 1, atol=1e-5)
    sure = interior(head)
    assert ((probs.argmax(0) == 1)[sure] == head[sure]).all()


def test_pixels_outside_the_crop_are_background():
    image, head = photo_with_head((40, 55))               # spans x 5-85, y 5-115
    face = crop((45.0, 60.0), 70.0)                       # 70 px wide: the head runs off it
    outside = crop_coverage(face.matrix, 64, head.shape) == 0
    assert (outside & head).sum() > 1000
    probs = BrightIsHead().photo_probs(image, face)
    assert (probs[0][outside] == 1).all()


def test_crop_coverage_is_one_inside_and_zero_outside():
    face = crop_matrix((45.0, 60.0), 40.0, 0.0, 64)       # covers x 25-65, y 40-80
    cover = crop_coverage(face, 64, (120, 90))
    assert np.allclose(cover[45:75, 30:60], 1) and np.allclose(cover[:35], 0) and np.allclose(cover[:, 70:], 0)


def test_segment_photo_lets_each_crop_decide_its_own_face():
    from faceparse.predict import segment_photo

    image, head = photo_with_head((12, 16), (25, 30))
    other, other_head = photo_with_head((12, 16), (65, 90))
    image, head = np.maximum(image, other), head | other_head
    first, second = crop((25.0, 30.0), 44.0), crop((65.0, 90.0), 44.0)
    model = BrightIsHead()
    model.align = lambda photo: [first, second]
    labels, confidence, faces = segment_photo(model, image)
    assert faces == [first, second] and model.calls == 2
    sure = interior(head)
    assert ((labels == 1)[sure] == head[sure]).all()       # both heads, each from its own crop
    assert confidence.shape == head.shape and (confidence > 0.99)[sure].all()


def test_segment_photo_without_a_face_segments_the_whole_photo():
    from faceparse.predict import segment_photo

    image, head = photo_with_head((40, 55))
    model = BrightIsHead()
    model.align = lambda photo: []
    labels, _, faces = segment_photo(model, image)
    assert [f.method for f in faces] == ["none"]
    assert faces[0].matrix.tolist() == align_whole_image(head.shape, model.align_params).matrix.tolist()
    sure = interior(head)
    assert ((labels == 1)[sure] == head[sure]).all()
