"""What `faceparse predict` writes for one photo: its label map, overlay and confidence files, and
its row of predictions.csv (shared by the single-process run and its Ray actors)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from faceparse.errors import FaceparseDataError

log = logging.getLogger("faceparse")


def write_image(path: Path, array: np.ndarray) -> None:
    """Write an image whole or not at all: a kill mid-write leaves the previous file (or none)."""
    import cv2

    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")  # the suffix tells OpenCV the format
    if not cv2.imwrite(str(tmp), array):
        raise FaceparseDataError(path, "could not be written (is the folder writable, the disk full?)")
    tmp.replace(path)


def read_and_find(predictor, photo: Path, name: str):
    """A photo decoded and its faces found (or the error saying why it could not be read)."""
    from faceparse.datasets import read_image

    try:
        image = read_image(photo)
    except FaceparseDataError as err:
        return photo, name, None, err
    return photo, name, image, predictor.align(image)


def segment_one(predictor, found, out: Path, confidence: bool) -> dict:
    """Segment one photo (`read_and_find`'s result), write its files, and return its row of predictions.csv."""
    import cv2

    from faceparse.align import alignment_columns
    from faceparse.plots import overlay_with_key
    from faceparse.predict import segment_photo

    photo, name, image, faces = found
    if image is None:
        log.warning("not segmented: %s", faces)
        return {"photo": str(photo), "status": f"unreadable: {faces.problem}"}
    labels, conf, faces = segment_photo(predictor, image, faces)
    files = {"labels": f"{name}_labels.png", "overlay": f"{name}_overlay.jpg"}
    if confidence:
        files["confidence"] = f"{name}_confidence.png"
    (out / name).parent.mkdir(parents=True, exist_ok=True)
    write_image(out / files["labels"], labels)
    overlay = overlay_with_key(image, labels, predictor.label_set)
    write_image(out / files["overlay"], cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
    if confidence:
        write_image(out / files["confidence"], np.round(conf * 255).astype(np.uint8))
    n_faces = sum(f.face_found for f in faces)
    return {"photo": str(photo), "status": "ok" if n_faces else "no_face: segmented whole",
            "width": image.shape[1], "height": image.shape[0], "faces": n_faces,
            "mean_confidence": float(conf.mean()), **files, **alignment_columns(faces[0])}
