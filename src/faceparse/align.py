"""Find a face and map it onto the model's square input: dataset landmarks where they exist, else
OpenCV Haar cascades (frontal, then profile either way) with the eye line levelled.

Every aligned sample keeps its 2x3 affine `M` (original pixel -> aligned pixel), so a prediction made
on the aligned crop is warped back onto the original photo with `unwarp_probs` and scored there.
Photos are resampled bilinearly, label maps only nearest-neighbour. `align_manifest` runs the align
stage: every prepared photo cropped and cached as arrays (read back through `faceparse.crops`), so
training never decodes or resizes a photo again.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from faceparse.datasets import Sample, get_reader, read_image, read_index_mask
from faceparse.labels import IGNORE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alignment:
    """Where the face is and the affine that crops it; `matrix` maps original -> aligned pixels."""

    matrix: np.ndarray          # (2, 3) float64
    method: str                 # "landmarks", "haar_frontal", "haar_profile", or "none" (no face found)
    box: tuple[float, float, float, float]  # face box (x, y, w, h) in original pixels
    angle: float                # eye-line angle in degrees that was levelled

    @property
    def face_found(self) -> bool:
        return self.method != "none"

    @property
    def inverse(self) -> np.ndarray:
        return cv2.invertAffineTransform(self.matrix)


def crop_matrix(center: tuple[float, float], side: float, angle: float, out_size: int) -> np.ndarray:
    """Affine taking a square of `side` pixels centred at `center`, rotated by `angle` degrees, to
    an `out_size` x `out_size` image with the square's content upright."""
    s = out_size / side
    m = cv2.getRotationMatrix2D((float(center[0]), float(center[1])), angle, s)
    m[0, 2] += out_size / 2 - center[0]
    m[1, 2] += out_size / 2 - center[1]
    return m


@dataclass(frozen=True)
class AlignParams:
    size: int = 256            # model input side in pixels
    scale: float = 1.8         # crop side / face-box side (a Haar box spans brow to chin)
    shift: float = 0.05        # crop centre moved up by this fraction of the box (room for hair)
    level_eyes: bool = True
    max_angle: float = 30.0    # larger eye-line angles are taken as detector mistakes and ignored


def align_from_landmarks(points: np.ndarray, params: AlignParams) -> Alignment:
    """Alignment from iBUG-68 landmarks (`(68+, 2)` float, x y); eyes are points 36-41 and 42-47."""
    pts = np.asarray(points, dtype=np.float64)[:68]
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    # The 68 points span brow to chin; a frontal Haar box on the same face is about 1.2 times wider
    # and centred 0.2 of the face height higher (measured on FaceSynthetics), so the same `scale`
    # gives like crops from either source.
    side = 1.2 * max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 - 0.2 * (y1 - y0)
    angle = 0.0
    if params.level_eyes:
        left, right = pts[36:42].mean(axis=0), pts[42:48].mean(axis=0)
        angle = _eye_angle(left, right, params.max_angle)
    return _make(cx, cy, side, angle, "landmarks", (x0, y0, x1 - x0, y1 - y0), params)


def _eye_angle(a: np.ndarray, b: np.ndarray, max_angle: float) -> float:
    (ax, ay), (bx, by) = sorted([tuple(a), tuple(b)])
    angle = math.degrees(math.atan2(by - ay, bx - ax))
    return angle if abs(angle) <= max_angle else 0.0


def _make(cx: float, cy: float, side: float, angle: float, method: str, box, params: AlignParams) -> Alignment:
    cy -= params.shift * side
    m = crop_matrix((cx, cy), side * params.scale, angle, params.size)
    return Alignment(matrix=m, method=method, box=tuple(float(v) for v in box), angle=float(angle))


def align_whole_image(shape: tuple[int, int], params: AlignParams) -> Alignment:
    """No face found: the whole photo, letter-boxed into the square, so it can still be segmented."""
    h, w = shape[:2]
    m = crop_matrix((w / 2, h / 2), max(h, w), 0.0, params.size)
    return Alignment(matrix=m, method="none", box=(0.0, 0.0, float(w), float(h)), angle=0.0)


class HaarFaceFinder:
    """OpenCV Haar cascades: frontal first, then profile (and its mirror for the other side)."""

    def __init__(self, params: AlignParams, max_side: int = 640) -> None:
        self.params = params
        self.max_side = max_side

    @cached_property
    def _cascades(self) -> dict[str, cv2.CascadeClassifier]:
        out = {}
        for key, fname in (("frontal", "haarcascade_frontalface_default.xml"),
                           ("frontal_alt", "haarcascade_frontalface_alt2.xml"),
                           ("profile", "haarcascade_profileface.xml"),
                           ("eye", "haarcascade_eye.xml")):
            c = cv2.CascadeClassifier(cv2.data.haarcascades + fname)
            if c.empty():
                raise RuntimeError(f"OpenCV Haar cascade {fname} missing from {cv2.data.haarcascades}")
            out[key] = c
        return out

    def find(self, image: np.ndarray) -> list[Alignment]:
        """All faces in a `(H, W, 3) uint8` RGB photo, largest first (empty if none)."""
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        f = min(1.0, self.max_side / max(gray.shape))
        small = cv2.resize(gray, None, fx=f, fy=f, interpolation=cv2.INTER_AREA) if f < 1 else gray
        small = cv2.equalizeHist(small)
        min_size = max(24, int(0.2 * min(small.shape)))
        for method, boxes in self._detections(small, min_size):
            if len(boxes):
                boxes = sorted(boxes, key=lambda b: -b[2] * b[3])
                return [self._align(gray, np.asarray(b, dtype=np.float64) / f, method) for b in boxes]
        return []

    def _detections(self, small: np.ndarray, min_size: int):
        c = self._cascades
        kw = dict(scaleFactor=1.1, minNeighbors=5, minSize=(min_size, min_size))
        yield "haar_frontal", list(c["frontal"].detectMultiScale(small, **kw))
        yield "haar_frontal", list(c["frontal_alt"].detectMultiScale(small, **kw))
        prof = list(c["profile"].detectMultiScale(small, **kw))
        w = small.shape[1]
        for x, y, bw, bh in c["profile"].detectMultiScale(np.ascontiguousarray(small[:, ::-1]), **kw):
            prof.append((w - x - bw, y, bw, bh))
        yield "haar_profile", prof

    def _align(self, gray: np.ndarray, box: np.ndarray, method: str) -> Alignment:
        x, y, w, h = box
        angle = self._eye_line(gray, box) if (self.params.level_eyes and method == "haar_frontal") else 0.0
        return _make(x + w / 2, y + h / 2, max(w, h), angle, method, (x, y, w, h), self.params)

    def _eye_line(self, gray: np.ndarray, box: np.ndarray) -> float:
        x, y, w, h = (int(round(v)) for v in box)
        top = gray[max(y, 0): max(y, 0) + h // 2, max(x, 0): max(x, 0) + w]
        if top.size == 0:
            return 0.0
        eyes = self._cascades["eye"].detectMultiScale(top, scaleFactor=1.1, minNeighbors=5,
                                                      minSize=(max(8, w // 10), max(8, w // 10)))
        if len(eyes) < 2:
            return 0.0
        eyes = sorted(eyes, key=lambda e: -e[2] * e[3])[:2]
        centres = [np.array([ex + ew / 2, ey + eh / 2]) for ex, ey, ew, eh in eyes]
        if abs(centres[0][0] - centres[1][0]) < w * 0.2:  # both detections on one eye
            return 0.0
        return _eye_angle(centres[0], centres[1], self.params.max_angle)


def warp_image(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """`(H, W, 3) uint8` photo -> `(size, size, 3) uint8` crop (bilinear, black outside the photo)."""
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=(0, 0, 0))


def warp_mask(mask: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """`(H, W) uint8` label map -> `(size, size)` crop, nearest-neighbour, 255 (ignore) outside the photo."""
    return cv2.warpAffine(mask, matrix, (size, size), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=IGNORE)


def unwarp_probs(probs: np.ndarray, matrix: np.ndarray, shape: tuple[int, int], background: int = 0) -> np.ndarray:
    """Warp `(K, S, S) float32` class probabilities back onto the original `(H, W)` photo.

    Probabilities are smooth, so bilinear resampling is right for them (the argmax is taken after);
    photo pixels outside the crop get probability 1 for `background`.
    """
    k = probs.shape[0]
    h, w = shape[:2]
    hwk = np.ascontiguousarray(probs.transpose(1, 2, 0))
    out = np.empty((h, w, k), dtype=np.float32)
    # cv2 warps at most 4 channels per call reliably across versions; go in groups of 4.
    for i in range(0, k, 4):
        chunk = np.ascontiguousarray(hwk[..., i:i + 4])
        border = [1.0 if background in range(i, i + 4) and c == background - i else 0.0 for c in range(4)]
        res = cv2.warpAffine(chunk, matrix, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=border)
        out[..., i:i + 4] = res.reshape(h, w, -1)
    return out.transpose(2, 0, 1)


def align_sample(image: np.ndarray, landmarks: np.ndarray | None, finder: HaarFaceFinder,
                 params: AlignParams) -> Alignment:
    """Landmarks when given, else the largest Haar face, else the whole photo (recorded as "none")."""
    if landmarks is not None:
        return align_from_landmarks(landmarks, params)
    faces = finder.find(image)
    return faces[0] if faces else align_whole_image(image.shape, params)


# --- the align stage: every prepared photo of a manifest, cached as crops (see faceparse.crops) ---

def align_manifest(manifest: pd.DataFrame, params: AlignParams, repo_root: Path, out_dir: Path,
                   formats: dict[str, str]) -> pd.DataFrame:
    """Write `out_dir/<dataset>.npz` (images, labels, native_labels, affines) and return the manifest
    with the alignment of every sample (`index` is the row in its dataset's arrays; -1 if skipped)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    finder = HaarFaceFinder(params)
    rows = []
    for dataset, group in manifest.groupby("dataset", sort=True):
        reader = get_reader(formats[dataset])
        ok = group[group["status"] == "ok"]
        n, s = len(ok), params.size
        images = np.zeros((n, s, s, 3), np.uint8)
        labels = np.zeros((n, s, s), np.uint8)
        native = np.zeros((n, s, s), np.uint8)
        affines = np.zeros((n, 2, 3), np.float64)
        for i, (_, r) in enumerate(tqdm(ok.iterrows(), total=n, desc=f"align {dataset}", unit="photo",
                                        dynamic_ncols=True)):
            image = read_image(repo_root / r["image"])
            landmarks = None
            if r["landmarks"]:
                landmarks = reader.read_landmarks(Sample(id=r["id"], image=Path(r["image"]), mask=None, dataset=dataset,
                                                         landmarks=repo_root / r["landmarks"]))
            a = align_sample(image, landmarks, finder, params)
            images[i] = warp_image(image, a.matrix, s)
            labels[i] = warp_mask(read_index_mask(repo_root / r["label"]), a.matrix, s)
            native[i] = warp_mask(read_index_mask(repo_root / r["native_label"]), a.matrix, s)
            affines[i] = a.matrix
            rows.append({**r.to_dict(), "index": i, "align_method": a.method, "face_found": a.face_found,
                         "box_x": a.box[0], "box_y": a.box[1], "box_w": a.box[2], "box_h": a.box[3],
                         "angle": a.angle})
        for _, r in group[group["status"] != "ok"].iterrows():
            rows.append({**r.to_dict(), "index": -1, "align_method": "skipped", "face_found": False})
        tmp = out_dir / f"{dataset}.tmp.npz"
        np.savez(tmp, images=images, labels=labels, native_labels=native, affines=affines)
        tmp.replace(out_dir / f"{dataset}.npz")
        found = sum(1 for r in rows if r["dataset"] == dataset and r["face_found"])
        log.info("%s: %d photos aligned, face found in %d", dataset, n, found)
    return pd.DataFrame(rows)
