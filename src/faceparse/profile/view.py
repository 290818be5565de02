"""What every measure reads of one face (`FaceView`): the photo, its face map, the eye-line frame,
the colour correction, the detector's five points, and the regions several measures share (the
face's skin without the neck, each eyebrow), computed once.

Regions are drawn in the eye-line frame (`faceparse.profile.frame`), where "above the eye" and
"below the mouth" are rows, and read on the photo as taken: `window_mask` carries a frame mask back
to the face's window, `pixels` gives the photo's pixels under a window mask. Colours are read in
linear light through the correction (`linear`), clipped pixels left out (`unclipped`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from functools import cached_property

import cv2
import numpy as np

from faceparse.facemap import FaceMap
from faceparse.profile.colour import (XYZ_OF_BYTE, bytes_to_xyz, is_greyscale, linear_to_xyz, mean_lab, srgb_to_linear,
                                      xyz_to_lab_channels)
from faceparse.profile.correct import Correction
from faceparse.profile.frame import HAIR, SKIN, Blob, Frame, mask_box
from faceparse.profile.params import ProfileParams

@functools.cache
def unclipped_bytes(low: int, high: int) -> np.ndarray:
    """`(256,) bool`, read-only: which 8-bit values lie inside (low, high), clipped at neither end."""
    values = np.arange(256)
    table = (values > low) & (values < high)
    table.setflags(write=False)
    return table


def unclipped(pix: np.ndarray, params: ProfileParams) -> np.ndarray:
    """`(N,) bool`: which `(N, 3) uint8` pixels have every channel inside (clip_low, clip_high), as
    taken (through byte tables: a reduction over three channels costs more than the test)."""
    ok = unclipped_bytes(params.clip_low, params.clip_high)
    return ok.take(pix[:, 0]) & ok.take(pix[:, 1]) & ok.take(pix[:, 2])


SIDES = ("right", "left")  # the subject's: the image-left eye is the subject's right
# How much of a brow a fringe leaves (x iod): the study model's brows are 0.09 x iod thick on the 80
# London and Canada neutral faces (median of each brow's columns; 0.12 at the 90th percentile), the
# FRL templates' as drawn 0.14 (0.10-0.19).
BROW_THICKNESS = 0.12


@dataclass(eq=False)
class FaceView:
    """One face as the measures see it; regions are computed on first use and kept."""

    image: np.ndarray                  # (H, W, 3) uint8 photo as taken
    face: FaceMap                      # its fasseg6 map over the face's window
    frame: Frame | None                # the eye-line frame; None when the map has no two eyes
    params: ProfileParams = field(default_factory=ProfileParams)
    correction: Correction | None = None   # every colour read goes through it; None: sRGB as taken
    # The detector's five points (right eye, left eye, nose tip, right and left mouth corner, the
    # subject's sides; `geometry.POINT_NAMES`), `(5, 2)` photo pixels; None when not known.
    points: np.ndarray | None = None
    frame_flags: tuple[str, ...] = ()  # why there is no frame (`no_eyes`, `one_eye`)
    correction_name: str = "none"      # the row's colour_correction
    cache: dict = field(default_factory=dict, repr=False)  # results several measures share (`skin.patch_squares`)

    # -- reading colour ---------------------------------------------------------------------------
    @property
    def window(self) -> np.ndarray:
        """`(h, w, 3) uint8` the photo's pixels over the face's window (a view of `image`), which
        window-shaped masks index."""
        return self.image[self.face.photo_slices()]

    def pixels(self, mask: np.ndarray) -> np.ndarray:
        """`(N, 3) uint8` photo pixels under a window-shaped `(h, w) bool` mask, in row order. Read on
        the mask's box: a brow's or an eye's mask is a few hundred pixels of a window of half a
        million, and masking the whole window costs ten times as much."""
        box = mask_box(mask)
        if box is None:
            return np.zeros((0, 3), np.uint8)
        return self.window[box][mask[box]]

    def unclipped(self, pix: np.ndarray) -> np.ndarray:
        """`(N,) bool`: pixels with every channel inside (clip_low, clip_high), as taken."""
        return unclipped(pix, self.params)

    def linear(self, pix: np.ndarray) -> np.ndarray:
        """`(N, 3) uint8` pixels -> `(N, 3) float64` linear light, through the correction if any."""
        return srgb_to_linear(pix) if self.correction is None else self.correction.to_linear(pix)

    def lab_channels(self, r: np.ndarray, g: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """8-bit channels (uint8, one shape) -> L*, a*, b* of each pixel (float64), through the
        correction if any: by the byte tables of `colour.bytes_to_xyz` (no correction, or a matrix
        one), else each pixel through the (polynomial) correction. Channels apart, so a face's
        skin is never stacked into `(N, 3)` arrays."""
        tables = XYZ_OF_BYTE if self.correction is None else self.correction.xyz_tables()
        if tables is None:
            xyz = linear_to_xyz(self.correction.to_linear(np.stack([r, g, b], axis=-1)))
            return xyz_to_lab_channels(xyz[..., 0], xyz[..., 1], xyz[..., 2])
        return xyz_to_lab_channels(*bytes_to_xyz(r, g, b, tables))

    def square_skin(self, x: float, y: float, size: int) -> tuple[tuple[slice, slice], np.ndarray]:
        """The photo rows and columns of the square of side `size` centred on (x, y) that lie in the
        face's window (skin lies there only), and `(h, w) bool` which of those pixels are skin."""
        x0, y0 = int(round(x - size / 2)), int(round(y - size / 2))
        ys, xs = self.face.overlap(x0, y0, x0 + size, y0 + size)
        return (ys, xs), self.face.labels[self.face.local(ys, xs)] == SKIN

    def mean_lab(self, mask: np.ndarray) -> tuple[np.ndarray, int]:
        """L*a*b* of the mean of the unclipped pixels under a window mask (linear-light average,
        `params.averaging`), and how many pixels were averaged."""
        return self.mean_lab_of(self.pixels(mask))

    def mean_lab_of(self, pix: np.ndarray) -> tuple[np.ndarray, int]:
        """`mean_lab` of `(N, 3) uint8` photo pixels as taken: of the unclipped ones, and how many."""
        pix = pix[self.unclipped(pix)]
        return mean_lab(self.linear(pix), self.params.averaging), len(pix)

    @cached_property
    def greyscale(self) -> bool:
        """Whether the photo holds no colour (`colour.is_greyscale`): a* and b* are then not there to read."""
        return is_greyscale(self.image)

    # -- regions ----------------------------------------------------------------------------------
    def window_mask(self, frame_mask: np.ndarray) -> np.ndarray:
        """A `(H', W') bool` mask in the frame -> the `(h, w) bool` mask of the face's window it covers
        (nearest pixel: every window pixel takes the frame pixel it falls on)."""
        return self.window_masks([frame_mask])[0]

    def window_masks(self, frame_masks: list[np.ndarray]) -> list[np.ndarray]:
        """`window_mask` of each of up to eight frame masks (any nonzero value is in the mask), by one
        warp: mask i is bit i of the bytes warped (a nearest-pixel warp moves each byte whole), a
        third of the time of a warp each."""
        if not 1 <= len(frame_masks) <= 8:
            raise ValueError(f"window_masks warps 1 to 8 masks at once, not {len(frame_masks)}")
        packed = np.asarray(frame_masks[0], dtype=bool).astype(np.uint8)
        for bit, mask in enumerate(frame_masks[1:], start=1):
            packed |= np.asarray(mask, dtype=bool).view(np.uint8) << np.uint8(bit)
        to_window = self.frame.to_photo.copy()
        to_window[:, 2] -= (self.face.x0, self.face.y0)
        h, w = self.face.shape
        out = cv2.warpAffine(packed, to_window, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                             borderValue=0)
        if len(frame_masks) == 1:
            return [out.astype(bool)]
        return [(out & np.uint8(1 << bit)) != 0 for bit in range(len(frame_masks))]

    @cached_property
    def chin_row(self) -> float:
        """The frame row taken as the chin's bottom: params.chin_below_mouth x iod below the mouth's
        lowest row (below the eye line by params.chin_below_eyes x iod where no mouth was found).
        The fasseg6 map paints the neck as skin and draws no line between them."""
        f, p = self.frame, self.params
        if f.mouth:
            return f.mouth[0].bottom + p.chin_below_mouth * f.iod
        return (f.eyes[0].cy + f.eyes[1].cy) / 2 + p.chin_below_eyes * f.iod

    @cached_property
    def face_skin_frame(self) -> np.ndarray:
        """`(H', W') bool` skin of the face in the frame: skin pixels of the face's outline
        (`Frame.filled`) above `chin_row` (no neck)."""
        f = self.frame
        skin = (f.labels == SKIN) & f.filled
        skin[int(math.floor(self.chin_row)) + 1:] = False
        return skin

    @cached_property
    def face_skin(self) -> np.ndarray:
        """`(h, w) bool` the face's skin without the neck, on the face's window (`face_skin_frame`);
        all skin of the window when there is no frame to cut the neck in."""
        if self.frame is None:
            return self.face.labels == SKIN
        return self.window_mask(self.face_skin_frame) & (self.face.labels == SKIN)

    def brow_frame(self, side: int) -> np.ndarray:
        """`(H', W') bool` the eyebrow over eye `side` (0: image-left, the subject's right) in the
        frame. fasseg6 paints brows as hair: the brow is the hair within the eye's columns (widened
        by a quarter of its width each way) between params.brow_reach x iod above the eye's top and
        the eye's top, cut at the hair's first gap going up (hair of the head above a forehead). A
        column whose hair runs on to brow_reach is head hair: joined to the brow (a fringe) it is cut
        to the lowest BROW_THICKNESS x iod, standing apart (the temple's hair) it is no brow."""
        return self._brows[side]

    @cached_property
    def _brows(self) -> tuple[np.ndarray, np.ndarray]:
        return tuple(_brow(self.frame, eye, self.params.brow_reach) for eye in self.frame.eyes)


def _brow(frame: Frame, eye: Blob, reach: float) -> np.ndarray:
    mask = np.zeros(frame.labels.shape, bool)
    w = eye.right - eye.left + 1
    c0, c1 = max(int(eye.left - w / 4), 0), min(int(eye.right + w / 4) + 1, frame.labels.shape[1])
    r0 = max(eye.top - int(round(reach * frame.iod)), 0)
    hair = frame.labels[r0: eye.top, c0:c1] == HAIR
    # Going up from the eye, a column's brow is its first run of hair; hair of the head further up,
    # beyond skin of the forehead, is not brow.
    up = hair[::-1]
    started = np.maximum.accumulate(up, axis=0)
    ended = np.maximum.accumulate(started & ~up, axis=0)
    brow = up & ~ended  # rows counted up from the eye's top
    # A run that reaches the top of the reach was not closed by forehead skin: head hair joins the
    # brow there (a fringe over it, London 003) or stands alone (the temple's hair beside a brow,
    # London 034, 067). Joined, its lower edge lies with the brow's: keep a brow's thickness of it.
    if len(brow) and brow[-1].any():
        is_open = brow[-1]
        thick = max(int(round(BROW_THICKNESS * frame.iod)), 1)
        has = brow.any(axis=0)
        low = brow.argmax(axis=0)  # the run's lower edge, rows above the eye's top
        joined = np.abs(low - np.median(low[has])) <= thick
        brow[:, is_open & ~joined] = False
        brow &= ~(is_open & (np.arange(len(brow))[:, None] >= low + thick))
    mask[r0: eye.top, c0:c1] = brow[::-1]
    return mask
