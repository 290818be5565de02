"""Segment photos with a trained model (optionally through the label adapter): crop by the stored
alignment, predict on the crop, warp the class probabilities back onto the original photo.

Pixels outside a face's crop are background for that face. The crop must therefore hold the whole
head: five-point alignment (YuNet, `faceparse.detect`) moves it back over the skull of a turned
head, which on FASSEG's V3 poses made a whole-photo second prediction, once needed for Haar boxes
that under-framed turned heads, change no score (README, "Finding the face")."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceparse import runtime as runtimes
from faceparse.align import (AlignParams, Alignment, align_whole_image, crop_coverage, crop_region, face_box,
                             unwarp_probs, warp_image, warp_region)
from faceparse.detect import FaceFinder
from faceparse.errors import FaceparseDataError
from faceparse.facemap import FaceMap
from faceparse.labels import get_label_set, mapping_matrix
from faceparse.threads import current as current_threads


@dataclass
class Predictor:
    """A model ready to segment: `crop_probs` on aligned crops, `photo_probs` (or the lighter
    `face_map`) on original photos.

    runtime: "onnx" (ONNX Runtime, `faceparse.runtime`), "torch", or "auto": ONNX Runtime on a CPU
    for a model without adapter, else torch."""

    model_path: Path
    adapter_path: Path | None = None
    tta: bool = True
    target_label_set: str | None = None   # project the output onto this label set (many-to-one)
    batch_size: int = 16
    runtime: str = "auto"

    def __post_init__(self) -> None:
        self.runtime = runtimes.choose(self.runtime, self.adapter_path is not None)
        self.adapter = self.model = self._onnx = None
        if self.runtime == "onnx":
            self.device = "cpu"
            self._onnx = runtimes.OnnxModel(Path(self.model_path), self.tta, current_threads())
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
        self.finder = FaceFinder(self.align_params)

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

    def align(self, image: np.ndarray) -> list[Alignment]:
        """Every face found in a photo, largest first (empty when none)."""
        return self.finder.find(image)

    def photo_probs(self, image: np.ndarray, alignment: Alignment, probs: np.ndarray | None = None) -> np.ndarray:
        """`(K, H, W) float32` probabilities over the whole original photo for one face (`probs`: its
        crop's, when already predicted); background outside the crop."""
        if probs is None:
            probs = self.crop_probs(warp_image(image, alignment.matrix, self.size)[None])[0]
        return unwarp_probs(probs, alignment.matrix, image.shape[:2])

    def face_map(self, shape: tuple[int, ...], alignment: Alignment, probs: np.ndarray) -> FaceMap:
        """One face's labels and confidence (max probability) over its window of a photo of `shape`,
        from its crop's `(K, S, S)` probabilities: the argmax and max of `photo_probs` over the
        pixels that hold the face, the same values without the whole photo's arrays."""
        x0, y0, x1, y1 = face_box(probs, alignment.matrix, shape[:2])
        if x1 <= x0 or y1 <= y0:
            return FaceMap(np.zeros((1, 1), np.uint8), np.ones((1, 1), np.float32), 0, 0, tuple(shape[:2]))
        # The probabilities of `photo_probs` (the same box warped), their argmax only where another
        # class than background can win.
        bx0, by0, bx1, by1 = box = crop_region(alignment.matrix, self.size, shape[:2])
        region = warp_region(probs, alignment.matrix, box)[y0 - by0:y1 - by0, x0 - bx0:x1 - bx0]
        labels, confidence = argmax_max(region)
        return FaceMap(labels, confidence, x0, y0, tuple(shape[:2])).trimmed()


def argmax_max(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`(H, W) uint8` argmax (the first class on ties, as `np.argmax`) and `(H, W) float32` max of
    `(H, W, K)` probabilities (or a view of `(K, H, W)` ones, `np.moveaxis(p, 0, -1)`), one class at a
    time (2-3x faster than `argmax` over either axis)."""
    best = probs[..., 0].copy()
    index = np.zeros(best.shape, np.uint8)
    for k in range(1, probs.shape[-1]):
        channel = probs[..., k]
        index[channel > best] = k
        np.maximum(best, channel, out=best)
    return index, best


def segment_photo(predictor: Predictor, image: np.ndarray,
                  faces: list[Alignment] | None = None) -> tuple[np.ndarray, np.ndarray, list[Alignment]]:
    """Label map, confidence and faces of one photo, at its original size (`faces`: what
    `predictor.align` found in it, when already known).

    Each face is predicted on its own crop (`Predictor.photo_probs`). Where crops overlap, faces
    are averaged by how much of the pixel each crop covers, so a face's crop decides its own pixels.
    """
    faces = (predictor.align(image) if faces is None else faces) or [align_whole_image(image.shape,
                                                                                      predictor.align_params)]
    if len(faces) == 1:
        labels, confidence = argmax_max(np.moveaxis(predictor.photo_probs(image, faces[0]), 0, -1))
        return labels, confidence, faces
    h, w = image.shape[:2]
    acc = np.zeros((len(predictor.classes), h, w), np.float32)
    weight = np.zeros((h, w), np.float32)
    for face in faces:
        probs = predictor.photo_probs(image, face)
        share = crop_coverage(face.matrix, predictor.size, (h, w)) + 1e-6
        acc += probs * share
        weight += share
    probs = acc / weight[None]
    labels, confidence = argmax_max(np.moveaxis(probs, 0, -1))
    return labels, confidence, faces
