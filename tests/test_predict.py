"""Predictions carried back onto the photo: a face that runs off its crop is not cut to background."""

import cv2
import numpy as np

from faceparse.align import AlignParams, Alignment, align_whole_image, crop_matrix
from faceparse.labels import get_label_set
from faceparse.predict import Predictor, crop_coverage


class BrightIsHead(Predictor):
    """A stand-in model that needs no checkpoint: in FASSEG's classes, bright pixels are `head` (skin
    by default), dark ones background."""

    def __init__(self, size: int = 64, spill: float | None = 0.15, head: str = "skin") -> None:
        self.size, self.spill, self.label_set = size, spill, "fasseg6"
        self.align_params = AlignParams(size=size)
        self.head = get_label_set("fasseg6").classes.index(head)
        self.calls = 0

    def crop_probs(self, crops: np.ndarray) -> np.ndarray:
        self.calls += 1
        bright = (crops.mean(-1) > 127).astype(np.float32)
        probs = np.zeros((len(crops), 6) + bright.shape[1:], np.float32)
        probs[:, 0], probs[:, self.head] = 1 - bright, bright
        return probs


def crop(center: tuple[float, float], side: float, method: str = "haar_frontal") -> Alignment:
    """A 64-px crop of a `side`-pixel square, as a face detector (or landmarks) would frame it."""
    box = (center[0] - side / 2, center[1] - side / 2, side, side)
    return Alignment(matrix=crop_matrix(center, side, 0.0, 64), method=method, box=box, angle=0.0)


def photo_with_head(axes: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A 120 x 90 dark photo with a bright ellipse (the head) centred at (45, 60); also its mask."""
    head = np.zeros((120, 90), np.uint8)
    cv2.ellipse(head, (45, 60), axes, 0, 0, 360, 1, -1)
    return np.repeat(head[..., None] * 255, 3, axis=2).astype(np.uint8), head.astype(bool)


def interior(mask: np.ndarray, margin: int = 3) -> np.ndarray:
    """Pixels at least `margin` away from the mask's edge, on either side (resampling blurs the edge)."""
    k = np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)
    m = mask.astype(np.uint8)
    return (cv2.erode(m, k) > 0) | (cv2.dilate(m, k) == 0)


def test_face_running_off_the_crop_is_filled_from_the_whole_photo():
    image, head = photo_with_head((40, 55))               # spans x 5-85, y 5-115
    face = crop((45.0, 60.0), 70.0)                       # a face crop 70 px wide: the head runs off it
    inside = crop_coverage(face.matrix, 64, head.shape) > 0.999
    outside = (crop_coverage(face.matrix, 64, head.shape) == 0) & interior(head)
    assert (outside & head).sum() > 1000                  # the case under test: head pixels beyond the crop

    cut = BrightIsHead(spill=None).photo_probs(image, face).argmax(0) == 1  # class 1: skin
    assert not cut[outside & head].any()                  # without the second pass they are background

    model = BrightIsHead()
    filled = model.photo_probs(image, face).argmax(0) == 1
    assert model.calls == 2
    sure = interior(head)
    assert (filled[sure] == head[sure]).all()             # the whole head, crop and beyond
    assert (filled[inside & sure] == cut[inside & sure]).all()  # inside the crop the face crop decides


def test_head_inside_the_crop_is_predicted_once():
    image, head = photo_with_head((15, 20))
    face = crop((45.0, 60.0), 70.0)
    model = BrightIsHead()
    labels = model.photo_probs(image, face).argmax(0) == 1
    assert model.calls == 1
    sure = interior(head)
    assert (labels[sure] == head[sure]).all()


def test_hair_over_the_sides_and_neck_below_do_not_count():
    image, head = photo_with_head((40, 55))
    face = crop((45.0, 60.0), 70.0)
    hair = BrightIsHead(head="hair")                       # the same shape, read as hair: a well-framed crop
    hair.photo_probs(image, face)
    assert hair.calls == 1
    below = crop((45.0, 10.0), 110.0)                     # a crop over the top of the photo: the skin runs
    neck = BrightIsHead()                                  # off only its bottom edge
    neck.photo_probs(image, below)
    assert neck.calls == 1


def test_crop_holding_the_whole_photo_is_not_predicted_again():
    image, head = photo_with_head((50, 65))               # the head fills the photo and touches its edges
    model = BrightIsHead()
    model.photo_probs(image, align_whole_image(head.shape, AlignParams(size=64)))
    model.photo_probs(image, crop((44.5, 59.5), 120.0))   # a detector's crop that just holds the photo
    assert model.calls == 2


def test_crop_framed_by_landmarks_is_trusted():
    image, head = photo_with_head((40, 55))
    model = BrightIsHead()
    labels = model.photo_probs(image, crop((45.0, 60.0), 70.0, method="landmarks")).argmax(0)
    assert model.calls == 1 and (labels[:, :8] == 0).all()  # beyond the crop: background


def test_crop_coverage_is_one_inside_and_zero_outside():
    face = crop_matrix((45.0, 60.0), 40.0, 0.0, 64)       # covers x 25-65, y 40-80
    cover = crop_coverage(face, 64, (120, 90))
    assert np.allclose(cover[45:75, 30:60], 1) and np.allclose(cover[:35], 0) and np.allclose(cover[:, 70:], 0)


def test_another_head_outside_the_crop_stays_background():
    image, head = photo_with_head((40, 55))
    cv2.circle(image, (84, 8), 5, (255, 255, 255), -1)     # another person's bright head, apart from this one
    model = BrightIsHead()
    labels = model.photo_probs(image, crop((45.0, 60.0), 70.0)).argmax(0)
    assert model.calls == 2
    sure = interior(head)
    assert (labels[sure] == head[sure]).all() and (labels[4:13, 80:89] == 0).all()


def test_segment_photo_keeps_a_filled_head_beside_another_face():
    from faceparse.predict import segment_photo

    image, head = photo_with_head((40, 55))
    big, small = crop((45.0, 60.0), 70.0), crop((80.0, 110.0), 16.0)  # the cut face, and a small second face
    model = BrightIsHead()
    model.align = lambda photo: [big, small]
    labels, _, _ = segment_photo(model, image)
    outside = (crop_coverage(big.matrix, 64, head.shape) == 0) & (crop_coverage(small.matrix, 64, head.shape) == 0)
    sure = interior(head) & outside & head
    assert sure.sum() > 500 and (labels[sure] == 1).all()
