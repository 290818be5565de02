"""The light a face was photographed in, read from the face itself: the sclera's colour (the
brightest tenth of the eye region's unclipped pixels, which should be near-white) and the share of
the face's skin the camera clipped. Rows say when light, not skin, decides a colour: `underexposed`,
`overexposed`, `colour_cast`.

The sclera is not white: it yellows with age and reddens with irritation, and it is small (a few
hundred pixels on a webcam face), so its colour says how strong a cast is, not the light's exact
colour. It is read on the photo as the measures read it (after a chart correction, when there is one).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from faceparse.facemap import FaceMap
from faceparse.profile.colour import linear_to_lab, srgb_to_linear
from faceparse.profile.frame import EYES, SKIN, mask_box
from faceparse.profile.params import ProfileParams
from faceparse.profile.view import unclipped

# The brightest tenth of the eye region: on the London templates' eye outlines it reads a blue or warm
# cast more strongly than the brightest quarter, or the least coloured part of it, which leans
# towards whatever pixels the cast moved least.
SCLERA_TOP = 0.1


LIGHT_COLUMNS = ("sclera_L", "sclera_a", "sclera_b", "sclera_n", "skin_clipped_high_share")


@dataclass(frozen=True)
class Light:
    """What a face's light looks like: its sclera and its skin's clipping."""

    sclera_linear: tuple[float, float, float]   # mean linear sRGB of the sclera pixels (NaN: none)
    sclera_lab: tuple[float, float, float]
    sclera_n: int
    skin_clipped_share: float                   # share of the face's skin with a channel >= clip_high
    flags: tuple[str, ...]

    def as_row(self) -> dict[str, float | int | str]:
        L, a, b = self.sclera_lab
        return {"sclera_L": L, "sclera_a": a, "sclera_b": b, "sclera_n": self.sclera_n,
                "skin_clipped_high_share": self.skin_clipped_share, "light_flags": ";".join(self.flags)}


def sclera_mask(image: np.ndarray, face: FaceMap, params: ProfileParams,
                to_linear: Callable[[np.ndarray], np.ndarray] = srgb_to_linear) -> tuple[np.ndarray, np.ndarray]:
    """The pixels read as sclera: `(h, w) bool` over the face's window (the brightest `SCLERA_TOP`, by
    L*, of the eye region's unclipped pixels) and their `(n, 3)` linear sRGB through `to_linear`."""
    window = np.asarray(image)[face.photo_slices()]
    eye = face.labels == EYES
    mask = np.zeros(face.labels.shape, bool)
    box = mask_box(eye)  # the eyes' pixels in row order, read on their box
    if box is None:
        return mask, np.empty((0, 3))
    eye = eye[box]
    pix = window[box][eye]
    ok = unclipped(pix, params)
    if not ok.any():
        return mask, np.empty((0, 3))
    lin = to_linear(pix[ok])
    lightness = linear_to_lab(lin)[:, 0]
    bright = lightness >= np.quantile(lightness, 1 - SCLERA_TOP)
    chosen = np.zeros(len(pix), bool)
    chosen[np.flatnonzero(ok)] = bright
    mask[box][eye] = chosen
    return mask, lin[bright]


def measure_light(image: np.ndarray, face: FaceMap, params: ProfileParams,
                  to_linear: Callable[[np.ndarray], np.ndarray] | None = None) -> Light:
    """The light of one face: `image` `(H, W, 3) uint8` sRGB photo, `face` its `FaceMap`;
    `to_linear` takes `(N, 3) uint8` pixels to linear sRGB (a chart's correction; default the sRGB
    curve). Flags: `underexposed` (sclera L* below `min_sclera_L`), `overexposed` (a larger share of
    the skin clipped than `max_skin_clipped`), `colour_cast` (sclera chroma above `max_sclera_chroma`),
    `no_sclera` (fewer than `min_sclera_pixels`: eyes closed, too small, or sunglasses)."""
    skin = face.labels == SKIN
    n_skin = int(np.count_nonzero(skin))
    # A pixel is clipped high when its brightest channel is: counted over the window, no skin gathered.
    window = image[face.photo_slices()]
    brightest = np.maximum(np.maximum(window[..., 0], window[..., 1]), window[..., 2])
    clipped_high = int(np.count_nonzero((brightest >= params.clip_high) & skin)) / n_skin if n_skin else math.nan
    _, chosen = sclera_mask(image, face, params, to_linear or srgb_to_linear)
    flags: list[str] = []
    lab = np.full(3, np.nan)
    linear = np.full(3, np.nan)
    n = int(len(chosen))
    if n >= params.min_sclera_pixels:
        linear = chosen.mean(axis=0)
        lab = linear_to_lab(linear)
    if n < params.min_sclera_pixels:
        flags.append("no_sclera")
    elif lab[0] < params.min_sclera_L:
        flags.append("underexposed")
    if clipped_high > params.max_skin_clipped:
        flags.append("overexposed")
    if n >= params.min_sclera_pixels and math.hypot(lab[1], lab[2]) > params.max_sclera_chroma:
        flags.append("colour_cast")
    return Light(sclera_linear=tuple(float(v) for v in linear), sclera_lab=tuple(float(v) for v in lab),
                 sclera_n=n, skin_clipped_share=clipped_high, flags=tuple(flags))

