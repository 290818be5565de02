"""One face's row of the profile CSV: its skin colour (`skin`), its fWHR (`fwhr`), the light it was
photographed in (`light`) and the colour correction its colours were read through (`correct`)."""

from __future__ import annotations

import numpy as np

from faceparse.facemap import FaceMap
from faceparse.profile.correct import PhotoColour, white_balance
from faceparse.profile.frame import face_frame
from faceparse.profile.fwhr import fwhr_from_labels
from faceparse.profile.light import measure_light
from faceparse.profile.params import ProfileParams
from faceparse.profile.skin import as_face_map, measure_skin

AS_TAKEN = PhotoColour()


def profile_face(image: np.ndarray, labels: np.ndarray | FaceMap, confidence: np.ndarray | None = None,
                 eye_line_angle: float | None = None, params: ProfileParams = ProfileParams(),
                 colour: PhotoColour = AS_TAKEN) -> dict[str, float | int | str]:
    """One row of named columns: `measure_skin(...).as_row()`, `fwhr_from_labels(...).as_row()`,
    `measure_light(...).as_row()` and `colour.as_row()`.

    image: `(H, W, 3) uint8` sRGB photo; labels: `(H, W) uint8` fasseg6 face map of that photo, or
    its `FaceMap` (`predict.face_map`: the same row, without building the whole photo's map);
    confidence: `(H, W) float` max-softmax per pixel, or None (see `measure_skin`). colour: how the
    photo's colours are read (default: as taken, sRGB). Segmentation and geometry never change with it.
    """
    face = as_face_map(np.asarray(image), labels, confidence)
    framed = face_frame(face, eye_line_angle, params)  # one frame for both measures
    correction = colour.fit.correction if colour.fit is not None else None
    light = measure_light(image, face, params, correction.to_linear if correction is not None else None)
    flags = list(colour.flags)
    if colour.sclera:
        if "no_sclera" in light.flags:
            flags.append("no_white_balance")
        else:
            correction = white_balance(np.asarray(light.sclera_linear))
    row = measure_skin(image, face, None, eye_line_angle, params, framed=framed, correction=correction,
                       correction_name=colour.name).as_row()
    row.update(fwhr_from_labels(face, eye_line_angle, params, framed=framed).as_row())
    row.update(light.as_row())
    row.update(colour.as_row(flags))
    return row
