"""Profile folders of photos: find every face, segment it with a model, and measure it
(`profile_face`), batch by batch; and the run's summary for metrics/profile.json."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from faceparse.align import alignment_columns, warp_image
from faceparse.datasets import read_image
from faceparse.errors import FaceparseConfigError, FaceparseDataError
from faceparse.labels import FASSEG6
from faceparse.predict import Predictor
from faceparse.profile.face import profile_face
from faceparse.profile.params import ProfileParams


def profile_photos(predictor: Predictor, photos: list[Path], params: ProfileParams = ProfileParams(),
                   batch_size: int = 8) -> pd.DataFrame:
    """One row per detected face (a row with flag `no_face` for a photo without one, `unreadable: ...`
    for a file that is not a readable image), in the order of `photos` (see `iter_profile`)."""
    return pd.DataFrame(profile_rows(predictor, photos, params, batch_size))


def profile_rows(predictor: Predictor, photos: list[Path], params: ProfileParams = ProfileParams(),
                 batch_size: int = 8) -> list[dict]:
    """The rows of `profile_photos` as dicts, with a progress bar (integers stay integers)."""
    rows = []
    with tqdm(total=len(photos), desc="profile", unit="photo", dynamic_ncols=True) as bar:
        for batch in iter_profile(predictor, photos, params, batch_size):
            rows += [row for group in batch for row in group]
            bar.update(len(batch))
    return rows


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
                       "height": image.shape[0], **alignment_columns(face)}
                measured = profile_face(image, labels, confidence, None, params)
                own_flags = [f for key in ("skin_flags", "fwhr_flags") for f in str(measured.get(key, "")).split(";") if f]
                row.update(measured)
                row["flags"] = ";".join(dict.fromkeys(flags + own_flags))  # a flag both measures raise, once
                groups[k].append(row)
        yield groups


def rows_complete(rows: list[dict]) -> bool:
    """Whether a photo's rows are all there: one per face found, or the one saying none was."""
    return len(rows) == max(1, int(float(rows[0].get("n_faces") or 0)))


def timed_profile(predictor: Predictor, photos: list[Path], params: ProfileParams) -> tuple[list[dict], float]:
    """`profile_rows` and the seconds it took."""
    t0 = time.perf_counter()
    rows = profile_rows(predictor, photos, params)
    return rows, time.perf_counter() - t0


def summarise(profile: pd.DataFrame) -> dict:
    """Counts of photos, faces and flags, and the mean cheek L*, ITA and fWHR of a profile table."""
    faces = profile[profile["face_index"] >= 0]
    flags = pd.Series([f for fl in profile["flags"].fillna("") for f in str(fl).split(";") if f]).value_counts()
    return {"photos": int(profile["photo"].nunique()), "faces": int(len(faces)),
            "photos_without_face": int((profile["face_index"] < 0).sum()),
            "mean_cheeks_L": float(faces["cheeks_L"].mean()) if len(faces) else math.nan,
            "mean_cheeks_ita": float(faces["cheeks_ita"].mean()) if len(faces) else math.nan,
            "mean_fwhr": float(faces["fwhr"].mean()) if len(faces) else math.nan,
            "flags": {str(k): int(v) for k, v in flags.items()}}
