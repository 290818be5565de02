"""Colour correction: from a chart's measured patches to a map that takes a photo's 8-bit pixels to
the linear sRGB they would have had under the chart's reference light (`fit_chart`), and the
chart-free white balance on the sclera (`white_balance`).

Every fit works in two steps, as a camera's pipeline is undone: each channel's tone curve is
linearised first by a power fitted on the six neutral patches (value ** gamma, least squares in
log-log), then a colour model maps those values onto the reference linear sRGB:
- `matrix`: a 3x3 matrix (least squares), the camera's white balance and channel crosstalk;
- `cheung2004`, `finlayson2015`, `vandermonde`: colour-science's polynomial corrections (Cheung
  et al. 2004, 10 terms; Finlayson et al. 2015 root-polynomial, degree 2; Vandermonde, degree 2).
`auto` picks, per chart, the one with the least leave-one-patch-out CIE dE2000 (each patch
predicted by a fit of the others), which punishes a model that bends to fit the patches it saw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceparse.errors import FaceparseConfigError, FaceparseDataError
from faceparse.profile.chart import NEUTRALS, ChartReading, find_chart, read_chart_photo, reference_linear
from faceparse.profile.colour import LINEAR_OF_BYTE, SRGB_TO_XYZ, linear_to_lab
from faceparse.profile.params import CHART_METHODS

METHODS = CHART_METHODS
MODELS = METHODS[1:]
# colour-science's names and keyword arguments of the polynomial models.
_COLOUR_METHODS = {"cheung2004": ("Cheung 2004", {"terms": 10}), "finlayson2015": ("Finlayson 2015", {"degree": 2}),
                   "vandermonde": ("Vandermonde", {"degree": 2})}
_GAMMA_RANGE = (1.0, 3.5)  # a camera's encoding power lies within; outside it, the neutrals were misread


@dataclass(frozen=True)
class Correction:
    """A map from 8-bit camera sRGB to linear sRGB (D65): per-channel curves, then a colour model.

    lut: `(3, 256) float64` each channel's linear value of each 8-bit value; model: one of `MODELS`
    (or "sclera", a diagonal matrix); ccm: its coefficients (`(3, 3)` for a matrix).
    """

    model: str
    lut: np.ndarray
    ccm: np.ndarray
    gammas: tuple[float, float, float] = (math.nan,) * 3   # the curves' powers (NaN: the sRGB curve)

    def to_linear(self, pixels: np.ndarray) -> np.ndarray:
        """`(..., 3) uint8` sRGB -> `(..., 3) float64` corrected linear sRGB."""
        pixels = np.asarray(pixels)
        if pixels.dtype != np.uint8 or pixels.shape[-1:] != (3,):
            raise ValueError(f"expected (..., 3) uint8 pixels, found {pixels.dtype} {pixels.shape}")
        lin = np.stack([self.lut[c][pixels[..., c]] for c in range(3)], axis=-1)
        return self.apply(lin)

    def apply(self, lin: np.ndarray) -> np.ndarray:
        """`(..., 3)` linearised camera values -> `(..., 3) float64` linear sRGB."""
        if self.model in ("matrix", "sclera"):
            return np.asarray(lin, dtype=np.float64) @ self.ccm.T
        import colour

        name, kwargs = _COLOUR_METHODS[self.model]
        return np.asarray(colour.characterisation.apply_matrix_colour_correction(
            np.asarray(lin, dtype=np.float64), self.ccm, method=name, **kwargs), dtype=np.float64)

    def xyz_tables(self) -> np.ndarray | None:
        """`(3, 3, 256)`: channel c's share of X, Y or Z (first index) for each 8-bit value, when the
        model is a matrix (so XYZ is a sum of three table reads); None for the polynomial models."""
        if self.model not in ("matrix", "sclera"):
            return None
        return (SRGB_TO_XYZ @ self.ccm)[:, :, None] * self.lut[None, :, :]


@dataclass(frozen=True)
class ChartFit:
    """A correction fitted on a chart, and how well it predicts the chart's own patches."""

    correction: Correction
    method: str                # the model chosen (or asked for)
    loo_dE: np.ndarray         # (24,) leave-one-patch-out CIE dE2000 (NaN for a clipped patch)
    clipped: int               # patches left out of the fit, clipped

    @property
    def gamma(self) -> tuple[float, float, float]:
        """Each channel's fitted tone-curve power."""
        return self.correction.gammas

    @property
    def dE_mean(self) -> float:
        return float(np.nanmean(self.loo_dE))

    @property
    def dE_max(self) -> float:
        return float(np.nanmax(self.loo_dE))


def fit_gamma(measured: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """`(3,)` per-channel powers `g` with `(v / 255) ** g` proportional to the reference linear light,
    from neutral patches: `measured` `(n, 3)` 8-bit means, `reference` `(n, 3)` their linear sRGB
    (or `(n,)`, the same for every channel)."""
    v = np.log(np.clip(np.asarray(measured, dtype=np.float64), 0.5, 255.0) / 255.0)
    ref = np.asarray(reference, dtype=np.float64)
    y = np.log(np.clip(np.repeat(ref[:, None], 3, axis=1) if ref.ndim == 1 else ref, 1e-6, None))
    gammas = np.empty(3)
    for c in range(3):
        slope, _ = np.polyfit(v[:, c], y[:, c], 1)
        gammas[c] = slope
    return np.clip(gammas, *_GAMMA_RANGE)


def _curves(gammas: np.ndarray) -> np.ndarray:
    return (np.arange(256, dtype=np.float64)[None, :] / 255.0) ** np.asarray(gammas)[:, None]


def _fit_model(model: str, lin: np.ndarray, target: np.ndarray) -> np.ndarray:
    if model == "matrix":
        solution, *_ = np.linalg.lstsq(lin, target, rcond=None)
        return solution.T
    import colour

    name, kwargs = _COLOUR_METHODS[model]
    return np.asarray(colour.characterisation.matrix_colour_correction(lin, target, method=name, **kwargs))


def _fit(model: str, measured: np.ndarray, target: np.ndarray, neutral: np.ndarray) -> Correction:
    """One correction from patches `measured` `(n, 3)` 8-bit to `target` `(n, 3)` linear sRGB;
    `neutral` `(n,)` bool marks the patches the tone curve is fitted on."""
    gammas = fit_gamma(measured[neutral], target[neutral])
    lin = _linearise(measured, gammas)
    return Correction(model=model, lut=_curves(gammas), ccm=_fit_model(model, lin, target), gammas=tuple(gammas))


def _linearise(measured: np.ndarray, gammas) -> np.ndarray:
    """Patches' 8-bit means (not whole values) -> linear camera values, on the fitted curves themselves."""
    return (np.clip(measured, 0.0, 255.0) / 255.0) ** np.asarray(gammas, dtype=np.float64)


def _predict(correction: Correction, measured: np.ndarray) -> np.ndarray:
    """Patches' 8-bit means -> corrected linear sRGB."""
    return correction.apply(_linearise(measured, correction.gammas))


def delta_e_2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIE dE2000 between `(..., 3)` L*a*b* arrays (colour-science's implementation)."""
    import colour

    return np.asarray(colour.delta_E(lab1, lab2, method="CIE 2000"), dtype=np.float64)


def leave_one_out(model: str, measured: np.ndarray, target: np.ndarray, use: np.ndarray,
                  neutral: np.ndarray) -> np.ndarray:
    """`(n,)` dE2000 of each used patch predicted by the model fitted on the other used patches
    (NaN for patches not used)."""
    out = np.full(len(measured), np.nan)
    target_lab = linear_to_lab(target)
    for i in np.flatnonzero(use):
        rest = use.copy()
        rest[i] = False
        if (neutral & rest).sum() < 3:
            continue
        fit = _fit(model, measured[rest], target[rest], neutral[rest])
        out[i] = delta_e_2000(linear_to_lab(_predict(fit, measured[i:i + 1]))[0], target_lab[i])
    return out


def fit_chart(reading: ChartReading, method: str = "auto") -> ChartFit:
    """The correction that takes the chart's measured patches onto its reference colours.

    Clipped patches are left out. `method` is one of `METHODS`; `auto` fits every model and keeps
    the one with the least mean leave-one-patch-out dE2000.
    """
    if method not in METHODS:
        raise FaceparseConfigError(f"chart method must be one of {METHODS}, found {method!r}")
    measured = np.asarray(reading.rgb, dtype=np.float64)
    target = reference_linear()
    use = ~np.asarray(reading.clipped, dtype=bool)
    neutral = np.zeros(len(measured), dtype=bool)
    neutral[NEUTRALS] = True
    neutral &= use
    if neutral.sum() < 3 or use.sum() < 12:
        raise FaceparseConfigError(f"the chart has {int(use.sum())} unclipped patches ({int(neutral.sum())} neutral): "
                                   "too few to fit a correction; photograph it without clipping")
    candidates = MODELS if method == "auto" else (method,)
    best: ChartFit | None = None
    for model in candidates:
        loo = leave_one_out(model, measured, target, use, neutral)
        if best is not None and not np.nanmean(loo) < best.dE_mean:
            continue
        correction = _fit(model, measured[use], target[use], neutral[use])
        best = ChartFit(correction=correction, method=model, loo_dE=loo, clipped=int((~use).sum()))
    assert best is not None
    return best


def white_balance(sclera_linear: np.ndarray) -> Correction:
    """The chart-free white balance: the sRGB curve, then per-channel gains that make the sclera's
    mean linear colour `(3,)` a neutral of the same luminance (Y), a von Kries correction on a
    reference that should be near-white. Sclera yellows with age and reddens with irritation, so
    this removes a camera's cast at the cost of a bias of its own (docs/colour.md)."""
    s = np.asarray(sclera_linear, dtype=np.float64)
    if s.shape != (3,) or not np.all(s > 0):
        raise ValueError(f"expected a (3,) positive linear sRGB sclera colour, found {s}")
    luminance = float(SRGB_TO_XYZ[1] @ s)
    lut = np.repeat(LINEAR_OF_BYTE[None, :], 3, axis=0)
    return Correction(model="sclera", lut=lut, ccm=np.diag(luminance / s))


@dataclass(frozen=True)
class PhotoColour:
    """How one photo's colours are read: through a chart's fit (the session's chart, or one found in
    the photo), balanced on each face's sclera, or as taken; and what the row says of it."""

    name: str = "none"                 # the row's colour_correction: none, chart:<file>, chart:auto, sclera
    fit: ChartFit | None = None
    chart: ChartReading | None = None
    sclera: bool = False               # white-balance each face on its own sclera
    flags: tuple[str, ...] = ()        # no_chart, chart_fit_poor, chart_clipped

    def as_row(self, flags: tuple[str, ...] | list[str] | None = None) -> dict[str, float | int | str]:
        """The chart's columns and `colour_flags`: this photo's `flags`, or those given (a face's own
        added by `profile_face`)."""
        fit, box = self.fit, self.chart.box if self.chart is not None else (math.nan,) * 4
        return {"chart_method": fit.method if fit else "", "chart_dE_mean": fit.dE_mean if fit else math.nan,
                "chart_dE_max": fit.dE_max if fit else math.nan, "chart_x0": box[0], "chart_y0": box[1],
                "chart_x1": box[2], "chart_y1": box[3], "colour_flags": ";".join(self.flags if flags is None else flags)}


def _chart_flags(reading: ChartReading, fit: ChartFit | None, max_dE: float) -> tuple[str, ...]:
    return tuple(["chart_clipped"] * bool(reading.clipped.any())
                 + ["chart_fit_poor"] * (fit is not None and fit.dE_mean > max_dE))


def chart_colour(reading: ChartReading | None, name: str, method: str, max_dE: float) -> PhotoColour:
    """The `PhotoColour` of a chart reading (None: no chart found, flagged `no_chart`, read as taken).
    A chart with too few unclipped patches to fit is flagged `chart_clipped` and not used."""
    if reading is None:
        return PhotoColour(name=name, flags=("no_chart",))
    try:
        fit = fit_chart(reading, method)
    except FaceparseConfigError:
        return PhotoColour(name=name, chart=reading, flags=_chart_flags(reading, None, max_dE))
    return PhotoColour(name=name, fit=fit, chart=reading, flags=_chart_flags(reading, fit, max_dE))


@dataclass(frozen=True)
class ColourSource:
    """Where a run's photos get their `PhotoColour`: one for every photo (as taken, the session's
    chart, or the sclera balance), or a chart looked for in each photo (`auto`)."""

    every: PhotoColour | None = PhotoColour()   # None: look for a chart in each photo
    method: str = "matrix"
    max_dE: float = 3.0

    def for_photo(self, image: np.ndarray) -> PhotoColour:
        if self.every is not None:
            return self.every
        return chart_colour(find_chart(image), "chart:auto", self.method, self.max_dE)


def colour_source(chart: str | None, white_balance: str = "none", method: str = "matrix",
                  max_dE: float = 3.0) -> ColourSource:
    """The run's `ColourSource`: `chart` a session chart photo's path, "auto", or None; `white_balance`
    "none" or "sclera". A chart photo without a chart, or too clipped to fit, is an error naming it,
    raised before any photo is measured."""
    if chart is not None and white_balance != "none":
        raise FaceparseConfigError("give a chart or a white balance on the sclera, not both")
    if chart == "auto":
        return ColourSource(every=None, method=method, max_dE=max_dE)
    if chart is not None:
        reading = read_chart_photo(Path(chart))
        try:
            fit = fit_chart(reading, method)
        except FaceparseConfigError as err:
            raise FaceparseDataError(chart, str(err)) from None
        every = PhotoColour(name=f"chart:{Path(chart).name}", fit=fit, chart=reading,
                            flags=_chart_flags(reading, fit, max_dE))
        return ColourSource(every=every, method=method, max_dE=max_dE)
    if white_balance == "sclera":
        return ColourSource(every=PhotoColour(name="sclera", sclera=True), method=method, max_dE=max_dE)
    if white_balance != "none":
        raise FaceparseConfigError(f"white balance must be none or sclera, found {white_balance!r}")
    return ColourSource(every=PhotoColour(), method=method, max_dE=max_dE)
