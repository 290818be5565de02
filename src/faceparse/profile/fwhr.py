"""Facial width-to-height ratio (fWHR) read off a `fasseg6` face map: bizygomatic width at the notch
where the ear meets the face, over upper-face height from brow (or eyelid) to upper lip.

All lengths are in original-photo pixels. The landmark twin, from hand-placed templates, is
`faceparse.profile.landmarks`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from faceparse.facemap import FaceMap
from faceparse.profile.frame import HAIR, Blob, Frame, face_frame, run_edges
from faceparse.profile.params import ProfileParams
from faceparse.profile.measures import Measure
from faceparse.profile.view import FaceView


@dataclass(frozen=True)
class FwhrMeasurement:
    """Facial width-to-height ratio: bizygomatic width / upper-face height, both in photo pixels."""

    fwhr: float = math.nan
    width_px: float = math.nan
    height_px: float = math.nan
    brow: str = "brow"
    # The width's two end points, (x, y) in original-photo pixels, for overlays.
    width_ends: tuple[tuple[float, float], tuple[float, float]] = ((math.nan, math.nan), (math.nan, math.nan))
    flags: tuple[str, ...] = ()
    # The height's upper and lower end, (x, y) in original-photo pixels: on the face's midline, at the
    # brow (or eyelid) row and the upper lip's row of the eye-line frame; their distance is height_px.
    height_ends: tuple[tuple[float, float], tuple[float, float]] = ((math.nan, math.nan), (math.nan, math.nan))
    # Where the width was read (`fwhr_width_method`): "ear_notch" (both sides at the notch above the
    # ear), "outline_median" (both at the outline's median), "ear_notch_right" / "ear_notch_left"
    # (that side at its notch, the other at the median); "" when there is no width.
    width_method: str = ""

    def as_row(self) -> dict[str, float | str]:
        (x0, y0), (x1, y1) = self.width_ends
        (tx, ty), (bx, by) = self.height_ends
        return {"fwhr": self.fwhr, "fwhr_width_px": self.width_px, "fwhr_height_px": self.height_px,
                "fwhr_brow": self.brow, "fwhr_x0": x0, "fwhr_y0": y0, "fwhr_x1": x1, "fwhr_y1": y1,
                "fwhr_top_x": tx, "fwhr_top_y": ty, "fwhr_bottom_x": bx, "fwhr_bottom_y": by,
                "fwhr_width_method": self.width_method, "fwhr_flags": ";".join(self.flags)}


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of each run of True in a 1-D bool array."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1))


def _half_width(d: np.ndarray, rows: np.ndarray, search: np.ndarray, iod: float,
                params: ProfileParams) -> tuple[float, int, bool]:
    """One side's half-width of the face, the index (into `rows`) of the row it is read on, and
    whether that row is the notch above an ear.

    d: `(R,) float` distance of the face's edge from the midline on each of `rows`, top to bottom
    (NaN: the midline is not face on that row); search: `(R,) bool` the rows from the eye line down
    to the nose's bottom. fasseg6 paints ears as skin, so an ear joined to the cheek widens the rows
    it spans: at the ear's top the outline jumps outward by more than params.ear_jump x iod within
    0.03 x iod rows, while the face's own outline drifts by well under a pixel per row. The zygion
    (FRL: "upper-middle of where the ear meets the face") lies at the notch just above that jump, so
    the half-width is the outline on the row before the lowest such jump that starts at or above
    the nose's bottom from at least params.ear_min_notch x iod out (a jump from nearer the midline
    is the lower edge of hair over a temple). With no ear found (hair over it, or ear_jump None) it
    is the median of the outline over the search rows: hair strands over a cheek make single rows
    too narrow or too wide, and the median is the face's edge on most of them.
    """
    valid = np.flatnonzero(~np.isnan(d))
    step = max(int(round(0.03 * iod)), 1)
    if params.ear_jump is not None and len(valid) > step:
        dv = d[valid]
        change = dv[step:] - dv[:-step]  # change[i]: from valid row i to valid row i + step
        notches = [valid[a0] for a0, _ in _runs(change > params.ear_jump * iod)
                   if search[valid[a0]:].any() and dv[a0] >= params.ear_min_notch * iod]
        if notches:
            return float(d[notches[-1]]), int(notches[-1]), True
    inside = np.flatnonzero(search & ~np.isnan(d))
    if not inside.size:
        return math.nan, -1, False
    order = inside[np.argsort(d[inside], kind="stable")]
    i = int(order[(len(order) - 1) // 2])  # the lower median: a row that exists
    return float(np.median(d[inside])), i, False


def _brow_row(frame: Frame, eye: Blob) -> float | None:
    """Lowest hair pixel above the eye's central half (its eyebrow's lower edge), median over columns."""
    w = eye.right - eye.left + 1
    c0, c1 = int(eye.cx - w / 4), int(eye.cx + w / 4) + 1
    r0 = max(eye.top - int(round(0.5 * frame.iod)), 0)
    hair = frame.labels[r0: eye.top, c0:c1] == HAIR
    has = hair.any(axis=0)
    if not has.any():
        return None
    lowest = hair.shape[0] - 1 - hair[::-1].argmax(axis=0)
    return float(r0 + np.median(lowest[has]))


def fwhr_from_labels(labels: np.ndarray | FaceMap, eye_line_angle: float | None = None,
                     params: ProfileParams = ProfileParams(),
                     framed: tuple[Frame | None, list[str]] | None = None) -> FwhrMeasurement:
    """fWHR from a `(H, W) uint8` fasseg6 face map (or its `FaceMap`), in the original photo's pixels;
    framed: `face_frame`'s result when already computed.

    Width: the sum of the two half-widths of `_half_width`, each the distance from the midline between
    the eyes to the edge of the run of face pixels (skin, eyes, nose, mouth) crossing it, in the
    eye-line frame (the map is rotated by eye_line_angle, or by the angle between the eye blobs when
    None): on the notch above the ear where one is found, else the median over the rows from the eye
    line down to the nose's bottom. Width is the distance between the two edge pixels' centres.
    Height: from params.brow = "brow", the eyebrows' lower edge (lowest hair pixel above the central
    half of each eye, fasseg6 paints brows as hair), or "eyelid", the top of the eyes, averaged over
    the two eyes, down to the upper lip (the mouth's top row). Missing parts give NaN and a flag.
    """
    frame, flags = framed if framed is not None else face_frame(
        labels if isinstance(labels, FaceMap) else np.asarray(labels), eye_line_angle, params)
    flags = list(flags)
    if frame is None:
        return FwhrMeasurement(brow=params.brow, flags=tuple(flags))
    nose, mouth = frame.nose, frame.mouth
    flags += ["no_nose"] * (not nose) + ["no_mouth"] * (not mouth)
    if not nose:
        return FwhrMeasurement(brow=params.brow, flags=tuple(flags))
    eye_row = int(round((frame.eyes[0].cy + frame.eyes[1].cy) / 2))
    nose_bottom = nose[0].bottom
    if nose_bottom <= eye_row:
        return FwhrMeasurement(brow=params.brow, flags=tuple(flags + ["nose_above_eyes"]))
    # Ears are found by their edges, so the rows looked at reach from the brows (above an ear's top)
    # to below the mouth (below its lobe), beyond the rows the width is searched in.
    top = max(min(e.top for e in frame.eyes) - int(round(0.25 * frame.iod)), 0)
    low = mouth[0].bottom if mouth else nose_bottom
    bottom = min(low + int(round(0.25 * frame.iod)), frame.labels.shape[0] - 1)
    rows = np.arange(top, bottom + 1)
    mid = frame.mid
    left, right = run_edges(frame.filled, rows, mid)
    search = (rows >= eye_row) & (rows <= nose_bottom)
    sides, notched = [], []
    for side, d in (("right", mid - left), ("left", right - mid)):  # the image's left is the subject's right
        half, i, ear = _half_width(d, rows, search, frame.iod, params)
        notched += [side] * ear
        sides.append((half, i))
    (d_left, i_left), (d_right, i_right) = sides
    if math.isnan(d_left) or math.isnan(d_right):
        return FwhrMeasurement(brow=params.brow, flags=tuple(flags + ["no_face_run"]))
    width = d_left + d_right
    method = {0: "outline_median", 1: f"ear_notch_{notched[0]}" if notched else "", 2: "ear_notch"}[len(notched)]
    ends = (frame.photo_xy(mid - d_left, rows[i_left]), frame.photo_xy(mid + d_right, rows[i_right]))
    if not mouth:
        return FwhrMeasurement(width_px=width, brow=params.brow, width_ends=ends, flags=tuple(flags),
                               width_method=method)
    if params.brow == "eyelid":
        upper = [float(e.top) for e in frame.eyes]
    else:
        found = [_brow_row(frame, e) for e in frame.eyes]
        flags += [f"no_brow_{s}" for s, b in zip(("right", "left"), found) if b is None]
        upper = [b for b in found if b is not None]
    if not upper:
        return FwhrMeasurement(width_px=width, brow=params.brow, width_ends=ends, flags=tuple(flags),
                               width_method=method)
    top = float(np.mean(upper))
    height = mouth[0].top - top
    if height <= 0:
        return FwhrMeasurement(width_px=width, brow=params.brow, width_ends=ends,
                               flags=tuple(flags + ["mouth_above_brow"]), width_method=method)
    low, high = params.fwhr_range
    if not low <= width / height <= high:  # a map gone wrong (a face on its side, a part missed), not a face's shape
        return FwhrMeasurement(brow=params.brow, flags=tuple(flags + ["fwhr_out_of_range"]), width_method=method)
    # The frame is the photo rotated, so the two ends on the midline lie `height` apart on the photo too.
    height_ends = (frame.photo_xy(mid, top), frame.photo_xy(mid, mouth[0].top))
    return FwhrMeasurement(fwhr=width / height, width_px=width, height_px=height, brow=params.brow,
                           width_ends=ends, flags=tuple(flags), height_ends=height_ends, width_method=method)


def _take(view: FaceView) -> tuple[dict, list[str]]:
    row = fwhr_from_labels(view.face, None, view.params, framed=(view.frame, list(view.frame_flags))).as_row()
    flags = [f for f in str(row.pop("fwhr_flags")).split(";") if f]
    # A map of a grey photo is drawn by a model that learned faces in colour: its outline moves (a
    # London face: fWHR 1.57 grey, 1.62 in colour). The value is kept, flagged.
    return row, flags + ["greyscale"] * view.greyscale


MEASURE = Measure(
    "fwhr", "facial width-to-height ratio: bizygomatic width (at the notch above the ears) over the height from "
    "the brows' lower edge to the upper lip (Carre & McCormick 2008; Lefevre et al. 2013)",
    tuple(FwhrMeasurement().as_row()),
    {"no_eyes": "the map has no eyes", "one_eye": "the map has one eye", "no_nose": "no nose: no width",
     "no_mouth": "no mouth: no height", "nose_above_eyes": "the nose is not below the eyes: the map is wrong",
     "no_face_run": "the midline row does not cross the face", "no_brow_<side>": "no brow hair above that eye",
     "mouth_above_brow": "the mouth is not below the brows",
     "greyscale": "the photo holds no colour: the map, and so fWHR, is less sure (kept)",
     "fwhr_out_of_range": "fWHR outside fwhr_range: the map's geometry is wrong (a photo on its side, a part "
     "missed); fWHR, width and height left empty"},
    _take)
