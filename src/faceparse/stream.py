"""The photo stream: the one walk from photo files to each face's map, which `predict`, `evaluate`,
`profile` and the Ray engine all consume.

    photos in -> read (or the reason it failed) -> find faces -> crop -> class probabilities, in
    batches across photos -> each face's map over its window of the photo (`Photo.face_maps`)

With more than one thread (`faceparse.threads`), a thread of its own reads the next photos and finds
their faces (`prefetch`) while the model works on the current batch, and what each command does with
a segmented photo (`profile` measures it, `predict` writes its files, `evaluate` scores it) runs in
threads of its own, a photo at a time (`segmented`, `overlapped`), while the model segments the next
batch. Batches and photos come out in the photos' order.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from queue import Full, Queue
from typing import Any, TypeVar

import numpy as np

from faceparse.datasets import read_image
from faceparse.errors import FaceparseDataError
from faceparse.facemap import FaceMap, compose
from faceparse.geometry import Alignment, align_whole_image, warp_image
from faceparse.predict import Predictor, face_map
from faceparse.threads import current as current_threads

# Photos whose faces go through the model together. 4 rather than 8: the model gets its first batch
# after four photos are read, the last batches are measured or written sooner, and the model is no
# slower a face (the 80 London crops on one core in bf16: 3.9 s in batches of 1, 4.1 of 4, 4.3 of 8).
# Runs taking turns on 2 cores, bf16, batches of 4 against 8 (median of 3-4): `profile` of the 80
# London photos 11.7 s against 12.6, `predict` of the 100 FaceSynthetics photos 8.0 against 10.7,
# `evaluate` 9.2 against 10.0. A crop's probabilities do not depend on its batch (bitwise, in ONNX
# Runtime and OpenVINO): every row, file and score is the same.
BATCH = 4


@dataclass
class Photo:
    """One photo on its way through the stream.

    Give `path` alone and the stream reads the photo and finds every face in it (largest first);
    give `image` and `faces` (evaluate's stored alignments) and it uses them as they are. `problem`
    says why a photo could not be read (its pixels stay None and it has no faces). `name` and
    `payload` are the caller's, carried through (predict's output name, evaluate's truth); `context`
    holds what the stream's `prepare` computed for the photo in the reading thread."""

    path: Path
    name: str = ""
    image: np.ndarray | None = None
    faces: list[Alignment] | None = None
    problem: str | None = None
    payload: Any = None
    context: Any = None
    probs: list[np.ndarray] = field(default_factory=list, repr=False)  # (K, S, S) per face, set by the stream
    crops: list[np.ndarray] = field(default_factory=list, repr=False)  # (S, S, 3) per face, until segmented

    @property
    def shape(self) -> tuple[int, int]:
        return self.image.shape[:2]

    def face_maps(self, whole_crop: bool = False) -> list[FaceMap]:
        """Each face's labels and confidence over its window of the photo (`whole_crop`: over its
        crop's whole box), from its crop's probabilities (made here, in the caller's thread)."""
        return [face_map(self.image.shape, face, p, whole_crop) for face, p in zip(self.faces, self.probs)]

    def label_map(self, whole_crop: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """`(H, W) uint8` labels and `(H, W) float32` confidence over the whole photo, composed from
        its face maps (`faceparse.facemap.compose`). The labels are the same either way; with
        `whole_crop` the confidence is each crop's own max probability over its whole box (1 off
        every crop), else 1 outside the faces' windows."""
        return compose(self.face_maps(whole_crop), self.shape)


def segment(predictor: Predictor, photos: Iterable[Photo | Path], batch_size: int = BATCH, whole_photo: bool = False,
            prepare: Callable[[Photo], None] | None = None) -> Iterator[list[Photo]]:
    """Batches of at most `batch_size` photos, in order, each with the class probabilities of every
    face (`Photo.probs`); all faces of a batch go through the model together.

    `whole_photo`: a photo where no face is found is segmented whole (its one alignment `none`, as
    `predict` does), else it passes with no faces. `prepare(photo)`, when given, runs in the reading
    thread on each photo read (profile looks for a colour chart there). `photos` may be a generator
    doing work of its own (evaluate reads the truth there): it is advanced in the reading thread."""
    found: Iterator[Photo] = (_read(predictor, item, whole_photo, prepare) for item in photos)
    if current_threads() > 1:
        found = prefetch(found, depth=max(8, 2 * batch_size))
    try:
        for batch in chunks(found, batch_size):
            crops = [crop for photo in batch for crop in photo.crops]
            probs = iter(predictor.crop_probs(np.stack(crops)) if crops else ())
            for photo in batch:
                photo.probs, photo.crops = [next(probs) for _ in photo.crops], []
            yield batch
    finally:
        close = getattr(found, "close", None)
        if close is not None:
            close()


def segmented(predictor: Predictor, photos: Iterable[Photo | Path], batch_size: int = BATCH, whole_photo: bool = False,
              prepare: Callable[[Photo], None] | None = None) -> Iterator[Photo]:
    """The photos of `segment`'s batches one by one, in order: what a command does with each photo
    (measure it, write its files, score it) is then shared out a photo at a time (`overlapped`)."""
    for batch in segment(predictor, photos, batch_size, whole_photo, prepare):
        yield from batch


def _read(predictor: Predictor, item: Photo | Path, whole_photo: bool, prepare: Callable[[Photo], None] | None) -> Photo:
    photo = item if isinstance(item, Photo) else Photo(Path(item))
    if photo.image is None and photo.problem is None:
        try:
            photo.image = read_image(photo.path)
        except FaceparseDataError as err:
            photo.problem = err.problem
    if photo.image is None:
        photo.faces = []
        return photo
    if photo.faces is None:
        photo.faces = predictor.find_faces(photo.image)
    if not photo.faces and whole_photo:
        photo.faces = [align_whole_image(photo.image.shape, predictor.align_params)]
    photo.crops = [warp_image(photo.image, face.matrix, predictor.size) for face in photo.faces]
    if prepare is not None:
        prepare(photo)
    return photo


T = TypeVar("T")
R = TypeVar("R")


def overlapped(work: Callable[[T], R], items: Iterable[T], workers: int = 2, name: str = "work",
               depth: int | None = None) -> Iterator[R]:
    """`work(item)` for each of `items`, in order. With more than one thread (`faceparse.threads`),
    `workers` threads of their own work on the items while `items` makes the next ones (the model
    segments the next batch), up to `depth` items (default `workers`) handed to them and not yet
    handed on; each result is handed on once it and those before it are done. One after another
    otherwise. An exception raised by `work` is raised at its item; closing the returned generator
    cancels the items not started."""
    if current_threads() <= 1:
        for item in items:
            yield work(item)
        return
    depth = workers if depth is None else depth
    with ThreadPoolExecutor(workers, thread_name_prefix=name) as pool:
        waiting: deque = deque()
        try:
            for item in items:
                waiting.append(pool.submit(work, item))
                while waiting and (len(waiting) > depth or waiting[0].done()):
                    yield waiting.popleft().result()
            while waiting:
                yield waiting.popleft().result()
        finally:
            for job in waiting:
                job.cancel()


def chunks(items: Iterable, size: int) -> Iterator[list]:
    """`items` in lists of `size` (the last one shorter), in order."""
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def prefetch(items: Iterator, depth: int) -> Iterator:
    """`items`, produced by a thread of their own up to `depth` ahead of the reader. An exception
    raised while producing is raised to the reader at the item it stopped; closing the returned
    generator stops the thread."""
    queue: Queue = Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(entry) -> bool:
        """Hand `entry` on unless the reader has stopped; whether it was."""
        while not stop.is_set():
            try:
                queue.put(entry, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((done, None))
        except BaseException as err:  # noqa: BLE001  (handed to the reader, raised there)
            put((done, err))

    thread = threading.Thread(target=produce, name="prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, err = queue.get()
            if item is done:
                if err is not None:
                    raise err
                return
            yield item
    finally:
        stop.set()
        thread.join(timeout=10)  # it stops within one item's work


def collect_photos(inputs: list[str], skip: Callable[[Path], bool] | None = None) -> list[tuple[Path, str]]:
    """Each photo in `inputs` (files, or folders searched recursively) once, with the name its
    outputs take: the stem for a file given by name, the path below the folder without its suffix
    for a file found in one. A file met twice (named and inside a folder given, say) keeps its first
    name; a file found in a folder for which `skip(path)` is true is not a photo (predict's own
    outputs). No photo at all, or a path that does not exist, is an error naming it."""
    from faceparse.datasets.base import list_images
    from faceparse.errors import FaceparseError

    found: dict[Path, tuple[Path, str]] = {}  # by resolved path
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            for q in list_images(p, recursive=True):
                if skip is None or not skip(q):
                    found.setdefault(q.resolve(), (q, q.relative_to(p).with_suffix("").as_posix()))
        elif p.is_file():
            found.setdefault(p.resolve(), (p, p.stem))
        else:
            raise FaceparseError(f"{p}: no such file or folder")
    if not found:
        raise FaceparseError(f"no photos found in {', '.join(inputs)}")
    return list(found.values())
