"""One face's row of the profile CSV: its skin colour (`skin`) and its fWHR (`fwhr`) together."""

from __future__ import annotations

import numpy as np

from faceparse.profile.fwhr import fwhr_from_labels
from faceparse.profile.params import ProfileParams
from faceparse.profile.skin import measure_skin


def profile_face(image: np.ndarray, labels: np.ndarray, confidence: np.ndarray | None = None,
                 eye_line_angle: float | None = None,
                 params: ProfileParams = ProfileParams()) -> dict[str, float | int | str]:
    """One row of named columns: `measure_skin(...).as_row()` and `fwhr_from_labels(...).as_row()`.

    image: `(H, W, 3) uint8` sRGB photo; labels: `(H, W) uint8` fasseg6 face map of that photo;
    confidence: `(H, W) float` max-softmax per pixel, or None (see `measure_skin`).
    """
    row = measure_skin(image, labels, confidence, eye_line_angle, params).as_row()
    row.update(fwhr_from_labels(labels, eye_line_angle, params).as_row())
    return row
