"""What `faceparse predict` writes for each photo that walked the photo stream: its label map
(composed from its face maps), overlay and confidence files, and its row of predictions.csv; the
same in this process and on Ray actors (`faceparse.ray_engine`)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from faceparse.errors import FaceparseDataError
from faceparse.predict import Predictor
from faceparse.stream import BATCH, Photo, overlapped, segmented

log = logging.getLogger("faceparse")

# What `predict` writes next to each photo's name; read back as photos, they would be segmented again.
OUTPUTS = ("_labels.png", "_overlay.jpg", "_confidence.png")
WRITERS = 2  # photos whose files are written at once while the model segments the next batch


def segment_files(predictor: Predictor, todo: Iterable[tuple[Path, str]], out: Path,
                  confidence: bool) -> Iterator[dict]:
    """Each photo of `todo` (path, output name) through the photo stream, its files written into
    `out` (in threads of their own while the model segments the next batch); its predictions.csv
    row, in order."""
    photos = (Photo(Path(path), name=str(name)) for path, name in todo)
    yield from overlapped(lambda photo: write_photo(photo, out, confidence, predictor.label_set),
                          segmented(predictor, photos, BATCH, whole_photo=True),
                          WRITERS, "write", depth=2 * BATCH)


def write_photo(photo: Photo, out: Path, confidence: bool, label_set: str) -> dict:
    """Write one segmented photo's files (its label map composed from its face maps, each over its
    crop's whole box, so that the confidence of the background is its own) and return its row of
    predictions.csv."""
    import cv2

    from faceparse.geometry import alignment_columns
    from faceparse.plots import overlay_with_key

    if photo.problem is not None:
        log.warning("not segmented: %s: %s", photo.path, photo.problem)
        return {"photo": str(photo.path), "status": f"unreadable: {photo.problem}"}
    labels, conf = photo.label_map(whole_crop=True)
    name = photo.name
    files = {"labels": f"{name}_labels.png", "overlay": f"{name}_overlay.jpg"}
    if confidence:
        files["confidence"] = f"{name}_confidence.png"
    (out / name).parent.mkdir(parents=True, exist_ok=True)
    write_image(out / files["labels"], labels)
    overlay = overlay_with_key(photo.image, labels, label_set)
    write_image(out / files["overlay"], cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
    if confidence:
        write_image(out / files["confidence"], np.round(conf * 255).astype(np.uint8))
    n_faces = sum(f.face_found for f in photo.faces)
    return {"photo": str(photo.path), "status": "ok" if n_faces else "no_face: segmented whole",
            "width": photo.image.shape[1], "height": photo.image.shape[0], "faces": n_faces,
            "mean_confidence": float(conf.mean()), **files, **alignment_columns(photo.faces[0])}


def write_image(path: Path, array: np.ndarray) -> None:
    """Write an image whole or not at all: a kill mid-write leaves the previous file (or none)."""
    import cv2

    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")  # the suffix tells OpenCV the format
    if not cv2.imwrite(str(tmp), array):
        raise FaceparseDataError(path, "could not be written (is the folder writable, the disk full?)")
    tmp.replace(path)
