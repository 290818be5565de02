"""Profile photos: each face the photo stream (`faceparse.stream`) segments is measured
(`profile_face`), batch by batch, into one row per face; and the run's summary for
metrics/profile.json."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
from tqdm import tqdm

from faceparse.errors import FaceparseConfigError
from faceparse.facemap import FaceMap
from faceparse.geometry import alignment_columns
from faceparse.labels import FASSEG6
from faceparse.predict import Predictor
from faceparse.profile.correct import ColourSource, PhotoColour
from faceparse.profile.face import profile_face
from faceparse.profile.params import ProfileParams
from faceparse.stream import BATCH, Photo, chunks, overlapped, segmented

if TYPE_CHECKING:
    import pandas as pd


class Review(Protocol):
    """Where each measured face is drawn (`faceparse.review.ReviewWriter`); called from the measuring
    threads, so it must be thread-safe."""

    def add(self, image: np.ndarray, face: FaceMap, row: dict, params: ProfileParams = ...) -> str: ...


def profile_photos(predictor: Predictor, photos: list[Path], params: ProfileParams = ProfileParams(),
                   batch_size: int = BATCH, colour: ColourSource = ColourSource(), review: Review | None = None
                   ) -> pd.DataFrame:
    """One row per detected face (a row with flag `no_face` for a photo without one, `unreadable: ...`
    for a file that is not a readable image), in the order of `photos` (see `iter_profile`)."""
    import pandas as pd  # here, not at import: `faceparse profile` starts without it

    return pd.DataFrame(profile_rows(predictor, photos, params, batch_size, colour, review))


def profile_rows(predictor: Predictor, photos: list[Path], params: ProfileParams = ProfileParams(),
                 batch_size: int = BATCH, colour: ColourSource = ColourSource(), review: Review | None = None
                 ) -> list[dict]:
    """The rows of `profile_photos` as dicts, with a progress bar (integers stay integers)."""
    rows = []
    with tqdm(total=len(photos), desc="profile", unit="photo", dynamic_ncols=True) as bar:
        for batch in iter_profile(predictor, photos, params, batch_size, colour, review):
            rows += [row for group in batch for row in group]
            bar.update(len(batch))
    return rows


MEASURERS = 2  # photos measured at once while the model runs on the next (1: 19.2 s, 2: 17.0 s on 80 photos)


def iter_profile(predictor: Predictor, photos: list[Path], params: ProfileParams = ProfileParams(),
                 batch_size: int = BATCH, colour: ColourSource = ColourSource(),
                 review: Review | None = None) -> Iterator[list[list[dict]]]:
    """For each batch of photos, in order, their rows: one list per photo, one row per face (largest
    first), or one row flagged `no_face` or `unreadable: ...`. The photos walk the photo stream
    (`faceparse.stream.segmented`); `predictor` must give FASSEG's six classes (`Predictor(...,
    target_label_set="fasseg6")` projects any other model onto them).

    With more than one thread (`faceparse.threads`), two threads measure the photos of the batches
    before the one the model segments, a photo each at a time (the last batch is measured by both);
    the rows are those of the serial order. `colour` says how each photo's
    colours are read (as taken, through a chart's correction, or white-balanced on the sclera); a
    chart in each photo is looked for by the stream's reading thread. `review`, when given, draws
    each face as it is measured (from the measuring threads; the rows do not change)."""
    if predictor.label_set != FASSEG6.name:
        raise FaceparseConfigError(f"{predictor.model_path}: profiling reads FASSEG regions, but this predictor gives "
                                   f"{predictor.label_set!r}; use target_label_set='fasseg6'")

    def read_colour(photo: Photo) -> None:
        photo.context = colour.for_photo(photo.image) if photo.faces else PhotoColour()

    photos_segmented = segmented(predictor, photos, batch_size, prepare=read_colour)
    measured = overlapped(lambda photo: _measure(photo, params, review), photos_segmented, MEASURERS, "measure",
                          depth=2 * batch_size)
    try:
        yield from chunks(measured, batch_size)
    finally:
        measured.close()  # the measuring threads finish (or cancel the photos not begun) before this returns


def _measure(photo: Photo, params: ProfileParams, review: Review | None = None) -> list[dict]:
    """A photo's rows: one per face, or the one saying why there is none."""
    rows = []
    if photo.problem is not None:
        rows.append({"photo": str(photo.path), "face_index": -1, "n_faces": 0,
                     "flags": f"unreadable: {photo.problem}"})
    elif not photo.faces:
        rows.append({"photo": str(photo.path), "face_index": -1, "n_faces": 0, "flags": "no_face",
                     "width": photo.image.shape[1], "height": photo.image.shape[0]})
    n = len(photo.faces)
    for i, (face, face_map) in enumerate(zip(photo.faces, photo.face_maps())):
        flags = ["several_faces"] if n > 1 else []
        row = {"photo": str(photo.path), "face_index": i, "n_faces": n, "width": photo.image.shape[1],
               "height": photo.image.shape[0], **alignment_columns(face)}
        measured = profile_face(photo.image, face_map, None, None, params, photo.context, face.points)
        own_flags = [f for key, value in measured.items() if key.endswith("_flags")
                     for f in str(value).split(";") if f]
        row.update(measured)
        row["flags"] = ";".join(dict.fromkeys(flags + own_flags))  # a flag both measures raise, once
        if review is not None:
            review.add(photo.image, face_map, row, params)
        rows.append(row)
    return rows


def rows_complete(rows: list[dict]) -> bool:
    """Whether a photo's rows are all there: one per face found, or the one saying none was."""
    return len(rows) == max(1, int(float(rows[0].get("n_faces") or 0)))


def timed_profile(predictor: Predictor, photos: list[Path], params: ProfileParams,
                  colour: ColourSource = ColourSource(), review: Review | None = None) -> tuple[list[dict], float]:
    """`profile_rows` and the seconds it took (drawing the review's tiles included, when there is one)."""
    t0 = time.perf_counter()
    rows = profile_rows(predictor, photos, params, colour=colour, review=review)
    return rows, time.perf_counter() - t0


def summarise(profile: pd.DataFrame) -> dict:
    """Counts of photos, faces and flags, and the mean cheek L*, ITA and fWHR of a profile table."""
    import pandas as pd

    faces = profile[profile["face_index"] >= 0]
    flags = pd.Series([f for fl in profile["flags"].fillna("") for f in str(fl).split(";") if f]).value_counts()
    return {"photos": int(profile["photo"].nunique()), "faces": int(len(faces)),
            "photos_without_face": int((profile["face_index"] < 0).sum()),
            "mean_cheeks_L": float(faces["cheeks_L"].mean()) if len(faces) else math.nan,
            "mean_cheeks_ita": float(faces["cheeks_ita"].mean()) if len(faces) else math.nan,
            "mean_fwhr": float(faces["fwhr"].mean()) if len(faces) else math.nan,
            "flags": {str(k): int(v) for k, v in flags.items()}}
