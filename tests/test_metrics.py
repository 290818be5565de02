"""Hand-computed confusion matrices and the scores and protocol summaries derived from them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from faceparse.errors import FaceparseConfigError
from faceparse.metrics import (
    PROTOCOLS,
    bootstrap_mean_f1,
    celebamask_mean_f1,
    confusion_matrix,
    helen_overall_f1,
    lapa_mean_f1,
    mean_f1_by_group,
    normalised_confusion,
    protocol_summary,
    scores,
)

HELEN11 = (
    "background", "skin", "left_brow", "right_brow", "left_eye", "right_eye",
    "nose", "upper_lip", "inner_mouth", "lower_lip", "hair",
)  # fmt: skip
CELEBAMASK19 = (
    "background", "skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear",
    "mouth", "u_lip", "l_lip", "hair", "hat", "ear_r", "neck_l", "neck", "cloth",
)  # fmt: skip

# One matrix serves Helen and LaPa (same class list). Rows = truth, columns = prediction.
#                 bg skin lb rb le re nose ul im ll hair
HELEN_CM = np.array(
    [
        [50, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5],  # background: 5 predicted as hair
        [0, 40, 0, 0, 0, 0, 4, 0, 0, 0, 0],  # skin: 4 predicted as nose
        [2, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0],  # left_brow: 2 predicted as background
        [0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0],  # right_brow
        [0, 0, 0, 2, 4, 0, 0, 0, 0, 0, 0],  # left_eye: 2 predicted as right_brow
        [0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0],  # right_eye
        [0, 3, 0, 0, 0, 0, 10, 0, 0, 0, 0],  # nose: 3 predicted as skin
        [0, 0, 0, 0, 0, 0, 0, 3, 1, 0, 0],  # upper_lip: 1 predicted as inner_mouth
        [0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0],  # inner_mouth
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0],  # lower_lip
        [0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 30],  # hair: 1 predicted as left_brow
    ],
    dtype=np.int64,
)


# ---- confusion_matrix ----------------------------------------------------------------------


def test_confusion_matrix_counts_pairs_and_skips_ignore():
    truth = np.array([[0, 0, 1, 1], [0, 2, 2, 1], [255, 2, 2, 0]], dtype=np.uint8)
    pred = np.array([[0, 1, 1, 1], [0, 2, 1, 1], [2, 2, 0, 0]], dtype=np.uint8)
    # (truth, pred) pairs: truth 0 -> pred 0,1,0,0; truth 1 -> 1,1,1; truth 2 -> 2,1,2,0;
    # the ignored pixel (predicted 2) is not counted: 11 of 12 pixels.
    expected = np.array(
        [
            [3, 1, 0],
            [0, 3, 0],
            [1, 1, 2],
        ]
    )
    cm = confusion_matrix(truth, pred, num_classes=3)
    assert cm.dtype == np.int64
    np.testing.assert_array_equal(cm, expected)


def test_confusion_matrix_does_not_overflow_uint8():
    # 200 * 20 + 19 = 4019 does not fit in uint8; the index must be computed in int64.
    truth = np.full((2, 2), 19, dtype=np.uint8)
    pred = np.full((2, 2), 18, dtype=np.uint8)
    cm = confusion_matrix(truth, pred, num_classes=20)
    assert cm[19, 18] == 4 and cm.sum() == 4


@pytest.mark.parametrize("bad", [3, 255])
def test_confusion_matrix_rejects_prediction_outside_label_set(bad):
    truth = np.zeros((2, 2), dtype=np.uint8)
    pred = np.array([[0, 1], [2, bad]], dtype=np.uint8)
    with pytest.raises(ValueError, match=f"prediction holds label {bad}"):
        confusion_matrix(truth, pred, num_classes=3)


def test_confusion_matrix_rejects_truth_outside_label_set_and_shape_mismatch():
    with pytest.raises(ValueError, match="truth holds label 7"):
        confusion_matrix(np.array([[7]], np.uint8), np.array([[0]], np.uint8), num_classes=3)
    with pytest.raises(ValueError, match="shape"):
        confusion_matrix(np.zeros((2, 2), np.uint8), np.zeros((2, 3), np.uint8), num_classes=3)


# ---- scores --------------------------------------------------------------------------------


def test_scores_per_class_by_hand():
    cm = np.array(
        [
            [5, 1, 1],
            [2, 3, 0],
            [0, 0, 4],
        ]
    )
    s = scores(cm, ["bg", "a", "b"])
    # bg: TP 5, FN 1+1 = 2, FP 2+0 = 2
    assert s["f1"]["bg"] == pytest.approx(2 * 5 / (2 * 5 + 2 + 2))  # 10/14
    assert s["iou"]["bg"] == pytest.approx(5 / (5 + 2 + 2))  # 5/9
    assert s["precision"]["bg"] == pytest.approx(5 / 7)
    assert s["recall"]["bg"] == pytest.approx(5 / 7)
    # a: TP 3, FP 1 (col 1: 1 + 3 + 0 - 3), FN 2 (row 1: 2 + 3 + 0 - 3)
    assert s["f1"]["a"] == pytest.approx(2 * 3 / (2 * 3 + 1 + 2))  # 6/9
    assert s["iou"]["a"] == pytest.approx(3 / (3 + 1 + 2))  # 0.5
    assert s["precision"]["a"] == pytest.approx(3 / 4)
    assert s["recall"]["a"] == pytest.approx(3 / 5)
    # b: TP 4, FP 1, FN 0
    assert s["f1"]["b"] == pytest.approx(2 * 4 / (2 * 4 + 1 + 0))  # 8/9
    assert s["iou"]["b"] == pytest.approx(4 / 5)
    assert s["precision"]["b"] == pytest.approx(4 / 5)
    assert s["recall"]["b"] == 1.0
    assert s["support"] == {"bg": 7, "a": 5, "b": 4}
    assert s["pixel_accuracy"] == pytest.approx(12 / 16)  # (5 + 3 + 4) / 16
    assert s["mean_f1"] == pytest.approx((10 / 14 + 6 / 9 + 8 / 9) / 3)  # 0.756614
    assert s["mean_iou"] == pytest.approx((5 / 9 + 1 / 2 + 4 / 5) / 3)  # 0.618519
    assert s["mean_f1_fg"] == pytest.approx((6 / 9 + 8 / 9) / 2)  # 7/9
    assert s["mean_iou_fg"] == pytest.approx((1 / 2 + 4 / 5) / 2)  # 0.65
    assert s["background"] == "bg"


def test_scores_background_index_moves_the_foreground_mean():
    cm = np.array([[5, 1, 1], [2, 3, 0], [0, 0, 4]])
    s = scores(cm, ["a", "b", "bg"], background=2)
    assert s["mean_f1_fg"] == pytest.approx((10 / 14 + 6 / 9) / 2)


def test_absent_class_is_nan_and_skipped_in_means():
    cm = np.array(
        [
            [6, 2, 0, 0],
            [0, 4, 0, 0],
            [0, 0, 0, 0],  # class 2: absent from truth and prediction
            [0, 0, 0, 0],  # class 3: absent from truth, predicted once below
        ]
    )
    cm[1, 3] = 1
    s = scores(cm, ["bg", "a", "absent", "ghost"])
    assert math.isnan(s["f1"]["absent"]) and math.isnan(s["iou"]["absent"])
    assert math.isnan(s["precision"]["absent"]) and math.isnan(s["recall"]["absent"])
    # ghost: TP 0, FP 1, FN 0 -> F1 0, IoU 0, precision 0, recall undefined
    assert s["f1"]["ghost"] == 0.0 and s["precision"]["ghost"] == 0.0
    assert math.isnan(s["recall"]["ghost"])
    # bg: TP 6, FN 2 -> 12/14; a: TP 4, FP 2, FN 1 -> 8/11; ghost 0; absent skipped
    assert s["mean_f1"] == pytest.approx((12 / 14 + 8 / 11 + 0) / 3)
    assert s["mean_f1_fg"] == pytest.approx((8 / 11 + 0) / 2)


def test_accumulating_over_the_split_differs_from_averaging_per_image():
    image_a = np.array([[2, 0], [0, 8]])  # class 1: 8 px, all right -> F1 1
    image_b = np.array([[8, 1], [1, 0]])  # class 1: 1 px missed, 1 false alarm -> F1 0
    per_image = [scores(cm, ["bg", "part"])["f1"]["part"] for cm in (image_a, image_b)]
    assert per_image == [1.0, 0.0]
    assert np.mean(per_image) == 0.5  # the common mistake
    # Summed: [[10, 1], [1, 8]] -> F1 = 2*8 / (2*8 + 1 + 1) = 16/18
    accumulated = scores(image_a + image_b, ["bg", "part"])["f1"]["part"]
    assert accumulated == pytest.approx(16 / 18)  # 0.888889


def test_scores_rejects_mismatched_names():
    with pytest.raises(ValueError, match="3 class names"):
        scores(np.eye(2, dtype=np.int64), ["a", "b", "c"])


# ---- protocols -----------------------------------------------------------------------------


def test_helen_overall_pools_face_parts_and_counts_cross_part_confusion_as_correct():
    r = helen_overall_f1(HELEN_CM, HELEN11)
    assert r["pooled_classes"] == [
        "left_brow", "right_brow", "left_eye", "right_eye", "nose", "upper_lip", "inner_mouth", "lower_lip",
    ]  # fmt: skip
    assert r["groups"] == {
        "brows": ["left_brow", "right_brow"],
        "eyes": ["left_eye", "right_eye"],
        "nose": ["nose"],
        "mouth": ["upper_lip", "inner_mouth", "lower_lip"],
    }
    # TP = diagonal of the pooled classes 5+5+4+4+10+3+2+3 = 36
    #      + left_eye->right_brow 2 + upper_lip->inner_mouth 1 = 39
    # FN = left_brow->background 2 + nose->skin 3 = 5
    # FP = skin->nose 4 + hair->left_brow 1 = 5
    assert (r["tp"], r["fp"], r["fn"]) == (39, 5, 5)
    assert r["f1"] == pytest.approx(2 * 39 / (2 * 39 + 5 + 5))  # 78/88 = 0.886364


def test_helen_overall_name_rule_on_celebamask_spelling_excludes_eyeglasses():
    cm = np.diag(np.arange(1, 20)).astype(np.int64)
    r = helen_overall_f1(cm, CELEBAMASK19)
    assert r["pooled_classes"] == ["nose", "l_eye", "r_eye", "l_brow", "r_brow", "mouth", "u_lip", "l_lip"]
    assert r["f1"] == 1.0


def test_helen_overall_refuses_a_label_set_without_face_parts():
    with pytest.raises(FaceparseConfigError, match="brows"):
        helen_overall_f1(np.eye(3, dtype=np.int64), ["background", "skin", "hair"])


def test_lapa_mean_f1_by_hand():
    r = lapa_mean_f1(HELEN_CM, HELEN11)
    assert r["classes"] == list(HELEN11[1:])
    # F1 = 2TP / (2TP + FP + FN), per class from HELEN_CM:
    expected = {
        "skin": 80 / 87,  # TP 40, FP 3 (nose), FN 4 (to nose)
        "left_brow": 10 / 13,  # TP 5, FP 1 (hair), FN 2 (to background)
        "right_brow": 10 / 12,  # TP 5, FP 2 (left_eye), FN 0
        "left_eye": 8 / 10,  # TP 4, FN 2
        "right_eye": 1.0,
        "nose": 20 / 27,  # TP 10, FP 4, FN 3
        "upper_lip": 6 / 7,  # TP 3, FN 1
        "inner_mouth": 4 / 5,  # TP 2, FP 1
        "lower_lip": 1.0,
        "hair": 60 / 66,  # TP 30, FP 5, FN 1
    }
    assert r["f1"] == pytest.approx(expected)
    assert r["mean_f1"] == pytest.approx(sum(expected.values()) / 10)  # 0.862908
    assert r["skipped_absent"] == []


def test_celebamask_mean_f1_by_hand_with_an_absent_class():
    # background skin nose eye_g l_eye r_eye l_brow r_brow l_ear r_ear mouth u_lip l_lip hair hat ear_r neck_l neck cloth
    cm = np.diag([100, 80, 20, 6, 4, 4, 5, 5, 6, 6, 3, 4, 4, 60, 0, 2, 1, 20, 30]).astype(np.int64)
    cm[17, 1] = 4  # neck predicted as skin
    cm[15, 8] = 2  # earring predicted as left ear
    cm[18, 16] = 1  # cloth predicted as necklace
    r = celebamask_mean_f1(cm, CELEBAMASK19)
    assert r["classes"] == list(CELEBAMASK19[1:])
    assert r["skipped_absent"] == ["hat"]
    assert math.isnan(r["f1"]["hat"])
    assert r["f1"]["skin"] == pytest.approx(160 / 164)  # TP 80, FP 4
    assert r["f1"]["l_ear"] == pytest.approx(12 / 14)  # TP 6, FP 2
    assert r["f1"]["ear_r"] == pytest.approx(4 / 6)  # TP 2, FN 2
    assert r["f1"]["neck"] == pytest.approx(40 / 44)  # TP 20, FN 4
    assert r["f1"]["cloth"] == pytest.approx(60 / 61)  # TP 30, FN 1
    assert r["f1"]["neck_l"] == pytest.approx(2 / 3)  # TP 1, FP 1
    # 11 perfect classes + the 6 above, over 17 (hat skipped, not counted as 0):
    assert r["mean_f1"] == pytest.approx((11 + 160 / 164 + 12 / 14 + 4 / 6 + 40 / 44 + 60 / 61 + 2 / 3) / 17)  # 0.944634


def test_protocol_registry_dispatches_and_checks_label_set():
    assert set(PROTOCOLS) == {"helen_overall", "lapa", "celebamask"}
    assert protocol_summary(HELEN_CM, HELEN11, "lapa") == lapa_mean_f1(HELEN_CM, HELEN11)
    assert protocol_summary(HELEN_CM, HELEN11, "helen_overall")["f1"] == pytest.approx(78 / 88)
    with pytest.raises(FaceparseConfigError, match="unknown evaluation protocol 'ibug'"):
        protocol_summary(HELEN_CM, HELEN11, "ibug")
    with pytest.raises(FaceparseConfigError, match="expects 19 classes"):
        protocol_summary(HELEN_CM, HELEN11, "celebamask")


# ---- bootstrap -----------------------------------------------------------------------------


def _per_image_cms(n: int = 40, seed: int = 7) -> np.ndarray:
    """`(n, 3, 3)` matrices of mostly-right photos with a few confusions each."""
    rng = np.random.default_rng(seed)
    cms = rng.integers(0, 6, size=(n, 3, 3))
    cms[:, [0, 1, 2], [0, 1, 2]] += rng.integers(20, 60, size=(n, 3))
    return cms


def test_bootstrap_is_seeded_and_contains_the_point_estimate():
    cms = _per_image_cms()
    point = scores(cms.sum(axis=0), ["bg", "a", "b"])
    low, high = bootstrap_mean_f1(cms, n_boot=300, seed=3)
    assert (low, high) == bootstrap_mean_f1(cms, n_boot=300, seed=3)
    assert (low, high) != bootstrap_mean_f1(cms, n_boot=300, seed=4)
    assert low < point["mean_f1"] < high
    assert high - low < 0.2
    low_fg, high_fg = bootstrap_mean_f1(cms, n_boot=300, seed=3, foreground_only=True)
    assert low_fg < point["mean_f1_fg"] < high_fg


def test_bootstrap_collapses_when_every_photo_is_the_same():
    cm = np.array([[5, 1, 1], [2, 3, 0], [0, 0, 4]])
    cms = np.stack([cm] * 12)
    low, high = bootstrap_mean_f1(cms, n_boot=50, seed=0)
    # Any resample sums to 12 * cm, whose F1 equals cm's.
    assert low == pytest.approx(high)
    assert low == pytest.approx((10 / 14 + 6 / 9 + 8 / 9) / 3)
    low_fg, high_fg = bootstrap_mean_f1(cms, n_boot=50, seed=0, foreground_only=True)
    assert low_fg == pytest.approx(7 / 9) and high_fg == pytest.approx(7 / 9)
    # A split of one photo: every resample is that photo.
    assert bootstrap_mean_f1(cms[:1], n_boot=50) == pytest.approx(((10 / 14 + 6 / 9 + 8 / 9) / 3,) * 2)


# ---- tables ----------------------------------------------------------------------


def test_normalised_confusion_keeps_empty_rows_zero():
    cm = np.array([[3, 1, 0], [0, 0, 0], [2, 2, 4]])
    expected = np.array([[0.75, 0.25, 0.0], [0.0, 0.0, 0.0], [0.25, 0.25, 0.5]])
    np.testing.assert_allclose(normalised_confusion(cm), expected)


def test_mean_f1_by_group_sums_each_groups_matrices():
    # Two classes. Photo 0 (pose "0"): all 10 pixels right. Photo 1 (pose "0"): of 4 class-1 pixels
    # 2 called class 0. Photo 2 (pose "-15"): 5 class-0 pixels called class 1. Photo 3: no pose.
    cms = np.array([[[6, 0], [0, 4]], [[6, 0], [2, 2]], [[0, 5], [0, 5]], [[1, 1], [1, 1]]])
    out = mean_f1_by_group(cms, ["0", "0", "-15", ""], ["a", "b"])
    assert list(out) == ["-15", "0"]  # numeric order, the pose-less photo in no group
    # pose 0: summed [[12, 0], [2, 6]]: F1 a = 24 / 26, F1 b = 12 / 14
    assert out["0"] == pytest.approx((24 / 26 + 12 / 14) / 2)
    # pose -15: [[0, 5], [0, 5]]: F1 a = 0, F1 b = 10 / 15
    assert out["-15"] == pytest.approx((0 + 10 / 15) / 2)
    with pytest.raises(ValueError):
        mean_f1_by_group(cms, ["0"], ["a", "b"])
