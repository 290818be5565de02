"""The face frame: a `fasseg6` face map rotated so that the line between the eyes is horizontal,
with the map's parts (eyes, nose, mouth) as blobs and the face's outline read row by row.

Shared by the skin patches (`skin`) and the fWHR (`fwhr`), which both measure in this frame and map
their results back to the original photo with `Frame.photo_xy`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from faceparse.facemap import MARGIN, FaceMap
from faceparse.labels import FASSEG6
from faceparse.profile.params import ProfileParams

SKIN, HAIR, EYES, NOSE, MOUTH = (FASSEG6.index(c) for c in ("skin", "hair", "eyes", "nose", "mouth"))
# Classes inside the face outline: a horizontal run across the face crosses eyes and nose.
FACE_CLASSES = (SKIN, EYES, NOSE, MOUTH)
_FACE_BYTE = np.isin(np.arange(256), FACE_CLASSES).astype(np.uint8)  # [label]: 1 for FACE_CLASSES, else 0


@dataclass(frozen=True)
class Blob:
    """One 8-connected component of a class: its bounding box (inclusive), centroid and pixel count."""

    top: int
    bottom: int        # inclusive
    left: int
    right: int         # inclusive
    cx: float
    cy: float
    area: int


@dataclass(frozen=True)
class Frame:
    """The face map in the eye-line frame, with its two eyes and the way back to the photo."""

    labels: np.ndarray          # (H', W') uint8, eye line horizontal
    to_photo: np.ndarray        # (2, 3) affine, frame pixel -> photo pixel
    angle: float
    eyes: tuple[Blob, Blob]     # image-left (subject's right) first
    iod: float

    @property
    def mid(self) -> int:
        """The column halfway between the eye centres: the face's midline."""
        return int(round((self.eyes[0].cx + self.eyes[1].cx) / 2))

    @cached_property
    def nose(self) -> list[Blob]:
        """The nose's blobs, largest first (computed once for the skin patches and the fWHR)."""
        return blobs(self.labels == NOSE)

    @cached_property
    def mouth(self) -> list[Blob]:
        """The mouth's blobs, largest first."""
        return blobs(self.labels == MOUTH)

    @property
    def mouth_above_eyes(self) -> bool:
        """Whether the mouth's top row is not below the eyes' lowest: a map gone wrong (a photo on its
        side), on which no part can be placed by the others."""
        return bool(self.mouth) and self.mouth[0].top <= max(e.bottom for e in self.eyes)

    @cached_property
    def filled(self) -> np.ndarray:
        """`filled_face` of the frame's map."""
        return filled_face(self.labels)

    def photo_xy(self, x: float, y: float) -> tuple[float, float]:
        """A frame pixel (x, y) on the original photo."""
        px, py = self.to_photo @ np.array([x, y, 1.0])
        return float(px), float(py)


def mask_box(mask: np.ndarray, pad: int = 0) -> tuple[slice, slice] | None:
    """The rows and columns of the smallest box holding every pixel of a `(H, W) bool` mask, widened
    by `pad` pixels on each side within the mask's bounds; None for an empty mask."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not rows.size:
        return None
    return (slice(max(rows[0] - pad, 0), rows[-1] + pad + 1), slice(max(cols[0] - pad, 0), cols[-1] + pad + 1))


def blobs(mask: np.ndarray) -> list[Blob]:
    """8-connected components of a `(H, W) bool` mask, largest first.

    Labelled on the mask's box (an eye is a few hundred pixels of a frame of half a million), which
    finds the same components in the same order: OpenCV labels 2x2 blocks of pixels in raster order
    (blobs of equal area keep that order), so the box starts on an even row and column, on the
    whole mask's grid of blocks. The centroids are OpenCV's on the whole mask to the last bit: it
    divides each component's sum of columns (rows) by its area, so the box's sum is recovered (an
    integer) and the box's offset added to it before dividing."""
    box = mask_box(mask)
    if box is None:
        return []
    y0, x0 = int(box[0].start) // 2 * 2, int(box[1].start) // 2 * 2
    _, _, stats, cents = cv2.connectedComponentsWithStats(mask[y0:box[0].stop, x0:box[1].stop].astype(np.uint8),
                                                          connectivity=8)
    out = []
    for s, c in zip(stats[1:], cents[1:]):
        left, top, width, height, area = (int(v) for v in s)
        sum_x, sum_y = round(float(c[0]) * area) + x0 * area, round(float(c[1]) * area) + y0 * area
        out.append(Blob(top=top + y0, bottom=top + height - 1 + y0, left=left + x0, right=left + width - 1 + x0,
                        cx=sum_x / area, cy=sum_y / area, area=area))
    return sorted(out, key=lambda b: -b.area)


def _two_eyes(labels: np.ndarray, min_ratio: float) -> tuple[tuple[Blob, Blob] | None, list[str]]:
    # The eyes class is one label for both eyes: its two largest blobs are the eyes, ordered by x.
    found = blobs(labels == EYES)
    if not found:
        return None, ["no_eyes"]
    if len(found) < 2 or found[1].area < min_ratio * found[0].area:
        return None, ["one_eye"]
    a, b = sorted(found[:2], key=lambda e: e.cx)
    return (a, b), []


def face_frame(face: FaceMap | np.ndarray, eye_line_angle: float | None,
               params: ProfileParams) -> tuple[Frame | None, list[str]]:
    """The face map rotated so that the eye line is horizontal, with its two eyes; None and a flag
    when it has no two eyes.

    face: a `FaceMap`, or a whole-photo `(H, W) uint8` fasseg6 map (taken to its `FaceMap`). The
    rotation is the one about the photo's centre onto a canvas grown to keep every pixel of the
    photo; the frame holds the part of that canvas around the face's window (`MARGIN` pixels more,
    its corner on even canvas coordinates), so it is the same whether the map came whole or as a
    window. eye_line_angle: degrees of the line from the image-left to the image-right eye (y
    down); None takes it from the two eye blobs.
    """
    if not isinstance(face, FaceMap):
        face = FaceMap.from_photo(face)
    labels = face.labels
    eyes, flags = _two_eyes(labels, params.min_eye_area_ratio)
    if eyes is None:
        return None, flags
    angle = eye_line_angle
    if angle is None:
        angle = math.degrees(math.atan2(eyes[1].cy - eyes[0].cy, eyes[1].cx - eyes[0].cx))
    if abs(angle) < 1e-9:
        frame_labels = labels
        to_photo = np.array([[1.0, 0.0, float(face.x0)], [0.0, 1.0, float(face.y0)]])
    else:
        h, w = face.photo_shape
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        photo_corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], dtype=np.float64) @ m.T
        m[:, 2] -= photo_corners.min(axis=0)  # the canvas holding every pixel of the photo
        wh, ww = labels.shape
        x0, y0 = face.x0, face.y0
        corners = np.array([[x0, y0, 1], [x0 + ww, y0, 1], [x0, y0 + wh, 1], [x0 + ww, y0 + wh, 1]],
                           dtype=np.float64) @ m.T
        lo = (np.floor(corners.min(axis=0)).astype(int) - MARGIN) // 2 * 2
        hi = np.ceil(corners.max(axis=0)).astype(int) + MARGIN
        m_window = m.copy()
        m_window[:, 2] += m[:, :2] @ (x0, y0) - lo  # window pixel -> its canvas pixel, counted from `lo`
        size = hi - lo
        frame_labels = cv2.warpAffine(labels, m_window, (int(size[0]), int(size[1])), flags=cv2.INTER_NEAREST,
                                      borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        to_photo = cv2.invertAffineTransform(m)
        to_photo[:, 2] += to_photo[:, :2] @ lo
        eyes, flags = _two_eyes(frame_labels, params.min_eye_area_ratio)
        if eyes is None:
            return None, flags
    iod = math.hypot(eyes[1].cx - eyes[0].cx, eyes[1].cy - eyes[0].cy)
    return Frame(frame_labels, to_photo, float(angle), eyes, iod), []


def filled_face(labels: np.ndarray) -> np.ndarray:
    """`(H, W) bool` face pixels (skin, eyes, nose, mouth) with enclosed holes filled.

    Eyebrows are hair in fasseg6 and split a row's run at brow height; filling every non-face region
    that does not reach the map's border makes brows, moles or glasses part of the face again.
    Those that reach it are found by one flood fill (4-connected) of the non-face pixels from a ring
    of non-face laid around the map, which every such region touches (a tenth of the time of
    labelling every region).
    """
    h, w = labels.shape
    canvas = np.zeros((h + 2, w + 2), np.uint8)  # 0: not face, the ring included
    canvas[1:-1, 1:-1] = cv2.LUT(np.ascontiguousarray(labels, dtype=np.uint8), _FACE_BYTE)  # 1: face
    cv2.floodFill(canvas, None, (0, 0), 2, flags=4)  # 2: not face, reaching the border
    return canvas[1:-1, 1:-1] != 2


def run_edges(face: np.ndarray, rows: np.ndarray, col: int) -> tuple[np.ndarray, np.ndarray]:
    """Left and right end columns `(R,) float64` of the run of True containing `col` on each of
    `rows` of a `(H, W) bool` mask (NaN where `col` is False on that row)."""
    band = face[rows]
    w = band.shape[1]
    left_part = ~band[:, : col + 1][:, ::-1]
    right_part = ~band[:, col:]
    to_left = np.where(left_part.any(axis=1), left_part.argmax(axis=1), col + 1)
    to_right = np.where(right_part.any(axis=1), right_part.argmax(axis=1), w - col)
    inside = band[:, col]
    left = np.where(inside, col - to_left + 1, np.nan)
    right = np.where(inside, col + to_right - 1, np.nan)
    return left.astype(np.float64), right.astype(np.float64)
