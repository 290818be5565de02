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
import torch

from faceparse.align import AlignParams, Alignment, align_whole_image, crop_coverage, unwarp_probs, warp_image
from faceparse.detect import FaceFinder
from faceparse.errors import FaceparseDataError
from faceparse.labels import get_label_set, mapping_matrix
from faceparse.models import default_device, load_checkpoint
from faceparse.inference import predict_probs

@dataclass
class Predictor:
    """A model ready to segment: `crop_probs` on aligned crops, `photo_probs` on original photos."""

    model_path: Path
    adapter_path: Path | None = None
    tta: bool = True
    target_label_set: str | None = None   # project the output onto this label set (many-to-one)
    batch_size: int = 16

    def __post_init__(self) -> None:
        self.device = default_device()
        self.model, self.meta = load_checkpoint(self.model_path, self.device)
        if self.meta.get("extra_label_set") and self.adapter_path is None:
            raise FaceparseDataError(self.model_path, "a label adapter, not a model: give the model whose softmax it "
                                     "reads as the model and this file as the adapter (--adapter)")
        self.adapter = None
        out_set = self.meta["label_set"]
        if self.adapter_path is not None:
            self.adapter, self.adapter_meta = load_checkpoint(self.adapter_path, self.device)
            if self.adapter_meta.get("extra_label_set") != self.meta["label_set"]:
                raise ValueError(f"{self.adapter_path}: adapter reads {self.adapter_meta.get('extra_label_set')} "
                                 f"probabilities but {self.model_path} predicts {self.meta['label_set']}")
            out_set = self.adapter_meta["label_set"]
        self.native_label_set = out_set
        self.label_set = self.target_label_set or out_set
        self.projection = None if self.label_set == out_set else torch.from_numpy(mapping_matrix(out_set, self.label_set))
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
            p = predict_probs(self.model, batch, flip_perm=self._perm(self.meta["label_set"]), device=self.device)
            if self.adapter is not None:
                p = predict_probs(self.adapter, batch, extra=p.transpose(0, 2, 3, 1),
                                  flip_perm=self._perm(self.adapter_meta["label_set"]),
                                  extra_flip_perm=self._perm(self.meta["label_set"]), device=self.device)
            if self.projection is not None:
                # Sum probabilities into target classes; mass of unmappable classes is dropped.
                p = np.einsum("nkhw,kt->nthw", p, self.projection.numpy())
                p /= np.maximum(p.sum(1, keepdims=True), 1e-6)
            out.append(p.astype(np.float32))
        return np.concatenate(out)

    def align(self, image: np.ndarray) -> list[Alignment]:
        """Every face found in a photo, largest first (empty when none)."""
        return self.finder.find(image)

    def photo_probs(self, image: np.ndarray, alignment: Alignment, probs: np.ndarray | None = None) -> np.ndarray:
        """`(K, H, W) float32` probabilities over the whole original photo for one face (`probs`: its
        crop's, when already predicted); background outside the crop."""
        if probs is None:
            probs = self.crop_probs(warp_image(image, alignment.matrix, self.size)[None])[0]
        return unwarp_probs(probs, alignment.matrix, image.shape[:2])


def segment_photo(predictor: Predictor, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[Alignment]]:
    """Label map, confidence and faces of one photo, at its original size.

    Each face is predicted on its own crop (`Predictor.photo_probs`). Where crops overlap, faces
    are averaged by how much of the pixel each crop covers, so a face's crop decides its own pixels.
    """
    faces = predictor.align(image) or [align_whole_image(image.shape, predictor.align_params)]
    h, w = image.shape[:2]
    acc = np.zeros((len(predictor.classes), h, w), np.float32)
    weight = np.zeros((h, w), np.float32)
    for face in faces:
        probs = predictor.photo_probs(image, face)
        share = crop_coverage(face.matrix, predictor.size, (h, w)) + 1e-6
        acc += probs * share
        weight += share
    probs = acc / weight[None]
    return probs.argmax(0).astype(np.uint8), probs.max(0), faces
