"""Rendered colour charts and simulated cameras: what the colour correction is tested and
benchmarked on (`benchmarks/colour_cameras.py`), seeded so that every run sees the same photos.

A photo is taken as the scene's light (its sRGB decoded to linear light); a camera scales it
(exposure), tints it (white-balance gains), mixes its channels (crosstalk), adds sensor noise,
encodes it with its own tone curve and saves it as a JPEG. A chart is rendered in the same linear
light from its reference colours, in perspective and blurred, either into a session photo of its own
or into the photo itself, before the camera sees it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from faceparse.profile.chart import reference_linear
from faceparse.profile.colour import LINEAR_OF_BYTE

FRAME_LINEAR = 0.012   # the chart's black frame, linear light (L* about 10)


def chart_linear(patch: int = 60) -> np.ndarray:
    """`(H, W, 3) float64` the ColorChecker 24 in linear sRGB: 4 x 6 patches of `patch` pixels on
    its black frame (gaps of 0.25 patch, a border of 0.4), out-of-gamut values raised to 0.004."""
    gap, border = int(round(0.25 * patch)), int(round(0.4 * patch))
    h, w = 4 * patch + 3 * gap + 2 * border, 6 * patch + 5 * gap + 2 * border
    img = np.full((h, w, 3), FRAME_LINEAR)
    ref = np.clip(reference_linear(), 0.004, None)  # a real patch reflects some light in every channel
    for i in range(24):
        r, c = divmod(i, 6)
        y, x = border + r * (patch + gap), border + c * (patch + gap)
        img[y:y + patch, x:x + patch] = ref[i]
    return img


def paste_chart(scene: np.ndarray, share: float, centre: tuple[float, float], rng: np.random.Generator,
                tilt: float = 12.0) -> np.ndarray:
    """The chart drawn into a linear `(H, W, 3)` scene over `share` of its area, about `centre`
    (x, y as shares of the width and height), turned up to `tilt` degrees and seen in perspective."""
    h, w = scene.shape[:2]
    chart = chart_linear()
    ch, cw = chart.shape[:2]
    scale = np.sqrt(share * h * w / (ch * cw))
    angle = np.radians(rng.uniform(-tilt, tilt))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    half = np.array([[-cw, -ch], [cw, -ch], [cw, ch], [-cw, ch]], dtype=np.float64) / 2 * scale
    lean = rng.uniform(0.85, 1.0)  # one side further from the camera
    half[[0, 3] if rng.random() < 0.5 else [1, 2], 1] *= lean
    dst = half @ rot.T + [centre[0] * w, centre[1] * h]
    src = np.array([[0, 0], [cw, 0], [cw, ch], [0, ch]], dtype=np.float32)
    m = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    x0, y0 = np.maximum(np.floor(dst.min(axis=0)).astype(int) - 8, 0)
    x1, y1 = np.minimum(np.ceil(dst.max(axis=0)).astype(int) + 8, (w, h))
    m = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], dtype=np.float64) @ m  # draw the chart's box only
    drawn = cv2.warpPerspective(chart.astype(np.float32), m, (x1 - x0, y1 - y0), flags=cv2.INTER_AREA)
    cover = cv2.warpPerspective(np.ones((ch, cw), np.float32), m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR)[..., None]
    out = np.array(scene, dtype=np.float32, copy=True)
    box = out[y0:y1, x0:x1]
    out[y0:y1, x0:x1] = cv2.GaussianBlur(box * (1 - cover) + drawn * cover, (0, 0), 0.8)  # the lens blurs its edges
    return out


def session_scene(shape: tuple[int, int], rng: np.random.Generator, share: float = 0.1) -> np.ndarray:
    """A session photo's linear scene: a grey wall lit unevenly, the chart filling `share` of it."""
    h, w = shape
    ramp = np.linspace(0.7, 1.0, w, dtype=np.float32)[None, :] * np.linspace(1.0, 0.85, h, dtype=np.float32)[:, None]
    wall = np.repeat((np.float32(0.16) * ramp)[..., None], 3, axis=2)
    return paste_chart(wall, share, (rng.uniform(0.4, 0.6), rng.uniform(0.4, 0.6)), rng)


@dataclass(frozen=True)
class Camera:
    """One simulated camera: what it does to linear light, then how it encodes and saves it."""

    name: str
    exposure: float
    gains: tuple[float, float, float]     # white balance, the largest 1
    crosstalk: np.ndarray                 # (3, 3), rows summing to 1
    curve: float                          # encoded = srgb_encode(linear) ** curve
    noise: float                          # sensor noise, linear light at mid-grey
    jpeg: int                             # JPEG quality; 0 = saved losslessly

    def capture(self, scene: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A linear `(H, W, 3)` scene -> the `(H, W, 3) uint8` sRGB photo this camera saves."""
        return np.asarray(Image.open(io.BytesIO(self.save(scene, rng))).convert("RGB"))

    def save(self, scene: np.ndarray, rng: np.random.Generator) -> bytes:
        """The file this camera writes of a linear `(H, W, 3)` scene: a JPEG, or a PNG when `jpeg` is 0."""
        mix = (self.crosstalk * (self.exposure * np.asarray(self.gains))[None, :]).astype(np.float32)
        lin = np.asarray(scene, dtype=np.float32) @ mix.T
        if self.noise:
            shot = np.sqrt(np.clip(lin, 0, None) / np.float32(0.18) + np.float32(0.05))
            lin += rng.standard_normal(lin.shape, dtype=np.float32) * np.float32(self.noise) * shot
        np.clip(lin, 0.0, 1.0, out=lin)
        # The camera's curve, read from a table of 4096 levels (finer than the 8-bit output).
        levels = np.linspace(0.0, 1.0, 4096)
        srgb = np.where(levels <= 0.0031308, 12.92 * levels, 1.055 * levels ** (1 / 2.4) - 0.055)
        table = np.clip(np.round(srgb ** self.curve * 255.0), 0, 255).astype(np.uint8)
        out = table[np.round(lin * 4095).astype(np.int32)]
        buf = io.BytesIO()
        if self.jpeg:
            Image.fromarray(out).save(buf, format="JPEG", quality=self.jpeg)
        else:
            Image.fromarray(out).save(buf, format="PNG")
        return buf.getvalue()


ORIGINAL = Camera("original", 1.0, (1.0, 1.0, 1.0), np.eye(3), 1.0, 0.0, 0)


def cameras(n: int = 6, seed: int = 0) -> list[Camera]:
    """`n` seeded cameras: white balance off by up to 1.6x between channels, crosstalk up to 0.12,
    exposure 0.55-1.1, tone curve power 0.85-1.2 on the sRGB curve, JPEG quality 60-95."""
    out = []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        gains = np.array([rng.uniform(0.62, 1.0), 1.0, rng.uniform(0.62, 1.0)])
        if rng.random() < 0.5:  # a cool cast as often as a warm one
            gains = gains[::-1]
        gains = gains / gains.max()
        mix = np.eye(3) + rng.uniform(0.0, 0.12, (3, 3)) * (1 - np.eye(3))
        out.append(Camera(f"camera{i + 1}", float(rng.uniform(0.55, 1.1)), tuple(float(g) for g in gains),
                          mix / mix.sum(axis=1, keepdims=True), float(rng.uniform(0.85, 1.2)),
                          float(rng.uniform(0.002, 0.006)), int(rng.integers(60, 96))))
    return out


def scene_of(photo: np.ndarray) -> np.ndarray:
    """A `(H, W, 3) uint8` sRGB photo as the `float32` linear light of its scene."""
    return LINEAR_OF_BYTE.astype(np.float32)[np.asarray(photo)]
