"""fWHR from hand-placed landmarks: WebMorph `.tem` files and the FRL 189-point template they use
(the London set's templates), the reference the map-based fWHR (`fwhr`) is validated against."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from faceparse.errors import FaceparseConfigError, FaceparseDataError
from faceparse.profile.fwhr import FwhrMeasurement

# FRL 189-point template (DeBruine & Jones; point names from webmorphR's FRL definition, checked
# by drawing the indices on London photos). The template's "left" is the IMAGE's left.
# - Zygia: 185 / 187, "upper-middle of where the ear meets the face": on the face outline in front
#   of the ear, a quarter of an inter-ocular distance below the pupils, i.e. inside the rows the
#   map-based width searches (eye line to nose bottom). On the 40 London faces they are, with
#   109 / 112 (higher, at the eye line), the widest outline pair (2.23 inter-ocular distances).
# - Brow: 84 / 85, "bottom of eyebrow above pupil": the brow's lower edge over the eye's centre,
#   the landmark twin of the map's lowest hair pixel above the eye's central half.
# - Eyelid: the highest of 19-21 / 24-26 (top of the eye opening), the map's top of the eyes.
# - Upper lip: the highest of 88-92 (top outline of the upper lip, usually a Cupid's-bow peak
#   89 or 91), the map's top row of the mouth. 0 / 1 (pupils) define the eye line.
FRL_PUPILS = (0, 1)
FRL_ZYGIA = (185, 187)
FRL_BROW = (84, 85)
FRL_EYELIDS = ((19, 20, 21), (24, 25, 26))
FRL_UPPER_LIP = (88, 89, 90, 91, 92)


def read_tem(path: Path | str) -> np.ndarray:
    """Points of a WebMorph `.tem` file as `(N, 2) float64` (x, y) photo pixels.

    Format: the point count N, then N lines "x<TAB>y", then contour definitions (ignored here).
    """
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as err:
        raise FaceparseDataError(path, f"cannot read template ({err})") from None
    try:
        n = int(lines[0].strip())
        pts = np.array([[float(v) for v in line.split()] for line in lines[1: 1 + n]], dtype=np.float64)
    except (IndexError, ValueError) as err:
        raise FaceparseDataError(path, f"expected a point count then 'x<TAB>y' lines ({err})") from None
    if pts.shape != (n, 2):
        raise FaceparseDataError(path, f"expected {n} points of 2 coordinates, found shape {pts.shape}")
    return pts


def fwhr_from_landmarks(points: np.ndarray, brow: str = "brow") -> FwhrMeasurement:
    """fWHR from FRL 189-point template points `(189, 2)` (x, y), measured in the pupil-line frame:
    width = horizontal distance between the zygia, height = vertical distance from the brow (mean
    of both brows' lower edges) or eyelid (mean of both eyes' tops) down to the top of the upper lip."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.shape != (189, 2):
        raise ValueError(f"expected FRL template points (189, 2), found {pts.shape}")
    if brow not in ("brow", "eyelid"):
        raise FaceparseConfigError(f"brow must be 'brow' or 'eyelid', found {brow!r}")
    dx, dy = pts[FRL_PUPILS[1]] - pts[FRL_PUPILS[0]]
    t = math.atan2(dy, dx)
    rot = np.array([[math.cos(t), math.sin(t)], [-math.sin(t), math.cos(t)]])  # photo -> eye-line frame
    q = pts @ rot.T
    width = abs(q[FRL_ZYGIA[1], 0] - q[FRL_ZYGIA[0], 0])
    if brow == "brow":
        upper = q[list(FRL_BROW), 1].mean()
    else:
        upper = np.mean([q[list(side), 1].min() for side in FRL_EYELIDS])
    height = q[list(FRL_UPPER_LIP), 1].min() - upper
    ends = tuple((float(x), float(y)) for x, y in pts[list(FRL_ZYGIA)])
    return FwhrMeasurement(fwhr=width / height, width_px=float(width), height_px=float(height),
                           brow=brow, width_ends=ends)
