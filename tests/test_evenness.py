"""Skin evenness (`faceparse.profile.evenness`): the spread of per-pixel L*a*b* in a cheek patch of two
known colours in known proportions, worked by hand from those colours' L*a*b* (a reference written
here from the definitions);
the face's skin with a slow ramp (taken away) and a fine pattern (kept); the blur normalised to the
skin; support flags and NaN where a part is missing; the registry entry."""

import math

import cv2
import numpy as np
import pytest

from faceparse.facemap import FaceMap
from faceparse.profile import evenness, measures, skin
from faceparse.profile.frame import face_frame
from faceparse.profile.params import ProfileParams
from faceparse.profile.view import FaceView
from conftest import ellipse_face, reference_lab

A = (194, 150, 130)   # ColorChecker light skin
B = (150, 110, 90)
EVENNESS = measures.get("evenness")


def _face() -> tuple[np.ndarray, np.ndarray]:
    """`conftest.ellipse_face` (eyes 120 px apart at row 220, nose at column 256, mouth at row 370),
    skin of colour A."""
    return ellipse_face(skin=A)


def _view(image: np.ndarray, labels: np.ndarray, params: ProfileParams = ProfileParams()) -> FaceView:
    frame, flags = face_frame(labels, None, params)
    return FaceView(image, FaceMap.from_photo(labels), frame, params, None, None, tuple(flags))


def _squares(monkeypatch, squares: dict, flags: list[str] = ()) -> None:
    """Place the cheek patches by hand, whatever the skin measure would do."""
    monkeypatch.setattr(skin, "patch_squares", lambda view, size_fraction=None: (dict(squares), list(flags)))


def test_a_patch_of_two_colours_has_the_spread_worked_by_hand(monkeypatch):
    image, labels = _face()
    # The image-left cheek's square: columns 150..189, rows 273..312 (centre 170, 293, side 40), all skin.
    image[273:313, 150:160] = B                      # a quarter of its columns in colour B
    labels[273, 150:190] = 2                          # its top row is hair, in a colour far off skin:
    image[273, 150:190] = (0, 255, 0)                 # not read
    image[300, 170] = (255, 255, 255)                 # one clipped skin pixel: not read
    _squares(monkeypatch, {"cheek_right": (170.0, 293.0, 40), "cheek_left": (342.0, 293.0, 40), "forehead": None},
             ["forehead_at_edge"])
    row = EVENNESS(_view(image, labels))
    # 39 x 40 - 1 = 1559 pixels read, 390 of them B: the spread of two values in shares p and 1 - p
    # is |difference| x sqrt(p (1 - p)).
    p = 390 / 1559
    expected = np.abs(reference_lab(A) - reference_lab(B)) * math.sqrt(p * (1 - p))   # L* 15.719 x 0.4331 = 6.808
    got = [row[f"cheek_right_sd_{c}"] for c in "Lab"]
    assert got == pytest.approx(expected, abs=0.01)
    assert expected[0] == pytest.approx(6.808, abs=0.01)
    # The other cheek is one colour: no spread; the cheeks' value is the mean of the two.
    assert [row[f"cheek_left_sd_{c}"] for c in "Lab"] == pytest.approx([0, 0, 0], abs=1e-9)
    assert [row[f"cheeks_sd_{c}"] for c in "Lab"] == pytest.approx(expected / 2, abs=0.01)
    assert row["evenness_flags"] == ""               # the forehead is not read here: its flag is not ours


def test_a_missing_or_small_cheek_leaves_the_cheeks_empty_and_says_why(monkeypatch):
    image, labels = _face()
    _squares(monkeypatch, {"cheek_right": (170.0, 293.0, 10), "cheek_left": None, "forehead": (256.0, 160.0, 40)},
             ["cheek_left_at_edge"])
    row = EVENNESS(_view(image, labels))
    flags = row["evenness_flags"].split(";")
    assert set(flags) == {"cheek_left_at_edge", "cheek_left_missing", "cheek_right_small"}  # 100 < 200 pixels
    for c in "Lab":
        assert math.isnan(row[f"cheek_left_sd_{c}"]) and math.isnan(row[f"cheek_right_sd_{c}"])
        assert math.isnan(row[f"cheeks_sd_{c}"])
        assert row[f"skin_residual_sd_{c}"] == pytest.approx(0.0, abs=1e-4)  # one colour over the face
    assert all(measures.is_listed(f) or f in EVENNESS.flags for f in flags)


def _ramp(image: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Skin shaded from left to right: each channel of A falls by 60 levels across the face's 300 columns."""
    out = image.copy()
    fall = np.round(np.linspace(30, -30, 512)).astype(int)
    shaded = np.clip(np.array(A)[None, :] + fall[:, None], 0, 255).astype(np.uint8)  # (columns, 3)
    skin_px = labels == 1
    out[skin_px] = np.broadcast_to(shaded[None], (512, 512, 3))[skin_px]
    return out


def test_slow_shading_is_taken_away_and_the_blur_is_normalised_to_the_skin(monkeypatch):
    image, labels = _face()
    _squares(monkeypatch, {"cheek_right": None, "cheek_left": None, "forehead": None})
    shaded = _ramp(image, labels)
    row = EVENNESS(_view(shaded, labels))
    # The ramp's own spread: L* runs from about 58 to 73 across the face, an SD of ~4 (uniform over
    # a range of ~15: 15 / sqrt(12) = 4.3; the face's rows are shorter at its sides).
    face_px = shaded[:457][labels[:457] == 1]  # the face's skin down to the chin, 0.6 x 120 below the mouth
    raw = reference_lab(face_px).std(axis=0)
    assert raw[0] > 3.5
    res = np.array([row[f"skin_residual_sd_{c}"] for c in "Lab"])
    # Over 90 % of the ramp is gone: all but a band within about one sigma (0.2 x 120 px) of the
    # skin's edges, where a blur normalised to the skin lags a gradient (its weight leans inward),
    # and the ramp's own 8-bit steps (0.25 L* each, an SD of 0.07).
    assert (res < 0.1 * raw).all(), (res, raw)
    # Nothing off the skin leaks in: the background black or white gives the same values.
    for background in (0, 255):
        other = shaded.copy()
        other[labels == 0] = background
        again = EVENNESS(_view(other, labels))
        assert [again[f"skin_residual_sd_{c}"] for c in "Lab"] == pytest.approx(res, abs=1e-3)


def test_a_fine_pattern_is_kept_whole(monkeypatch):
    image, labels = _face()
    _squares(monkeypatch, {"cheek_right": None, "cheek_left": None, "forehead": None})
    cols = np.arange(512) % 2 == 1
    patterned = image.copy()
    patterned[(labels == 1) & cols[None, :]] = B     # every other column B: far finer than the blur
    row = EVENNESS(_view(patterned, labels))
    # The shading is the pattern's local mean, so each pixel lies half the difference away from it.
    half = np.abs(reference_lab(A) - reference_lab(B)) / 2                # L* 7.860, a* 0.271, b* 0.240
    assert [row[f"skin_residual_sd_{c}"] for c in "Lab"] == pytest.approx(half, rel=0.02)


def test_shading_of_a_ramp_is_the_ramp_and_the_shrunk_blur_matches_the_full_one():
    h, w = 300, 400
    mask = np.zeros((h, w), bool)
    mask[40:260, 60:340] = True
    ramp = (np.arange(w, dtype=np.float32)[None, :] * 0.1 + np.arange(h, dtype=np.float32)[:, None] * 0.05)
    sigma = 24.0                                        # shrunk by blocks of 8
    slow = np.full((h, w), np.nan, np.float32)
    slow[mask] = evenness.shading(ramp[mask][:, None], mask, sigma)[:, 0]
    inner = np.zeros_like(mask)
    inner[40 + 72:260 - 72, 60 + 72:340 - 72] = True    # 3 sigma inside the edge: a symmetric blur keeps a ramp
    assert np.abs(slow[inner] - ramp[inner]).max() < 0.02
    # Against the blur at full resolution (OpenCV's, kernel to 4 sigma), over the whole mask.
    num = cv2.GaussianBlur(np.where(mask, ramp, 0).astype(np.float32), (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
    den = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
    full = num / den
    assert np.abs(slow[mask] - full[mask]).max() < 0.15   # the ramp spans 25 over the mask


def test_too_little_skin_no_eyes_and_a_grey_photo(monkeypatch):
    image, labels = _face()
    _squares(monkeypatch, {"cheek_right": (170.0, 293.0, 40), "cheek_left": (342.0, 293.0, 40), "forehead": None})
    # More skin asked for than the face has (100 x 120^2 pixels): no residual, flagged.
    row = EVENNESS(_view(image, labels, ProfileParams(min_face_skin=100)))
    assert "no_skin" in row["evenness_flags"] and math.isnan(row["skin_residual_sd_L"])
    assert row["cheeks_sd_L"] == pytest.approx(0.0, abs=1e-9)
    # No eyes: no frame, so no face skin to cut the neck from (the cheek squares are given here).
    no_eyes = labels.copy()
    no_eyes[no_eyes == 3] = 1
    row = EVENNESS(_view(image, no_eyes))
    assert row["evenness_flags"] == "no_eyes" and math.isnan(row["skin_residual_sd_L"])
    # A grey photo: L* only.
    grey = np.repeat(_ramp(image, labels)[..., 1:2], 3, axis=2)
    row = EVENNESS(_view(grey, labels))
    assert "greyscale" in row["evenness_flags"].split(";")
    assert not math.isnan(row["skin_residual_sd_L"]) and not math.isnan(row["cheek_left_sd_L"])
    assert all(math.isnan(row[c]) for c in EVENNESS.columns[:-1] if c.endswith(("_a", "_b")))


def test_registry_columns_are_what_take_writes(monkeypatch):
    image, labels = _face()
    values, flags = EVENNESS.take(_view(image, labels))  # its own squares, placed as the skin's are
    assert EVENNESS.columns == tuple(values) + ("evenness_flags",)
    assert flags == [] and not any(math.isnan(v) for v in values.values())
    assert EVENNESS.columns[:3] == ("cheek_left_sd_L", "cheek_left_sd_a", "cheek_left_sd_b")


def test_the_cheek_spread_is_read_on_squares_of_its_own_size_and_the_colour_keeps_its_own():
    """Evenness reads squares of evenness_patch_fraction x iod (the face's eyes are 120 px apart:
    0.45 -> 54 px), the skin colour its patch_size_fraction ones (0.35 -> 42 px), each placed once,
    whichever measure asks first."""
    image, labels = _face()
    view = _view(image, labels)
    EVENNESS(view)
    own, _ = skin.patch_squares(view, ProfileParams().evenness_patch_fraction)
    colour, _ = skin.patch_squares(view)
    assert {sq[2] for sq in own.values() if sq} == {54}
    assert {sq[2] for sq in colour.values() if sq} == {42}
    assert sorted(k[1] for k in view.cache if k[0] == "patch_squares") == [0.35, 0.45]
    # The spread is the one of the 54 px squares' skin, worked out here from the pixels themselves:
    # a 54 px square on a one-colour face with one column of another colour.
    x, y, side = own["cheek_right"]
    x0, y0 = int(round(x - side / 2)), int(round(y - side / 2))
    painted = image.copy()
    painted[y0:y0 + side, x0] = (140, 90, 70)
    row = EVENNESS(_view(painted, labels))
    p = 1 / side  # one column of the square's side columns, all skin
    expected = np.abs(reference_lab(painted[y0, x0]) - reference_lab(image[y0, x0 + 1])) * math.sqrt(p * (1 - p))
    assert [row[f"cheek_right_sd_{c}"] for c in "Lab"] == pytest.approx(expected, abs=0.01)
