"""One face's row of the profile CSV: the measures a run takes (`measures`: skin colour, fWHR, facial
contrast, feature colour, skin evenness, head pose), the light the face was photographed in
(`light`) and the colour correction its colours were read through (`correct`)."""

from __future__ import annotations

import math

import numpy as np

from faceparse.facemap import BACKGROUND, FaceMap
from faceparse.profile import measures
from faceparse.profile.correct import PhotoColour, white_balance
from faceparse.profile.frame import NOSE, face_frame
from faceparse.profile.light import LIGHT_COLUMNS, measure_light
from faceparse.profile.params import ProfileParams
from faceparse.profile.skin import as_face_map
from faceparse.profile.view import FaceView

AS_TAKEN = PhotoColour()
NOT_A_FACE = "not_a_face"


def is_not_a_face(face: FaceMap, params: ProfileParams) -> bool:
    """Whether what the detector took for a face is not one the map can measure: the map finds no
    nose, fewer than params.min_feature_pixels and than params.min_nose_share of the window's
    labelled (non-background) pixels. A cat's face (two eyes, no nose), a raccoon's (a nose of 0.35%
    of its labelled pixels), a coffee cup, a galaxy: not measured. Every face of the London, Canada,
    FASSEG (to 90 degrees of yaw) and FaceSynthetics photos holds at least 1.6% nose. This asks more
    than "neither eyes nor nose": a cat's map has eyes. A real face whose nose is hidden (a mask, a
    hand) loses every value with it; without a nose neither cheek patch nor fWHR could be placed, but
    its forehead, brows, eyes and pose could have been read. min_nose_share 0 turns the gate off."""
    if params.min_nose_share == 0:  # the gate turned off: every face found is measured
        return False
    labelled = int(np.count_nonzero(face.labels != BACKGROUND))
    nose = int(np.count_nonzero(face.labels == NOSE))
    return nose < params.min_feature_pixels or nose < params.min_nose_share * labelled


def profile_face(image: np.ndarray, labels: np.ndarray | FaceMap, confidence: np.ndarray | None = None,
                 eye_line_angle: float | None = None, params: ProfileParams = ProfileParams(),
                 colour: PhotoColour = AS_TAKEN, points: np.ndarray | None = None) -> dict[str, float | int | str]:
    """One row of named columns: each measure of `params.measures` (`measures.get(name)(view)`), then
    `measure_light(...).as_row()`, `colour_correction`, `colour.as_row()` and `face_flags`.

    image: `(H, W, 3) uint8` sRGB photo; labels: `(H, W) uint8` fasseg6 face map of that photo, or
    its `FaceMap` (`predict.face_map`: the same row, without building the whole photo's map);
    confidence: `(H, W) float` max-softmax per pixel, or None (see `measure_skin`). colour: how the
    photo's colours are read (default: as taken, sRGB). Segmentation and geometry never change with it.
    points: the detector's five points `(5, 2)` (`geometry.POINT_NAMES`), for the head pose; None
    reads the pose off the map. A map with no nose to speak of (`is_not_a_face`) leaves every
    measure's and the light's columns empty, `face_flags` "not_a_face".
    """
    face = as_face_map(np.asarray(image), labels, confidence)
    chosen = measures.selected(params.measures)
    if is_not_a_face(face, params):
        row: dict[str, float | int | str] = {}
        for m in chosen:
            row.update(dict.fromkeys(m.columns[:-1], math.nan))
            row[m.columns[-1]] = ""
        row.update(dict.fromkeys(LIGHT_COLUMNS, math.nan))
        row["light_flags"] = ""
        row["colour_correction"] = colour.name
        row.update(colour.as_row())
        row["face_flags"] = NOT_A_FACE
        return row
    frame, frame_flags = face_frame(face, eye_line_angle, params)  # one frame for every measure
    correction = colour.fit.correction if colour.fit is not None else None
    light = measure_light(image, face, params, correction.to_linear if correction is not None else None)
    flags = list(colour.flags)
    if colour.sclera:
        if "no_sclera" in light.flags:
            flags.append("no_white_balance")
        else:
            correction = white_balance(np.asarray(light.sclera_linear))
    view = FaceView(np.asarray(image), face, frame, params, correction,
                    None if points is None else np.asarray(points, dtype=np.float64), tuple(frame_flags),
                    colour.name)
    row = {}
    for m in chosen:
        row.update(m(view))
    row.update(light.as_row())
    row["colour_correction"] = colour.name
    row.update(colour.as_row(flags))
    row["face_flags"] = ""
    return row
