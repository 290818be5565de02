"""Profile folders of photos: find every face, segment it with a model, and measure it
(`profile_face`), batch by batch; and the run's summary for metrics/profile.json."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
from tqdm import tqdm

from faceparse.align import alignment_columns, warp_image
from faceparse.datasets import read_image
from faceparse.errors import FaceparseConfigError, FaceparseDataError
from faceparse.facemap import FaceMap
from faceparse.labels import FASSEG6
from faceparse.pipeline import prefetch
from faceparse.predict import Predictor
from faceparse.profile.correct import ColourSource, PhotoColour
from faceparse.profile.face import profile_face
from faceparse.profile.params import ProfileParams
from faceparse.threads import current as current_threads


class Review(Protocol):
    """Where each measured face is drawn (`faceparse.review.ReviewWriter`); called from the measuring
    threads, so it must be thread-safe."""

    def add(self, image: np.ndarray, face: FaceMap, row: dict, params: ProfileParams = ...) -> str: ...


def profile_photos(predictor: Predictor, photos: list[Path], params: ProfileParams = ProfileParams(),
                   batch_size: int = 8, colour: ColourSource = ColourSource(), review: Review | None = None
                   ) -> pd.DataFrame:
    """One row per detected face (a row with flag `no_face` for a photo without one, `unreadable: ...`
    for a file that is not a readable image), in the order of `photos` (see `iter_profile`)."""
    return pd.DataFrame(profile_rows(predictor, photos, params, batch_size, colour, review))


def profile_rows(predictor: Predictor, photos: list[Path], params: ProfileParams = ProfileParams(),
                 batch_size: int = 8, colour: ColourSource = ColourSource(), review: Review | None = None
                 ) -> list[dict]:
    """The rows of `profile_photos` as dicts, with a progress bar (integers stay integers)."""
    rows = []
    with tqdm(total=len(photos), desc="profile", unit="photo", dynamic_ncols=True) as bar:
        for batch in iter_profile(predictor, photos, params, batch_size, colour, review):
            rows += [row for group in batch for row in group]
            bar.update(len(batch))
    return rows


MEASURERS = 2  # batches measured at once while the model runs on the next (1: 19.2 s, 2: 17.0 s on 80 photos)


def iter_profile(predictor: Predictor, photos: list[Path], params: ProfileParams = ProfileParams(),
                 batch_size: int = 8, colour: ColourSource = ColourSource(),
                 review: Review | None = None) -> Iterator[list[list[dict]]]:
    """For each batch of photos, in order, their rows: one list per photo, one row per face (largest
    first), or one row flagged `no_face` or `unreadable: ...`. All faces of a batch are segmented
    together. `predictor` must give FASSEG's six classes (`Predictor(..., target_label_set="fasseg6")`
    projects any other model onto them).

    With more than one thread (`faceparse.threads`), the work runs in three overlapping parts: a
    thread decodes the next photos and finds their faces, the model segments the current batch,
    and two threads measure the batches before it. The rows are those of the serial order, each face
    measured on its `Predictor.face_map`. `colour` says how each photo's colours are read (as taken,
    through a chart's correction, or white-balanced on the sclera); a chart in each photo is looked
    for by the thread that reads it. `review`, when given, draws each face as it is measured (from
    the measuring threads; the rows do not change)."""
    if predictor.label_set != FASSEG6.name:
        raise FaceparseConfigError(f"{predictor.model_path}: profiling reads FASSEG regions, but this predictor gives "
                                   f"{predictor.label_set!r}; use target_label_set='fasseg6'")
    parallel = current_threads() > 1
    found = _found(predictor, photos, colour)
    if parallel:
        found = prefetch(found, depth=2 * batch_size)
    with ThreadPoolExecutor(MEASURERS, thread_name_prefix="measure") if parallel else nullcontext() as measurer:
        waiting: deque = deque()
        try:
            for batch in _batches(found, batch_size):
                faces = [(k, item, i, face) for k, item in enumerate(batch) for i, face in enumerate(item.faces)]
                probs = predictor.crop_probs(np.stack([item.crops[i] for _, item, i, _ in faces])) if faces else []
                if measurer is None:
                    yield _measure(predictor, batch, faces, probs, params, review)
                    continue
                waiting.append(measurer.submit(_measure, predictor, batch, faces, probs, params, review))
                if len(waiting) > MEASURERS:
                    yield waiting.popleft().result()
            while waiting:
                yield waiting.popleft().result()
        finally:
            for job in waiting:
                job.cancel()
            close = getattr(found, "close", None)
            if close is not None:
                close()


@dataclass
class _Photo:
    """A photo read and searched for faces: its pixels, faces and their crops, or why it has none."""

    photo: Path
    image: np.ndarray | None = None
    faces: tuple = ()
    crops: tuple = ()
    problem: str | None = None
    colour: PhotoColour = PhotoColour()


def _found(predictor: Predictor, photos: list[Path], colour: ColourSource) -> Iterator[_Photo]:
    for photo in photos:
        try:
            image = read_image(photo)
        except FaceparseDataError as err:
            yield _Photo(photo, problem=err.problem)
            continue
        faces = predictor.align(image)
        crops = tuple(warp_image(image, f.matrix, predictor.size) for f in faces)
        yield _Photo(photo, image, tuple(faces), crops, colour=colour.for_photo(image) if faces else PhotoColour())


def _batches(items: Iterator[_Photo], size: int) -> Iterator[list[_Photo]]:
    batch: list[_Photo] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _measure(predictor: Predictor, batch: list[_Photo], faces: list, probs, params: ProfileParams,
             review: Review | None = None) -> list[list[dict]]:
    groups: list[list[dict]] = [[] for _ in batch]
    for k, item in enumerate(batch):
        if item.problem is not None:
            groups[k].append({"photo": str(item.photo), "face_index": -1, "n_faces": 0,
                              "flags": f"unreadable: {item.problem}"})
        elif not item.faces:
            groups[k].append({"photo": str(item.photo), "face_index": -1, "n_faces": 0, "flags": "no_face",
                              "width": item.image.shape[1], "height": item.image.shape[0]})
    for (k, item, i, face), p in zip(faces, probs):
        n = len(item.faces)
        flags = ["several_faces"] if n > 1 else []
        row = {"photo": str(item.photo), "face_index": i, "n_faces": n, "width": item.image.shape[1],
               "height": item.image.shape[0], **alignment_columns(face)}
        face_map = predictor.face_map(item.image.shape, face, p)
        measured = profile_face(item.image, face_map, None, None, params, item.colour)
        own_flags = [f for key in ("skin_flags", "fwhr_flags", "light_flags", "colour_flags")
                     for f in str(measured.get(key, "")).split(";") if f]
        row.update(measured)
        row["flags"] = ";".join(dict.fromkeys(flags + own_flags))  # a flag both measures raise, once
        if review is not None:
            review.add(item.image, face_map, row, params)
        groups[k].append(row)
    return groups


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
    faces = profile[profile["face_index"] >= 0]
    flags = pd.Series([f for fl in profile["flags"].fillna("") for f in str(fl).split(";") if f]).value_counts()
    return {"photos": int(profile["photo"].nunique()), "faces": int(len(faces)),
            "photos_without_face": int((profile["face_index"] < 0).sum()),
            "mean_cheeks_L": float(faces["cheeks_L"].mean()) if len(faces) else math.nan,
            "mean_cheeks_ita": float(faces["cheeks_ita"].mean()) if len(faces) else math.nan,
            "mean_fwhr": float(faces["fwhr"].mean()) if len(faces) else math.nan,
            "flags": {str(k): int(v) for k, v in flags.items()}}
