"""Skin evenness of one face (Matts et al. 2007, J Am Acad Dermatol 57:977: an even skin colour reads
younger and healthier): the spread of per-pixel CIE L*, a*, b* within each cheek patch (squares of
params.evenness_patch_fraction x iod, placed by the skin colour patches' rule, which moves a larger
square further towards the nose, or leaves it out, to keep it patch_margin inside the outline), and
over the face's skin once its slow shading is taken away. Whether the cheeks disagree is the skin
colour's verdict on its own patches.

Both read the skin pixels the colour measures read: predicted skin, clipped pixels left out, in
linear light through the view's correction, then L*a*b* pixel by pixel. A spread is the standard
deviation over the pixels (ddof 0).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from faceparse.profile import skin
from faceparse.profile.measures import Measure
from faceparse.profile.view import FaceView

CHEEKS = ("cheek_left", "cheek_right")  # the subject's sides, as the skin measure's patches
LAB = ("L", "a", "b")
# The face's skin is read on a grid that keeps this many pixels between the eyes (a London face, eyes
# 212 px apart: every 3rd row and column), and its shading blurred on a copy shrunk by whole blocks
# so that the blur's sigma there is at least SHRUNK_SIGMA pixels (that face: sigma 14 px, blocks of
# 4, sigma 3.5; the blocks widen the blur by about 1 %). On the 80 London faces both together move
# the spread by 0.5 % of its value on average (at most 0.08 L*) from reading every pixel and blurring
# at full size, at a twentieth of the time.
SAMPLED_IOD = 64
SHRUNK_SIGMA = 3.0
# Skin nearer than this x iod to the skin's edge (the outline, eyes, brows, nose, mouth, hair) gives
# the shading but is not counted in the spread: there the map's edge is a few pixels off (lashes,
# lip border and stray hairs read as skin), the shading falls off faster than the blur follows (eye
# sockets, the jaw turning away) and a blur normalised to the skin lags a gradient. On London that
# band is a fifth of the face's skin; leaving it out takes the L* spread from 6.8 to 5.7 and the
# test-retest ICC(3,1) (40 people, neutral vs smiling) from 0.98, 0.97, 0.97 to 0.93, 0.97, 0.93
# (L*, a*, b*): part of the agreement was the face's shape, which a smile does not change.
EDGE_MARGIN = 0.05

COLUMNS = (tuple(f"{c}_sd_{ch}" for c in CHEEKS + ("cheeks",) for ch in LAB)
           + tuple(f"skin_residual_sd_{ch}" for ch in LAB) + ("evenness_flags",))


def lab_pixels(view: FaceView, window: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`(N, 3) float64` L*a*b* of the unclipped pixels of `window` (`(h, w, 3) uint8`) under `mask`
    (`(h, w) bool`), and the `(h, w) bool` mask of those pixels."""
    pix = window[mask]
    keep = view.unclipped(pix)
    used = mask.copy()
    used[mask] = keep
    kept = pix[keep]
    return np.stack(view.lab_channels(kept[:, 0], kept[:, 1], kept[:, 2]), axis=1), used


def patch_spread(view: FaceView, square: tuple[float, float, int]) -> tuple[np.ndarray, int]:
    """`(3,)` standard deviation of L*, a*, b* over the unclipped skin pixels of a square (centre x,
    y and side on the photo, as `skin.patch_squares` gives it), and how many pixels it is over."""
    (ys, xs), skin = view.square_skin(*square)
    lab, _ = lab_pixels(view, view.image[ys, xs], skin)
    return (lab.std(axis=0) if len(lab) else np.full(3, np.nan)), len(lab)


def shading(values: np.ndarray, mask: np.ndarray, sigma: float) -> np.ndarray:
    """The slow part of values over a `(h, w) bool` mask, at the mask's pixels: `values` `(N, C)`
    (C <= 3) are those pixels' values in row order. A Gaussian blur of `sigma` pixels normalised to
    the mask, blur(values x mask) / blur(mask), so that what lies off the mask does not bleed in;
    `(N, C) float32`, NaN where no mask pixel is near. Blurred on a copy shrunk by whole blocks
    (`SHRUNK_SIGMA`: each block's mean) and brought back bilinearly."""
    (h, w), c = mask.shape, values.shape[1]
    block = max(int(sigma // SHRUNK_SIGMA), 1)
    hs, ws = -(-h // block), -(-w // block)
    stack = np.zeros((hs * block, ws * block, c + 1), np.float32)
    stack[:h, :w, :c][mask] = values
    stack[:h, :w, c] = mask
    small = cv2.resize(stack, (ws, hs), interpolation=cv2.INTER_AREA) if block > 1 else stack
    small = cv2.GaussianBlur(small, (0, 0), sigma / block, borderType=cv2.BORDER_CONSTANT)
    if block > 1:
        small = cv2.resize(small, (ws * block, hs * block), interpolation=cv2.INTER_LINEAR)
    at = small[:h, :w][mask]  # divided only where it is read
    weight = at[:, c:]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weight > 1e-6, at[:, :c] / weight, np.nan).astype(np.float32)


def residual_spread(view: FaceView) -> tuple[np.ndarray, int]:
    """`(3,)` standard deviation of L*, a*, b* minus their shading (`shading`, sigma
    params.evenness_blur x iod) over the face's unclipped skin (`view.face_skin`) at least
    `EDGE_MARGIN` x iod inside its edge, and how many pixels of the photo that covers. Read on every
    `stride`-th row and column (`SAMPLED_IOD`): a sample of the pixels, not an average of them, so
    the spread keeps its expected value."""
    iod = view.frame.iod
    step = stride(iod)
    window = view.window[::step, ::step]
    lab, used = lab_pixels(view, window, view.face_skin[::step, ::step])
    if not len(lab):
        return np.full(3, np.nan), 0
    residual = lab - shading(lab, used, view.params.evenness_blur * iod / step)
    # Each pixel's distance to the nearest one off the face's skin (the window's border counts as
    # off), on the whole window: on the sampled grid it would be a step coarse.
    edge = cv2.distanceTransform(np.pad(view.face_skin, 1).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_3)
    inner = edge[1:-1:step, 1:-1:step][used] > EDGE_MARGIN * iod
    if not inner.any():
        return np.full(3, np.nan), 0
    return residual[inner].std(axis=0), int(np.count_nonzero(inner)) * step * step


def stride(iod: float) -> int:
    """The step between the rows (and columns) the face's skin is read on: the eyes stay at least
    `SAMPLED_IOD` sampled pixels apart."""
    return max(int(iod // SAMPLED_IOD), 1)


def _take(view: FaceView) -> tuple[dict, list[str]]:
    p = view.params
    row: dict[str, float] = {}
    squares, placing = skin.patch_squares(view, p.evenness_patch_fraction)
    flags = [f for f in placing if not f.startswith("forehead")]  # the forehead patch is not read here
    for name in CHEEKS:
        if squares.get(name) is None:
            flags.append(f"{name}_missing")
            continue
        sd, n = patch_spread(view, squares[name])
        if n < p.min_patch_pixels:
            flags.append(f"{name}_small")
            continue
        row.update({f"{name}_sd_{ch}": float(v) for ch, v in zip(LAB, sd)})
    # Both cheeks or none (one cheek alone would be another measure), and not two that the skin
    # measure finds too far apart in colour to pool (a far cheek in shadow, a patch off the face).
    disagree = "cheeks_disagree" in skin.skin_of(view).flags
    flags += ["cheeks_disagree"] * disagree
    for ch in LAB:
        row[f"cheeks_sd_{ch}"] = (row[f"cheek_left_sd_{ch}"] + row[f"cheek_right_sd_{ch}"]) / 2 \
            if all(f"{c}_sd_{ch}" in row for c in CHEEKS) and not disagree else math.nan
    if view.frame is None:
        flags += list(view.frame_flags)
    else:
        sd, n = residual_spread(view)
        if n < p.min_face_skin * view.frame.iod ** 2:
            flags.append("no_skin")
        else:
            row.update({f"skin_residual_sd_{ch}": float(v) for ch, v in zip(LAB, sd)})
    if view.greyscale:  # a* and b* of a grey photo are JPEG noise about 0
        flags.append("greyscale")
        row.update({c: math.nan for c in COLUMNS if c.endswith(("_sd_a", "_sd_b"))})
    return row, flags


MEASURE = Measure(
    "evenness", "skin evenness (Matts et al. 2007): standard deviation of per-pixel CIE L*a*b* over the skin of each "
    "cheek patch (evenness_patch_fraction x iod a side; and their mean), and over the face's skin (0.05 x iod "
    "inside its edge) after a Gaussian blur of evenness_blur x iod, normalised to the skin, is subtracted",
    COLUMNS,
    {"no_eyes": "the map has no eyes: no patch, no face skin", "one_eye": "the map has one eye",
     "no_nose": "no nose: no cheek patch", "no_mouth": "no mouth: no cheek patch",
     "mouth_above_eyes": "the mouth is not below the eyes: no cheek patch",
     "<patch>_missing": "the cheek patch could not be placed",
     "<patch>_at_edge": "the cheek patch cannot keep patch_margin x iod inside the face's outline: not placed",
     "<patch>_small": "fewer unclipped skin pixels in the cheek patch than min_patch_pixels",
     "cheeks_disagree": "the cheeks' colours differ by more than max_cheek_dE (skin): cheeks_sd_* left empty",
     "no_skin": "fewer unclipped face skin pixels (EDGE_MARGIN x iod inside the skin's edge) than min_face_skin x "
     "iod^2: no skin_residual_sd_*",
     "greyscale": "the photo holds no colour: L* only"},
    _take)
