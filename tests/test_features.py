"""Feature colour (`faceparse.profile.features`) on the drawn face of `test_contrast`: each feature's
L*a*b* is its known colour's (the reference written there from the definitions), its pixel count the
rectangles' own; clipped pixels, teeth, a two-blob mouth, a greyscale photo, support flags, NaN where a
feature is missing, and the registry entry. The contrast reads the same masks (`face_features`)."""

import math

import numpy as np
import pytest

from faceparse.profile import features, measures
from faceparse.profile.params import ProfileParams
from conftest import reference_lab
from test_contrast import EYE, HAIR, LIP, MOUTH, TOOTH, face, view

FEATURES = measures.get("features")


def colour(row: dict, name: str) -> list[float]:
    return [row[f"{name}_{c}"] for c in "Lab"]


def test_colours_and_counts_of_known_features():
    row = FEATURES(view(*face()))
    assert row["features_flags"] == ""
    for name, rgb, n in (("brows", HAIR, 2 * 10 * 40), ("eyes", EYE, 2 * 14 * 40), ("lips", LIP, 20 * 80)):
        assert colour(row, name) == pytest.approx(reference_lab(rgb), abs=0.02), name
        assert row[f"{name}_n"] == n
    assert colour(row, "lips") == pytest.approx([41.898, 38.287, 12.597], abs=0.02)


def test_registry_columns_are_what_take_writes():
    values, flags = FEATURES.take(view(*face()))
    assert FEATURES.columns[:-1] == tuple(values) and FEATURES.columns[-1] == "features_flags"
    assert FEATURES.columns[:4] == ("brows_L", "brows_a", "brows_b", "brows_n") and flags == []
    assert measures.MODULES["features"] == "features"


def test_the_contrast_reads_the_same_masks():
    v = view(*face())
    found = features.face_features(v)
    assert features.face_features(v) is found  # computed once per view, for both measures
    row = measures.get("contrast")(v)
    assert [row[f"contrast_{f}_n"] for f in features.FEATURES] == [int(found.masks[f].sum()) for f in features.FEATURES]


def test_clipped_pixels_are_left_out():
    image, labels = face()
    image[300:305, 160:180] = (255, 60, 70)  # 100 lip pixels with red at 255
    row = FEATURES(view(image, labels))
    assert row["lips_n"] == 1600 - 100
    assert colour(row, "lips") == pytest.approx(reference_lab(LIP), abs=0.02)


def test_teeth_are_left_out_of_the_lips():
    image, labels = face()
    image[306:314, 180:220] = TOOTH
    row = FEATURES(view(image, labels))
    assert row["features_flags"] == "lips_teeth"
    assert row["lips_n"] == 1600 - 504  # see test_contrast: the teeth opened, then grown
    assert colour(row, "lips") == pytest.approx(reference_lab(LIP), abs=0.02)


def test_a_mouth_in_two_blobs_is_both_lips():
    image, labels = face()
    labels[309:311, MOUTH[1]] = 0  # the lip opening left out, as the templates' maps do
    image[309:311, MOUTH[1]] = 90
    row = FEATURES(view(image, labels))
    assert row["lips_n"] == 1600 - 2 * 80 and row["features_flags"] == ""
    # A speck of mouth elsewhere (less than a tenth of the largest blob) is not lips.
    labels[400:403, 200:203] = 5
    assert FEATURES(view(image, labels))["lips_n"] == 1600 - 2 * 80


def test_missing_and_small_features():
    row = FEATURES(view(*face(mouth=False)))
    assert row["features_flags"] == "no_lips" and row["lips_n"] == 0
    assert all(math.isnan(v) for v in colour(row, "lips"))
    assert colour(row, "eyes") == pytest.approx(reference_lab(EYE), abs=0.02)
    row = FEATURES(view(*face(), ProfileParams(min_feature_pixels=1200)))
    assert row["features_flags"] == "no_brows;no_eyes"
    assert math.isnan(row["brows_L"]) and math.isnan(row["eyes_b"]) and row["eyes_n"] == 1120
    image, labels = face()
    image[MOUTH] = (255, 60, 70)
    row = FEATURES(view(image, labels))
    assert row["features_flags"] == "lips_clipped" and row["lips_n"] == 0
    row = FEATURES(view(*face(eyes=1)))
    assert row["features_flags"] == "one_eye"
    assert all(math.isnan(v) for k, v in row.items() if k != "features_flags")
    assert all(measures.is_listed(f) for f in ("no_lips", "no_brows", "lips_clipped", "lips_teeth", "brows_fringe"))


def test_greyscale_photo_keeps_lightness_only():
    image, labels = face()
    grey = np.repeat(image.mean(axis=2, keepdims=True).round().astype(np.uint8), 3, axis=2)
    row = FEATURES(view(grey, labels))
    assert row["features_flags"] == "greyscale"
    lip_grey = round(sum(LIP) / 3)
    assert row["lips_L"] == pytest.approx(reference_lab((lip_grey,) * 3)[0], abs=0.02)
    assert math.isnan(row["lips_a"]) and math.isnan(row["brows_b"])
