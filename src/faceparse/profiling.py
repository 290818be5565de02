"""Profile folders of photos: find every face, segment it, measure it (`faceparse.profile`), and
validate the instrument on the London set (test-retest, agreement with hand-placed landmarks)."""

from __future__ import annotations

import math
import re
import time
from dataclasses import fields
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
from tqdm import tqdm

from faceparse.align import warp_image
from faceparse.datasets import read_image
from faceparse.errors import FaceparseConfigError, FaceparseDataError
from faceparse.labels import FASSEG6
from faceparse.predict import Predictor
from faceparse.profile import (ProfileParams, bootstrap_ci, fwhr_from_landmarks, icc_3_1, pearson_r,
                               profile_face, read_tem)


def profile_photos(predictor: Predictor, photos: list[Path], params: ProfileParams = ProfileParams(),
                   batch_size: int = 8) -> pd.DataFrame:
    """One row per detected face (a row with flag `no_face` for a photo without one, `unreadable: ...`
    for a file that is not a readable image), in the order of `photos` (see `iter_profile`)."""
    rows = []
    with tqdm(total=len(photos), desc="profile", unit="photo", dynamic_ncols=True) as bar:
        for batch in iter_profile(predictor, photos, params, batch_size):
            rows += [row for group in batch for row in group]
            bar.update(len(batch))
    return pd.DataFrame(rows)


def iter_profile(predictor: Predictor, photos: list[Path], params: ProfileParams = ProfileParams(),
                 batch_size: int = 8) -> Iterator[list[list[dict]]]:
    """For each batch of photos, in order, their rows: one list per photo, one row per face (largest
    first), or one row flagged `no_face` or `unreadable: ...`. All faces of a batch are segmented
    together. `predictor` must give FASSEG's six classes (`Predictor(..., target_label_set="fasseg6")`
    projects any other model onto them)."""
    if predictor.label_set != FASSEG6.name:
        raise FaceparseConfigError(f"{predictor.model_path}: profiling reads FASSEG regions, but this predictor gives "
                                   f"{predictor.label_set!r}; use target_label_set='fasseg6'")
    for start in range(0, len(photos), batch_size):
        batch = photos[start:start + batch_size]
        groups: list[list[dict]] = [[] for _ in batch]
        found = []
        for k, photo in enumerate(batch):
            try:
                image = read_image(photo)
            except FaceparseDataError as err:
                groups[k].append({"photo": str(photo), "face_index": -1, "n_faces": 0,
                                  "flags": f"unreadable: {err.problem}"})
                continue
            faces = predictor.align(image)
            if not faces:
                groups[k].append({"photo": str(photo), "face_index": -1, "n_faces": 0, "flags": "no_face",
                                  "width": image.shape[1], "height": image.shape[0]})
            found += [(k, photo, image, i, len(faces), f) for i, f in enumerate(faces)]
        if found:
            crops = np.stack([warp_image(image, f.matrix, predictor.size) for _, _, image, _, _, f in found])
            probs = predictor.crop_probs(crops)
            for (k, photo, image, i, n, face), p in zip(found, probs):
                full = predictor.photo_probs(image, face, p)
                labels, confidence = full.argmax(0).astype(np.uint8), full.max(0)
                flags = ["several_faces"] if n > 1 else []
                row = {"photo": str(photo), "face_index": i, "n_faces": n, "width": image.shape[1],
                       "height": image.shape[0], "box_x": face.box[0], "box_y": face.box[1], "box_w": face.box[2],
                       "box_h": face.box[3], "align_method": face.method}
                measured = profile_face(image, labels, confidence, None, params)
                own_flags = [f for key in ("skin_flags", "fwhr_flags") for f in str(measured.get(key, "")).split(";") if f]
                row.update(measured)
                row["flags"] = ";".join(dict.fromkeys(flags + own_flags))  # a flag both measures raise, once
                groups[k].append(row)
        yield groups


def rows_complete(rows: list[dict]) -> bool:
    """Whether a photo's rows are all there: one per face found, or the one saying none was."""
    return len(rows) == max(1, int(float(rows[0].get("n_faces") or 0)))


# --- validation on the London face set ---------------------------------------------------------

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
    """Test-retest ICC(3,1) neutral vs smiling, agreement of mask and landmark fWHR, ITA by group."""
    wide = t.pivot_table(index="person", columns="expression",
                         values=["cheeks_L", "cheeks_b", "cheeks_ita", "fwhr"], aggfunc="first", dropna=False)
    out: dict = {"photos": int(len(t)), "people_with_both_photos": int(wide.dropna().shape[0])}
    for col, name in (("cheeks_L", "L"), ("cheeks_b", "b"), ("cheeks_ita", "ita"), ("fwhr", "fwhr")):
        if col in wide.columns.get_level_values(0) and {"neutral", "smiling"} <= set(wide[col].columns):
            pair = wide[col][["neutral", "smiling"]].dropna()
            out[f"icc_{name}"] = icc_3_1(pair["neutral"].to_numpy(), pair["smiling"].to_numpy()) if len(pair) > 2 else math.nan
            out[f"icc_{name}_pairs"] = int(len(pair))
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


def plot_validation(t: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Scatter plots: neutral against smiling per measure; mask fWHR against landmark fWHR."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    wide = t.pivot_table(index="person", columns="expression", values=["cheeks_L", "cheeks_b", "cheeks_ita", "fwhr"],
                         aggfunc="first", dropna=False)
    fig = Figure(figsize=(12, 3.2))
    FigureCanvasAgg(fig)
    for ax_i, (col, label) in enumerate((("cheeks_L", "cheek L*"), ("cheeks_b", "cheek b*"), ("cheeks_ita", "cheek ITA (deg)"),
                                         ("fwhr", "fWHR (face map)"))):
        ax = fig.add_subplot(1, 4, ax_i + 1)
        if col in wide.columns.get_level_values(0) and {"neutral", "smiling"} <= set(wide[col].columns):
            x, y = wide[col]["neutral"], wide[col]["smiling"]
            ax.scatter(x, y, s=12)
            lo, hi = np.nanmin([x.min(), y.min()]), np.nanmax([x.max(), y.max()])
            if np.isfinite(lo) and np.isfinite(hi):
                ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8)
        ax.set_xlabel(f"neutral {label}")
        ax.set_ylabel(f"smiling {label}")
    fig.tight_layout()
    paths.append(out_dir / "profile_test_retest.png")
    fig.savefig(paths[-1], dpi=90)
    fig = Figure(figsize=(4, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.scatter(t["fwhr_landmarks"], t["fwhr"], s=12)
    ax.set_xlabel("fWHR from hand-placed landmarks")
    ax.set_ylabel("fWHR from the face map")
    fig.tight_layout()
    paths.append(out_dir / "profile_fwhr_agreement.png")
    fig.savefig(paths[-1], dpi=90)
    return paths


def summarise(profile: pd.DataFrame) -> dict:
    faces = profile[profile["face_index"] >= 0]
    flags = pd.Series([f for fl in profile["flags"].fillna("") for f in str(fl).split(";") if f]).value_counts()
    return {"photos": int(profile["photo"].nunique()), "faces": int(len(faces)),
            "photos_without_face": int((profile["face_index"] < 0).sum()),
            "mean_cheeks_L": float(faces["cheeks_L"].mean()) if len(faces) else math.nan,
            "mean_cheeks_ita": float(faces["cheeks_ita"].mean()) if len(faces) else math.nan,
            "mean_fwhr": float(faces["fwhr"].mean()) if len(faces) else math.nan,
            "flags": {str(k): int(v) for k, v in flags.items()}}


def timed_profile(predictor: Predictor, photos: list[Path], params: ProfileParams) -> tuple[pd.DataFrame, float]:
    t0 = time.perf_counter()
    table = profile_photos(predictor, photos, params)
    return table, time.perf_counter() - t0
