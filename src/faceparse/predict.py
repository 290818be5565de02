"""A trained model (optionally read through the label adapter) ready to segment faces: aligned crops
in, class probabilities out (`Predictor.crop_probs`), warped back over each face's window of its
photo as labels and confidence (`face_map`). `faceparse.stream` walks photos through it.

Pixels outside a face's crop are background for that face. The crop must therefore hold the whole
head: five-point alignment (YuNet, `faceparse.detect`) moves it back over the skull of a turned
head, which on FASSEG's V3 poses made a whole-photo second prediction, once needed for Haar boxes
that under-framed turned heads, change no score (docs/detector.md)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np

from faceparse import runtime as runtimes
from faceparse.checksums import sha256_of
from faceparse.detect import FaceFinder
from faceparse.errors import FaceparseDataError
from faceparse.facemap import FaceMap
from faceparse.geometry import AlignParams, Alignment, crop_region, face_box, warp_region
from faceparse.labels import get_label_set, mapping_matrix
from faceparse.threads import current as current_threads


@dataclass
class Predictor:
    """A model ready to segment: `find_faces` in a photo, `crop_probs` on their aligned crops (then
    `face_map` over the photo).

    runtime: "onnx" (the exported graph, `faceparse.runtime`), "torch", or "auto": the graph on a CPU
    for a model without adapter, else torch. precision: "fp32", "bf16" (the graph in OpenVINO, on a
    CPU with bfloat16), or "auto": bf16 where it can run, else fp32."""

    model_path: Path
    adapter_path: Path | None = None
    tta: bool = True
    target_label_set: str | None = None   # project the output onto this label set (many-to-one)
    batch_size: int = 16
    runtime: str = "auto"
    precision: str = "fp32"

    def __post_init__(self) -> None:
        self.runtime = runtimes.choose(self.runtime, self.adapter_path is not None)
        self.precision = runtimes.choose_precision(self.precision, self.runtime)
        self.adapter = self.model = self._onnx = None
        if self.runtime == "onnx":
            self.device = "cpu"
            self._onnx = runtimes.OnnxModel(Path(self.model_path), self.tta, current_threads(), self.precision)
            self.meta = self._onnx.meta
        else:
            from faceparse.models import default_device, load_checkpoint

            self.device = default_device()
            self.model, self.meta = load_checkpoint(self.model_path, self.device)
        if self.meta.get("extra_label_set") and self.adapter_path is None:
            raise FaceparseDataError(self.model_path, runtimes.ADAPTER_AS_MODEL)
        out_set = self.meta["label_set"]
        if self.adapter_path is not None:
            self.adapter, self.adapter_meta = load_checkpoint(self.adapter_path, self.device)
            if self.adapter_meta.get("extra_label_set") != self.meta["label_set"]:
                raise ValueError(f"{self.adapter_path}: adapter reads {self.adapter_meta.get('extra_label_set')} "
                                 f"probabilities but {self.model_path} predicts {self.meta['label_set']}")
            out_set = self.adapter_meta["label_set"]
        self.native_label_set = out_set
        self.label_set = self.target_label_set or out_set
        self.projection = None if self.label_set == out_set else mapping_matrix(out_set, self.label_set)
        self.size = int(self.meta["input_size"])
        self.align_params = AlignParams(**{**self.meta.get("align", {}), "size": self.size})
        # bf16 runs YuNet in OpenVINO too (fp32, its points OpenCV's within 0.0004 px); fp32 keeps
        # OpenCV's, so that the study's alignments stay exactly as they were.
        self.finder = FaceFinder(self.align_params, "openvino" if self.precision == "bf16" else "opencv",
                                 current_threads())
        self.finder.prepare()  # YuNet loaded (in OpenVINO: compiled) while the model compiles in its thread
        if self._onnx is not None:
            self._onnx.compiled()  # a graph the runtime cannot run is refused here, before a command writes

    @cached_property
    def model_sha256(self) -> str:
        """The model file's sha256 (the exported graph's key: hashed once)."""
        return self._onnx.digest if self._onnx is not None else sha256_of(Path(self.model_path))

    @property
    def classes(self) -> tuple[str, ...]:
        return get_label_set(self.label_set).classes

    def _perm(self, label_set: str) -> np.ndarray | None:
        return get_label_set(label_set).flip_permutation if self.tta else None

    def crop_probs(self, crops: np.ndarray) -> np.ndarray:
        """`(N, S, S, 3) uint8` aligned crops -> `(N, K, S, S) float32` probabilities in `label_set`."""
        out = []
        for i in range(0, len(crops), self.batch_size):
            batch = crops[i:i + self.batch_size]
            if self._onnx is not None:
                out.append(self._project(self._onnx.probs(batch)))
                continue
            from faceparse.inference import predict_probs

            p = predict_probs(self.model, batch, flip_perm=self._perm(self.meta["label_set"]), device=self.device)
            if self.adapter is not None:
                p = predict_probs(self.adapter, batch, extra=p.transpose(0, 2, 3, 1),
                                  flip_perm=self._perm(self.adapter_meta["label_set"]),
                                  extra_flip_perm=self._perm(self.meta["label_set"]), device=self.device)
            out.append(self._project(p))
        return np.concatenate(out) if out else np.zeros((0, len(self.classes), self.size, self.size), np.float32)

    def _project(self, p: np.ndarray) -> np.ndarray:
        if self.projection is not None:
            # Sum probabilities into target classes; mass of unmappable classes is dropped.
            p = np.einsum("nkhw,kt->nthw", p, self.projection)
            p /= np.maximum(p.sum(1, keepdims=True), 1e-6)
        return p.astype(np.float32, copy=False)

    def find_faces(self, image: np.ndarray) -> list[Alignment]:
        """Every face found in a photo, aligned for this model's input, largest first (empty when none)."""
        return self.finder.find(image)


def face_map(shape: tuple[int, ...], alignment: Alignment, probs: np.ndarray, whole_crop: bool = False) -> FaceMap:
    """One face's labels and confidence (max probability) over its window of a photo of `shape`,
    from its crop's `(K, S, S)` probabilities warped back (bilinear, probabilities are smooth; the
    argmax after). Photo pixels off the crop are background. The argmax is taken only over the box
    where another class than background can win (`geometry.face_box`), the rest is background as
    the whole photo's warp would give it; `whole_crop`: over the crop's whole box on the photo
    instead, untrimmed, so that the confidence of the background around the face is its own
    (`predict`'s confidence maps)."""
    bx0, by0, bx1, by1 = box = crop_region(alignment.matrix, probs.shape[-1], shape[:2])
    x0, y0, x1, y1 = box if whole_crop else face_box(probs, alignment.matrix, shape[:2])
    if x1 <= x0 or y1 <= y0:
        return FaceMap(np.zeros((1, 1), np.uint8), np.ones((1, 1), np.float32), 0, 0, tuple(shape[:2]))
    # Warped from the crop's box's corner (where the warp's pixel grid starts) to the face box's far
    # corner only: the pixels the warp computes do not depend on how far it goes.
    region = warp_region(probs, alignment.matrix, (bx0, by0, x1, y1))[y0 - by0:, x0 - bx0:]
    labels, confidence = argmax_max(region)
    face = FaceMap(labels, confidence, x0, y0, tuple(shape[:2]))
    return face if whole_crop else face.trimmed()


def argmax_max(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`(H, W) uint8` argmax (the first class on ties, as `np.argmax`) and `(H, W) float32` max of
    `(H, W, K)` probabilities (or a view of `(K, H, W)` ones, `np.moveaxis(p, 0, -1)`), one class at a
    time by OpenCV's comparison and maximum (a London face's 900 x 740 window of six classes: 6.7 ms,
    where numpy's comparisons took 9.4 and `np.argmax` over either axis longer still). Probabilities
    are finite: OpenCV's maximum does not carry a NaN on as numpy's does."""
    planes = cv2.split(probs) if probs.strides[-1] == probs.itemsize else [probs[..., k] for k in range(probs.shape[-1])]
    best = planes[0].copy()
    index = np.zeros(best.shape, np.uint8)
    for k in range(1, len(planes)):
        higher = cv2.compare(planes[k], best, cv2.CMP_GT)  # 255 where class k beats every class before it
        np.maximum(index, higher & np.uint8(k), out=index)  # k there (above every index so far), else as was
        cv2.max(best, planes[k], dst=best)
    return index, best
