"""Which aligned crops training sees, and how often: one split of some datasets
(`select_split`), photos repeated (`oversample`) and datasets mixed to a share (`mix_order`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from faceparse.crops import Rows, Shards
from faceparse.errors import FaceparseConfigError

def select_split(aligned_dir: Path, manifest: pd.DataFrame, datasets: list[str], label_set: str,
                 split: str) -> tuple[Rows, Rows, pd.DataFrame]:
    """Aligned crops, label maps in `label_set` and manifest rows of one split of `datasets`; the
    crops and maps are `Rows`, read when indexed."""
    images, masks, rows = [], [], []
    for name in datasets:
        m = manifest[(manifest["dataset"] == name) & (manifest["index"] >= 0)]
        if m.empty:
            raise FaceparseConfigError(f"dataset {name!r} has no aligned photos; prepared: {sorted(manifest['dataset'].unique())}")
        if m["label_set"].iloc[0] == label_set:
            key = "labels"
        elif m["native_label_set"].iloc[0] == label_set:
            key = "native_labels"
        else:
            raise FaceparseConfigError(f"dataset {name!r} has labels in {m['label_set'].iloc[0]} and "
                                       f"{m['native_label_set'].iloc[0]}, not {label_set}")
        m = m[m["split"] == split]
        idx = m["index"].to_numpy(dtype=np.int64)
        images.append(Rows.of(Shards(Path(aligned_dir) / name, "images"), idx))
        masks.append(Rows.of(Shards(Path(aligned_dir) / name, key), idx))
        rows.append(m)
    return Rows.concat(images), Rows.concat(masks), pd.concat(rows, ignore_index=True)


def oversample(rows: pd.DataFrame, repeat: dict[str, dict[str, int]]) -> np.ndarray:
    """Row positions with photos repeated: `{dataset: {id prefix: times}}`, e.g. `{"fasseg": {"V2_": 4}}`.

    Every row appears once, in order; then the repeats follow, one round over the listed rows at a
    time, so a row whose id starts with a listed prefix appears `times` times in all.
    """
    times = np.ones(len(rows), dtype=np.int64)
    for dataset, prefixes in (repeat or {}).items():
        for prefix, n in prefixes.items():
            if int(n) < 1:
                raise FaceparseConfigError(f"oversample {dataset}/{prefix}: times must be at least 1, got {n}")
            hit = ((rows["dataset"] == dataset) & rows["id"].astype(str).str.startswith(prefix)).to_numpy()
            if not hit.any():
                raise FaceparseConfigError(f"oversample {dataset}/{prefix}: no training photo matches")
            times[hit] = int(n)
    rounds = [np.flatnonzero(times > r) for r in range(int(times.max(initial=1)))]
    return np.concatenate(rounds) if len(rows) else np.zeros(0, dtype=np.int64)


def mix_order(rows: pd.DataFrame, shares: dict[str, float], seed: int = 0) -> np.ndarray:
    """Row positions giving each dataset named in `shares` that share of the result, e.g.
    `{"facesynthetics_100": 0.4}`: every row of the other datasets once, and each named dataset's
    rows drawn (seeded, each position once before any twice) until it holds its share. The draw is
    made once per run, as `oversample`'s repeats are: every epoch shuffles the same crops. Empty
    `shares`: every row once, in order."""
    if not shares:
        return np.arange(len(rows))
    names = rows["dataset"].to_numpy()
    unknown = sorted(set(shares) - set(names))
    if unknown:
        raise FaceparseConfigError(f"mix: no training photos of {unknown}; datasets: {sorted(set(names))}")
    total_share = float(sum(shares.values()))
    if not 0 < total_share < 1 or any(v <= 0 for v in shares.values()):
        raise FaceparseConfigError(f"mix: shares must be positive and sum below 1, got {shares}")
    rest = np.flatnonzero(~np.isin(names, list(shares)))
    if not len(rest):
        raise FaceparseConfigError("mix: every training dataset is in mix; leave one out to hold the rest")
    total = len(rest) / (1 - total_share)
    rng = np.random.default_rng(seed)
    parts = [rest]
    for name, share in sorted(shares.items()):
        pool = np.flatnonzero(names == name)
        n = int(round(share * total))
        if n < 1:
            raise FaceparseConfigError(f"mix: a share of {share} of {name} is less than one crop; raise it or leave "
                                       f"{name} out of mix")
        draws = [rng.permutation(pool) for _ in range(-(-n // len(pool)))]
        parts.append(np.concatenate(draws)[:n])
    return np.concatenate(parts)
