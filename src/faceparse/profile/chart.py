"""The colour chart a photo is corrected by: the ColorChecker Classic 24's reference colours
(colour-science's tables), and finding the chart in a photo and reading its 24 patches (OpenCV's
`mcc` detector, in the contrib build of OpenCV).

Reference colours are the X-Rite ColorChecker Classic's published values for charts made after
November 2014, given under D50; they are adapted to D65 (Bradford) and expressed in linear sRGB,
the space every measure of `faceparse.profile` averages in.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from faceparse.errors import FaceparseConfigError, FaceparseDataError

CHART = "ColorChecker24 - After November 2014"  # colour-science's name for the chart labs buy today
PATCHES = 24
NEUTRALS = slice(18, 24)  # white to black, the last row


@lru_cache(maxsize=4)
def reference_linear(chart: str = CHART) -> np.ndarray:
    """`(24, 3) float64` linear sRGB (D65) of the chart's patches, in reading order (dark skin ...
    black); some lie just outside the sRGB gamut (the cyan patch has R < 0)."""
    import colour

    if chart not in colour.CCS_COLOURCHECKERS:
        raise FaceparseConfigError(f"unknown colour chart {chart!r}; colour-science knows "
                                   f"{sorted(k for k in colour.CCS_COLOURCHECKERS if ' ' in k)}")
    cc = colour.CCS_COLOURCHECKERS[chart]
    xyz = colour.xyY_to_XYZ(np.array(list(cc.data.values())))
    rgb = colour.XYZ_to_RGB(xyz, colour.RGB_COLOURSPACES["sRGB"], cc.illuminant,
                            chromatic_adaptation_transform="Bradford")
    out = np.asarray(rgb, dtype=np.float64)
    out.setflags(write=False)
    return out


@dataclass(frozen=True)
class ChartReading:
    """The 24 patches of a chart found in a photo."""

    rgb: np.ndarray          # (24, 3) float64 mean 8-bit sRGB of each patch's centre, reading order
    clipped: np.ndarray      # (24,) bool: a channel of the patch at 0 or 255 (no colour information)
    corners: np.ndarray      # (4, 2) float64 the chart's corners on the photo, x y

    @property
    def box(self) -> tuple[int, int, int, int]:
        """x0, y0, x1, y1 of the chart on the photo."""
        lo, hi = self.corners.min(axis=0), self.corners.max(axis=0)
        return int(round(lo[0])), int(round(lo[1])), int(round(hi[0])), int(round(hi[1]))


def _detector():
    if not hasattr(cv2, "mcc"):
        raise FaceparseConfigError(
            "colour charts need OpenCV's contrib module mcc, which this OpenCV lacks (another OpenCV wheel "
            f"was installed over it); reinstall it: pip install --no-deps --force-reinstall "
            f"opencv-contrib-python-headless=={cv2.__version__}.*")
    return cv2.mcc.CCheckerDetector_create()


def find_chart(image: np.ndarray) -> ChartReading | None:
    """The ColorChecker 24 in a `(H, W, 3) uint8` sRGB photo, or None when there is none.

    OpenCV's detector reads each patch's mean over its centre (it keeps clear of the patch edges);
    a channel whose pixels reach 0 or 255 on average within one level marks the patch clipped.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected a (H, W, 3) uint8 sRGB photo, found {image.dtype} {image.shape}")
    detector = _detector()
    bgr = np.ascontiguousarray(image[..., ::-1])
    if not detector.process(bgr, cv2.mcc.MCC24, 1):
        return None
    checker = detector.getBestColorChecker()
    stats = np.asarray(checker.getChartsRGB(), dtype=np.float64)  # (72, 5): count, mean, std, max, min
    if stats.shape != (3 * PATCHES, 5):
        return None
    mean = stats[:, 1].reshape(PATCHES, 3)
    clipped = ((mean >= 254.0) | (mean <= 1.0)).any(axis=1)
    return ChartReading(rgb=mean, clipped=clipped, corners=np.asarray(checker.getBox(), dtype=np.float64))


def read_chart_photo(path: Path) -> ChartReading:
    """The chart in a session photo; one error naming the file when it cannot be read or holds no chart."""
    from faceparse.datasets import read_image

    image = read_image(Path(path))
    found = find_chart(image)
    if found is None:
        raise FaceparseDataError(path, "no ColorChecker 24 found in this chart photo (photograph the whole chart "
                                 "flat in the participants' light, filling about a tenth of the frame, unclipped)")
    return found
