"""Colour science: 8-bit sRGB -> CIE XYZ -> CIE L*a*b*, the Individual Typology Angle (ITA) and its
skin categories, and the mean colour of a set of pixels.

Standards and constants, written out here rather than taken from a library: scikit-image's
`rgb2lab` uses a 6-digit sRGB matrix and the rounded CIE constants 0.008856 / 7.787, and would move
the study's figures (on the London set's cheek patches, averaged in linear light, by up to 0.002 L*,
0.006 a*, 0.012 b* and 0.03 degrees of ITA; over every 8-bit colour by up to 0.008 L*, 0.022 b*).
Each constant below can be checked against its source:
- sRGB: IEC 61966-2-1:1999, its piecewise transfer curve (linear toe below 0.04045) and its
  linear RGB -> XYZ matrix (ITU-R BT.709 primaries, D65 white).
- L*a*b*: CIE 15:2004 (CIE 1976 L*a*b*) with the exact rationals epsilon = 216/24389 and
  kappa = 24389/27, relative to the CIE D65 white of the 2-degree observer, Y of white = 1.
- ITA: Chardon et al. (1991); categories: Del Bino et al. (2006).
"""

from __future__ import annotations

import numpy as np

from faceparse.errors import FaceparseConfigError

# IEC 61966-2-1 (sRGB), linear RGB -> CIE XYZ, D65 white, Y of white = 1.
SRGB_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805],
                        [0.2126, 0.7152, 0.0722],
                        [0.0193, 0.1192, 0.9505]])
D65_WHITE = np.array([0.95047, 1.0, 1.08883])  # CIE D65, 2-degree observer, Y = 1
# CIE 15:2004 exact rationals (not the rounded 0.008856 / 903.3), so L* is continuous at the joint.
LAB_EPSILON = 216.0 / 24389.0
LAB_KAPPA = 24389.0 / 27.0

ITA_CATEGORIES = ("dark", "brown", "tan", "intermediate", "light", "very light")
ITA_BOUNDS = np.array([-30.0, 10.0, 28.0, 41.0, 55.0])

AVERAGING = ("linear", "lab")


def _as_unit_rgb(rgb: np.ndarray) -> np.ndarray:
    """uint8 0..255 or float 0..1 -> float64 0..1; other integer types are refused, not guessed."""
    rgb = np.asarray(rgb)
    if rgb.shape[-1:] != (3,):
        raise ValueError(f"expected (..., 3) RGB, found shape {rgb.shape}")
    if rgb.dtype == np.uint8:
        return rgb.astype(np.float64) / 255.0
    if np.issubdtype(rgb.dtype, np.floating):
        return rgb.astype(np.float64)
    raise ValueError(f"expected uint8 (0..255) or float (0..1) sRGB, found dtype {rgb.dtype}")


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    """`(..., 3)` sRGB (uint8, or float 0..1) -> `(..., 3) float64` linear light 0..1.

    The IEC 61966-2-1 piecewise curve: a linear toe below 0.04045, a 2.4 power above; a plain 2.2
    gamma is off by up to 0.6 L* in the darks where dark skin lies.
    """
    if np.asarray(rgb).dtype == np.uint8 and np.shape(rgb)[-1:] == (3,):
        return LINEAR_OF_BYTE.take(rgb)  # the same curve, evaluated once for each of the 256 values
    return _linear(_as_unit_rgb(rgb))


def _linear(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.04045, v / 12.92, ((np.maximum(v, 0.04045) + 0.055) / 1.055) ** 2.4)


LINEAR_OF_BYTE = _linear(np.arange(256, dtype=np.float64) / 255.0)  # linear light of each 8-bit value
# XYZ_OF_BYTE[i, c, v]: channel c's share of X, Y or Z (i) for the 8-bit value v, in linear light.
XYZ_OF_BYTE = SRGB_TO_XYZ[:, :, None] * LINEAR_OF_BYTE


def bytes_to_xyz(r: np.ndarray, g: np.ndarray, b: np.ndarray,
                 tables: np.ndarray = XYZ_OF_BYTE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """8-bit channels `r`, `g`, `b` (uint8, one shape) -> CIE X, Y, Z (float64, that shape; D65, Y of
    white = 1), each the sum of three products read from `tables` (`(3, 3, 256)` as `XYZ_OF_BYTE`, the
    default; `correct.Correction.xyz_tables` gives a corrected one).

    The products of `linear_to_xyz(srgb_to_linear(...))` summed left to right, without the
    per-pixel matrix product (a tenth of its time on a face's 550 000 skin pixels; BLAS may round
    the last bit otherwise), and channels apart, so that a photo's skin (`skin._skin_median`) is
    never stacked into `(N, 3)` arrays. Read by `take` with the channels as index arrays, added in
    place: a third of the time of indexing the tables with the bytes themselves, which numpy
    converts to indices anew at each of the nine reads.
    """
    r, g, b = (np.asarray(c) for c in (r, g, b))
    if not r.dtype == g.dtype == b.dtype == np.uint8:
        raise ValueError(f"expected uint8 channels, found {r.dtype}, {g.dtype}, {b.dtype}")
    r, g, b = (c.astype(np.intp) for c in (r, g, b))
    xyz = []
    for t in tables:
        v = t[0].take(r)
        v += t[1].take(g)
        v += t[2].take(b)
        xyz.append(v)
    x, y, z = xyz
    return x, y, z


def linear_to_xyz(linear: np.ndarray) -> np.ndarray:
    """`(..., 3) float` linear sRGB -> `(..., 3) float64` CIE XYZ (D65, Y of white = 1)."""
    return np.asarray(linear, dtype=np.float64) @ SRGB_TO_XYZ.T


def xyz_to_lab(xyz: np.ndarray, white: np.ndarray = D65_WHITE) -> np.ndarray:
    """`(..., 3)` CIE XYZ -> `(..., 3) float64` CIE 1976 L*a*b* relative to `white` (default D65).

    f(t) = t^(1/3) for t > epsilon = 216/24389, else (kappa t + 16) / 116 with kappa = 24389/27.
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    return np.stack(xyz_to_lab_channels(xyz[..., 0], xyz[..., 1], xyz[..., 2], white), axis=-1)


def xyz_to_lab_channels(x: np.ndarray, y: np.ndarray, z: np.ndarray,
                        white: np.ndarray = D65_WHITE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`xyz_to_lab` on channels apart: X, Y, Z (one shape) -> L*, a*, b* (float64, that shape)."""
    white = np.asarray(white, dtype=np.float64)
    fx, fy, fz = (lab_f(np.asarray(c, dtype=np.float64) / w) for c, w in zip((x, y, z), white))
    return 116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)


def lab_f(t: np.ndarray) -> np.ndarray:
    """CIE 15's f(t): t^(1/3) above epsilon, (kappa t + 16) / 116 below (float64)."""
    t = np.asarray(t, dtype=np.float64)
    out = np.cbrt(t, out=np.empty_like(t))  # an array, even for one value
    low = t <= LAB_EPSILON  # few pixels of a face are this dark: the linear part only where needed
    if low.any():
        out[low] = (LAB_KAPPA * t[low] + 16.0) / 116.0
    return out


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """`(..., 3)` sRGB (uint8, or float 0..1) -> `(..., 3) float64` CIE L*a*b* (D65).

    8-bit colours go through `bytes_to_xyz`, as the skin's pixels do (`skin._skin_median`), so a
    colour has one L*a*b* whichever function reads it; float ones through `linear_to_xyz`.
    """
    rgb = np.asarray(rgb)
    if rgb.dtype == np.uint8 and rgb.shape[-1:] == (3,):
        return np.stack(xyz_to_lab_channels(*bytes_to_xyz(rgb[..., 0], rgb[..., 1], rgb[..., 2])), axis=-1)
    return xyz_to_lab(linear_to_xyz(srgb_to_linear(rgb)))


def linear_to_lab(linear: np.ndarray) -> np.ndarray:
    """`(..., 3)` linear sRGB -> `(..., 3) float64` CIE L*a*b* (D65)."""
    return xyz_to_lab(linear_to_xyz(linear))


def ita(L: np.ndarray | float, b: np.ndarray | float) -> np.ndarray | float:
    """Individual Typology Angle in degrees: arctan((L* - 50) / b*) * 180 / pi (Chardon et al. 1991).

    The published formula uses arctan of the ratio, not atan2, so the result is in [-90, 90].
    b* = 0 gives +90 when L* > 50 and -90 when L* < 50 (the limit of the ratio as b* -> 0+, whatever
    the sign of the zero); L* = 50 with b* = 0 has no angle and gives NaN, as does NaN input.
    """
    L_arr = np.asarray(L, dtype=np.float64)
    b_arr = np.asarray(b, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.degrees(np.arctan((L_arr - 50.0) / b_arr))
    out = np.where(b_arr == 0, np.sign(L_arr - 50.0) * 90.0, out)
    out = np.where((b_arr == 0) & (L_arr == 50.0), np.nan, out)
    return float(out) if out.ndim == 0 else out


def ita_category(angle: np.ndarray | float) -> np.ndarray | str:
    """ITA -> skin category (Del Bino et al. 2006 ranges): very light > 55, light (41, 55],
    intermediate (28, 41], tan (10, 28], brown (-30, 10], dark <= -30.

    Boundary convention: every category includes its upper bound and excludes its lower one, so an
    ITA of exactly 55 is "light", 41 "intermediate", 28 "tan", 10 "brown" and -30 "dark".
    NaN gives "" (no category). Returns a str for a scalar, an object array otherwise.
    """
    arr = np.asarray(angle, dtype=np.float64)
    idx = np.digitize(arr, ITA_BOUNDS, right=True)  # bins[i-1] < x <= bins[i]
    names = np.array(ITA_CATEGORIES + ("",), dtype=object)
    out = names[np.where(np.isnan(arr), len(ITA_CATEGORIES), idx)]
    return str(out) if arr.ndim == 0 else out


def mean_lab(linear_pixels: np.ndarray, averaging: str = "linear") -> np.ndarray:
    """`(N, 3)` linear sRGB pixels -> `(3,) float64` L*a*b* of their average (NaN for N = 0).

    "linear" (default) averages linear light, then converts; "lab" converts each pixel, then averages.
    """
    # Averaging linear light is what a spectrophotometer or colorimeter with that aperture measures:
    # it integrates the reflected light over the spot. The mean of per-pixel L*a*b* instead weights
    # dark pixels up (L* is a cube root), so pores, freckles and shading pull it darker than the
    # skin a contact instrument would report; "lab" is kept for comparison with studies that did so.
    if averaging not in AVERAGING:
        raise FaceparseConfigError(f"averaging must be one of {AVERAGING}, found {averaging!r}")
    pix = np.asarray(linear_pixels, dtype=np.float64).reshape(-1, 3)
    if len(pix) == 0:
        return np.full(3, np.nan)
    if averaging == "linear":
        return linear_to_lab(pix.mean(axis=0))
    return linear_to_lab(pix).mean(axis=0)


def is_greyscale(image: np.ndarray, spread: int = 2, share: float = 0.99, step: int = 4) -> bool:
    """Whether a `(H, W, 3) uint8` photo holds no colour: on `share` of its pixels (every `step`-th
    row and column, which estimates the share as well at 1/16 of the cost) the three channels differ
    by at most `spread` (a greyscale photo saved as RGB, JPEG noise allowed). Its a* and b* are then
    about 0 and ITA, arctan((L* - 50) / b*), would read as +-90 degrees whatever the skin."""
    x = np.asarray(image)[::step, ::step]
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    widest = np.maximum(np.maximum(r, g), b) - np.minimum(np.minimum(r, g), b)  # the widest pair's difference
    return bool((widest <= spread).mean() >= share)
