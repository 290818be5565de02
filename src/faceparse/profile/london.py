"""Validation of the instrument on the London face set: test-retest (neutral vs smiling photo of
the same person), agreement of the map fWHR with hand-placed landmarks, and ITA by ethnicity."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from faceparse.profile.landmarks import fwhr_from_landmarks, read_tem
from faceparse.profile.stats import bootstrap_ci, icc_2_1, icc_3_1, pearson_r

_LONDON = re.compile(r"(?P<id>\d{3})_(?P<shot>\d{2})$")
EXPRESSIONS = {"03": "neutral", "08": "smiling"}


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
    tem_fwhr = []
    for photo in t["photo"]:
        tem = Path(photo).with_suffix(".tem")
        tem_fwhr.append(fwhr_from_landmarks(read_tem(tem)).fwhr if tem.exists() else math.nan)
    t["fwhr_landmarks"] = tem_fwhr
    return t


def validate_london(t: pd.DataFrame, seed: int = 0) -> dict:
    """Test-retest neutral vs smiling (ICC(3,1), consistency, and ICC(2,1), absolute agreement, which
    also counts a constant shift such as a smile's wider face), agreement of mask and landmark fWHR,
    ITA by group."""
    wide = t.pivot_table(index="person", columns="expression",
                         values=["cheeks_L", "cheeks_b", "cheeks_ita", "fwhr"], aggfunc="first", dropna=False)
    out: dict = {"photos": int(len(t)), "people_with_both_photos": int(wide.dropna().shape[0])}
    for col, name in (("cheeks_L", "L"), ("cheeks_b", "b"), ("cheeks_ita", "ita"), ("fwhr", "fwhr")):
        if col in wide.columns.get_level_values(0) and {"neutral", "smiling"} <= set(wide[col].columns):
            pair = wide[col][["neutral", "smiling"]].dropna()
            out[f"icc_{name}"] = icc_3_1(pair["neutral"].to_numpy(), pair["smiling"].to_numpy()) if len(pair) > 2 else math.nan
            out[f"icc_{name}_pairs"] = int(len(pair))
            out[f"icc21_{name}"] = icc_2_1(pair[["neutral", "smiling"]].to_numpy()) if len(pair) > 2 else math.nan
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
