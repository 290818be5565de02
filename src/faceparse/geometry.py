"""Where a face sits in its photo and how it maps onto the model's square input: from dataset
landmarks where they exist, else from a detector's five points (YuNet, see `faceparse.detect`)
fitted to a fixed template by a similarity transform, else from a detector's box (Haar cascades)
with the eye line levelled.

Every aligned face keeps its 2x3 affine `M` (original pixel -> aligned pixel): photos are warped
onto the crop bilinearly, label maps only nearest-neighbour, and a prediction made on the crop is
warped back over the crop's box on the photo (`warp_region`), where it is scored and measured.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import cv2
import numpy as np

from faceparse.labels import IGNORE


@dataclass(frozen=True)
class Alignment:
    """Where the face is and the affine that crops it; `matrix` maps original -> aligned pixels."""

    matrix: np.ndarray          # (2, 3) float64
    method: str                 # "landmarks", "yunet", "haar_frontal", "haar_profile", or "none" (no face found)
    box: tuple[float, float, float, float]  # face box (x, y, w, h) in original pixels
    angle: float                # eye-line angle in degrees that was levelled
    score: float = math.nan     # the detector's confidence (YuNet's; NaN for Haar and landmarks)
    # The five points (x, y) in original pixels, in the order of POINT_NAMES; None when not known.
    points: tuple[tuple[float, float], ...] | None = None

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
    max_angle: float = 30.0    # larger Haar eye-line angles are taken as detector mistakes and ignored
    detector: str = "yunet"    # yunet (five points; Haar when it finds no face) | haar (boxes only)
    min_score: float = 0.5     # YuNet faces scoring lower are not faces


# The five points every alignment records, in YuNet's order (the person's right eye is image-left).
POINT_NAMES = ("right_eye", "left_eye", "nose", "right_mouth", "left_mouth")

# Where YuNet puts the five points in a Haar frontal face box, in box sides from the box centre
# (x right, y down): the mean over FASSEG V2 train, made left-right symmetric. Fitting a face's
# points to it gives the crop a Haar box with its eye line levelled would give, so `scale` and
# `shift` mean the same for either detector.
FIVE_POINT_TEMPLATE = np.array([(-0.204, -0.118), (0.204, -0.118), (0.0, 0.120), (-0.175, 0.320), (0.175, 0.320)])

# A turned head's five points lie on its face, off the centre of the head: on FASSEG V3 train the head's
# centre in the crop sat -2.85 times the nose's offset from the eye and mouth corners' mean, both in
# crop sides (r = -0.99 over poses -90..+90), so the crop is moved that far back towards the skull.
YAW_SHIFT = 2.85


def align_from_landmarks(points: np.ndarray, params: AlignParams) -> Alignment:
    """Alignment from iBUG-68 landmarks (`(68+, 2)` float, x y); eyes are points 36-41 and 42-47."""
    pts = np.asarray(points, dtype=np.float64)[:68]
    five = five_points_from_ibug68(pts)
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    # The 68 points span brow to chin; a frontal Haar box on the same face is about 1.2 times wider
    # and centred 0.2 of the face height higher (measured on FaceSynthetics), so the same `scale`
    # gives like crops from either source.
    side = 1.2 * max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 - 0.2 * (y1 - y0)
    angle = 0.0
    if params.level_eyes:
        angle = eye_angle(five[0], five[1], params.max_angle)
    a = _make(cx, cy, side, angle, "landmarks", (x0, y0, x1 - x0, y1 - y0), params)
    return dataclasses.replace(a, points=_as_points(five))


def five_points_from_ibug68(points: np.ndarray) -> np.ndarray:
    """`(5, 2)` eye centres (means of the eye contours 36-41 and 42-47), nose tip (30) and mouth
    corners (48, 54) of iBUG-68 landmarks, in `POINT_NAMES` order."""
    pts = np.asarray(points, dtype=np.float64)
    return np.stack([pts[36:42].mean(0), pts[42:48].mean(0), pts[30], pts[48], pts[54]])


def _as_points(points: np.ndarray) -> tuple[tuple[float, float], ...]:
    return tuple((float(x), float(y)) for x, y in np.asarray(points, dtype=np.float64).reshape(-1, 2))


def eye_angle(a: np.ndarray, b: np.ndarray, max_angle: float) -> float:
    """Degrees of the line from the image-left to the image-right of two eye centres (y down); 0
    when steeper than `max_angle`."""
    (ax, ay), (bx, by) = sorted([tuple(a), tuple(b)])
    angle = math.degrees(math.atan2(by - ay, bx - ax))
    return angle if abs(angle) <= max_angle else 0.0


def _make(cx: float, cy: float, side: float, angle: float, method: str, box, params: AlignParams) -> Alignment:
    cy -= params.shift * side
    m = crop_matrix((cx, cy), side * params.scale, angle, params.size)
    return Alignment(matrix=m, method=method, box=tuple(float(v) for v in box), angle=float(angle))


def align_from_box(box: tuple[float, float, float, float], angle: float, method: str,
                   params: AlignParams) -> Alignment:
    """Alignment from a detector's face box `(x, y, w, h)` and the eye-line angle to level."""
    x, y, w, h = box
    return _make(x + w / 2, y + h / 2, max(w, h), angle, method, (x, y, w, h), params)


def similarity(src: np.ndarray, dst: np.ndarray, rotate: bool = True) -> np.ndarray:
    """`(2, 3)` least-squares similarity (scale, rotation, translation) taking points `src` onto
    `dst` (Umeyama 1991); scale and translation only when `rotate` is False."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    ms, md = src.mean(0), dst.mean(0)
    s, d = src - ms, dst - md
    var = (s ** 2).sum()
    if var <= 1e-12:
        raise ValueError("similarity: the source points coincide")
    if rotate:
        u, sig, vt = np.linalg.svd(d.T @ s)
        sign = np.diag([1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
        r = u @ sign @ vt
        c = float((sig * np.diag(sign)).sum() / var)
    else:
        r = np.eye(2)
        c = float((s * d).sum() / var)
    m = np.empty((2, 3))
    m[:, :2] = c * r
    m[:, 2] = md - c * r @ ms
    return m


def align_from_points(points: np.ndarray, params: AlignParams, method: str,
                      box: tuple[float, float, float, float], score: float = math.nan) -> Alignment:
    """Alignment from five points (`POINT_NAMES` order, photo pixels) fitted to `FIVE_POINT_TEMPLATE`
    placed in the crop as `scale` and `shift` place a face box, then moved sideways by `YAW_SHIFT`
    for a turned head; the eye line is levelled when `level_eyes` (else the fit neither rotates)."""
    unit = params.size / params.scale          # crop pixels per face-box side
    template = params.size / 2 + (FIVE_POINT_TEMPLATE + (0.0, params.shift)) * unit
    m = similarity(points, template, rotate=params.level_eyes)
    fitted = np.asarray(points, np.float64) @ m[:, :2].T + m[:, 2]
    nose_offset = fitted[2, 0] - fitted[[0, 1, 3, 4], 0].mean()
    # at most 0.35 of the crop: past full profile (about 0.31 on FASSEG) the points are a detector's mistake
    m[0, 2] += float(np.clip(YAW_SHIFT * nose_offset, -0.35 * params.size, 0.35 * params.size))
    angle = math.degrees(math.atan2(m[0, 1], m[0, 0]))
    return Alignment(matrix=m, method=method, box=tuple(float(v) for v in box), angle=float(angle),
                     score=float(score), points=_as_points(points))


def align_whole_image(shape: tuple[int, int], params: AlignParams) -> Alignment:
    """No face found: the whole photo, letter-boxed into the square, so it can still be segmented."""
    h, w = shape[:2]
    m = crop_matrix((w / 2, h / 2), max(h, w), 0.0, params.size)
    return Alignment(matrix=m, method="none", box=(0.0, 0.0, float(w), float(h)), angle=0.0)


def warp_image(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """`(H, W, 3) uint8` photo -> `(size, size, 3) uint8` crop (bilinear, black outside the photo)."""
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=(0, 0, 0))


def warp_mask(mask: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """`(H, W) uint8` label map -> `(size, size)` crop, nearest-neighbour, 255 (ignore) outside the photo."""
    return cv2.warpAffine(mask, matrix, (size, size), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=IGNORE)


def crop_region(matrix: np.ndarray, size: int, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """`(x0, y0, x1, y1)`: the box of photo pixels (clipped to the photo) whose bilinear sample can
    touch the `size`-pixel crop taken by `matrix`; every pixel outside it lies wholly off the crop."""
    h, w = shape[:2]
    corners = np.array([[[-1.0, -1.0], [size, -1.0], [-1.0, size], [size, size]]])
    pts = cv2.transform(corners, cv2.invertAffineTransform(matrix))[0]
    x0, y0 = np.floor(pts.min(0)).astype(int) - 1
    x1, y1 = np.ceil(pts.max(0)).astype(int) + 2
    return max(0, x0), max(0, y0), min(w, max(0, x1)), min(h, max(0, y1))


def _shifted(matrix: np.ndarray, x0: int, y0: int) -> np.ndarray:
    """`matrix` (photo -> crop) for photo coordinates counted from `(x0, y0)`."""
    m = np.array(matrix, dtype=np.float64)
    m[:, 2] += m[:, :2] @ (x0, y0)
    return m


def warp_region(probs: np.ndarray, matrix: np.ndarray, box: tuple[int, int, int, int],
                background: int = 0) -> np.ndarray:
    """`(K, S, S) float32` crop probabilities resampled (bilinear) over the photo pixels of `box`
    `(x0, y0, x1, y1)`: `(y1 - y0, x1 - x0, K) float32`, probability 1 for `background` off the crop."""
    x0, y0, x1, y1 = box
    # One call for all K channels. OpenCV's border value holds 4 channels and repeats beyond them,
    # so the warp reads 0 off the crop for every channel: background's probability minus 1 is
    # warped and the 1 added back (equal to warping it with border 1 within 1.2e-7).
    hwk = np.ascontiguousarray(probs.transpose(1, 2, 0))
    hwk[..., background] -= 1.0
    region = cv2.warpAffine(hwk, _shifted(matrix, x0, y0), (x1 - x0, y1 - y0),
                            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
                            borderValue=0.0)
    region = region.reshape(y1 - y0, x1 - x0, -1)
    region[..., background] += 1.0
    return region


def face_box(probs: np.ndarray, matrix: np.ndarray, shape: tuple[int, int], background: int = 0,
             margin: int = 6) -> tuple[int, int, int, int]:
    """The box of photo pixels (within `crop_region`) that can take a class other than `background`
    from `(K, S, S)` crop probabilities: where the 2x2 crop pixels a photo pixel is blended from all
    have background as their most likely class, so has the blend (a weighted mean keeps which class
    is largest), so only pixels near the crop's non-background pixels need their argmax taken.
    `margin` photo pixels are added on each side. `(0, 0, 0, 0)` when the crop holds no other class."""
    size = probs.shape[1]
    face = _not_argmax(probs, background)
    rows = np.flatnonzero(face.any(axis=1))
    if not rows.size:
        return 0, 0, 0, 0
    cols = np.flatnonzero(face.any(axis=0))
    # A photo pixel blends the crop pixels at floor(q) and floor(q) + 1 of its crop position q.
    c0, c1 = cols[0] - 1.0, cols[-1] + 1.0
    r0, r1 = rows[0] - 1.0, rows[-1] + 1.0
    corners = np.array([[[c0, r0], [c1, r0], [c0, r1], [c1, r1]]])
    pts = cv2.transform(corners, cv2.invertAffineTransform(matrix))[0]
    bx0, by0, bx1, by1 = crop_region(matrix, size, shape)
    x0 = max(bx0, int(np.floor(pts[:, 0].min())) - margin)
    y0 = max(by0, int(np.floor(pts[:, 1].min())) - margin)
    x1 = min(bx1, int(np.ceil(pts[:, 0].max())) + 1 + margin)
    y1 = min(by1, int(np.ceil(pts[:, 1].max())) + 1 + margin)
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else (0, 0, 0, 0)


def _not_argmax(probs: np.ndarray, k: int) -> np.ndarray:
    """`(S, S) bool`: where class `k` is not the argmax of `(K, S, S)` probabilities, as `np.argmax`
    breaks ties (the first class wins): a class before `k` as likely, or one after it more likely.
    By the classes' maxima, a tenth of the time of the argmax itself. Probabilities are finite (a
    NaN, which `np.argmax` would pick, loses every comparison here) and 0 <= `k` < K."""
    p = probs[k]
    out = np.zeros(p.shape, bool)
    if k > 0:
        out |= np.maximum.reduce(probs[:k]) >= p
    if k + 1 < len(probs):
        out |= np.maximum.reduce(probs[k + 1:]) > p
    return out


def crop_coverage(matrix: np.ndarray, size: int, shape: tuple[int, int]) -> np.ndarray:
    """`(H, W) float32`: how much of each photo pixel the `size`-pixel crop taken by `matrix` covers
    (1 inside, 0 outside, in between along its edge)."""
    h, w = shape[:2]
    out = np.zeros((h, w), np.float32)
    x0, y0, x1, y1 = crop_region(matrix, size, shape)
    if x1 > x0 and y1 > y0:
        out[y0:y1, x0:x1] = cv2.warpAffine(np.ones((size, size), np.float32), _shifted(matrix, x0, y0),
                                           (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                           borderValue=0.0)
    return out


def align_sample(image: np.ndarray, landmarks: np.ndarray | None, finder, params: AlignParams) -> Alignment:
    """Landmarks when given, else the largest face `finder` (a `faceparse.detect.FaceFinder`) finds,
    else the whole photo (recorded as "none")."""
    if landmarks is not None:
        return align_from_landmarks(landmarks, params)
    faces = finder.find(image)
    return faces[0] if faces else align_whole_image(image.shape, params)



def alignment_columns(a: Alignment) -> dict:
    """The manifest, predictions.csv and profile CSV columns recording how a face was found: the
    method, its box, levelled angle, detector score and five points (NaN where not known)."""
    pts = a.points or ((math.nan, math.nan),) * len(POINT_NAMES)
    row = {"align_method": a.method, "box_x": a.box[0], "box_y": a.box[1], "box_w": a.box[2], "box_h": a.box[3],
           "angle": a.angle, "detector_score": a.score}
    for name, (x, y) in zip(POINT_NAMES, pts):
        row[f"{name}_x"], row[f"{name}_y"] = x, y
    return row
