"""Photos without a person get no colour, contrast or fWHR value.

YuNet at min_score 0.5 takes a cat, a raccoon, a dog's neck, an ocelot's head, a coffee cup and two
galaxies for faces (tests/data/no_person/README.md: the photos, their licences and scores). Whatever
the model then paints on such a "face", the profile must not report a skin colour, a feature's
colour or contrast, or an fWHR for it. The gate for that is `profile.face.is_not_a_face` (a map with
no nose to speak of is not measured); the first tests check it on maps built here, the last runs
the study's model on the photos.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from faceparse.facemap import FaceMap
from faceparse.profile import measures
from faceparse.profile.face import NOT_A_FACE, is_not_a_face, profile_face
from faceparse.profile.light import LIGHT_COLUMNS
from faceparse.profile.params import ProfileParams

ROOT = Path(__file__).resolve().parents[1]
NO_PERSON = ROOT / "tests" / "data" / "no_person"
STUDY_MODEL = ROOT / "models" / "main.pt"

SKIN, HAIR, EYES, NOSE, MOUTH = 1, 2, 3, 4, 5
# ColorChecker light skin, BabelColor's sRGB; D65 L*a*b* (65.67, 13.68, 16.89) worked out from the
# CIE definitions in tests/test_profile.py (test_colorchecker_patches).
SKIN_RGB = (194, 150, 130)
SKIN_LAB = (65.67, 13.68, 16.89)


def _face(eyes: bool = True, nose: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A 512 x 512 frontal face map and its photo: a skin ellipse, hair above row 110, two brows,
    eyes 44 x 10 px (440 px each, centres 120 px apart), a nose 44 x 90 px and a mouth 90 x 28 px;
    skin in SKIN_RGB, the rest grey 90. Without eyes or nose their pixels are skin."""
    labels = np.zeros((512, 512), np.uint8)
    cv2.ellipse(labels, (256, 270), (150, 200), 0, 0, 360, SKIN, -1)
    head = labels == SKIN
    labels[:110][head[:110]] = HAIR
    for x in (196, 316):
        labels[183:193, x - 30:x + 30] = HAIR                  # brow
        if eyes:
            labels[215:225, x - 22:x + 22] = EYES
    if nose:
        labels[245:335, 234:278] = NOSE
    labels[356:384, 211:301] = MOUTH
    image = np.full((512, 512, 3), 90, np.uint8)
    image[labels == SKIN] = SKIN_RGB
    return image, labels


def _measure_columns(params: ProfileParams) -> list[str]:
    """Every value column of the measures a run takes (each measure's flags column excluded)."""
    return [c for m in measures.selected(params.measures) for c in m.columns[:-1]]


def test_a_map_with_neither_eyes_nor_nose_is_not_measured():
    params = ProfileParams()
    image, labels = _face(eyes=False, nose=False)
    face = FaceMap.from_photo(labels)
    assert (labels == EYES).sum() == 0 and (labels == NOSE).sum() == 0
    assert is_not_a_face(face, params)
    row = profile_face(image, labels, params=params)
    assert NOT_A_FACE in row["face_flags"].split(";")
    columns = _measure_columns(params)
    assert {"skin_median_L", "cheeks_L", "fwhr", "contrast_eyes_L", "lips_L"} <= set(columns)
    # colour_correction names how the photo's colours were read: it is the photo's, not a value.
    assert row["colour_correction"] == "none"
    for column in [c for c in columns if c != "colour_correction"] + list(LIGHT_COLUMNS):
        value = row[column]
        assert isinstance(value, float) and math.isnan(value), (column, value)
    # Each measure's flags column is there and empty: the one reason is in face_flags.
    assert all(row[m.columns[-1]] == "" for m in measures.selected(params.measures))
    # The skin is all there (86,066 px of SKIN_RGB with OpenCV 4.14's ellipse): the gate, not a lack
    # of skin, leaves the row empty.
    assert (labels == SKIN).sum() > 80_000


def test_the_gate_asks_for_a_nose_of_min_feature_pixels_and_min_nose_share():
    # min_feature_pixels is 20 and min_nose_share 0.005 of the labelled pixels. Eyes without a nose
    # (a cat's face) are no face; 19 nose pixels are none; a nose of 20 px is too small a share of
    # this 100,000-px head; a nose of 0.006 of it is a face.
    params = ProfileParams()
    assert (params.min_feature_pixels, params.min_nose_share) == (20, 0.005)
    image, labels = _face(nose=False)
    assert (labels == EYES).sum() == 880 and is_not_a_face(FaceMap.from_photo(labels), params)
    row = profile_face(image, labels, params=params)
    assert NOT_A_FACE in row["face_flags"].split(";") and math.isnan(row["skin_median_L"])
    labelled = int((labels != 0).sum())                          # skin, hair, eyes, mouth: about 100,000 px
    least = int(np.ceil(0.005 * labelled))

    def with_nose(pixels: int) -> np.ndarray:
        out = labels.copy()
        ys, xs = np.unravel_index(np.arange(pixels), (40, 40))
        out[270 + ys, 236 + xs] = NOSE                           # on skin, between the eyes and the mouth
        return out

    for pixels, face in ((19, False), (20, False), (least - 1, False), (least, True)):
        nosed = with_nose(pixels)
        assert int((nosed == NOSE).sum()) == pixels and int((nosed != 0).sum()) == labelled
        assert is_not_a_face(FaceMap.from_photo(nosed), params) is not face, (pixels, least)


def test_a_map_with_eyes_and_nose_is_measured():
    params = ProfileParams()
    image, labels = _face()
    assert ((labels == EYES).sum(), (labels == NOSE).sum()) == (880, 3960)   # 2 x 44 x 10, 44 x 90
    assert not is_not_a_face(FaceMap.from_photo(labels), params)
    row = profile_face(image, labels, params=params)
    assert NOT_A_FACE not in row["face_flags"].split(";")
    # One skin colour: every patch and the median read SKIN_LAB (within 0.5 for 8-bit rounding),
    # and ITA = arctan((65.67 - 50) / 16.89) = 42.86 degrees, "light" (41, 55].
    for prefix in ("cheek_left", "cheek_right", "forehead", "cheeks", "skin_median"):
        lab = (row[f"{prefix}_L"], row[f"{prefix}_a"], row[f"{prefix}_b"])
        assert lab == pytest.approx(SKIN_LAB, abs=0.5), prefix
    assert row["cheeks_ita"] == pytest.approx(42.86, abs=0.3) and row["cheeks_ita_category"] == "light"
    assert row["inter_ocular_px"] == pytest.approx(120.0, abs=0.5)
    # fWHR: height from the brows' lower edge (row 192) to the mouth's top (row 356), 164 px; width
    # twice the outline's median half-width over rows 220-335 (eye line to nose bottom), 150 x
    # sqrt(1 - (277.5 - 270)^2 / 200^2) = 149.9 on the true ellipse, ~148 on OpenCV's polygon.
    assert row["fwhr_height_px"] == 164
    assert row["fwhr_width_px"] == pytest.approx(299.8, abs=5)
    assert row["fwhr"] == pytest.approx(row["fwhr_width_px"] / 164)


# --- the study's model on photos without a person -----------------------------------------------

# The columns that hold a colour, a contrast or an fWHR: the skin patches and their pooled cheeks,
# the skin median and its ITA, the features' contrast with the skin around them and their colours,
# the skin's evenness (colour spread), and the fWHR with the width and height it is the ratio of.
# Positions, patch sizes, pixel counts, shares, confidences, methods and flags are not values; the
# light's sclera colour and the head pose are not asked for here.
VALUE_PREFIXES = ("cheek_", "forehead_", "cheeks_", "skin_median", "skin_ita", "skin_residual_sd",
                  "contrast_", "lips_", "brows_", "eyes_", "fwhr")
VALUE_ENDINGS = ("_L", "_a", "_b", "_ita", "_ita_category")
FWHR_VALUES = ("fwhr", "fwhr_width_px", "fwhr_height_px")


def value_columns(columns) -> list[str]:
    return [c for c in columns
            if c in FWHR_VALUES or (c.startswith(VALUE_PREFIXES) and c.endswith(VALUE_ENDINGS))]


def test_value_columns_are_the_colour_contrast_and_fwhr_columns():
    names = [c for m in measures.selected(ProfileParams().measures) for c in m.columns]
    chosen = value_columns(names)
    assert {"cheek_left_L", "cheek_right_ita", "forehead_b", "cheeks_ita_category", "skin_median_a", "skin_ita",
            "skin_ita_category", "contrast_brows_L", "contrast_lips_b", "brows_a", "eyes_L", "lips_b",
            "cheek_left_sd_L", "cheeks_sd_b", "skin_residual_sd_a", "fwhr", "fwhr_width_px",
            "fwhr_height_px"} <= set(chosen)
    assert not {"cheek_left_x", "cheek_left_size_px", "cheek_left_n_skin", "cheek_left_confidence",
                "skin_n_used", "eyes_n", "contrast_eyes_ring_n", "fwhr_x0", "fwhr_width_method",
                "skin_flags"} & set(chosen)


@pytest.mark.skipif(not STUDY_MODEL.exists(), reason="models/main.pt not built (make repro): the study's model "
                    "is what paints these photos, a few-step test model would not")
def test_no_value_is_written_for_photos_without_a_person(tmp_path, monkeypatch, mirror):
    from faceparse.cli import main

    monkeypatch.setenv("FACEPARSE_MIRROR", str(mirror))  # YuNet's file, from the mirror, never downloaded
    photos = sorted(NO_PERSON.glob("*.jpg"))
    assert len(photos) == 12
    out = tmp_path / "profile.csv"
    assert main(["profile", "--model", str(STUDY_MODEL), str(NO_PERSON), "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert sorted(Path(p).name for p in table["photo"].unique()) == [p.name for p in photos]
    faces = table[table["face_index"] >= 0]
    # The set still holds photos YuNet takes for faces (7 on 6 photos when it was made); without
    # them this test would pass on "no_face" rows alone.
    assert len(faces) >= 5, faces[["photo", "detector_score"]]
    checked = value_columns(table.columns)
    # 3 patches x (L, a, b, ITA) + cheeks (L, a, b, ITA, category) + median (L, a, b, ITA, category)
    # + 3 fWHR + 3 contrasts x (L, a, b) + 3 feature colours x (L, a, b) + 4 evenness SDs x (L, a, b)
    assert len(checked) == 12 + 5 + 5 + 3 + 9 + 9 + 12 == 55, checked
    written = []
    for _, row in faces.iterrows():
        values = {c: row[c] for c in checked if pd.notna(row[c])}
        if values:
            written.append(f"{Path(row['photo']).name} face {row['face_index']} (score {row['detector_score']:.2f}, "
                           f"flags {row['flags']}): {values}")
    assert not written, "values written for photos without a person:\n" + "\n".join(written)
