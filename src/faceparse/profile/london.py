"""Validation of the instrument on the London face set: test-retest (neutral vs smiling photo of
the same person), agreement of the map fWHR with hand-placed landmarks, and ITA by ethnicity.
Every measure, both face sets and the literature: `faceparse.profile.validation`."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from faceparse.profile.landmarks import fwhr_from_landmarks, read_tem
from faceparse.profile.stats import bootstrap_ci, icc_2_1, icc_3_1, pearson_r

_LONDON = re.compile(r"(?P<id>\d{3})_(?P<shot>\d{2})$")
EXPRESSIONS = {"03": "neutral", "08": "smiling"}
# The columns whose test-retest metrics/profile.json has kept since the first study, and their key
# names there (icc_<name>, icc_<name>_pairs, icc21_<name>); `faceparse.profile.validation` has the rest.
LEGACY_RETEST = {"cheeks_L": "L", "cheeks_b": "b", "cheeks_ita": "ita", "fwhr": "fwhr"}


def london_table(profile: pd.DataFrame, root: Path) -> pd.DataFrame:
    """The largest face of each London photo with its person id, expression, self-reported
    ethnicity and the fWHR of its hand-placed template (`.tem`)."""
    t = profile[profile["face_index"] == 0].copy()
    stems = t["photo"].map(lambda p: Path(p).stem)
    parsed = stems.str.extract(_LONDON)
    t["person"], t["expression"] = parsed["id"], parsed["shot"].map(EXPRESSIONS)
    t = t.dropna(subset=["person", "expression"])
    info = pd.read_csv(root / "london_info.csv", dtype={"face_id": str})
    t = t.merge(info.rename(columns={"face_id": "person", "face_eth": "ethnicity", "face_gender": "gender",
                                     "face_age": "age"}), on="person", how="left")
    t["fwhr_landmarks"] = template_fwhr(t["photo"])
    return t


def template_fwhr(photos: Iterable[str | Path]) -> list[float]:
    """The fWHR of each photo's hand-placed template (the `.tem` beside it; NaN for a photo without one)."""
    out = []
    for photo in photos:
        tem = Path(photo).with_suffix(".tem")
        out.append(fwhr_from_landmarks(read_tem(tem)).fwhr if tem.exists() else math.nan)
    return out


def retest_iccs(t: pd.DataFrame, columns: Iterable[str]) -> dict[str, dict]:
    """Test-retest of each numeric column of `t` (`london_table`'s rows) over the people with both a
    neutral and a smiling photo: column -> {"icc31": ICC(3,1), consistency; "icc21": ICC(2,1),
    absolute agreement, which also counts a constant shift such as a smile's wider face; "pairs":
    the people with a value in both}. ICCs of fewer than 3 pairs are NaN; a column is left out when
    `t` lacks it or one of the two expressions."""
    columns = [c for c in columns if c in t.columns]
    if not columns or not {"neutral", "smiling"} <= set(t["expression"].dropna()):
        return {}
    wide = t.pivot_table(index="person", columns="expression", values=columns, aggfunc="first", dropna=False)
    out = {}
    for col in columns:
        if col not in wide.columns.get_level_values(0) or not {"neutral", "smiling"} <= set(wide[col].columns):
            continue
        pair = wide[col][["neutral", "smiling"]].dropna()
        enough = len(pair) > 2
        with np.errstate(divide="ignore", invalid="ignore"):  # a column constant over everyone: NaN
            out[col] = {"icc31": icc_3_1(pair["neutral"].to_numpy(), pair["smiling"].to_numpy()) if enough else math.nan,
                        "icc21": icc_2_1(pair[["neutral", "smiling"]].to_numpy()) if enough else math.nan,
                        "pairs": int(len(pair))}
    return out


def validate_london(t: pd.DataFrame, seed: int = 0) -> dict:
    """Test-retest neutral vs smiling (ICC(3,1), consistency, and ICC(2,1), absolute agreement, which
    also counts a constant shift such as a smile's wider face), agreement of mask and landmark fWHR,
    ITA by group."""
    wide = t.pivot_table(index="person", columns="expression",
                         values=["cheeks_L", "cheeks_b", "cheeks_ita", "fwhr"], aggfunc="first", dropna=False)
    out: dict = {"photos": int(len(t)), "people_with_both_photos": int(wide.dropna().shape[0])}
    retest = retest_iccs(t, LEGACY_RETEST)
    for col, name in LEGACY_RETEST.items():
        if col in retest:
            out[f"icc_{name}"] = retest[col]["icc31"]
            out[f"icc_{name}_pairs"] = retest[col]["pairs"]
            out[f"icc21_{name}"] = retest[col]["icc21"]
    ok = t[["fwhr", "fwhr_landmarks"]].dropna()
    out["fwhr_vs_landmarks_r"] = pearson_r(ok["fwhr"].to_numpy(), ok["fwhr_landmarks"].to_numpy()) if len(ok) > 2 else math.nan
    out["fwhr_vs_landmarks_mad"] = float((ok["fwhr"] - ok["fwhr_landmarks"]).abs().mean()) if len(ok) else math.nan
    out["fwhr_pairs"] = int(len(ok))
    groups = {}
    for eth, g in t.dropna(subset=["cheeks_ita"]).groupby("ethnicity"):
        values = g["cheeks_ita"].to_numpy()
        lo, hi = bootstrap_ci(values, np.mean, n=2000, seed=seed) if len(values) > 1 else (math.nan, math.nan)
        groups[str(eth)] = {"n_photos": int(len(values)), "mean_ita": float(values.mean()), "ci95": [lo, hi]}
    out["ita_by_ethnicity"] = groups
    return out
