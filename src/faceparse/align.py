"""The align stage: every prepared photo of a manifest cropped onto the model's input
(`faceparse.geometry`) and stored in shards (`faceparse.shard_writer`), in parallel over the cores,
so training never decodes or resizes a photo again."""

from __future__ import annotations

import logging
import multiprocessing
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Callable, Iterator

import pandas as pd
from tqdm import tqdm

from faceparse.crops import SHARD_SIZE, crop_layout
from faceparse.datasets import Sample, get_reader, read_image, read_index_mask
from faceparse.geometry import AlignParams, align_sample, alignment_columns, warp_image, warp_mask
from faceparse.shard_writer import ShardWriter

log = logging.getLogger(__name__)


def align_manifest(manifest: pd.DataFrame, params: AlignParams, make_finder: Callable[[AlignParams], object],
                   repo_root: Path, out_dir: Path, formats: dict[str, str], workers: int = 1,
                   shard_size: int = SHARD_SIZE, chunk: int = 8) -> pd.DataFrame:
    """Write every ok photo's crop, label maps and affine into `out_dir/<dataset>/` shards (see
    `faceparse.crops`) and return the manifest with the alignment of every sample (`index` is the
    row in its dataset's shards; -1 if skipped). `make_finder(params)` gives the
    `faceparse.detect.FaceFinder` for photos without landmarks. `workers` > 1 aligns in that many
    processes, `chunk` photos a task; rows are written in the manifest's order, so the shards are
    the same bytes for any number of workers, and memory holds a few photos per worker, not the
    dataset."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    with _Aligner(params, make_finder, repo_root, formats, workers, chunk) as aligner:
        for dataset, group in manifest.groupby("dataset", sort=True):
            ok = group[group["status"] == "ok"]
            writer = ShardWriter(out_dir, dataset, len(ok), crop_layout(params.size), shard_size)
            records = [{**r.to_dict(), "dataset": dataset} for _, r in ok.iterrows()]
            done = aligner.map(records)
            for i, (r, (crops, columns)) in enumerate(tqdm(zip(records, done), total=len(records),
                                                           desc=f"align {dataset}", unit="photo", dynamic_ncols=True)):
                writer.add(**crops)
                rows.append({**r, "index": i, **columns})
            writer.close()
            for _, r in group[group["status"] != "ok"].iterrows():
                rows.append({**r.to_dict(), "index": -1, "align_method": "skipped", "face_found": False})
            found = sum(1 for r in rows if r["dataset"] == dataset and r["face_found"])
            log.info("%s: %d photos aligned, face found in %d", dataset, len(ok), found)
    return pd.DataFrame(rows)


def align_record(r: dict, params: AlignParams, finder, repo_root: Path, formats: dict[str, str]) -> tuple[dict, dict]:
    """One prepared photo (a manifest row) aligned: its crops (`crop_layout` keys) and the manifest
    columns recording how its face was found."""
    dataset = r["dataset"]
    image = read_image(repo_root / r["image"])
    landmarks = None
    if r["landmarks"]:
        sample = Sample(id=r["id"], image=Path(r["image"]), mask=None, dataset=dataset, landmarks=repo_root / r["landmarks"])
        landmarks = get_reader(formats[dataset]).read_landmarks(sample)
    a = align_sample(image, landmarks, finder, params)
    s = params.size
    crops = {"images": warp_image(image, a.matrix, s), "labels": warp_mask(read_index_mask(repo_root / r["label"]), a.matrix, s),
             "native_labels": warp_mask(read_index_mask(repo_root / r["native_label"]), a.matrix, s),
             "affines": a.matrix}
    return crops, {**alignment_columns(a), "face_found": a.face_found}


class _Aligner:
    """`align_record` over a list of rows, in order: here when `workers` is 1, else in a pool of
    fresh processes (spawned: a forked child inherits OpenCV's thread pool and can hang in it), one
    thread each, with at most a few rows per worker in flight."""

    def __init__(self, params: AlignParams, make_finder, repo_root: Path, formats: dict[str, str], workers: int,
                 chunk: int = 8) -> None:
        self.args = (params, make_finder, repo_root, formats)
        self.workers, self.chunk = max(1, int(workers)), max(1, int(chunk))
        self.pool = None

    def __enter__(self) -> _Aligner:
        params, make_finder, repo_root, formats = self.args
        # Here first, in any case: a bad detector setting or file fails with its own message, and a
        # detector file to download is fetched once, not by every worker at the same time.
        self.local = (params, make_finder(params), repo_root, formats)
        if self.workers > 1:
            self.pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_worker_start, initargs=self.args)
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def map(self, records: list[dict]) -> Iterator[tuple[dict, dict]]:
        if self.pool is None:
            yield from (align_record(r, *self.local) for r in records)
            return
        chunk, ahead = self.chunk, 4 * self.workers
        pending: deque = deque()
        starts = iter(range(0, len(records), chunk))
        for start in starts:
            pending.append(self.pool.submit(_worker_align, records[start:start + chunk]))
            if len(pending) >= ahead:
                break
        while pending:
            results = pending.popleft().result()
            start = next(starts, None)
            if start is not None:
                pending.append(self.pool.submit(_worker_align, records[start:start + chunk]))
            yield from results


_WORKER: tuple | BaseException | None = None


def _worker_start(params: AlignParams, make_finder, repo_root: Path, formats: dict[str, str]) -> None:
    global _WORKER
    from faceparse.threads import configure

    configure(1)  # one thread each (OpenCV's; torch is never loaded here)
    try:
        _WORKER = (params, make_finder(params), repo_root, formats)
    except Exception as err:  # raised by the first task, so its message reaches the parent whole
        _WORKER = err


def _worker_align(records: list[dict]) -> list[tuple[dict, dict]]:
    if isinstance(_WORKER, BaseException):
        raise _WORKER
    return [align_record(r, *_WORKER) for r in records]
