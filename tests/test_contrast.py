"""Facial contrast (`faceparse.profile.contrast`) on a drawn face of known colours: each feature's
(S - F) / (S + F) in L*, a*, b* worked by hand from those colours' L*a*b* (a reference written here
from the definitions), the ring's pixel count counted here from its definition, the support and
denominator flags, NaN where a feature is missing, the teeth and a fringe, and the registry entry."""

import math

import numpy as np
import pytest

from faceparse.facemap import FaceMap
from faceparse.profile import measures
from faceparse.profile.frame import face_frame
from faceparse.profile.params import ProfileParams
from faceparse.profile.view import FaceView
from conftest import reference_lab

SKIN = (194, 150, 130)   # ColorChecker light skin
HAIR = (70, 50, 40)      # brows and the head's hair
EYE = (170, 160, 150)
LIP = (160, 70, 80)
TOOTH = (240, 238, 232)
CONTRAST = measures.get("contrast")
# The drawn face (rows, columns inclusive): eyes 14 x 40 at rows 180-193, columns 120-159 and
# 240-279 (centres 120 px apart on one row: iod 120, no rotation); brows 10 x 40 at rows 150-159
# over them; nose rows 210-270; mouth 20 x 80 at rows 300-319, columns 160-239.
EYES = ((slice(180, 194), slice(120, 160)), (slice(180, 194), slice(240, 280)))
BROWS = ((slice(150, 160), slice(120, 160)), (slice(150, 160), slice(240, 280)))
MOUTH = (slice(300, 320), slice(160, 240))


def face(mouth: bool = True, eyes: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """A frontal fasseg6 map (skin 1, hair 2, eyes 3, nose 4, mouth 5) of rectangles in an ellipse,
    and its photo in the colours above on a grey background."""
    import cv2

    labels = np.zeros((480, 400), np.uint8)
    cv2.ellipse(labels, (200, 240), (150, 200), 0, 0, 360, 1, -1)
    head = labels == 1
    labels[:90][head[:90]] = 2
    for box in BROWS:
        labels[box] = 2
    for box in EYES[:eyes]:
        labels[box] = 3
    labels[210:271, 185:215] = 4
    if mouth:
        labels[MOUTH] = 5
    image = np.full(labels.shape + (3,), 90, np.uint8)
    for cls, colour in ((1, SKIN), (2, HAIR), (3, EYE), (4, SKIN), (5, LIP)):
        image[labels == cls] = colour
    return image, labels


def view(image: np.ndarray, labels: np.ndarray, params: ProfileParams = ProfileParams()) -> FaceView:
    frame, flags = face_frame(labels, None, params)
    return FaceView(image, FaceMap.from_photo(labels), frame, params, None, None, tuple(flags))


def ring_pixels(h: int, w: int, r: int) -> int:
    """Pixels within Euclidean distance r of an h x w rectangle of pixels, outside it: its four sides'
    bands and, at each corner, the offsets (i, j) >= 1 with i^2 + j^2 <= r^2."""
    corner = sum(1 for i in range(1, r + 1) for j in range(1, r + 1) if i * i + j * j <= r * r)
    return 2 * r * (h + w) + 4 * corner


def michelson(skin, feature) -> np.ndarray:
    s, f = reference_lab(skin), reference_lab(feature)
    return (s - f) / (s + f)


RINGS = ProfileParams(ring_brows=0.05, ring_eyes=0.1, ring_lips=0.15)  # 6, 12 and 18 px at iod 120


def test_contrast_of_known_colours():
    row = CONTRAST(view(*face(), RINGS))
    assert row["contrast_flags"] == ""
    for name, colour, n in (("brows", HAIR, 2 * 400), ("eyes", EYE, 2 * 560), ("lips", LIP, 1600)):
        want = michelson(SKIN, colour)
        got = [row[f"contrast_{name}_{c}"] for c in "Lab"]
        assert got == pytest.approx(want, abs=2e-3), name
        assert row[f"contrast_{name}_n"] == n
    # Hair, eyes and lips are darker than this skin (positive L*); the lips redder (negative a*).
    assert row["contrast_lips_L"] > 0 and row["contrast_lips_a"] < 0
    assert row["contrast_lips_L"] == pytest.approx(0.2210, abs=2e-3)  # L* 65.67 against 41.90
    # Each feature's ring: skin within its own width x 120 px of the feature, every pixel of it skin of the face.
    assert row["contrast_brows_ring_n"] == 2 * ring_pixels(10, 40, 6)
    assert row["contrast_eyes_ring_n"] == 2 * ring_pixels(14, 40, 12)
    assert row["contrast_lips_ring_n"] == ring_pixels(20, 80, 18)


def skin_within(labels: np.ndarray, boxes, r: float) -> int:
    """Skin pixels (class 1) within Euclidean distance r of any of the rectangles `boxes`, counted
    pixel by pixel from each one's distance to the nearest row and column of a rectangle."""
    rows, cols = np.mgrid[: labels.shape[0], : labels.shape[1]]
    near = np.zeros(labels.shape, bool)
    for ys, xs in boxes:
        dy = np.maximum(np.maximum(ys.start - rows, rows - (ys.stop - 1)), 0)
        dx = np.maximum(np.maximum(xs.start - cols, cols - (xs.stop - 1)), 0)
        near |= dy * dy + dx * dx <= r * r
    return int((near & (labels == 1)).sum())


def test_each_ring_is_its_own_share_of_the_eye_distance():
    # The defaults: brows 0.05, eyes 0.25, lips 0.1 x 120 px. The eyes' 30 px reach the brows, and
    # 36 px the nose: neither is skin, and both stay out of the ring.
    image, labels = face()
    row = CONTRAST(view(image, labels))
    assert row["contrast_brows_ring_n"] == 2 * ring_pixels(10, 40, 6)
    assert row["contrast_eyes_ring_n"] == skin_within(labels, EYES, 30) < 2 * ring_pixels(14, 40, 30)
    assert row["contrast_lips_ring_n"] == ring_pixels(20, 80, 12)
    assert row["contrast_eyes_L"] == pytest.approx(michelson(SKIN, EYE)[0], abs=2e-3)
    wider = CONTRAST(view(image, labels, ProfileParams(ring_eyes=0.3)))
    assert wider["contrast_eyes_ring_n"] == skin_within(labels, EYES, 36)
    assert (wider["contrast_brows_ring_n"], wider["contrast_lips_ring_n"]) == (row["contrast_brows_ring_n"],
                                                                              row["contrast_lips_ring_n"])


def test_registry_columns_are_what_take_writes():
    values, flags = CONTRAST.take(view(*face()))
    assert CONTRAST.columns[:-1] == tuple(values) and CONTRAST.columns[-1] == "contrast_flags"
    assert CONTRAST.columns[:3] == ("contrast_brows_L", "contrast_brows_a", "contrast_brows_b")
    assert flags == []
    assert CONTRAST.name == "contrast" and measures.MODULES["contrast"] == "contrast"


def test_missing_mouth_leaves_the_lips_empty():
    row = CONTRAST(view(*face(mouth=False)))
    assert row["contrast_flags"] == "no_lips"
    assert all(math.isnan(row[f"contrast_lips_{c}"]) for c in "Lab")
    assert row["contrast_lips_n"] == 0
    assert row["contrast_eyes_L"] == pytest.approx(michelson(SKIN, EYE)[0], abs=2e-3)


def test_one_eye_leaves_every_value_empty():
    row = CONTRAST(view(*face(eyes=1)))
    assert row["contrast_flags"] == "one_eye"
    assert all(math.isnan(v) for k, v in row.items() if k != "contrast_flags")


def test_support_flags():
    image, labels = face()
    # A feature needs min_feature_pixels: the brows have 800, the eyes 1120, the lips 1600.
    row = CONTRAST(view(image, labels, ProfileParams(min_feature_pixels=1200)))
    assert row["contrast_flags"] == "no_brows;no_eyes"
    assert math.isnan(row["contrast_brows_L"]) and math.isnan(row["contrast_eyes_b"])
    assert not math.isnan(row["contrast_lips_L"])
    # Its ring needs min_ring_pixels of unclipped skin.
    lips_ring = ring_pixels(20, 80, 12)
    row = CONTRAST(view(image, labels, ProfileParams(min_ring_pixels=lips_ring + 1)))
    assert "lips_ring_small" in row["contrast_flags"].split(";") and math.isnan(row["contrast_lips_L"])
    assert row["contrast_lips_ring_n"] == lips_ring
    # Clipped pixels are not read: lips at 255 in red leave none.
    clipped = image.copy()
    clipped[MOUTH] = (255, 60, 70)
    row = CONTRAST(view(clipped, labels))
    assert row["contrast_flags"] == "lips_clipped" and row["contrast_lips_n"] == 0
    assert math.isnan(row["contrast_lips_a"])
    assert all(measures.is_listed(f) for f in ("no_brows", "no_eyes", "lips_ring_small", "lips_clipped"))


def test_near_zero_denominator_gives_nan_and_a_flag():
    image, labels = face()
    grey = image.copy()
    for cls, v in ((1, 180), (2, 60), (3, 150), (4, 180), (5, 120)):
        grey[labels == cls] = v  # neutral greys: a* and b* are 0 on skin and features alike
    whole_grey = CONTRAST(view(grey, labels))
    grey[labels == 0] = (40, 90, 160)  # a coloured background: the photo is not greyscale, its face is
    row = CONTRAST(view(grey, labels))
    flags = row["contrast_flags"].split(";")
    assert {f"{f}_{c}_undefined" for f in ("brows", "eyes", "lips") for c in "ab"} == set(flags)
    assert all(measures.is_listed(f) for f in flags)
    assert math.isnan(row["contrast_eyes_a"]) and math.isnan(row["contrast_lips_b"])
    assert row["contrast_lips_L"] == pytest.approx(michelson((180,) * 3, (120,) * 3)[0], abs=2e-3)
    # A greyscale photo reads L* contrast only, flagged greyscale rather than undefined.
    assert whole_grey["contrast_flags"] == "greyscale" and math.isnan(whole_grey["contrast_lips_a"])
    assert whole_grey["contrast_lips_L"] == row["contrast_lips_L"]


def test_teeth_are_not_lips_but_the_ring_goes_round_them():
    image, labels = face()
    image[306:314, 180:220] = TOOTH  # inside the mouth, which the map calls mouth
    row = CONTRAST(view(image, labels))
    assert row["contrast_flags"] == "lips_teeth"
    # The 8 x 40 teeth opened by the 5 x 5 disc lose their 8 corner pixels, then grown by it: their 8
    # rows at 44 columns, the rows above and below at 40, the next ones at 36: 504 pixels of 1600.
    assert row["contrast_lips_n"] == 1600 - (8 * 44 + 2 * 40 + 2 * 36)
    assert [row[f"contrast_lips_{c}"] for c in "Lab"] == pytest.approx(michelson(SKIN, LIP), abs=2e-3)
    assert row["contrast_lips_ring_n"] == ring_pixels(20, 80, 12)


def test_a_highlight_speck_is_not_a_tooth():
    image, labels = face()
    image[306:308, 180:182] = TOOTH
    row = CONTRAST(view(image, labels))
    assert row["contrast_flags"] == "" and row["contrast_lips_n"] == 1600


def test_fringe_joined_to_the_brows_is_cut_to_a_brow_and_temple_hair_is_dropped():
    image, labels = face()
    # A fringe down to row 149 over the brows' columns widened by a quarter of the eye's width.
    for cols in (slice(110, 170), slice(230, 290)):
        labels[90:150, cols] = 2
        image[90:150, cols] = HAIR
    v = view(image, labels)
    brow = v.brow_frame(0)
    # In the frame (the window's map here) the brow is the lowest 0.12 x 120 = 14 rows of each column's
    # hair: rows 146-159 over the brow's own columns, rows 136-149 beside it.
    ys, xs = np.nonzero(brow)
    assert len(ys) == 40 * 14 + 20 * 14
    row = CONTRAST(v)
    # That is a guess at the brow under the fringe: flagged, and its contrast is not reported.
    assert row["contrast_flags"] == "brows_fringe"
    assert all(math.isnan(row[f"contrast_brows_{k}"]) for k in ("L", "a", "b", "n", "ring_n"))
    assert not math.isnan(row["contrast_eyes_L"])
    # Hair at the reach's top beside a brow, not joined to it, is not brow.
    image, labels = face()
    labels[120:126, 110:116] = 2
    image[120:126, 110:116] = HAIR
    row = CONTRAST(view(image, labels))
    assert row["contrast_flags"] == "" and row["contrast_brows_n"] == 2 * 400
