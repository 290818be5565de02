"""Colour correction from a chart and the face's light: fits against hand-computed cameras, OpenCV's
own colour-correction test values, the chart found in rendered photos, and the rows and errors of
`faceparse profile --chart` / `--white-balance`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from faceparse.cli import main
from faceparse.datasets import read_image
from faceparse.facemap import FaceMap
from faceparse.profile import ProfileParams, profile_face
from faceparse.profile.chart import ChartReading, find_chart, reference_linear
from faceparse.profile.colour import LINEAR_OF_BYTE, SRGB_TO_XYZ, linear_to_lab, srgb_to_lab
from faceparse.profile.correct import (Correction, PhotoColour, delta_e_2000, fit_chart, fit_gamma,
                                       white_balance)
from faceparse.profile.light import measure_light
from faceparse.cameras import Camera, cameras, paste_chart, scene_of, session_scene
from faceparse.profile.stats import icc_2_1, icc_3_1

# A camera written out by hand: white-balance gains, then crosstalk, then a pure 1/2.2 power.
GAINS = np.diag([1.25, 1.0, 0.7])
CROSSTALK = np.array([[0.90, 0.08, 0.02], [0.05, 0.90, 0.05], [0.02, 0.10, 0.88]])
CAMERA = CROSSTALK @ GAINS


def _through_camera(linear: np.ndarray, exposure: float = 0.8) -> np.ndarray:
    """Linear sRGB -> the 8-bit means (not rounded) this camera reads."""
    return 255.0 * np.clip(exposure * linear @ CAMERA.T, 0, 1) ** (1 / 2.2)


def test_icc_2_1_and_3_1_match_shrout_and_fleiss_table_4():
    # Shrout & Fleiss (1979), Psychological Bulletin 86:420, Table 2 (6 targets, 4 judges) and the
    # ICCs they report for it in Table 4: ICC(2,1) = .29, ICC(3,1) = .71.
    data = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]], float)
    assert icc_2_1(data) == pytest.approx(0.2898, abs=5e-4)
    assert icc_3_1(data) == pytest.approx(0.7148, abs=5e-4)
    # A constant shift between raters lowers agreement (2,1), not consistency (3,1).
    shifted = np.stack([data[:, 0], data[:, 0] + 3], axis=1)
    assert icc_3_1(shifted) == pytest.approx(1.0) and icc_2_1(shifted) < 0.8


def test_the_matrix_fit_undoes_a_hand_written_camera():
    ref = np.clip(reference_linear(), 0.0, None)  # a camera sees no negative light
    outside = reference_linear().min(axis=1) < 0  # the cyan patch, outside sRGB: left out here
    # White balance alone keeps each channel proportional to its reference: the fit is exact.
    rgb = 255.0 * np.clip(0.8 * ref @ GAINS.T, 0, 1) ** (1 / 2.2)
    fit = fit_chart(ChartReading(rgb=rgb, clipped=outside, corners=np.zeros((4, 2))), "matrix")
    assert fit.gamma == pytest.approx((2.2, 2.2, 2.2), abs=1e-9)
    assert fit.correction.ccm == pytest.approx(np.linalg.inv(0.8 * GAINS), abs=1e-6)
    assert fit.dE_max < 1e-4
    # A pixel of 128 in every channel: linear (128/255)^2.2, then the inverse camera.
    expected = np.linalg.inv(0.8 * GAINS) @ np.full(3, (128 / 255) ** 2.2)
    assert fit.correction.to_linear(np.array([[128, 128, 128]], np.uint8))[0] == pytest.approx(expected, abs=1e-9)
    # Crosstalk tints the (nearly neutral) grey patches a little: the powers and matrix come close.
    reading = ChartReading(rgb=_through_camera(ref), clipped=np.zeros(24, bool), corners=np.zeros((4, 2)))
    fit = fit_chart(reading, "matrix")
    assert fit.gamma == pytest.approx((2.2, 2.2, 2.2), abs=0.02)
    assert fit.correction.ccm == pytest.approx(np.linalg.inv(0.8 * CAMERA), abs=0.05)
    assert fit.dE_mean < 0.5


def test_gamma_is_fitted_per_channel_on_the_neutrals():
    y = np.array([0.9, 0.59, 0.36, 0.19, 0.09, 0.03])
    measured = 255 * np.stack([y ** (1 / 2.0), y ** (1 / 2.4), y ** (1 / 1.8)], axis=1)
    assert fit_gamma(measured, y) == pytest.approx([2.0, 2.4, 1.8], abs=1e-9)


def test_auto_keeps_the_method_with_the_least_leave_one_out_error():
    reading = ChartReading(rgb=_through_camera(np.clip(reference_linear(), 0, None)), clipped=np.zeros(24, bool),
                           corners=np.zeros((4, 2)))
    fits = {m: fit_chart(reading, m) for m in ("matrix", "cheung2004", "finlayson2015", "vandermonde")}
    chosen = fit_chart(reading, "auto")
    assert chosen.method == min(fits, key=lambda m: fits[m].dE_mean)
    assert chosen.dE_mean == pytest.approx(min(f.dE_mean for f in fits.values()))


def test_clipped_patches_are_left_out_and_too_many_refused():
    rgb = _through_camera(np.clip(reference_linear(), 0, None), exposure=1.6)  # white clips
    clipped = (rgb >= 254.0).any(axis=1)
    assert clipped[18] and clipped.sum() < 12
    fit = fit_chart(ChartReading(rgb=rgb, clipped=clipped, corners=np.zeros((4, 2))), "matrix")
    assert np.isnan(fit.loo_dE[clipped]).all() and fit.clipped == clipped.sum()
    with pytest.raises(Exception, match="too few"):
        fit_chart(ChartReading(rgb=rgb, clipped=np.arange(24) >= 4, corners=np.zeros((4, 2))), "matrix")


# opencv_extra testdata/cv/mcc/mcc_ccm_test.yml (Apache-2.0): the 24 patch means (column 1 of
# chartsRGB) OpenCV's detector read from mcc_ccm_test.jpg, OpenCV's 3x3 matrix fitted to them (its
# `ccm`: gamma 2.2 linearisation, the matrix minimising dE2000 to its ColorChecker table) and the
# loss its test checks (modules/photo/test/test_ccm.cpp: root mean square dE2000, 4.6386569).
OPENCV_MEANS = np.array([
    [97.0182, 80.8247, 53.5636], [165.6942, 132.7431, 115.4010], [82.3941, 95.8622, 127.8138],
    [80.2701, 101.1130, 65.8195], [115.5077, 106.7436, 147.5855], [89.0153, 155.2056, 166.3321],
    [176.2373, 132.0436, 36.9709], [53.2102, 57.2197, 123.8919], [167.7515, 96.4221, 77.5493],
    [72.8692, 58.5660, 81.3781], [130.9225, 174.6830, 86.0322], [200.5470, 172.4138, 62.8074],
    [29.9650, 34.4452, 97.7774], [48.6400, 119.9808, 75.6953], [149.8973, 76.2787, 50.0098],
    [199.8966, 190.2966, 75.0609], [156.9475, 91.7956, 120.2077], [27.3092, 94.4816, 146.1513],
    [180.6924, 183.3288, 188.9334], [151.4220, 156.1809, 161.2162], [124.8924, 130.0697, 133.0482],
    [97.0507, 101.6173, 100.3837], [70.0256, 74.7830, 70.1873], [46.0920, 49.7168, 36.9765]])
OPENCV_CCM = np.array([[1.5716570, -0.2809244, 0.0845392], [-0.0219453, 1.3776087, -0.1803988],
                       [-0.0284400, 0.3033531, 1.4714739]])  # applied as rows: linear @ ccm


def test_our_conversions_reproduce_opencvs_3x3_fit_on_its_own_test_patches():
    from scipy.optimize import minimize

    # OpenCV's ColorChecker table is X-Rite's pre-November-2014 one; its loss is dE2000 in L*a*b* D65.
    ref = reference_linear("ColorChecker24 - Before November 2014")
    ref_lab = linear_to_lab(ref)
    src = (OPENCV_MEANS / 255.0) ** 2.2

    def loss(m: np.ndarray) -> float:
        return float(np.sqrt(np.mean(delta_e_2000(linear_to_lab(src @ m.reshape(3, 3)), ref_lab) ** 2)))

    assert loss(OPENCV_CCM.ravel()) == pytest.approx(4.6387, abs=1e-3)  # OpenCV's matrix, our arithmetic
    start, *_ = np.linalg.lstsq(src, ref, rcond=None)
    assert loss(start.ravel()) == pytest.approx(5.2925, abs=1e-3)  # least squares in linear light
    best = minimize(loss, start.ravel(), method="Nelder-Mead", options={"maxiter": 20000, "xatol": 1e-10,
                                                                          "fatol": 1e-12})
    assert best.fun == pytest.approx(4.6387, abs=1e-3)  # minimising dE2000 finds OpenCV's matrix
    assert best.x.reshape(3, 3) == pytest.approx(OPENCV_CCM, abs=1e-3)


def test_white_balance_makes_the_sclera_neutral_at_its_own_luminance():
    sclera = np.array([0.5, 0.4, 0.3])
    y = 0.2126 * 0.5 + 0.7152 * 0.4 + 0.0722 * 0.3  # 0.41404
    wb = white_balance(sclera)
    assert np.diag(wb.ccm) == pytest.approx([y / 0.5, y / 0.4, y / 0.3])
    lab = linear_to_lab(wb.apply(sclera))
    assert lab[1:] == pytest.approx([0.0, 0.0], abs=0.01)  # sRGB's white is D65: R = G = B is neutral
    assert lab[0] == pytest.approx(116 * y ** (1 / 3) - 16)


def test_an_identity_correction_reads_every_colour_as_the_plain_path():
    identity = Correction(model="matrix", lut=np.repeat(LINEAR_OF_BYTE[None], 3, axis=0), ccm=np.eye(3))
    pixels = np.random.default_rng(0).integers(0, 256, (500, 3)).astype(np.uint8)
    assert linear_to_lab(identity.to_linear(pixels)) == pytest.approx(srgb_to_lab(pixels), abs=1e-9)
    assert identity.xyz_tables()[:, :, 200] == pytest.approx(SRGB_TO_XYZ * LINEAR_OF_BYTE[200])


def test_the_chart_is_found_in_rendered_session_photos_and_its_fit_undoes_each_camera():
    for k, cam in enumerate(cameras(3, seed=1)):
        rng = np.random.default_rng(k)
        photo = cam.capture(session_scene((900, 900), rng), rng)
        reading = find_chart(photo)
        assert reading is not None, cam.name
        x0, y0, x1, y1 = reading.box
        assert 0.05 * 900 ** 2 < (x1 - x0) * (y1 - y0) < 0.25 * 900 ** 2
        assert fit_chart(reading, "matrix").dE_mean < 2.0


def test_no_chart_is_found_in_a_photo_without_one(mirror):
    assert find_chart(read_image(mirror / "london_faces/neutral_front/001_03.jpg")) is None


def _template_face(mirror, stem="001_03"):
    from faceparse.london_check import rasterise_frl
    from faceparse.profile.landmarks import read_tem

    photo = mirror / f"london_faces/neutral_front/{stem}.jpg"
    image = read_image(photo)
    labels = rasterise_frl(read_tem(photo.with_suffix(".tem")), image.shape[:2])
    labels[labels == 255] = 0
    return image, FaceMap.from_photo(labels)


def test_light_flags_a_dark_photo_and_a_colour_cast_but_not_the_studio_photo(mirror):
    image, face = _template_face(mirror)
    params = ProfileParams()
    studio = measure_light(image, face, params)
    assert studio.flags == () and 55 < studio.sclera_lab[0] < 90
    dark = Camera("dark", 0.12, (1.0, 1.0, 1.0), np.eye(3), 1.0, 0.0, 0)
    assert "underexposed" in measure_light(dark.capture(scene_of(image), np.random.default_rng(0)), face, params).flags
    blue = Camera("blue", 1.0, (0.3, 0.6, 1.0), np.eye(3), 1.0, 0.0, 0)
    assert "colour_cast" in measure_light(blue.capture(scene_of(image), np.random.default_rng(0)), face, params).flags


def test_the_sclera_balance_moves_a_cast_face_back(mirror):
    image, face = _template_face(mirror)
    blue = Camera("blue", 1.0, (0.6, 0.85, 1.0), np.eye(3), 1.0, 0.0, 0).capture(scene_of(image), np.random.default_rng(0))
    plain = profile_face(image, face)
    cast = profile_face(blue, face)
    balanced = profile_face(blue, face, colour=PhotoColour(name="sclera", sclera=True))
    taken = profile_face(image, face, colour=PhotoColour(name="sclera", sclera=True))
    assert balanced["colour_correction"] == "sclera"
    # A blue cast lowers b* by tens; balancing on the sclera brings a* and b* within a few units of
    # the original photo balanced the same way. It keeps the sclera's luminance, so the cast's loss
    # of light (the red channel at 0.6) stays in L*.
    assert plain["cheeks_b"] - cast["cheeks_b"] > 10
    assert abs(balanced["cheeks_b"] - taken["cheeks_b"]) < 3 and abs(balanced["cheeks_a"] - taken["cheeks_a"]) < 3
    assert taken["cheeks_L"] - balanced["cheeks_L"] > 2


def test_profile_corrects_with_a_session_chart_and_flags_photos_without_one(model, mirror, tmp_path, capsys):
    photo = mirror / "london_faces/neutral_front/001_03.jpg"
    cam = Camera("warm", 0.9, (1.0, 0.85, 0.62), np.eye(3) * 0.9 + 0.1 / 3, 1.1, 0.0, 90)
    rng = np.random.default_rng(0)
    session = tmp_path / "chart.jpg"
    session.write_bytes(cam.save(session_scene((1000, 1000), rng), rng))
    warm = tmp_path / "photos" / "warm.jpg"
    warm.parent.mkdir()
    warm.write_bytes(cam.save(scene_of(read_image(photo)), rng))
    out = tmp_path / "profile.csv"
    assert main(["profile", "--model", str(model), "--out", str(out), "--chart", str(session), str(warm)]) == 0
    row = pd.read_csv(out, keep_default_na=False).iloc[0]
    assert row["colour_correction"] == "chart:chart.jpg" and row["chart_method"] == "matrix"
    assert float(row["chart_dE_mean"]) < 2.0
    run = json.loads(out.with_name(out.name + ".run.json").read_text())
    assert len(run["chart"]) == 64  # the chart photo's sha256
    # The same --out with another chart is another run: refused, not mixed.
    other = tmp_path / "other.jpg"
    other.write_bytes(Camera("c", 0.8, (0.7, 1.0, 0.9), np.eye(3), 1.0, 0.0, 90).save(
        session_scene((1000, 1000), np.random.default_rng(1)), np.random.default_rng(1)))
    assert main(["profile", "--model", str(model), "--out", str(out), "--chart", str(other), str(warm)]) == 2
    assert "--restart" in capsys.readouterr().err
    auto = tmp_path / "auto.csv"
    assert main(["profile", "--model", str(model), "--out", str(auto), "--chart", "auto", str(warm)]) == 0
    row = pd.read_csv(auto, keep_default_na=False).iloc[0]
    assert row["colour_correction"] == "chart:auto" and "no_chart" in row["flags"].split(";")


def test_a_chart_photo_without_a_chart_is_one_error_naming_it(model, mirror, tmp_path, capsys):
    photo = mirror / "london_faces/neutral_front/001_03.jpg"
    out = tmp_path / "profile.csv"
    code = main(["profile", "--model", str(model), "--out", str(out), "--chart", str(photo), str(photo)])
    err = capsys.readouterr().err
    assert code == 2 and str(photo) in err and "no ColorChecker 24" in err
    assert not out.exists()  # refused before any photo was measured


def test_chart_pasted_into_a_photo_is_found(mirror):
    image = read_image(mirror / "london_faces/neutral_front/002_03.jpg")
    rng = np.random.default_rng(3)
    held = paste_chart(scene_of(image), 0.04, (0.5, 0.89), rng)
    cam = cameras(1, seed=2)[0]
    reading = find_chart(cam.capture(held, rng))
    assert reading is not None
    x0, y0, x1, y1 = reading.box
    assert y0 > 0.75 * image.shape[0] and 0.3 * image.shape[1] < (x0 + x1) / 2 < 0.7 * image.shape[1]


def test_our_srgb_to_lab_agrees_with_colour_sciences_within_the_stated_difference():
    """faceparse keeps IEC 61966-2-1's published 4-digit matrix; colour-science derives its matrix from
    the primaries. docs/colour.md states the largest difference over 8-bit colours: 0.014 b*."""
    import colour

    pixels = np.random.default_rng(0).integers(0, 256, (200_000, 3)).astype(np.uint8)
    theirs = colour.XYZ_to_Lab(colour.sRGB_to_XYZ(pixels / 255.0),
                               colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D65"])
    diff = np.abs(srgb_to_lab(pixels) - theirs).max(axis=0)
    assert diff[0] < 1e-3 and diff[1] < 0.005 and diff[2] < 0.015
    assert diff[2] > 0.005  # they do differ: a test that compared a conversion with itself would not see it
