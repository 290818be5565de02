"""Skin colour (sRGB -> CIE L*a*b*, ITA) and face geometry (fWHR) measured on the original photo
from its `fasseg6` face map, plus the statistics used to validate them (ICC, Pearson r, bootstrap).

Sides are named by the SUBJECT: `cheek_left` is the person's own left cheek, which appears on the
image's right in a frontal photo (the convention `labels.LabelSet.side == "subject"` documents).
All lengths are in original-photo pixels; all angles in degrees.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from faceparse.errors import FaceparseConfigError, FaceparseDataError
from faceparse.labels import FASSEG6

SKIN, HAIR, EYES, NOSE, MOUTH = (FASSEG6.index(c) for c in ("skin", "hair", "eyes", "nose", "mouth"))
# Classes inside the face outline: a horizontal run across the face crosses eyes and nose.
FACE_CLASSES = (SKIN, EYES, NOSE, MOUTH)

# --- colour science -----------------------------------------------------------------------------

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
    v = _as_unit_rgb(rgb)
    return np.where(v <= 0.04045, v / 12.92, ((np.maximum(v, 0.04045) + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """`(..., 3) float` linear light -> `(..., 3) float64` sRGB 0..1 (input clipped to 0..1)."""
    lin = np.clip(np.asarray(linear, dtype=np.float64), 0.0, 1.0)
    return np.where(lin <= 0.0031308, lin * 12.92, 1.055 * np.maximum(lin, 0.0031308) ** (1 / 2.4) - 0.055)


def linear_to_xyz(linear: np.ndarray) -> np.ndarray:
    """`(..., 3) float` linear sRGB -> `(..., 3) float64` CIE XYZ (D65, Y of white = 1)."""
    return np.asarray(linear, dtype=np.float64) @ SRGB_TO_XYZ.T


def xyz_to_lab(xyz: np.ndarray, white: np.ndarray = D65_WHITE) -> np.ndarray:
    """`(..., 3)` CIE XYZ -> `(..., 3) float64` CIE 1976 L*a*b* relative to `white` (default D65).

    f(t) = t^(1/3) for t > epsilon = 216/24389, else (kappa t + 16) / 116 with kappa = 24389/27.
    """
    t = np.asarray(xyz, dtype=np.float64) / np.asarray(white, dtype=np.float64)
    f = np.where(t > LAB_EPSILON, np.cbrt(t), (LAB_KAPPA * t + 16.0) / 116.0)
    L = 116.0 * f[..., 1] - 16.0
    a = 500.0 * (f[..., 0] - f[..., 1])
    b = 200.0 * (f[..., 1] - f[..., 2])
    return np.stack([L, a, b], axis=-1)


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """`(..., 3)` sRGB (uint8, or float 0..1) -> `(..., 3) float64` CIE L*a*b* (D65)."""
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


AVERAGING = ("linear", "lab")


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


# --- colour calibration -------------------------------------------------------------------------

def fit_colour_correction(measured: np.ndarray, reference: np.ndarray, affine: bool = True) -> np.ndarray:
    """Least-squares colour correction in linear RGB from chart patches.

    measured, reference: `(N, 3)` sRGB (uint8, or float 0..1) of the same N patches, as photographed
    and as published. Returns M, `(3, 3)` or with `affine` `(3, 4)`, such that
    linear(reference) ~= M @ [linear(measured), 1]. Needs N >= 3 (N >= 4 when affine).
    """
    # Fitted in linear light because that is where the camera's channel mixing and exposure act as
    # a matrix; a matrix fitted on gamma-encoded values is wrong away from the chart's colours.
    x = srgb_to_linear(np.asarray(measured)).reshape(-1, 3)
    y = srgb_to_linear(np.asarray(reference)).reshape(-1, 3)
    if x.shape != y.shape:
        raise ValueError(f"measured has {len(x)} colours, reference {len(y)}; expected the same patches")
    k = 4 if affine else 3
    if len(x) < k:
        raise ValueError(f"a {'3x4 affine' if affine else '3x3'} correction needs at least {k} patches, found {len(x)}")
    if affine:
        x = np.hstack([x, np.ones((len(x), 1))])
    m, *_ = np.linalg.lstsq(x, y, rcond=None)
    return m.T


def _correct_linear(linear: np.ndarray, matrix: np.ndarray | None) -> np.ndarray:
    if matrix is None:
        return linear
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape not in ((3, 3), (3, 4)):
        raise ValueError(f"colour correction must be (3, 3) or (3, 4), found {m.shape}")
    out = linear @ m[:, :3].T
    return out + m[:, 3] if m.shape[1] == 4 else out


def apply_colour_correction(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """`(..., 3)` sRGB (uint8, or float 0..1) -> `(..., 3) float64` corrected sRGB 0..1 (clipped).

    The result stays float so that it can go to `srgb_to_lab` without a second rounding to 8 bits.
    """
    return linear_to_srgb(_correct_linear(srgb_to_linear(image), matrix))


# --- parameters and records ---------------------------------------------------------------------

@dataclass(frozen=True)
class ProfileParams:
    """Knobs of the `profile` stage; every default is stated with its reason."""

    # 0.35 x inter-ocular distance: on a face 512 px from chin to crown the eyes are ~140 px apart
    # (FRL template: 119 of 438 px), so the patch is ~50 x 50 px, and it fits between eye and mouth.
    patch_size_fraction: float = 0.35
    averaging: str = "linear"
    min_patch_pixels: int = 200        # fewer skin pixels than a 14 x 14 square: too noisy to report
    min_skin_share: float = 0.75       # a patch mostly off skin was placed on a badly parsed face
    clip_high: int = 250               # a channel at or above this is taken as clipped (specular/over-exposed)
    clip_low: int = 5                  # at or below this: crushed shadow, no colour information
    max_clipped_share: float = 0.05
    min_confidence: float = 0.8        # mean max-softmax over the patch's skin pixels
    skin_percentiles: tuple[float, float] = (5.0, 95.0)  # L* range kept for the whole-skin median
    brow: str = "brow"                 # fWHR upper reference: "brow" (eyebrow's lower edge) or "eyelid"
    # An outline jump of more than this x inter-ocular distance within 0.03 x that distance of rows
    # is an ear's top (ears jump ~0.25, the face's own outline < 0.02); None: no ear search, each
    # half-width is the median over the rows from the eye line to the nose's bottom.
    ear_jump: float | None = 0.08
    # The notch above an ear lies this far out at least (x inter-ocular distance; a face's half-width
    # there is ~1.1 on the FRL template); an outward jump from nearer the midline is hair's lower edge.
    ear_min_notch: float = 0.75
    min_eye_area_ratio: float = 0.1    # second eye blob must be this share of the first to count as an eye

    def __post_init__(self) -> None:
        checks = {
            "patch_size_fraction": 0 < self.patch_size_fraction <= 1,
            "averaging": self.averaging in AVERAGING,
            "min_patch_pixels": self.min_patch_pixels >= 1,
            "min_skin_share": 0 <= self.min_skin_share <= 1,
            "clip_high": 0 < self.clip_high <= 255,
            "clip_low": 0 <= self.clip_low < self.clip_high,
            "max_clipped_share": 0 <= self.max_clipped_share <= 1,
            "min_confidence": 0 <= self.min_confidence <= 1,
            "skin_percentiles": 0 <= self.skin_percentiles[0] < self.skin_percentiles[1] <= 100,
            "brow": self.brow in ("brow", "eyelid"),
            "ear_jump": self.ear_jump is None or self.ear_jump > 0,
            "ear_min_notch": self.ear_min_notch >= 0,
            "min_eye_area_ratio": 0 <= self.min_eye_area_ratio <= 1,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise FaceparseConfigError(f"profile params: invalid {', '.join(f'{k}={getattr(self, k)!r}' for k in bad)}")


PATCH_NAMES = ("cheek_left", "cheek_right", "forehead")  # subject's left/right


@dataclass(frozen=True)
class SkinPatch:
    """One square patch on the original photo, measured over its predicted-skin pixels."""

    name: str
    x: float = math.nan                # patch centre, original-photo pixels
    y: float = math.nan
    size_px: int = 0                   # side of the square
    n_skin: int = 0                    # skin pixels inside the square (clipped ones included)
    skin_share: float = math.nan       # n_skin / size_px^2
    clipped_share: float = math.nan    # share of those skin pixels with a channel <= clip_low or >= clip_high
    confidence: float = math.nan       # mean max-softmax over the skin pixels (NaN: no confidence map)
    lab: tuple[float, float, float] = (math.nan, math.nan, math.nan)  # mean colour, clipped pixels excluded
    ita: float = math.nan

    def as_row(self) -> dict[str, float | int]:
        p = self.name
        return {f"{p}_x": self.x, f"{p}_y": self.y, f"{p}_size_px": self.size_px, f"{p}_n_skin": self.n_skin,
                f"{p}_skin_share": self.skin_share, f"{p}_clipped_share": self.clipped_share,
                f"{p}_confidence": self.confidence, f"{p}_L": self.lab[0], f"{p}_a": self.lab[1],
                f"{p}_b": self.lab[2], f"{p}_ita": self.ita}


@dataclass(frozen=True)
class SkinProfile:
    """Skin colour of one face: three patches, their cheek mean, and the whole-skin robust median."""

    patches: tuple[SkinPatch, ...]
    cheeks_lab: tuple[float, float, float]      # both cheeks' valid pixels pooled, then averaged
    cheeks_ita: float
    skin_median_lab: tuple[float, float, float]  # per-channel median over the rule-filtered skin
    skin_ita: float
    skin_n_used: int                            # skin pixels left after the exclusion rule
    eye_line_angle: float                       # degrees, atan2 of image-left -> image-right eye
    inter_ocular_px: float
    averaging: str
    colour_correction: str                      # "none" or the matrix as JSON rows
    flags: tuple[str, ...]

    def as_row(self) -> dict[str, float | int | str]:
        row: dict[str, float | int | str] = {"eye_line_angle_deg": self.eye_line_angle,
                                             "inter_ocular_px": self.inter_ocular_px}
        for p in self.patches:
            row.update(p.as_row())
        row.update({"cheeks_L": self.cheeks_lab[0], "cheeks_a": self.cheeks_lab[1], "cheeks_b": self.cheeks_lab[2],
                    "cheeks_ita": self.cheeks_ita, "cheeks_ita_category": ita_category(self.cheeks_ita),
                    "skin_median_L": self.skin_median_lab[0], "skin_median_a": self.skin_median_lab[1],
                    "skin_median_b": self.skin_median_lab[2], "skin_ita": self.skin_ita,
                    "skin_ita_category": ita_category(self.skin_ita), "skin_n_used": self.skin_n_used,
                    "averaging": self.averaging, "colour_correction": self.colour_correction,
                    "skin_flags": ";".join(self.flags)})
        return row


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

    def as_row(self) -> dict[str, float | str]:
        (x0, y0), (x1, y1) = self.width_ends
        return {"fwhr": self.fwhr, "fwhr_width_px": self.width_px, "fwhr_height_px": self.height_px,
                "fwhr_brow": self.brow, "fwhr_x0": x0, "fwhr_y0": y0, "fwhr_x1": x1, "fwhr_y1": y1,
                "fwhr_flags": ";".join(self.flags)}


# --- the face frame: the map rotated so that the eye line is horizontal -------------------------

@dataclass(frozen=True)
class _Blob:
    top: int
    bottom: int        # inclusive
    left: int
    right: int         # inclusive
    cx: float
    cy: float
    area: int


@dataclass(frozen=True)
class _Frame:
    labels: np.ndarray          # (H', W') uint8, eye line horizontal
    to_photo: np.ndarray        # (2, 3) affine, frame pixel -> photo pixel
    angle: float
    eyes: tuple[_Blob, _Blob]   # image-left (subject's right) first
    iod: float

    @property
    def mid(self) -> int:
        return int(round((self.eyes[0].cx + self.eyes[1].cx) / 2))

    def photo_xy(self, x: float, y: float) -> tuple[float, float]:
        px, py = self.to_photo @ np.array([x, y, 1.0])
        return float(px), float(py)


def _blobs(mask: np.ndarray) -> list[_Blob]:
    """8-connected components of a bool mask, largest first."""
    n, _, stats, cents = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    out = [_Blob(top=int(s[1]), bottom=int(s[1] + s[3] - 1), left=int(s[0]), right=int(s[0] + s[2] - 1),
                 cx=float(c[0]), cy=float(c[1]), area=int(s[4])) for s, c in zip(stats[1:], cents[1:])]
    return sorted(out, key=lambda b: -b.area)


def _two_eyes(labels: np.ndarray, min_ratio: float) -> tuple[tuple[_Blob, _Blob] | None, list[str]]:
    # The eyes class is one label for both eyes: its two largest blobs are the eyes, ordered by x.
    blobs = _blobs(labels == EYES)
    if not blobs:
        return None, ["no_eyes"]
    if len(blobs) < 2 or blobs[1].area < min_ratio * blobs[0].area:
        return None, ["one_eye"]
    a, b = sorted(blobs[:2], key=lambda e: e.cx)
    return (a, b), []


def _face_frame(labels: np.ndarray, eye_line_angle: float | None,
                params: ProfileParams) -> tuple[_Frame | None, list[str]]:
    """The map rotated about its centre so that the eye line is horizontal (on a canvas grown to
    keep every pixel), with its two eyes; None and a flag when the map has no two eyes."""
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.dtype != np.uint8:
        raise ValueError(f"expected a (H, W) uint8 fasseg6 label map, found {labels.dtype} {labels.shape}")
    eyes, flags = _two_eyes(labels, params.min_eye_area_ratio)
    if eyes is None:
        return None, flags
    angle = eye_line_angle
    if angle is None:
        angle = math.degrees(math.atan2(eyes[1].cy - eyes[0].cy, eyes[1].cx - eyes[0].cx))
    if abs(angle) < 1e-9:
        frame_labels, to_photo = labels, np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    else:
        h, w = labels.shape
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], dtype=np.float64) @ m.T
        m[:, 2] -= corners.min(axis=0)  # grow the canvas so no part of the face is cut off
        size = np.ceil(corners.max(axis=0) - corners.min(axis=0)).astype(int)
        frame_labels = cv2.warpAffine(labels, m, (int(size[0]), int(size[1])), flags=cv2.INTER_NEAREST,
                                      borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        to_photo = cv2.invertAffineTransform(m)
        eyes, flags = _two_eyes(frame_labels, params.min_eye_area_ratio)
        if eyes is None:
            return None, flags
    iod = math.hypot(eyes[1].cx - eyes[0].cx, eyes[1].cy - eyes[0].cy)
    return _Frame(frame_labels, to_photo, float(angle), eyes, iod), []


def _filled_face(labels: np.ndarray) -> np.ndarray:
    """`(H, W) bool` face pixels (skin, eyes, nose, mouth) with enclosed holes filled.

    Eyebrows are hair in fasseg6 and split a row's run at brow height; filling every non-face region
    that does not reach the map's border makes brows, moles or glasses part of the face again.
    """
    face = np.isin(labels, FACE_CLASSES)
    n, comp = cv2.connectedComponents((~face).astype(np.uint8), connectivity=4)
    border = np.unique(np.concatenate([comp[0], comp[-1], comp[:, 0], comp[:, -1]]))
    hole = np.ones(n, dtype=bool)
    hole[border] = False
    hole[0] = False  # component 0 is the face itself
    return face | hole[comp]


def _run_edges(face: np.ndarray, rows: np.ndarray, col: int) -> tuple[np.ndarray, np.ndarray]:
    """Left and right end columns of the run of True containing `col` in each row (NaN if col is False)."""
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


# --- skin patches -------------------------------------------------------------------------------

def _cheek_centre(frame: _Frame, face: np.ndarray, side: int, nose: _Blob, mouth: _Blob) -> tuple[float, float] | None:
    """Cheek centre in frame pixels for the image-left (side 0) or image-right (side 1) cheek:
    halfway down from the eye's lower edge to the mouth's top, halfway across from the nose's side
    to the face's edge on that row (`face`: `_filled_face` of the frame). An ear joined to the cheek
    on that row moves the centre outward by half the ear's width, still on the cheek."""
    eye = frame.eyes[side]
    row = int(round((eye.bottom + mouth.top) / 2))
    left, right = _run_edges(face, np.array([row]), frame.mid)
    if np.isnan(left[0]):
        return None
    nose_cols = np.flatnonzero(frame.labels[row] == NOSE)
    nose_cols = nose_cols[(nose_cols >= left[0]) & (nose_cols <= right[0])]
    if side == 0:
        nose_side = nose_cols.min() if nose_cols.size else nose.left  # nostril wing when the row misses the nose
        return (left[0] + nose_side) / 2, float(row)
    nose_side = nose_cols.max() if nose_cols.size else nose.right
    return (right[0] + nose_side) / 2, float(row)


def _forehead_centre(frame: _Frame, size: int) -> tuple[float, float] | None:
    """Halfway up from the eyes' top to the top of the skin above the glabella (median over a band
    of columns one patch wide on the midline, so one stray hair pixel does not decide); None when
    the eyes touch the frame's top edge and no forehead is in view."""
    eyes_top = min(e.top for e in frame.eyes)
    c0 = max(frame.mid - size // 2, 0)
    c1 = min(frame.mid + size // 2 + 1, frame.labels.shape[1])
    above = np.isin(frame.labels[:eyes_top, c0:c1], (SKIN, NOSE))[::-1]
    if above.size == 0:
        return None
    # Rows from the eyes' top upward that are still skin (or the nose bridge); image top stops it.
    run = np.where((~above).any(axis=0), (~above).argmax(axis=0), eyes_top)
    skin_top = eyes_top - float(np.median(run))
    return float(frame.mid), (eyes_top + skin_top) / 2


def _measure_patch(name: str, centre: tuple[float, float], size: int, image: np.ndarray, labels: np.ndarray,
                   confidence: np.ndarray | None, correction: np.ndarray | None,
                   params: ProfileParams) -> tuple[SkinPatch, np.ndarray]:
    """The patch record and its valid (unclipped skin) pixels in linear light `(N, 3) float64`."""
    h, w = labels.shape
    x, y = centre
    x0, y0 = int(round(x - size / 2)), int(round(y - size / 2))
    ys = slice(max(y0, 0), max(min(y0 + size, h), 0))
    xs = slice(max(x0, 0), max(min(x0 + size, w), 0))
    skin = labels[ys, xs] == SKIN
    pix = image[ys, xs][skin]
    clipped = ((pix >= params.clip_high) | (pix <= params.clip_low)).any(axis=1)
    valid = _correct_linear(srgb_to_linear(pix[~clipped]), correction)
    lab = mean_lab(valid, params.averaging)
    n = int(skin.sum())
    conf = float(confidence[ys, xs][skin].mean()) if confidence is not None and n else math.nan
    patch = SkinPatch(name=name, x=x, y=y, size_px=size, n_skin=n, skin_share=n / size**2,
                      clipped_share=float(clipped.mean()) if n else math.nan, confidence=conf,
                      lab=tuple(float(v) for v in lab), ita=ita(lab[0], lab[2]))
    return patch, valid


def _patch_flags(p: SkinPatch, params: ProfileParams) -> list[str]:
    flags = []
    if p.n_skin < params.min_patch_pixels:
        flags.append(f"{p.name}_small")
    if not p.skin_share >= params.min_skin_share:
        flags.append(f"{p.name}_nonskin")
    if p.clipped_share > params.max_clipped_share:
        flags.append(f"{p.name}_clipped")
    if p.confidence < params.min_confidence:  # False for NaN: no confidence map, no flag
        flags.append(f"{p.name}_low_confidence")
    return flags


def _skin_median(image: np.ndarray, labels: np.ndarray, correction: np.ndarray | None,
                 params: ProfileParams) -> tuple[np.ndarray, int]:
    """Per-channel median L*a*b* of predicted skin after the exclusion rule, and the pixels used.

    Rule: drop skin pixels with any channel <= clip_low or >= clip_high (clipped: no colour
    information), then drop those whose L* lies outside the skin_percentiles (default 5th-95th) of
    the remaining skin's L* (specular highlights above, shadow in folds, nostrils, under the jaw below).
    """
    pix = image[labels == SKIN]
    pix = pix[~((pix >= params.clip_high) | (pix <= params.clip_low)).any(axis=1)]
    if len(pix) == 0:
        return np.full(3, np.nan), 0
    lab = linear_to_lab(_correct_linear(srgb_to_linear(pix), correction))
    lo, hi = np.percentile(lab[:, 0], params.skin_percentiles)
    keep = lab[(lab[:, 0] >= lo) & (lab[:, 0] <= hi)]
    return np.median(keep, axis=0), len(keep)


def _check_inputs(image: np.ndarray, labels: np.ndarray, confidence: np.ndarray | None) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected a (H, W, 3) uint8 sRGB photo, found {image.dtype} {image.shape}")
    if labels.shape != image.shape[:2] or labels.dtype != np.uint8:
        raise ValueError(f"expected a (H, W) uint8 label map of the photo's size {image.shape[:2]}, "
                         f"found {labels.dtype} {labels.shape}")
    if confidence is not None and confidence.shape != labels.shape:
        raise ValueError(f"confidence map is {confidence.shape}, expected the label map's {labels.shape}")


def is_greyscale(image: np.ndarray, spread: int = 2, share: float = 0.99, step: int = 4) -> bool:
    """Whether a `(H, W, 3) uint8` photo holds no colour: on `share` of its pixels (every `step`-th
    row and column, which estimates the share as well at 1/16 of the cost) the three channels differ
    by at most `spread` (a greyscale photo saved as RGB, JPEG noise allowed). Its a* and b* are then
    about 0 and ITA, arctan((L* - 50) / b*), would read as +-90 degrees whatever the skin."""
    x = np.asarray(image)[::step, ::step].astype(np.int16)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    widest = np.maximum(np.maximum(np.abs(r - g), np.abs(g - b)), np.abs(r - b))
    return bool((widest <= spread).mean() >= share)


def measure_skin(image: np.ndarray, labels: np.ndarray, confidence: np.ndarray | None = None,
                 eye_line_angle: float | None = None, params: ProfileParams = ProfileParams(),
                 colour_correction: np.ndarray | None = None) -> SkinProfile:
    """Skin colour of one face on its original photo.

    image: `(H, W, 3) uint8` sRGB photo. labels: `(H, W) uint8` fasseg6 face map of that photo.
    confidence: `(H, W) float32` max-softmax per pixel, or None. eye_line_angle: degrees of the line
    from the image-left to the image-right eye (y down, as `align.Alignment.angle`); None estimates
    it from the two eye blobs. colour_correction: `(3, 3)` or `(3, 4)` from `fit_colour_correction`,
    applied in linear light to the measured pixels (clipping is judged on the uncorrected photo).

    Patches are squares of patch_size_fraction x inter-ocular distance, axis-aligned on the photo,
    measured over predicted skin only. A map on which a patch cannot be placed gives NaN values and
    a flag ("no_eyes", "one_eye", "no_nose", "no_mouth", "mouth_above_eyes", "<patch>_missing"),
    never an exception. A greyscale photo (`is_greyscale`) keeps its L* but gives NaN a*, b* and ITA,
    flagged "greyscale".
    """
    image, labels = np.asarray(image), np.asarray(labels)
    _check_inputs(image, labels, confidence)
    frame, flags = _face_frame(labels, eye_line_angle, params)
    centres: dict[str, tuple[float, float] | None] = dict.fromkeys(PATCH_NAMES)
    size = 0
    if frame is not None:
        size = max(int(round(params.patch_size_fraction * frame.iod)), 1)
        forehead = _forehead_centre(frame, size)
        centres["forehead"] = frame.photo_xy(*forehead) if forehead is not None else None
        nose, mouth = _blobs(frame.labels == NOSE), _blobs(frame.labels == MOUTH)
        flags += ["no_nose"] * (not nose) + ["no_mouth"] * (not mouth)
        eye_bottom = max(e.bottom for e in frame.eyes)
        if mouth and mouth[0].top <= eye_bottom:
            flags.append("mouth_above_eyes")
        elif nose and mouth:
            face = _filled_face(frame.labels)
            for side, name in ((0, "cheek_right"), (1, "cheek_left")):  # image-left is the subject's right
                c = _cheek_centre(frame, face, side, nose[0], mouth[0])
                centres[name] = frame.photo_xy(*c) if c is not None else None
    patches, valid = [], {}
    for name in PATCH_NAMES:
        if centres[name] is None:
            patches.append(SkinPatch(name=name))
            flags.append(f"{name}_missing")
            continue
        p, valid[name] = _measure_patch(name, centres[name], size, image, labels, confidence,
                                        colour_correction, params)
        patches.append(p)
        flags += _patch_flags(p, params)
    cheeks = [valid[n] for n in ("cheek_left", "cheek_right") if n in valid]
    cheeks_lab = mean_lab(np.concatenate(cheeks) if cheeks else np.empty((0, 3)), params.averaging)
    med, n_used = _skin_median(image, labels, colour_correction, params)
    if n_used == 0:
        flags.append("no_skin")
    if is_greyscale(image):  # lightness is measured; hue is not there to measure
        flags.append("greyscale")
        patches = [replace(p, lab=(p.lab[0], math.nan, math.nan), ita=math.nan) for p in patches]
        cheeks_lab = np.array([cheeks_lab[0], math.nan, math.nan])
        med = np.array([med[0], math.nan, math.nan])
    corr = "none" if colour_correction is None else json.dumps(np.round(np.asarray(colour_correction), 6).tolist())
    return SkinProfile(
        patches=tuple(patches), cheeks_lab=tuple(float(v) for v in cheeks_lab),
        cheeks_ita=ita(cheeks_lab[0], cheeks_lab[2]), skin_median_lab=tuple(float(v) for v in med),
        skin_ita=ita(med[0], med[2]), skin_n_used=n_used,
        eye_line_angle=frame.angle if frame is not None else math.nan,
        inter_ocular_px=frame.iod if frame is not None else math.nan,
        averaging=params.averaging, colour_correction=corr, flags=tuple(flags))


# --- fWHR ---------------------------------------------------------------------------------------

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


def _brow_row(frame: _Frame, eye: _Blob) -> float | None:
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


def fwhr_from_labels(labels: np.ndarray, eye_line_angle: float | None = None,
                     params: ProfileParams = ProfileParams()) -> FwhrMeasurement:
    """fWHR from a `(H, W) uint8` fasseg6 face map, in that map's (the original photo's) pixels.

    Width: the sum of the two half-widths of `_half_width`, each the distance from the midline between
    the eyes to the edge of the run of face pixels (skin, eyes, nose, mouth) crossing it, in the
    eye-line frame (the map is rotated by eye_line_angle, or by the angle between the eye blobs when
    None): on the notch above the ear where one is found, else the median over the rows from the eye
    line down to the nose's bottom. Width is the distance between the two edge pixels' centres.
    Height: from params.brow = "brow", the eyebrows' lower edge (lowest hair pixel above the central
    half of each eye, fasseg6 paints brows as hair), or "eyelid", the top of the eyes, averaged over
    the two eyes, down to the upper lip (the mouth's top row). Missing parts give NaN and a flag.
    """
    frame, flags = _face_frame(np.asarray(labels), eye_line_angle, params)
    if frame is None:
        return FwhrMeasurement(brow=params.brow, flags=tuple(flags))
    nose, mouth = _blobs(frame.labels == NOSE), _blobs(frame.labels == MOUTH)
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
    left, right = _run_edges(_filled_face(frame.labels), rows, mid)
    search = (rows >= eye_row) & (rows <= nose_bottom)
    sides = []
    for side, d in (("right", mid - left), ("left", right - mid)):  # the image's left is the subject's right
        half, i, ear = _half_width(d, rows, search, frame.iod, params)
        flags += [f"ear_notch_{side}"] * ear
        sides.append((half, i))
    (d_left, i_left), (d_right, i_right) = sides
    if math.isnan(d_left) or math.isnan(d_right):
        return FwhrMeasurement(brow=params.brow, flags=tuple(flags + ["no_face_run"]))
    width = d_left + d_right
    ends = (frame.photo_xy(mid - d_left, rows[i_left]), frame.photo_xy(mid + d_right, rows[i_right]))
    if not mouth:
        return FwhrMeasurement(width_px=width, brow=params.brow, width_ends=ends, flags=tuple(flags))
    if params.brow == "eyelid":
        upper = [float(e.top) for e in frame.eyes]
    else:
        found = [_brow_row(frame, e) for e in frame.eyes]
        flags += [f"no_brow_{s}" for s, b in zip(("right", "left"), found) if b is None]
        upper = [b for b in found if b is not None]
    if not upper:
        return FwhrMeasurement(width_px=width, brow=params.brow, width_ends=ends, flags=tuple(flags))
    height = mouth[0].top - float(np.mean(upper))
    if height <= 0:
        return FwhrMeasurement(width_px=width, brow=params.brow, width_ends=ends,
                               flags=tuple(flags + ["mouth_above_brow"]))
    return FwhrMeasurement(fwhr=width / height, width_px=width, height_px=height, brow=params.brow,
                           width_ends=ends, flags=tuple(flags))


# --- fWHR from the London set's WebMorph templates ----------------------------------------------

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


def profile_face(image: np.ndarray, labels: np.ndarray, confidence: np.ndarray | None = None,
                 eye_line_angle: float | None = None, params: ProfileParams = ProfileParams(),
                 colour_correction: np.ndarray | None = None) -> dict[str, float | int | str]:
    """One row of named columns: `measure_skin(...).as_row()` and `fwhr_from_labels(...).as_row()`."""
    row = measure_skin(image, labels, confidence, eye_line_angle, params, colour_correction).as_row()
    row.update(fwhr_from_labels(labels, eye_line_angle, params).as_row())
    return row


# --- statistics for validation ------------------------------------------------------------------

def _paired(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"paired measurements differ in length: {len(x)} and {len(y)}")
    if len(x) < 2:
        raise ValueError(f"need at least 2 subjects, found {len(x)}")
    bad = int((np.isnan(x) | np.isnan(y)).sum())
    if bad:
        raise ValueError(f"{bad} of {len(x)} pairs contain NaN; drop them (and report how many) before this")
    return x, y


def icc_3_1(x: np.ndarray, y: np.ndarray) -> float:
    """ICC(3,1) of Shrout & Fleiss (1979): two-way mixed, consistency, single measures, for n
    subjects measured in k = 2 sessions (x: first session, y: second, both `(n,)`).

    ICC(3,1) = (BMS - EMS) / (BMS + (k - 1) EMS), BMS the between-subjects and EMS the residual
    mean square of the two-way ANOVA without replication.
    """
    x, y = _paired(x, y)
    data = np.stack([x, y], axis=1)
    n, k = data.shape
    grand = data.mean()
    ss_rows = k * ((data.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((data.mean(axis=0) - grand) ** 2).sum()
    ss_err = ((data - grand) ** 2).sum() - ss_rows - ss_cols
    bms = ss_rows / (n - 1)
    ems = ss_err / ((n - 1) * (k - 1))
    return float((bms - ems) / (bms + (k - 1) * ems))


def pearson_r(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of two `(n,)` samples (NaN when either is constant)."""
    x, y = _paired(x, y)
    dx, dy = x - x.mean(), y - y.mean()
    denom = math.sqrt((dx**2).sum() * (dy**2).sum())
    return float((dx * dy).sum() / denom) if denom > 0 else math.nan


def bootstrap_ci(values: np.ndarray, stat: Callable[[np.ndarray], float], n: int = 2000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of `stat(values)`.

    values: `(m, ...)` array; resampling draws whole rows with replacement, so paired data
    (`(m, 2)` columns x, y) stay paired, e.g. `stat=lambda v: icc_3_1(v[:, 0], v[:, 1])`.
    Resamples whose statistic is undefined (NaN, e.g. r of a resample that drew one row only) are
    left out of the percentiles.
    """
    values = np.asarray(values)
    if len(values) < 2:
        raise ValueError(f"need at least 2 rows to bootstrap, found {len(values)}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), found {level}")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(n, len(values)))
    stats = np.array([stat(values[i]) for i in idx], dtype=np.float64)
    alpha = (1 - level) / 2
    lo, hi = np.nanpercentile(stats, [100 * alpha, 100 * (1 - alpha)])
    return float(lo), float(hi)
