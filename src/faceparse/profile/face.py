"""One face's row of the profile CSV: its skin colour (`skin`) and its fWHR (`fwhr`) together."""

from __future__ import annotations

import numpy as np

from faceparse.facemap import FaceMap
from faceparse.profile.frame import face_frame
from faceparse.profile.fwhr import fwhr_from_labels
from faceparse.profile.params import ProfileParams
from faceparse.profile.skin import as_face_map, measure_skin


def profile_face(image: np.ndarray, labels: np.ndarray | FaceMap, confidence: np.ndarray | None = None,
                 eye_line_angle: float | None = None,
                 params: ProfileParams = ProfileParams()) -> dict[str, float | int | str]:
    """One row of named columns: `measure_skin(...).as_row()` and `fwhr_from_labels(...).as_row()`.

    image: `(H, W, 3) uint8` sRGB photo; labels: `(H, W) uint8` fasseg6 face map of that photo, or
    its `FaceMap` (`Predictor.face_map`: the same row, without building the whole photo's map);
    confidence: `(H, W) float` max-softmax per pixel, or None (see `measure_skin`).
    """
    face = as_face_map(np.asarray(image), labels, confidence)
    framed = face_frame(face, eye_line_angle, params)  # one frame for both measures
    row = measure_skin(image, face, None, eye_line_angle, params, framed=framed).as_row()
    row.update(fwhr_from_labels(face, eye_line_angle, params, framed=framed).as_row())
    return row
