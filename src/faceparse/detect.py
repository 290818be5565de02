"""Face detectors, each turning a photo into the `Alignment` of every face in it, largest first.

YuNet (OpenCV's `cv2.FaceDetectorYN`, a 232 kB ONNX network) is the default: it gives a box, a score
and five landmarks (eye centres, nose tip, mouth corners) per face, and the face is aligned by those
five points (`align.align_from_points`). OpenCV's Haar cascades stay as the named alternative
(`align.detector: haar`) and as the fallback when YuNet finds nothing. With `--precision bf16` the
same network runs in OpenVINO (in fp32: the network 9 ms on a 640-px London photo on one core, where
OpenCV's detection takes 22), decoded as OpenCV decodes it (`yunet_faces`): its boxes and points
are OpenCV's within 0.0004 pixels on the London, Canada, FaceSynthetics and FASSEG photos.

The YuNet file is resolved like the ImageNet weights: never fetched from a hub at run time, but
found in the data mirror (`$FACEPARSE_MIRROR/face_detection_yunet/`), else in the user cache, where
it is downloaded once from the OpenCV model zoo; either way it must match the sha256 pinned here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np

from faceparse.geometry import Alignment, AlignParams, align_from_box, align_from_points, eye_angle
from faceparse.checksums import sha256_of
from faceparse.errors import FaceparseConfigError, FaceparseDataError
from faceparse.locations import cache_dir
from faceparse.openvino_setup import compile_config, writable_folder

log = logging.getLogger(__name__)

DETECTORS = ("yunet", "haar")


@dataclass(frozen=True)
class DetectorFile:
    folder: str          # its folder in the data mirror
    filename: str
    sha256: str
    size: int
    url: str             # the publisher's URL, for users without the mirror


YUNET = DetectorFile(
    folder="face_detection_yunet",
    filename="face_detection_yunet_2023mar.onnx",
    sha256="8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
    size=232_589,
    url="https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/face_detection_yunet_2023mar.onnx",
)


def resolve_detector_file(known: DetectorFile = YUNET, download: bool = True) -> Path:
    """The verified local copy of a detector file: from the mirror, else the cache (downloading it
    there when missing). A missing or altered file is one `FaceparseDataError` naming both places."""
    from faceparse.locations import cache_dir, mirror_from_env

    mirror = mirror_from_env()
    cached = cache_dir() / known.filename
    places = ([mirror / known.folder / known.filename] if mirror else []) + [cached]
    for path in places:
        if path.is_file():
            found = sha256_of(path)
            if found != known.sha256:
                raise FaceparseDataError(path, f"sha256 {found} does not match the known {known.sha256} of "
                                         f"{known.filename}; replace it with the file from {known.url}")
            return path
    where = " or ".join(str(p) for p in places)
    if download:
        problem = _download(known, cached)
        if problem is None:
            return cached
    else:
        problem = "downloads are off"
    raise FaceparseDataError(known.filename, f"not found in {where}, and it could not be downloaded from "
                             f"{known.url} ({problem}); put the file in one of those places or set "
                             "FACEPARSE_MIRROR to the folder holding face_detection_yunet/")


def _download(known: DetectorFile, dest: Path) -> str | None:
    """Download `known` to `dest` and check it; the problem in words, or None when it worked."""
    from faceparse.fetch import NetworkError, download_file

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    log.info("downloading %s from %s", known.filename, known.url)
    try:
        sha, size = download_file(known.url, part)
    except (NetworkError, OSError) as err:
        return str(err)
    if sha != known.sha256:
        part.unlink(missing_ok=True)
        return f"the download's sha256 {sha} ({size} bytes) is not the known {known.sha256}"
    part.replace(dest)
    return None


YUNET_STRIDES = (8, 16, 32)
YUNET_NMS = 0.3      # OpenCV's FaceDetectorYN: the IoU above which the lower-scoring box goes,
YUNET_TOP_K = 5000   # and the most boxes kept
YUNET_RUNTIMES = ("opencv", "openvino")


class YuNetFaceFinder:
    """YuNet faces scoring at least `params.min_score`, largest first, aligned by their five points.

    Photos are shrunk to at most `max_side` pixels for detection (YuNet's own input size is 640);
    boxes and points are scaled back to the photo's pixels. runtime: "opencv" (OpenCV's
    `FaceDetectorYN`) or "openvino" (the same network in OpenVINO, fp32, decoded by `yunet_faces`).
    """

    method = "yunet"

    def __init__(self, params: AlignParams, max_side: int = 640, model: Path | None = None,
                 runtime: str = "opencv", threads: int = 1) -> None:
        if runtime not in YUNET_RUNTIMES:
            raise FaceparseConfigError(f"YuNet runtime {runtime!r}: expected one of {', '.join(YUNET_RUNTIMES)}")
        self.params = params
        self.max_side = max_side
        self.model = Path(model) if model is not None else resolve_detector_file(YUNET)
        self.runtime = runtime
        self.threads = threads

    def prepare(self) -> None:
        """Load the network now rather than at the first photo (OpenVINO: 0.1 s from its cache, 0.2 compiling)."""
        self._net  # noqa: B018  (the cached property, loaded)

    @cached_property
    def _net(self) -> Callable[[np.ndarray], np.ndarray]:
        """YuNet as a function: `(H, W, 3) uint8` BGR, sides multiples of 32 -> `(N, 15) float32` faces."""
        if self.runtime == "openvino":
            return _openvino_yunet(self.model, float(self.params.min_score), self.threads)
        try:
            net = cv2.FaceDetectorYN.create(str(self.model), "", (320, 320), float(self.params.min_score), YUNET_NMS,
                                            YUNET_TOP_K)
        except cv2.error as err:
            raise FaceparseDataError(self.model, f"OpenCV cannot load it as a YuNet model ({err.msg.strip()})") from None

        def detect(bgr: np.ndarray) -> np.ndarray:
            net.setInputSize((bgr.shape[1], bgr.shape[0]))
            faces = net.detect(bgr)[1]
            return np.zeros((0, 15), np.float32) if faces is None else faces

        return detect

    def detect(self, image: np.ndarray) -> np.ndarray:
        """`(N, 15) float64` rows of box (x, y, w, h), five points (x, y each) and score, in photo
        pixels, largest box first."""
        h, w = image.shape[:2]
        f = min(1.0, self.max_side / max(h, w))
        small = cv2.resize(image, None, fx=f, fy=f, interpolation=cv2.INTER_AREA) if f < 1 else image
        # YuNet reads BGR, in sides that are multiples of 32 (at least 64): pad the bottom and right
        # with black, which leaves the coordinates as they are (OpenCV can return non-finite boxes
        # for inputs smaller than its coarsest stride).
        sh, sw = small.shape[:2]
        ph, pw = max(64, -(-sh // 32) * 32), max(64, -(-sw // 32) * 32)
        bgr = cv2.copyMakeBorder(cv2.cvtColor(small, cv2.COLOR_RGB2BGR), 0, ph - sh, 0, pw - sw,
                                 cv2.BORDER_CONSTANT, value=(0, 0, 0))
        faces = self._net(bgr).astype(np.float64)
        faces = faces[np.isfinite(faces).all(1) & (faces[:, 2] > 0) & (faces[:, 3] > 0)]
        faces[:, :14] /= f
        return faces[np.argsort(-faces[:, 2] * faces[:, 3], kind="stable")]

    def find(self, image: np.ndarray) -> list[Alignment]:
        """All faces in a `(H, W, 3) uint8` RGB photo, largest first (empty if none)."""
        return [align_from_points(f[4:14].reshape(5, 2), self.params, self.method, box=tuple(f[:4]), score=f[14])
                for f in self.detect(image)]


def _openvino_yunet(model: Path, min_score: float, threads: int) -> Callable[[np.ndarray], np.ndarray]:
    """YuNet compiled by OpenVINO in fp32 for any input size, reading the `(H, W, 3) uint8` BGR
    image itself (the conversion to its float planes is in the compiled graph), decoded by
    `yunet_faces`."""
    import openvino as ov

    core = ov.Core()
    try:
        network = core.read_model(str(model))
        network.reshape({network.input(0).get_any_name(): ov.PartialShape([1, 3, -1, -1])})
    except Exception as err:  # noqa: BLE001  (OpenVINO's own errors, said with the file)
        raise FaceparseDataError(model, f"OpenVINO cannot load it as a YuNet model ({err})") from None
    steps = ov.preprocess.PrePostProcessor(network)
    steps.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC"))
    steps.input().model().set_layout(ov.Layout("NCHW"))
    steps.input().preprocess().convert_element_type(ov.Type.f32)
    network = steps.build()
    config = compile_config("f32", threads)
    # OpenVINO keeps the compiled network beside the segmentation model's (about 0.1 s of each run's
    # start-up saved), where that folder can be written; anything wrong with it, and it compiles anew.
    kept = cache_dir() / "onnx" / "openvino"
    if writable_folder(kept):
        try:
            return _decoding(core.compile_model(network, "CPU", {**config, "CACHE_DIR": str(kept)}), min_score)
        except Exception as err:  # noqa: BLE001  (a full disk, a kept network cut short)
            log.info("compiling YuNet without OpenVINO's cache in %s (%s)", kept, err)
    return _decoding(core.compile_model(network, "CPU", config), min_score)


def _decoding(compiled, min_score: float) -> Callable[[np.ndarray], np.ndarray]:
    """YuNet compiled by OpenVINO as a function of a BGR image, its outputs decoded by `yunet_faces`."""

    def detect(bgr: np.ndarray) -> np.ndarray:
        result = compiled(np.ascontiguousarray(bgr)[None])
        outputs = {name: result[port] for port in compiled.outputs for name in port.get_names()}
        return yunet_faces(outputs, bgr.shape[1], bgr.shape[0], min_score)

    return detect


def yunet_faces(outputs: dict[str, np.ndarray], width: int, height: int, min_score: float,
                nms: float = YUNET_NMS, top_k: int = YUNET_TOP_K) -> np.ndarray:
    """YuNet's raw outputs for a `width` x `height` input (`cls_8` ... `kps_32`) -> `(N, 15) float32`
    faces as OpenCV's `FaceDetectorYN` gives them: at each cell of each stride, the score
    sqrt(cls x obj) (each clipped to [0, 1]); where it reaches `min_score`, the box from the cell's
    offsets (centre) and log-sizes, and the five points from their offsets; then OpenCV's
    non-maximum suppression on the boxes cut to whole pixels, as OpenCV does it. Float32 throughout,
    as in OpenCV's C++."""
    found = []
    for s in YUNET_STRIDES:
        cols = width // s
        cls = np.clip(outputs[f"cls_{s}"].reshape(-1), 0, 1)
        obj = np.clip(outputs[f"obj_{s}"].reshape(-1), 0, 1)
        score = np.sqrt(cls * obj)
        cells = np.flatnonzero(score >= np.float32(min_score))
        if not cells.size:
            continue
        c = (cells % cols).astype(np.float32)[:, None]
        r = (cells // cols).astype(np.float32)[:, None]
        box = outputs[f"bbox_{s}"].reshape(-1, 4)[cells]
        points = outputs[f"kps_{s}"].reshape(-1, 10)[cells]
        stride = np.float32(s)
        size = np.exp(box[:, 2:4]) * stride
        faces = np.empty((cells.size, 15), np.float32)
        faces[:, 0:2] = (np.hstack([c, r]) + box[:, 0:2]) * stride - size / np.float32(2)
        faces[:, 2:4] = size
        faces[:, 4:14:2] = (points[:, 0::2] + c) * stride
        faces[:, 5:14:2] = (points[:, 1::2] + r) * stride
        faces[:, 14] = score[cells]
        found.append(faces)
    if not found:
        return np.zeros((0, 15), np.float32)
    faces = np.concatenate(found)
    faces = faces[np.isfinite(faces).all(1)]  # a box whose log-size overflowed: no face, nor a whole-pixel box
    if len(faces) > 1:
        boxes = [[int(v) for v in b] for b in faces[:, :4]]  # OpenCV's Rect2i: cut towards zero
        keep = cv2.dnn.NMSBoxes(boxes, faces[:, 14].tolist(), min_score, nms, 1.0, top_k)
        faces = faces[np.asarray(keep, dtype=int).reshape(-1)]
    return faces


class HaarFaceFinder:
    """OpenCV Haar cascades: frontal first, then profile (and its mirror for the other side); the
    eye line of a frontal face, from the eye cascade, is levelled."""

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
        angle = self._eye_line(gray, box) if (self.params.level_eyes and method == "haar_frontal") else 0.0
        return align_from_box(tuple(box), angle, method, self.params)

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
        return eye_angle(centres[0], centres[1], self.params.max_angle)


class FaceFinder:
    """The detector `params.detector` names, then the other as a fallback for photos where it finds
    no face (Haar's profile cascades catch some turned heads YuNet scores too low)."""

    def __init__(self, params: AlignParams, yunet_runtime: str = "opencv", threads: int = 1) -> None:
        if params.detector not in DETECTORS:
            raise FaceparseConfigError(f"align.detector: {params.detector!r} is not one of {', '.join(DETECTORS)}")
        self.params = params
        self.yunet = (YuNetFaceFinder(params, runtime=yunet_runtime, threads=threads) if params.detector == "yunet"
                      else None)
        self.haar = HaarFaceFinder(params)

    def prepare(self) -> None:
        """Load YuNet now rather than at the first photo (`YuNetFaceFinder.prepare`)."""
        if self.yunet is not None:
            self.yunet.prepare()

    def find(self, image: np.ndarray) -> list[Alignment]:
        """All faces in a `(H, W, 3) uint8` RGB photo, largest first (empty if none)."""
        if self.yunet is not None:
            faces = self.yunet.find(image)
            if faces:
                return faces
        return self.haar.find(image)
