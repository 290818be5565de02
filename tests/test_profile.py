"""Colour science, patch placement, fWHR and validation statistics of `faceparse.profile`.

Expected numbers are published values or worked out by hand here (in comments, or by the small
scalar reference written below straight from the CIE / IEC definitions), never taken from the code
under test.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from faceparse.errors import FaceparseDataError
from faceparse.profile import (ProfileParams, bootstrap_ci, fwhr_from_labels, fwhr_from_landmarks, icc_3_1, ita,
                               ita_category, is_greyscale, measure_skin, pearson_r, profile_face, read_tem,
                               srgb_to_lab, srgb_to_linear, xyz_to_lab)
from faceparse.profile.colour import LINEAR_OF_BYTE
from faceparse.profile.correct import Correction
from faceparse.profile.frame import face_frame
from faceparse.profile.skin import _skin_median, as_face_map, counted_median
from faceparse.profile.view import FaceView
from conftest import ellipse_face

ROOT = Path(__file__).resolve().parents[1]


def _data_root() -> Path:
    mirror = os.environ.get("FACEPARSE_MIRROR")
    if mirror:
        p = Path(mirror)
        return p if p.is_absolute() else (ROOT / p).resolve()
    return (ROOT.parent / "shared" / "data").resolve()


LONDON = _data_root() / "london_faces" / "neutral_front"
FASSEG_V2 = _data_root() / "fasseg" / "V2"


# --- an independent scalar reference, written from the definitions ------------------------------

def _ref_lab(rgb8: tuple[int, int, int]) -> tuple[float, float, float]:
    """sRGB 8-bit -> CIE L*a*b* (D65), one colour, plain floats.

    The RGB -> XYZ matrix is derived here from the sRGB primaries' chromaticities and the D65 white
    point (IEC 61966-2-1 / ITU-R BT.709), not copied, so a wrong constant in the code shows up.
    """
    def lin(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

    prim = [(0.64, 0.33), (0.30, 0.60), (0.15, 0.06)]
    wx, wy = 0.3127, 0.3290
    cols = np.array([[x / y, 1.0, (1 - x - y) / y] for x, y in prim]).T  # XYZ of each primary at Y = 1
    white = np.array([wx / wy, 1.0, (1 - wx - wy) / wy])
    m = cols * np.linalg.solve(cols, white)  # scale primaries so that R = G = B = 1 is the white
    X, Y, Z = m @ np.array([lin(c) for c in rgb8])

    def f(t: float) -> float:
        return t ** (1 / 3) if t > (6 / 29) ** 3 else t / (3 * (6 / 29) ** 2) + 4 / 29

    fx, fy, fz = f(X / white[0]), f(Y / white[1]), f(Z / white[2])
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def _de(a, b) -> float:
    return float(np.linalg.norm(np.asarray(a, dtype=float) - np.asarray(b, dtype=float)))


# --- colour science -----------------------------------------------------------------------------

def test_white_grey_black():
    assert _de(srgb_to_lab(np.array([255, 255, 255], np.uint8)), (100, 0, 0)) < 0.5
    # 119/255 = 0.466667 -> ((0.466667 + 0.055) / 1.055)^2.4 = 0.184475 = Y (the matrix's Y row sums
    # to 1) -> L* = 116 * 0.184475^(1/3) - 16 = 116 * 0.569262 - 16 = 50.03; a* = b* = 0 for a grey.
    grey = srgb_to_lab(np.array([119, 119, 119], np.uint8))
    assert grey[0] == pytest.approx(50.03, abs=0.02)
    assert abs(grey[1]) < 0.05 and abs(grey[2]) < 0.05
    # Black: XYZ = 0, f(0) = 16/116 for all three, so L* = a* = b* = 0 exactly.
    assert np.allclose(srgb_to_lab(np.zeros(3, np.uint8)), 0.0, atol=1e-9)


def test_float_and_uint8_inputs_agree():
    rgb8 = np.array([[115, 82, 68], [194, 150, 130]], np.uint8)
    assert np.allclose(srgb_to_lab(rgb8), srgb_to_lab(rgb8 / 255.0))
    with pytest.raises(ValueError, match="uint8"):
        srgb_to_lab(rgb8.astype(np.int32))


def test_byte_tables_give_the_matrix_products_xyz():
    # 8-bit colours go through `bytes_to_xyz` (three table reads summed per X, Y, Z); float ones
    # through the matrix product: the same products, summed in another order (1 ulp at most).
    from faceparse.profile.colour import bytes_to_xyz, linear_to_xyz

    rgb = np.random.default_rng(0).integers(0, 256, (10_000, 3)).astype(np.uint8)
    xyz = np.stack(bytes_to_xyz(rgb[:, 0], rgb[:, 1], rgb[:, 2]), axis=-1)
    assert xyz.shape == (10_000, 3)
    assert np.abs(xyz - linear_to_xyz(srgb_to_linear(rgb))).max() < 1e-15
    # White: each row of the sRGB matrix summed, 0.4124 + 0.3576 + 0.1805 = 0.9505 for X.
    white = np.array([255], np.uint8)
    assert np.concatenate(bytes_to_xyz(white, white, white)) == pytest.approx([0.9505, 1.0, 1.0890], abs=1e-12)


def test_srgb_transfer_curve_is_piecewise_not_gamma_22():
    lin = srgb_to_linear(np.array([10, 11, 128], np.uint8))
    # 10/255 = 0.039216 <= 0.04045: linear toe, 0.039216 / 12.92 = 0.0030353
    assert lin[0] == pytest.approx(0.0030353, abs=1e-6)
    # 11/255 = 0.043137 > 0.04045: ((0.043137 + 0.055) / 1.055)^2.4 = 0.0930211^2.4 = 0.0033465
    assert lin[1] == pytest.approx(0.0033465, abs=1e-6)
    # 128: ((0.501961 + 0.055) / 1.055)^2.4 = 0.215861; a plain 2.2 gamma would give 0.219520
    assert lin[2] == pytest.approx(0.215861, abs=1e-5)


def test_lab_epsilon_kappa_rule():
    # Below epsilon = 216/24389 = 0.008856 the linear branch: L* = kappa * Y = 903.2963 * 0.008 = 7.2264;
    # above it the cube root: 116 * 0.01^(1/3) - 16 = 8.9914; at epsilon both branches give exactly 8.
    white = np.array([0.95047, 1.0, 1.08883])
    for y, expected in ((0.008, 7.22637), (0.01, 8.99144), (216 / 24389, 8.0)):
        lab = xyz_to_lab(white * y)
        assert lab[0] == pytest.approx(expected, abs=1e-4)
        assert abs(lab[1]) < 1e-9 and abs(lab[2]) < 1e-9  # a scaled white is neutral


@pytest.mark.parametrize("name, rgb8, expected", [
    # BabelColor's sRGB (8-bit) ColorChecker values (Pascale, "RGB coordinates of the Macbeth
    # ColorChecker", 2006): dark skin 115 82 68, light skin 194 150 130. Their D65 L*a*b* worked out
    # by the scalar reference above, and cross-checked with OpenCV's cvtColor(RGB2Lab) (within 0.15).
    # The often quoted (37.99, 13.56, 14.06) and (65.71, 18.13, 17.81) are X-Rite's D50 values: the
    # sRGB triplets were made from them through a Bradford D50 -> D65 adaptation, which does not
    # keep a* b*; read back under D65 they differ by 1.8 and 4.5 Delta E, so they are not used here.
    ("dark skin", (115, 82, 68), (38.02, 11.80, 13.66)),
    ("light skin", (194, 150, 130), (65.67, 13.68, 16.89)),
    ("blue sky", (98, 122, 157), (50.63, 0.38, -21.61)),
    ("foliage", (87, 108, 67), (43.00, -15.88, 20.45)),
])
def test_colorchecker_patches(name, rgb8, expected):
    got = srgb_to_lab(np.array(rgb8, np.uint8))
    assert _de(got, _ref_lab(rgb8)) < 0.5, name
    assert _de(got, expected) < 0.5, name


def test_ita_formula_and_zero_b():
    assert ita(60.0, 10.0) == pytest.approx(45.0)       # arctan(10 / 10)
    assert ita(40.0, 10.0) == pytest.approx(-45.0)
    assert ita(50.0 + 10 * math.tan(math.radians(30)), 10.0) == pytest.approx(30.0)
    # The published formula is arctan of the ratio, not atan2: b* < 0 flips the sign.
    assert ita(40.0, -10.0) == pytest.approx(45.0)
    assert ita(100.0, 0.0) == 90.0 and ita(20.0, 0.0) == -90.0
    assert ita(70.0, -0.0) == 90.0                       # the sign of the zero does not matter
    assert math.isnan(ita(50.0, 0.0))
    assert np.allclose(ita(np.array([60.0, 100.0]), np.array([10.0, 0.0])), [45.0, 90.0])


@pytest.mark.parametrize("angle, category", [
    (55.01, "very light"), (55.0, "light"), (54.99, "light"),
    (41.01, "light"), (41.0, "intermediate"), (40.99, "intermediate"),
    (28.01, "intermediate"), (28.0, "tan"), (27.99, "tan"),
    (10.01, "tan"), (10.0, "brown"), (9.99, "brown"),
    (-29.99, "brown"), (-30.0, "dark"), (-30.01, "dark"),
    (90.0, "very light"), (-90.0, "dark"),
])
def test_ita_category_boundaries(angle, category):
    assert ita_category(angle) == category


def test_ita_category_array_and_nan():
    out = ita_category(np.array([60.0, np.nan, -45.0]))
    assert list(out) == ["very light", "", "dark"]


# --- a synthetic face map -----------------------------------------------------------------------
# 512 x 512, drawn with cv2 (centre (x, y), half-axes (a, b)):
#   skin: head ellipse (256, 270) (150, 200); hair: everything of the head above row 110, and two
#   brows (196, 188) / (316, 188) (30, 6) whose lower edge is row 194 at the eyes' centre columns;
#   eyes (196, 220) / (316, 220) (22, 10): rows 210-230, 120 px apart; nose (256, 290) (22, 45):
#   bottom row 335; mouth (256, 370) (45, 14): top row 356.
# Expected fWHR: width = widest run between the eye line (220) and the nose bottom (335), at row 270:
# columns 106..406, 300 px; height to the brow = 356 - 194 = 162 (fWHR 1.8519); to the eyelid
# = 356 - 210 = 146 (fWHR 2.0548).

SKIN_RGB = (194, 150, 130)
SKIN_LAB = (65.67, 13.68, 16.89)  # ColorChecker light skin, as above


def _face(ears: bool = False, eyes: bool = True, mouth: bool = True) -> tuple[np.ndarray, np.ndarray]:
    return ellipse_face(ears=ears, eyes=eyes, mouth=mouth, skin=SKIN_RGB)


def _patch(profile, name):
    return next(p for p in profile.patches if p.name == name)


def _box(p):
    x0, y0 = int(round(p.x - p.size_px / 2)), int(round(p.y - p.size_px / 2))
    return x0, y0, x0 + p.size_px, y0 + p.size_px


def test_patches_on_synthetic_face():
    image, labels = _face()
    prof = measure_skin(image, labels)
    assert prof.flags == ()
    assert prof.inter_ocular_px == pytest.approx(120.0, abs=0.5)
    assert prof.eye_line_angle == pytest.approx(0.0, abs=0.1)
    left, right, fore = (_patch(prof, n) for n in ("cheek_left", "cheek_right", "forehead"))
    for p in (left, right, fore):
        assert p.size_px == 42                    # round(0.35 * 120)
        assert p.skin_share == 1.0                # entirely on skin
        assert _de(p.lab, SKIN_LAB) < 0.5
        x0, y0, x1, y1 = _box(p)
        assert (labels[y0:y1, x0:x1] == 1).all()
    for p in (left, right):
        _, y0, _, y1 = _box(p)
        assert y0 > 230 and y1 <= 356             # below the eyes' lower edge, above the mouth
    # The subject's left cheek is on the image's right.
    assert left.x > 278 and right.x < 234         # beside the nose (columns 234..278)
    assert left.x == pytest.approx(341.5, abs=1.5)  # halfway between nose side 278 and face edge 405
    assert right.x == pytest.approx(170.5, abs=1.5)
    assert left.y == pytest.approx(293, abs=1)      # halfway between eye bottom 230 and mouth top 356
    _, y0, _, y1 = _box(fore)
    assert y1 <= 182 and y0 >= 110                # above the brows, below the hairline
    assert fore.y == pytest.approx(160, abs=1)      # halfway between eye top 210 and skin top 110
    assert fore.x == pytest.approx(256, abs=1)
    row = prof.as_row()
    # ITA = arctan((65.67 - 50) / 16.89) = arctan(0.9278) = 42.86 degrees: "light" (41, 55]
    assert row["cheeks_ita"] == pytest.approx(42.86, abs=0.3)
    assert row["cheeks_ita_category"] == "light"
    assert row["skin_median_L"] == pytest.approx(SKIN_LAB[0], abs=0.5)
    # No colour correction is applied; the column stays, saying so, so that the CSV keeps its format.
    assert row["colour_correction"] == "none" and row["skin_flags"] == ""


def test_skin_median_reads_a_colour_as_srgb_to_lab_does():
    # One 8-bit sRGB -> L*a*b* path: on a face of one skin colour the whole-skin median is that
    # colour's `srgb_to_lab` to the last bit, and within 0.5 of the scalar reference's. For
    # (120, 90, 70) a matrix product gives another last bit than the byte tables (X, Y, Z summed
    # in another order), so a second conversion path would show here.
    image, labels = _face()
    for rgb in (SKIN_RGB, (120, 90, 70)):
        image[labels == 1] = rgb
        row = measure_skin(image, labels).as_row()
        lab = srgb_to_lab(np.array(rgb, np.uint8))
        assert (row["skin_median_L"], row["skin_median_a"], row["skin_median_b"]) == tuple(lab), rgb
        # The neck is cut at 0.6 x iod (the eyes' centres 120 px apart) below the mouth's lowest row.
        chin = int(np.flatnonzero((labels == 5).any(axis=1)).max() + 0.6 * 120)
        assert _de(lab, _ref_lab(rgb)) < 0.5 and row["skin_n_used"] == int((labels[: chin + 1] == 1).sum())


def test_skin_median_read_colour_by_colour_is_the_pixels_median():
    # The whole-skin median reads each distinct colour once (`skin.colour_counts`): its percentiles,
    # medians and pixel count are those of the pixels read one by one, to the last bit with no
    # correction and a matrix one (byte tables); through a polynomial one within BLAS's rounding
    # (its matrix products may round a last bit otherwise for another number of rows).
    image, labels = _face()
    rng = np.random.default_rng(3)
    skin = labels == 1
    image[skin] = np.clip(rng.normal(SKIN_RGB, 14, (int(skin.sum()), 3)), 0, 255).astype(np.uint8)
    image[skin & (rng.random(labels.shape) < 0.03)] = 255  # highlights: clipped, left out
    lut = np.repeat(LINEAR_OF_BYTE[None], 3, axis=0)
    tilt = np.eye(3) + rng.normal(0, 0.05, (3, 3))
    params = ProfileParams()
    for correction in (None, Correction("matrix", lut, tilt),
                       Correction("cheung2004", lut, np.hstack([tilt, rng.normal(0, 0.02, (3, 7))]))):
        face = as_face_map(image, labels)
        frame, flags = face_frame(face, None, params)
        view = FaceView(image, face, frame, params, correction, None, tuple(flags), "test")
        median, n = _skin_median(view)
        pix = image[face.photo_slices()][view.face_skin]
        pix = pix[view.unclipped(pix)]
        lab = view.lab_channels(pix[:, 0], pix[:, 1], pix[:, 2])
        lo, hi = np.percentile(lab[0], params.skin_percentiles)
        keep = (lab[0] >= lo) & (lab[0] <= hi)
        assert len(np.unique(pix, axis=0)) > 5000 and n == int(keep.sum()) > 40000
        expected = [float(np.median(c[keep])) for c in lab]
        if correction is None or correction.model == "matrix":
            assert median.tolist() == expected, correction
        else:
            assert median.tolist() == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_counted_median_is_the_repeated_values_median():
    rng = np.random.default_rng(0)
    for size in (1, 2, 3, 50, 51):
        values = rng.integers(0, 20, size) / 7.0  # ties between values, and values no float halves exactly
        for counts in (np.ones(size, np.int64), rng.integers(1, 6, size)):
            assert counted_median(values, counts) == np.median(np.repeat(values, counts)), (size, counts)


def test_a_profile_row_holds_plain_python_values():
    # The Ray engine's workers send their rows as JSON (`ray_engine`): a numpy integer or float in a
    # row would stop the run there, where the CSV writer would not notice it.
    image, labels = _face()
    row = profile_face(image, labels)
    assert {k: type(v).__name__ for k, v in row.items() if type(v) not in (int, float, str, bool)} == {}
    assert json.loads(json.dumps(row)).keys() == row.keys()


def test_greyscale_photo_keeps_lightness_but_has_no_ita():
    # A colour face turned grey (ITU-R BT.601 luma, as a greyscale save does): b* is ~0, so ITA would
    # read +-90 degrees ("dark" or "very light") whatever the skin.
    image, labels = _face()
    grey = np.repeat(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    assert is_greyscale(grey) and not is_greyscale(image)
    row = measure_skin(grey, labels).as_row()
    assert "greyscale" in row["skin_flags"].split(";")
    g = int(grey[labels == 1][0, 0])             # the skin's grey, about 161 (BT.601 luma of SKIN_RGB)
    y = ((g / 255 + 0.055) / 1.055) ** 2.4       # sRGB -> linear luminance
    L = 116 * y ** (1 / 3) - 16                  # CIE L* (y > 0.008856)
    assert 150 < g < 170 and row["skin_median_L"] == pytest.approx(L, abs=0.05) and row["cheeks_L"] == pytest.approx(L, abs=0.05)
    for col in ("cheeks_a", "cheeks_b", "cheeks_ita", "skin_median_b", "skin_ita", "cheek_left_ita", "forehead_b"):
        assert math.isnan(row[col]), col
    assert row["cheeks_ita_category"] == "" and row["skin_ita_category"] == ""


def test_patch_averaging_linear_versus_lab():
    # A checkerboard of greys 40 and 220 on the skin: a spectrophotometer sees the mean light,
    # mean(linear(40), linear(220)); the Lab mean averages the two L* instead.
    image, labels = _face()
    checker = (np.indices(labels.shape).sum(axis=0) % 2).astype(bool)
    image[(labels == 1) & checker] = 40
    image[(labels == 1) & ~checker] = 220
    y_mix = (srgb_to_linear(np.array([40], np.uint8).repeat(3))[0] +
             srgb_to_linear(np.array([220], np.uint8).repeat(3))[0]) / 2
    # linear(40) = 0.021219, linear(220) = 0.715694: Y = 0.368456, L* = 116 * 0.716992 - 16 = 67.16
    assert y_mix == pytest.approx(0.368456, abs=1e-5)
    l_linear = 116 * y_mix ** (1 / 3) - 16
    l_lab = (_ref_lab((40, 40, 40))[0] + _ref_lab((220, 220, 220))[0]) / 2  # (16.11 + 87.76) / 2 = 51.94
    lin = _patch(measure_skin(image, labels), "cheek_left").lab[0]
    lab = _patch(measure_skin(image, labels, params=ProfileParams(averaging="lab")), "cheek_left").lab[0]
    assert lin == pytest.approx(l_linear, abs=0.05) and lin == pytest.approx(67.16, abs=0.05)
    assert lab == pytest.approx(l_lab, abs=0.05) and lab == pytest.approx(51.94, abs=0.05)


def test_clipped_and_low_confidence_flags():
    image, labels = _face()
    image[280:300, 330:360] = 255           # a specular highlight on the subject's left cheek
    conf = np.ones(labels.shape, np.float32)
    conf[250:340, 140:200] = 0.5            # an unsure region over the subject's right cheek
    prof = measure_skin(image, labels, confidence=conf)
    assert set(prof.flags) == {"cheek_left_clipped", "cheek_right_low_confidence"}
    left = _patch(prof, "cheek_left")
    assert left.clipped_share == pytest.approx(20 * 30 / 42**2, abs=0.01)
    assert _de(left.lab, SKIN_LAB) < 0.5    # clipped pixels are left out of the colour
    assert _patch(prof, "cheek_right").confidence == pytest.approx(0.5, abs=0.01)
    assert _patch(prof, "forehead").confidence == pytest.approx(1.0)


def test_missing_parts_give_nan_and_flags_not_exceptions():
    image, labels = _face(eyes=False)
    prof = measure_skin(image, labels)
    assert "no_eyes" in prof.flags
    assert {f"{n}_missing" for n in ("cheek_left", "cheek_right", "forehead")} <= set(prof.flags)
    assert all(math.isnan(p.lab[0]) for p in prof.patches) and math.isnan(prof.cheeks_ita)
    # Without two eyes there is no size to judge the skin's support by, nor a chin: no median either.
    assert math.isnan(prof.skin_median_lab[0]) and prof.skin_n_used == 0
    fw = fwhr_from_labels(labels)
    assert math.isnan(fw.fwhr) and "no_eyes" in fw.flags

    image, labels = _face(mouth=False)
    prof = measure_skin(image, labels)
    assert {"no_mouth", "cheek_left_missing", "cheek_right_missing"} <= set(prof.flags)
    assert not math.isnan(_patch(prof, "forehead").lab[0])
    fw = fwhr_from_labels(labels)
    # Without a mouth the outline is read down to the nose's bottom, row 335.
    width = 2 * float(np.median([_ellipse_half_width(r) for r in range(220, 336)]))
    assert math.isnan(fw.fwhr) and fw.width_px == pytest.approx(width, abs=1.5) and "no_mouth" in fw.flags

    one_eye = labels.copy()
    one_eye[one_eye == 3] = 1
    cv2.ellipse(one_eye, (196, 220), (22, 10), 0, 0, 360, 3, -1)
    assert "one_eye" in measure_skin(image, one_eye).flags

    image, labels = _face()
    prof = measure_skin(image[210:], labels[210:])        # photo cut at the eyes' top: no forehead in view
    assert "forehead_missing" in prof.flags and not math.isnan(_patch(prof, "cheek_left").lab[0])

    blank = np.zeros_like(labels)
    assert "no_eyes" in measure_skin(image, blank).flags
    row = profile_face(image, blank)   # no nose: not a face, nothing measured
    assert row["face_flags"] == "not_a_face" and row["skin_flags"] == "" and math.isnan(row["fwhr"])


# --- fWHR on the synthetic map ------------------------------------------------------------------

def _ellipse_half_width(row: float) -> float:
    """Half-width of the synthetic face's ellipse (centre row 270, semi-axes 150 x 200) on a row."""
    return 150 * math.sqrt(1 - ((row - 270) / 200) ** 2)


def test_fwhr_synthetic():
    _, labels = _face()
    fw = fwhr_from_labels(labels)
    # No ears: each half-width is the median of the outline from the eye line (row 220) to the
    # nose's bottom (row 335).
    width = 2 * float(np.median([_ellipse_half_width(r) for r in range(220, 336)]))
    assert fw.width_px == pytest.approx(width, abs=1.5)
    assert fw.height_px == pytest.approx(162, abs=1)
    assert fw.fwhr == pytest.approx(width / 162, abs=0.02)
    assert fw.flags == ()
    lid = fwhr_from_labels(labels, params=ProfileParams(brow="eyelid"))
    assert lid.height_px == pytest.approx(146, abs=1)
    assert lid.fwhr == pytest.approx(width / 146, abs=0.02)


def test_fwhr_height_line_ends_on_the_photo():
    _, labels = _face()
    fw = fwhr_from_labels(labels)
    # The midline is halfway between the eyes (x 256); the brows' lower edge is row 194, the mouth's
    # top row 370 - 14 = 356.
    (tx, ty), (bx, by) = fw.height_ends
    assert (tx, bx, by) == (256.0, 256.0, 356.0) and ty == pytest.approx(194, abs=0.5)
    assert by - ty == fw.height_px
    row = fw.as_row()
    assert (row["fwhr_top_x"], row["fwhr_bottom_y"]) == (256.0, 356.0)
    # Turned by 12 degrees, the line turns with the face and keeps the height's length.
    turned = cv2.warpAffine(labels, cv2.getRotationMatrix2D((256, 256), 12, 1.0), (512, 512), flags=cv2.INTER_NEAREST)
    tilted = fwhr_from_labels(turned)
    (tx, ty), (bx, by) = tilted.height_ends
    assert math.hypot(bx - tx, by - ty) == pytest.approx(tilted.height_px, abs=1e-9)
    assert math.degrees(math.atan2(bx - tx, by - ty)) == pytest.approx(12, abs=1)  # down the turned midline
    assert all(math.isnan(v) for end in fwhr_from_labels(_face(mouth=False)[1]).height_ends for v in end)


def test_fwhr_width_at_the_notch_above_the_ears():
    _, labels = _face(ears=True)
    fw = fwhr_from_labels(labels)
    assert fw.width_method == "ear_notch" and not any(f.startswith("ear_notch") for f in fw.flags)
    # The ears (rows 235-315) stand 24 px beyond the outline; the width is read on the rows just
    # above their tops (232-234), where the face's half-width is 147.3-147.6.
    assert fw.width_px == pytest.approx(2 * _ellipse_half_width(233), abs=2)
    (x0, y0), (x1, y1) = fw.width_ends
    assert 230 <= y0 <= 235 and 230 <= y1 <= 235
    # Without the ear search the median row lies on the ears, which widen it by ~40 px.
    kept = fwhr_from_labels(labels, params=ProfileParams(ear_jump=None))
    assert kept.width_px > fw.width_px + 30 and not any(f.startswith("ear_") for f in kept.flags)


def test_fwhr_hair_over_a_temple_is_not_an_ear():
    _, labels = _face()
    block = labels[150:236, 100:170]
    block[block == 1] = 2  # hair over the image-left temple down to row 235, face from column 170
    fw = fwhr_from_labels(labels)
    # Below the hair the outline jumps out from 256 - 170 = 86 px, 0.72 x the eyes' 120 px: the
    # lower edge of hair, not an ear's top. Each half-width is the median over rows 220-335.
    assert not any(f.startswith("ear_") for f in fw.flags)
    left = np.median([86.0] * 16 + [_ellipse_half_width(r) for r in range(236, 336)])
    right = np.median([_ellipse_half_width(r) for r in range(220, 336)])
    assert fw.width_px == pytest.approx(left + right, abs=1.5)


@pytest.mark.parametrize("given", [True, False])
def test_fwhr_and_patches_on_a_rotated_face(given):
    image, labels = _face()
    m = cv2.getRotationMatrix2D((256, 256), -8.0, 1.0)  # tilts the eye line by +8 degrees
    rot = cv2.warpAffine(labels, m, (512, 512), flags=cv2.INTER_NEAREST)
    img = cv2.warpAffine(image, m, (512, 512), flags=cv2.INTER_NEAREST)
    angle = 8.0 if given else None
    fw = fwhr_from_labels(rot, eye_line_angle=angle)
    width = 2 * float(np.median([_ellipse_half_width(r) for r in range(220, 336)]))
    assert fw.width_px == pytest.approx(width, abs=2) and fw.height_px == pytest.approx(162, abs=2)
    prof = measure_skin(img, rot, eye_line_angle=angle)
    assert prof.eye_line_angle == pytest.approx(8.0, abs=0.5)
    assert prof.flags == ()
    # The subject's left cheek still lies on the image's right, on skin.
    assert _patch(prof, "cheek_left").x > _patch(prof, "cheek_right").x
    assert all(p.skin_share > 0.99 for p in prof.patches)


# --- real face maps (FASSEG V2 annotations) -----------------------------------------------------

@pytest.mark.skipif(not FASSEG_V2.is_dir(), reason=f"FASSEG V2 not found at {FASSEG_V2} (set FACEPARSE_MIRROR)")
def test_fasseg_v2_annotated_faces():
    from faceparse.datasets.base import colours_to_labels, read_image, read_rgb_mask
    from faceparse.labels import FASSEG6

    masks = sorted((FASSEG_V2 / "Train_Labels").glob("*.png"))[:10]
    assert masks
    for path in masks:
        labels, _ = colours_to_labels(read_rgb_mask(path), FASSEG6.palette(), near=12)
        image = read_image(path.parents[1] / "Train_RGB" / path.name)
        prof = measure_skin(image, labels)
        assert not [f for f in prof.flags if f.endswith(("_missing", "_nonskin"))], path.name
        # A patch reads too few pixels only where the camera clipped its skin (10.png's forehead: 99.5%).
        for p in prof.patches:
            assert f"{p.name}_small" not in prof.flags or p.clipped_share > 0.9, (path.name, p)
        eyes_bottom = max(np.nonzero(labels == 3)[0])
        mouth_top = min(np.nonzero(labels == 5)[0])
        for name in ("cheek_left", "cheek_right"):
            assert eyes_bottom < _patch(prof, name).y < mouth_top, (path.name, name)
        assert _patch(prof, "cheek_left").x > np.nonzero(labels == 4)[1].mean(), path.name
        fw = fwhr_from_labels(labels)
        assert 1.5 <= fw.fwhr <= 2.4, (path.name, fw.fwhr)  # adult fWHR (brow) range in the literature


# --- London set: WebMorph templates -------------------------------------------------------------

@pytest.mark.skipif(not LONDON.is_dir(), reason=f"London face set not found at {LONDON} (set FACEPARSE_MIRROR)")
def test_read_tem_london():
    pts = read_tem(LONDON / "001_03.tem")
    assert pts.shape == (189, 2)
    assert tuple(pts[0]) == (565.0, 632.0) and tuple(pts[1]) == (778.0, 624.0)  # the pupils, from the file


@pytest.mark.skipif(not LONDON.is_dir(), reason=f"London face set not found at {LONDON} (set FACEPARSE_MIRROR)")
def test_landmark_fwhr_london():
    tems = sorted(LONDON.glob("*.tem"))
    photos = sorted(LONDON.glob("*.jpg"))
    assert len(tems) == len(photos) > 0  # every neutral photo has its template
    values = []
    for path in tems:
        pts = read_tem(path)
        assert pts.shape == (189, 2), path.name
        assert ((pts >= 0) & (pts <= 1350)).all(), path.name  # on the 1350 x 1350 photo
        fw = fwhr_from_landmarks(pts)
        # Brow-based fWHR of adults is about 1.5-2.4 (e.g. Lefevre et al. 2013); the narrowest face
        # here (099_03, a long face with high brows) is 1.59, below the 1.6 first planned.
        assert 1.5 <= fw.fwhr <= 2.4, (path.name, fw.fwhr)
        assert fwhr_from_landmarks(pts, brow="eyelid").fwhr > fw.fwhr, path.name  # eyelids lie lower
        values.append(fw.fwhr)
    assert 1.7 < float(np.mean(values)) < 2.1


def test_read_tem_errors(tmp_path):
    bad = tmp_path / "bad.tem"
    bad.write_text("3\n1\t2\n3\t4\n")
    with pytest.raises(FaceparseDataError, match="bad.tem"):
        read_tem(bad)


# --- statistics ---------------------------------------------------------------------------------

def test_icc_3_1_hand_example():
    # 4 subjects x 2 sessions: (9, 12), (6, 6), (8, 9), (7, 9). Grand mean 66/8 = 8.25.
    # Subject means 10.5, 6, 8.5, 8: SS_subjects = 2 * (2.25^2 + 2.25^2 + 0.25^2 + 0.25^2) = 20.5,
    #   BMS = 20.5 / 3 = 6.8333.
    # Session means 7.5, 9.0: SS_sessions = 4 * (0.75^2 + 0.75^2) = 4.5.
    # SS_total = sum (v - 8.25)^2 = 7.25 + 20.25 = 27.5; SS_error = 27.5 - 20.5 - 4.5 = 2.5,
    #   EMS = 2.5 / 3 = 0.8333.
    # ICC(3,1) = (6.8333 - 0.8333) / (6.8333 + 0.8333) = 6 / 7.6667 = 18/23 = 0.78261.
    x, y = np.array([9, 6, 8, 7.0]), np.array([12, 6, 9, 9.0])
    assert icc_3_1(x, y) == pytest.approx(18 / 23, abs=1e-9)
    # Pearson r: deviations (1.5, -1.5, 0.5, -0.5) and (3, -3, 0, 0): 9 / sqrt(5 * 18) = 0.94868.
    assert pearson_r(x, y) == pytest.approx(9 / math.sqrt(90), abs=1e-9)
    # Consistency ignores a constant shift between sessions: ICC(3,1) = 1 for y = x + 5.
    assert icc_3_1(x, x + 5) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="NaN"):
        icc_3_1(np.array([1.0, np.nan, 3.0]), np.array([1.0, 2.0, 3.0]))
    # The (n, k) form of the same two sessions gives the same number.
    assert icc_3_1(np.column_stack([x, y])) == pytest.approx(18 / 23, abs=1e-9)
    # Constant input has no correlation.
    assert math.isnan(pearson_r(x, np.full(4, 2.0)))


def test_icc_3_1_shrout_fleiss_table_2():
    # Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges; their Table 3 gives BMS = 11.24,
    # EMS = 1.02 and ICC(3,1) = 0.71. By hand: grand mean 127/24 = 5.2917; target means 6, 3, 6.5, 4,
    # 7.5, 4.75: SS_targets = 4 * 14.0521 = 56.2083, BMS = 56.2083 / 5 = 11.2417 = 1349/120; judge
    # means 7.6667, 2.5, 4.3333, 6.6667: SS_judges = 97.4583; SS_total = 168.9583; SS_error =
    # 168.9583 - 56.2083 - 97.4583 = 15.2917, EMS = 15.2917 / 15 = 1.0194 = 367/360.
    # ICC(3,1) = (BMS - EMS) / (BMS + 3 EMS) = 920/1287 = 0.71484.
    ratings = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]], float)
    assert icc_3_1(ratings) == pytest.approx(920 / 1287, abs=1e-12)
    assert round(icc_3_1(ratings), 2) == 0.71
    with pytest.raises(ValueError, match="k >= 2"):
        icc_3_1(ratings[:, :1])
    with pytest.raises(ValueError, match="1 of 6 subjects contain NaN"):
        icc_3_1(np.where(ratings == 10, np.nan, ratings))


def test_bootstrap_ci():
    assert bootstrap_ci(np.full(10, 3.0), np.mean, n=200, seed=1) == (3.0, 3.0)
    sample = np.random.default_rng(0).normal(0.0, 1.0, 400)
    lo, hi = bootstrap_ci(sample, np.mean, n=1000, seed=7)
    assert lo < sample.mean() < hi
    # The 95% interval of a mean of 400 unit-variance values is about 2 * 1.96 / 20 = 0.196 wide.
    assert hi - lo == pytest.approx(0.196, rel=0.2)
    assert bootstrap_ci(sample, np.mean, n=1000, seed=7) == (lo, hi)  # the seed fixes it
    pairs = np.column_stack([sample[:50], sample[:50] + np.random.default_rng(1).normal(0, 0.3, 50)])
    lo, hi = bootstrap_ci(pairs, lambda v: icc_3_1(v[:, 0], v[:, 1]), n=300, seed=0)
    # Rows stay paired: the interval brackets the sample's ICC (the population's is 1 / 1.09 = 0.92),
    # where resampling x and y separately would have broken the pairs and pulled it towards 0.
    assert 0.6 < lo < icc_3_1(pairs[:, 0], pairs[:, 1]) < hi <= 1.0


def test_bootstrap_ci_leaves_out_undefined_resamples():
    # 3 rows, all pairwise increasing. A resample of 3 draws holds 1 distinct row (3 of 27 ways:
    # r undefined, NaN), 2 distinct rows (18 of 27: two points, r = 1) or all 3 (6 of 27: r of the
    # sample, dx = (-1, 0, 1), dy = (-7/6, -2/3, 11/6): 3 / sqrt(2 * 31/6) = 0.93326). Over the 24
    # defined resamples in 27, r3 holds the lowest quarter, so the 95% interval is (0.93326, 1).
    rows = np.array([[1.0, 2.0], [2.0, 2.5], [3.0, 5.0]])
    lo, hi = bootstrap_ci(rows, lambda v: pearson_r(v[:, 0], v[:, 1]), n=500, seed=3)
    assert lo == pytest.approx(3 / math.sqrt(2 * 31 / 6), abs=1e-12) and hi == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError, match="at least 2 rows"):
        bootstrap_ci(rows[:1], np.mean)
