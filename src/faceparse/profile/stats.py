"""Statistics the instrument is validated with: test-retest ICC(3,1), agreement ICC(2,1), Pearson r, and a percentile
bootstrap interval (`scipy.stats.bootstrap`) that resamples paired rows together."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np


def _checked(data: np.ndarray) -> np.ndarray:
    """An `(n, k)` float64 table of n subjects by k measurements, refused if ragged, short or NaN."""
    if data.ndim != 2 or data.shape[1] < 2:
        raise ValueError(f"expected an (n, k) table of n subjects by k >= 2 measurements, found shape {data.shape}")
    if len(data) < 2:
        raise ValueError(f"need at least 2 subjects, found {len(data)}")
    bad = int(np.isnan(data).any(axis=1).sum())
    if bad:
        what = "pairs" if data.shape[1] == 2 else "subjects"
        raise ValueError(f"{bad} of {len(data)} {what} contain NaN; drop them (and report how many) before this")
    return data


def _paired(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"paired measurements differ in length: {len(x)} and {len(y)}")
    data = _checked(np.stack([x, y], axis=1))
    return data[:, 0], data[:, 1]


def icc_3_1(x: np.ndarray, y: np.ndarray | None = None) -> float:
    """ICC(3,1) of Shrout & Fleiss (1979): two-way mixed, consistency, single measures.

    Either `icc_3_1(x, y)` for n subjects measured in two sessions (x: first, y: second, both
    `(n,)`), or `icc_3_1(data)` with `data` an `(n, k)` table of n subjects (targets) by k sessions
    (judges). ICC(3,1) = (BMS - EMS) / (BMS + (k - 1) EMS), BMS the between-subjects and EMS the
    residual mean square of the two-way ANOVA without replication.
    """
    if y is None:
        data = _checked(np.asarray(x, dtype=np.float64))
    else:
        data = np.stack(_paired(x, y), axis=1)
    n, k = data.shape
    grand = data.mean()
    ss_rows = k * ((data.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((data.mean(axis=0) - grand) ** 2).sum()
    ss_err = ((data - grand) ** 2).sum() - ss_rows - ss_cols
    bms = ss_rows / (n - 1)
    ems = ss_err / ((n - 1) * (k - 1))
    return float((bms - ems) / (bms + (k - 1) * ems))


def icc_2_1(data: np.ndarray) -> float:
    """ICC(2,1) of Shrout & Fleiss (1979): two-way random, absolute agreement, single measures, of an
    `(n, k)` table of n subjects (targets) by k raters (cameras, sessions). Unlike ICC(3,1) it counts
    a constant shift between raters as disagreement:
    (BMS - EMS) / (BMS + (k - 1) EMS + k (JMS - EMS) / n), JMS the raters' mean square."""
    data = _checked(np.asarray(data, dtype=np.float64))
    n, k = data.shape
    grand = data.mean()
    ss_rows = k * ((data.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((data.mean(axis=0) - grand) ** 2).sum()
    ss_err = ((data - grand) ** 2).sum() - ss_rows - ss_cols
    bms, jms = ss_rows / (n - 1), ss_cols / (k - 1)
    ems = ss_err / ((n - 1) * (k - 1))
    return float((bms - ems) / (bms + (k - 1) * ems + k * (jms - ems) / n))


def pearson_r(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of two `(n,)` samples (NaN when either is constant)."""
    x, y = _paired(x, y)
    if np.ptp(x) == 0 or np.ptp(y) == 0:  # no spread, no correlation (np.corrcoef would warn, then NaN)
        return math.nan
    return float(np.corrcoef(x, y)[0, 1])


def bootstrap_ci(values: np.ndarray, stat: Callable[[np.ndarray], float], n: int = 2000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of `stat(values)` from `n` resamples (`scipy.stats.bootstrap`).

    values: `(m, ...)` array; resampling draws whole rows with replacement, so paired data
    (`(m, 2)` columns x, y) stay paired, e.g. `stat=lambda v: icc_3_1(v[:, 0], v[:, 1])`.
    Resamples whose statistic is undefined (NaN, e.g. r of a resample that drew one row only) are
    left out of the percentiles.
    """
    import scipy.stats  # here: it takes 0.6 s to import, which every `faceparse profile` would pay

    values = np.asarray(values)
    if len(values) < 2:
        raise ValueError(f"need at least 2 rows to bootstrap, found {len(values)}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), found {level}")
    # Resampling row indices, not values, keeps the rows of a multi-column `values` together for
    # any `stat`; float() because scipy stores the statistics in the first result's dtype.
    with warnings.catch_warnings():
        # scipy warns when a NaN statistic makes its interval NaN; those are handled below.
        warnings.simplefilter("ignore", scipy.stats.DegenerateDataWarning)
        res = scipy.stats.bootstrap((np.arange(len(values)),), lambda i: float(stat(values[i])), n_resamples=n,
                                    vectorized=False, confidence_level=level, method="percentile",
                                    rng=np.random.default_rng(seed))
    lo, hi = res.confidence_interval
    if math.isnan(lo) or math.isnan(hi):
        alpha = (1 - level) / 2
        lo, hi = np.nanpercentile(res.bootstrap_distribution, [100 * alpha, 100 * (1 - alpha)])
    return float(lo), float(hi)
