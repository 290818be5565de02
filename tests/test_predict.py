"""Predictions carried back onto the photo: each face's crop decides its own pixels."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from faceparse.facemap import FaceMap, compose
from faceparse.geometry import AlignParams, Alignment, align_whole_image, crop_coverage, crop_matrix, warp_image
from faceparse.labels import get_label_set
from faceparse.predict import Predictor, face_map
from faceparse.stream import Photo, segment


class BrightIsHead(Predictor):
    """A stand-in model that needs no checkpoint: in FASSEG's classes, bright pixels are `head` (skin
    by default), dark ones background."""

    def __init__(self, size: int = 64, head: str = "skin") -> None:
        self.size, self.label_set = size, "fasseg6"
        self.align_params = AlignParams(size=size)
        self.head = get_label_set("fasseg6").classes.index(head)
        self.calls = 0
        self.faces: list[Alignment] = []

    def find_faces(self, image: np.ndarray) -> list[Alignment]:
        return self.faces

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


def face_labels(model: BrightIsHead, image: np.ndarray, face: Alignment) -> FaceMap:
    return face_map(image.shape, face, model.crop_probs(warp_image(image, face.matrix, model.size)[None])[0])


def test_head_inside_the_crop_is_predicted_once_at_photo_resolution():
    image, head = photo_with_head((15, 20))
    face = crop((45.0, 60.0), 70.0)
    model = BrightIsHead()
    labels, confidence = face_labels(model, image, face).full()
    assert model.calls == 1 and labels.shape == (120, 90) and confidence.dtype == np.float32
    sure = interior(head)
    assert ((labels == 1)[sure] == head[sure]).all()
    assert (confidence[sure] > 0.99).all()


def test_pixels_outside_the_crop_are_background():
    image, head = photo_with_head((40, 55))               # spans x 5-85, y 5-115
    face = crop((45.0, 60.0), 70.0)                       # 70 px wide: the head runs off it
    outside = crop_coverage(face.matrix, 64, head.shape) == 0
    assert (outside & head).sum() > 1000
    labels, confidence = face_labels(BrightIsHead(), image, face).full()
    assert (labels[outside] == 0).all() and (confidence[outside] == 1).all()
    assert (labels[~outside & head] == 1).mean() > 0.95


def test_crop_coverage_is_one_inside_and_zero_outside():
    face = crop_matrix((45.0, 60.0), 40.0, 0.0, 64)       # covers x 25-65, y 40-80
    cover = crop_coverage(face, 64, (120, 90))
    assert np.allclose(cover[45:75, 30:60], 1) and np.allclose(cover[:35], 0) and np.allclose(cover[:, 70:], 0)


def segment_whole(model: BrightIsHead, image: np.ndarray) -> Photo:
    """One photo through the photo stream, as `predict` sends it."""
    (photo,), = segment(model, [Photo(Path("photo.png"), image=image)], whole_photo=True)
    return photo


def test_the_stream_lets_each_crop_decide_its_own_face():
    image, head = photo_with_head((12, 16), (25, 30))
    other, other_head = photo_with_head((12, 16), (65, 90))
    image, head = np.maximum(image, other), head | other_head
    first, second = crop((25.0, 30.0), 44.0), crop((65.0, 90.0), 44.0)
    model = BrightIsHead()
    model.faces = [first, second]
    photo = segment_whole(model, image)
    labels, confidence = photo.label_map()
    faces = photo.faces
    assert faces == [first, second] and model.calls == 1  # both crops in one batch
    sure = interior(head)
    assert ((labels == 1)[sure] == head[sure]).all()       # both heads, each from its own crop
    assert confidence.shape == head.shape and (confidence > 0.99)[sure].all()


def test_the_stream_segments_a_photo_without_a_face_whole_for_predict():
    image, head = photo_with_head((40, 55))
    model = BrightIsHead()
    photo = segment_whole(model, image)
    labels, _ = photo.label_map()
    faces = photo.faces
    assert [f.method for f in faces] == ["none"]
    assert faces[0].matrix.tolist() == align_whole_image(head.shape, model.align_params).matrix.tolist()
    sure = interior(head)
    assert ((labels == 1)[sure] == head[sure]).all()


def test_compose_gives_each_pixel_to_the_face_that_claims_it():
    """Two hand-made face maps on a 6 x 8 photo overlapping in columns 3-4: a pixel one face labels
    background and the other skin is skin; where both claim it, the surer face wins; one map alone
    is its `full()`."""
    first = FaceMap(np.array([[1, 1, 0, 0, 0]] * 4, np.uint8),
                    np.array([[0.9, 0.9, 0.8, 0.6, 0.7]] * 4, np.float32), 0, 1, (6, 8))
    second = FaceMap(np.array([[2, 2, 2, 0]] * 4, np.uint8),
                     np.array([[0.5, 0.7, 0.9, 0.9]] * 4, np.float32), 3, 1, (6, 8))
    labels, confidence = compose([first, second], (6, 8))
    assert labels[1].tolist() == [1, 1, 0, 2, 2, 2, 0, 0]
    assert confidence[1].tolist() == pytest.approx([0.9, 0.9, 0.8, 0.5, 0.7, 0.9, 1.0, 1.0])
    assert (labels[0] == 0).all() and (confidence[0] == 1).all() and (labels[5] == 0).all()
    clash = FaceMap(np.array([[3]], np.uint8), np.array([[0.95]], np.float32), 1, 2, (6, 8))
    labels, confidence = compose([first, clash], (6, 8))
    assert labels[2, 1] == 3 and confidence[2, 1] == pytest.approx(0.95)       # surer than 0.9
    unsure = FaceMap(np.array([[3]], np.uint8), np.array([[0.85]], np.float32), 1, 2, (6, 8))
    assert compose([first, unsure], (6, 8))[0][2, 1] == 1
    alone = compose([first], (6, 8))
    assert all(np.array_equal(a, b) for a, b in zip(alone, first.full()))
