"""Confusion matrices and every score derived from them, including the published face-parsing protocols
(the classes each protocol scores are picked by name in `faceparse.protocol_classes`).

Every score is computed from ONE `(K, K)` confusion matrix accumulated over the whole split (the
pixels of all photos summed), which is what the published evaluation code does. Averaging per-image
scores instead weights a small face as much as a large one and gives a different number that
cannot be compared with published results.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from faceparse.errors import FaceparseConfigError
from faceparse.labels import IGNORE
from faceparse.protocol_classes import background_index, face_parts

# Bootstrap resamples are built as (resamples x images) weight matrices; this caps their size so
# memory stays small however many photos the split has.
_BOOT_CHUNK_ELEMENTS = 2_000_000


# --------------------------------------------------------------------------------------------
# The matrix
# --------------------------------------------------------------------------------------------


def confusion_matrix(truth: np.ndarray, pred: np.ndarray, num_classes: int, ignore: int = IGNORE) -> np.ndarray:
    """Count (truth, prediction) pixel pairs of one label map pair.

    Args:
        truth: `(H, W) uint8` label map; pixels equal to `ignore` are skipped.
        pred: `(H, W) uint8` label map of the same shape; every value must be `< num_classes`
            (a model never predicts "ignore", so a 255 here is a bug upstream).
        num_classes: K, the size of the label set.
        ignore: the truth value that marks unlabelled pixels.

    Returns:
        `(K, K) int64`, rows = truth class, columns = predicted class. Summing these over the
        photos of a split gives the matrix every score below is computed from.

    Raises:
        ValueError: shapes differ, a prediction is `>= num_classes`, or a (non-ignored) truth
            label is `>= num_classes`.
    """
    truth = np.asarray(truth)
    pred = np.asarray(pred)
    if truth.shape != pred.shape:
        raise ValueError(f"truth has shape {truth.shape} but prediction has shape {pred.shape}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    keep = truth != ignore
    # int64 before multiplying: t * K + p overflows uint8 for any K > 1.
    t = truth[keep].astype(np.int64)
    p = pred[keep].astype(np.int64)
    bad_p = p[(p < 0) | (p >= num_classes)]
    if bad_p.size:
        raise ValueError(f"prediction holds label {int(bad_p[0])}; expected 0..{num_classes - 1}")
    bad_t = t[(t < 0) | (t >= num_classes)]
    if bad_t.size:
        raise ValueError(f"truth holds label {int(bad_t[0])}; expected 0..{num_classes - 1} or {ignore} (ignore)")
    counts = np.bincount(t * num_classes + p, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64)


def as_confusion(cm: np.ndarray, class_names: Sequence[str]) -> np.ndarray:
    """Check `cm` is a `(K, K)` non-negative integer matrix matching `class_names`; return int64."""
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"confusion matrix must be (K, K); got shape {cm.shape}")
    if cm.shape[0] != len(class_names):
        raise ValueError(f"confusion matrix is {cm.shape[0]}x{cm.shape[0]} but {len(class_names)} class names were given")
    if not np.issubdtype(cm.dtype, np.integer):
        raise ValueError(f"confusion matrix must hold integer pixel counts; got dtype {cm.dtype}")
    if (cm < 0).any():
        raise ValueError("confusion matrix holds negative counts")
    return cm.astype(np.int64)


# --------------------------------------------------------------------------------------------
# Per-class scores (batched over any leading axes, so the bootstrap reuses them)
# --------------------------------------------------------------------------------------------


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """`num / den` as float64, NaN where `den == 0` (an undefined score, not a zero one)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast_shapes(num.shape, den.shape), np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _tp_fp_fn(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`(..., K, K)` matrices -> true positives, false positives, false negatives, each `(..., K)`."""
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    fp = cm.sum(axis=-2) - tp  # predicted as the class, truly something else
    fn = cm.sum(axis=-1) - tp  # truly the class, predicted as something else
    return tp, fp, fn


def _f1(cm: np.ndarray) -> np.ndarray:
    """`(..., K, K)` -> `(..., K) float64` F1 = 2TP / (2TP + FP + FN); NaN for a class absent from both."""
    tp, fp, fn = _tp_fp_fn(cm)
    return _ratio(2 * tp, 2 * tp + fp + fn)


def _nanmean(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Mean skipping NaN, NaN (without a warning) where every value is NaN."""
    values = np.asarray(values, dtype=np.float64)
    present = ~np.isnan(values)
    return _ratio(np.where(present, values, 0.0).sum(axis=axis), present.sum(axis=axis))


def scores(cm: np.ndarray, class_names: Sequence[str], background: int = 0) -> dict[str, Any]:
    """Per-class and mean scores of one confusion matrix accumulated over a whole split.

    Args:
        cm: `(K, K)` integer confusion matrix, rows = truth, columns = prediction, summed over
            every photo of the split (do not average per-image scores: see the module docstring).
        class_names: the K class names, in label-map index order.
        background: index of the background class, left out of the `_fg` means.

    Returns:
        A dict with
        - `f1`, `iou`, `precision`, `recall`: `{class name: float}` where, per class,
          F1 = 2TP / (2TP + FP + FN), IoU = TP / (TP + FP + FN), precision = TP / (TP + FP),
          recall = TP / (TP + FN);
        - `support`: `{class name: int}` truth pixel count;
        - `pixel_accuracy`: trace / total;
        - `mean_f1`, `mean_iou`: unweighted means over all K classes;
        - `mean_f1_fg`, `mean_iou_fg`: the same without the background class;
        - `background`: the background class's name.

    NaN convention: a score whose denominator is zero is undefined and is NaN, not 0. So a class
    absent from both truth and prediction has NaN F1, IoU, precision and recall; a class never
    predicted has NaN precision, and a class absent from the truth has NaN recall (its F1 and IoU
    are then 0, which is right: every pixel given to it is wrong). All means skip NaN, so an absent
    class neither lowers nor raises them; a mean over no defined value is NaN.
    """
    cm = as_confusion(cm, class_names)
    k = cm.shape[0]
    if not 0 <= background < k:
        raise ValueError(f"background index {background} is outside 0..{k - 1}")
    names = list(class_names)
    tp, fp, fn = _tp_fp_fn(cm)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    iou = _ratio(tp, tp + fp + fn)
    foreground = np.arange(k) != background

    def by_name(values: np.ndarray) -> dict[str, float]:
        return {name: float(v) for name, v in zip(names, values)}

    return {
        "f1": by_name(f1),
        "iou": by_name(iou),
        "precision": by_name(_ratio(tp, tp + fp)),
        "recall": by_name(_ratio(tp, tp + fn)),
        "support": {name: int(v) for name, v in zip(names, tp + fn)},
        "pixel_accuracy": float(_ratio(tp.sum(), cm.sum())),
        "mean_f1": float(_nanmean(f1)),
        "mean_iou": float(_nanmean(iou)),
        "mean_f1_fg": float(_nanmean(f1[foreground])),
        "mean_iou_fg": float(_nanmean(iou[foreground])),
        "background": names[background],
    }


def mean_f1_by_group(per_image_cms: np.ndarray, groups: Sequence[str], class_names: Sequence[str]) -> dict[str, float]:
    """Mean F1 of each group of photos (a head pose, say) from one confusion matrix summed over the
    group's `(N, K, K)` per-photo matrices; photos whose group is "" belong to none. Groups that read
    as numbers (pose angles) are ordered by value, others by name."""
    cms = np.asarray(per_image_cms)
    keys = np.asarray([str(g) for g in groups])
    if cms.ndim != 3 or len(cms) != len(keys):
        raise ValueError(f"expected one (K, K) matrix per group label, found {cms.shape} for {len(keys)} labels")

    def order(name: str) -> tuple[int, float, str]:
        try:
            return 0, float(name), name
        except ValueError:
            return 1, 0.0, name

    return {g: scores(cms[keys == g].sum(0), class_names)["mean_f1"] for g in sorted(set(keys) - {""}, key=order)}


def normalised_confusion(cm: np.ndarray) -> np.ndarray:
    """Row-normalise a `(K, K)` confusion matrix: row i is where truth class i's pixels went.

    Returns `(K, K) float64` whose non-empty rows sum to 1; a class with no truth pixels keeps an
    all-zero row (rather than NaN) so the matrix can be drawn and summed.
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"confusion matrix must be (K, K); got shape {cm.shape}")
    rows = cm.sum(axis=1, keepdims=True).astype(np.float64)
    out = np.zeros(cm.shape, dtype=np.float64)
    np.divide(cm, rows, out=out, where=rows > 0)
    return out


# --------------------------------------------------------------------------------------------
# Uncertainty
# --------------------------------------------------------------------------------------------


def bootstrap_mean_f1(
    per_image_cms: np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    foreground_only: bool = False,
    background: int = 0,
) -> tuple[float, float]:
    """95% percentile bootstrap interval of the split's mean F1, resampling photos (`scipy.stats.bootstrap`).

    Each resample draws N photos with replacement, SUMS their confusion matrices (the same
    accumulation as the point estimate, so interval and estimate measure the same thing) and takes
    the mean F1 of that matrix (NaN classes skipped, as in `scores`).

    Args:
        per_image_cms: `(N, K, K)` integer confusion matrices, one per photo.
        n_boot: number of resamples.
        seed: seed of the `numpy.random.Generator`; the same seed gives the same interval.
        foreground_only: leave the `background` class out of the mean (like `mean_f1_fg`).
        background: index of the background class.

    Returns:
        `(low, high)`: the 2.5th and 97.5th percentiles of the resampled mean F1.
    """
    cms = np.asarray(per_image_cms)
    if cms.ndim != 3 or cms.shape[1] != cms.shape[2]:
        raise ValueError(f"per-image confusion matrices must be (N, K, K); got shape {cms.shape}")
    if not np.issubdtype(cms.dtype, np.integer) or (cms < 0).any():
        raise ValueError("per-image confusion matrices must hold non-negative integer counts")
    n, k = cms.shape[0], cms.shape[1]
    if n == 0:
        raise ValueError("bootstrap needs at least one photo's confusion matrix")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0 <= background < k:
        raise ValueError(f"background index {background} is outside 0..{k - 1}")
    keep = np.ones(k, dtype=bool)
    if foreground_only:
        keep[background] = False

    # float64 so the product runs in BLAS; pixel counts stay exact far beyond any split (< 2**53).
    flat = cms.reshape(n, k * k).astype(np.float64)

    def mean_f1(draws: np.ndarray, axis: int = -1) -> np.ndarray:
        # How many times each photo was drawn in each resample: a (b, n) weight matrix, so the
        # resampled sums are one matrix product instead of b * n additions.
        draws = np.atleast_2d(draws)
        b = draws.shape[0]
        weights = np.bincount((np.arange(b)[:, None] * n + draws).ravel(), minlength=b * n).reshape(b, n)
        return _nanmean(_f1((weights.astype(np.float64) @ flat).reshape(b, k, k))[:, keep], axis=-1)

    if n == 1:  # every resample is the one photo (scipy needs two to resample)
        only = float(mean_f1(np.zeros((1, 1), dtype=np.int64))[0])
        return only, only
    import scipy.stats  # here: it takes 0.6 s to import, which every `faceparse` command would pay

    # Resample photo indices, so each resample sums whole photos' matrices; `batch` caps memory.
    result = scipy.stats.bootstrap((np.arange(n),), mean_f1, n_resamples=n_boot, batch=max(1, _BOOT_CHUNK_ELEMENTS // n),
                                   vectorized=True, method="percentile", confidence_level=0.95,
                                   rng=np.random.default_rng(seed))
    low, high = result.confidence_interval
    return float(low), float(high)


# --------------------------------------------------------------------------------------------
# Published protocols
# --------------------------------------------------------------------------------------------

def helen_overall_f1(cm: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """Helen "overall" F1: eyes, brows, nose and mouth pooled into one "face parts" class.

    This follows the evaluation code of EAGRNet (`utils/miou.py`, `compute_mean_ioU`) and SegFace
    (`inference.py`, `validation`): they sum the per-image histograms over the split, merge
    `eyes = le + re`, `brows = lb + rb`, `mouth = ulip + imouth + llip` and
    `overall = eyes + brows + nose + mouth`, then compute, for the merged index lists,
    `2 * hist[gt_inds][:, pred_inds].sum() / (hist[gt_inds, :].sum() + hist[:, pred_inds].sum())`.
    That equals summing the rows and the columns of the pooled classes into a single class and
    taking F1 = 2TP / (2TP + FP + FN) of it; in particular a left-eye pixel predicted as right brow
    is a TRUE positive of the pooled class. Skin, hair and background are outside the pool.

    Classes are selected by a name rule that accepts the Helen/LaPa spellings (left_brow,
    left_eye, nose, upper_lip, inner_mouth, lower_lip, ...) and the CelebAMask-HQ ones (l_brow,
    l_eye, nose, mouth, u_lip, l_lip), excluding eyeglasses ("eye_g") and eye shadow.

    Args:
        cm: `(K, K)` integer confusion matrix accumulated over the split.
        classes: the K class names.

    Returns:
        `{"protocol", "f1", "pooled_classes" (the exact names pooled, in index order),
        "groups" ({eyes/brows/nose/mouth: names}), "tp", "fp", "fn"}`.

    Raises:
        FaceparseConfigError: one of the four groups matches no class (not a Helen-like label set).
    """
    cm = as_confusion(cm, classes)
    names = list(classes)
    group_of, groups = face_parts(names)
    pooled = np.array([g is not None for g in group_of])
    # (K, 2) indicator: column 0 = every other class, column 1 = the pooled face parts, so
    # P.T @ cm @ P sums the pooled rows and columns into one class of a 2x2 matrix.
    indicator = np.stack([~pooled, pooled], axis=1).astype(np.int64)
    two_by_two = indicator.T @ cm @ indicator
    tp, fp, fn = int(two_by_two[1, 1]), int(two_by_two[0, 1]), int(two_by_two[1, 0])
    return {
        "protocol": "helen_overall",
        "f1": float(_ratio(2 * tp, 2 * tp + fp + fn)),
        "pooled_classes": [n for n, p in zip(names, pooled) if p],
        "groups": groups,
        "tp": tp,
        "fp": fp,
        "fn": fn,
    }


def _foreground_mean_f1(cm: np.ndarray, classes: Sequence[str], protocol: str, expected: int) -> dict[str, Any]:
    """Mean F1 over every class but background, as SegFace's `validation` does (`gt_label_names[1:]`)."""
    cm = as_confusion(cm, classes)
    names = list(classes)
    background = background_index(names, protocol, expected)
    f1 = _f1(cm)
    foreground = [i for i in range(len(names)) if i != background]
    return {
        "protocol": protocol,
        "mean_f1": float(_nanmean(f1[foreground])),
        "classes": [names[i] for i in foreground],
        "f1": {names[i]: float(f1[i]) for i in foreground},
        # Absent from both truth and prediction: skipped by the mean rather than counted as 0.
        "skipped_absent": [names[i] for i in foreground if np.isnan(f1[i])],
    }


def lapa_mean_f1(cm: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """LaPa mean F1: the unweighted mean of the 10 foreground classes' F1 (all but background).

    `cm` is the `(11, 11)` matrix accumulated over the split. A class absent from both truth and
    prediction has NaN F1 and is skipped (listed under `skipped_absent`); on the full LaPa test set
    every class is present, so this matches the published numbers. Returns
    `{"protocol", "mean_f1", "classes" (the exact names averaged), "f1", "skipped_absent"}`.
    """
    return _foreground_mean_f1(cm, classes, "lapa", expected=11)


def celebamask_mean_f1(cm: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """CelebAMask-HQ mean F1: the unweighted mean of the 18 foreground classes' F1.

    `cm` is the `(19, 19)` matrix accumulated over the split. NaN handling and the returned dict
    are as in `lapa_mean_f1`.
    """
    return _foreground_mean_f1(cm, classes, "celebamask", expected=19)


Protocol = Callable[[np.ndarray, Sequence[str]], dict[str, Any]]

PROTOCOLS: dict[str, Protocol] = {
    "helen_overall": helen_overall_f1,
    "lapa": lapa_mean_f1,
    "celebamask": celebamask_mean_f1,
}


def protocol_summary(cm: np.ndarray, classes: Sequence[str], protocol: str) -> dict[str, Any]:
    """The named published protocol's summary of `cm` (see `PROTOCOLS` for the names)."""
    try:
        summarise = PROTOCOLS[protocol]
    except KeyError:
        raise FaceparseConfigError(f"unknown evaluation protocol {protocol!r}; known: {sorted(PROTOCOLS)}") from None
    return summarise(cm, classes)
