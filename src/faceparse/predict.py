"""Segment photos with a trained model (optionally through the label adapter): crop by the stored
alignment, predict on the crop, warp the class probabilities back onto the original photo.

A face detector can under-frame a turned head: its box then holds part of the face, and the rest of
the head lies outside the crop. On a detector's crop, `Predictor.photo_probs` notices when the face
itself runs off the crop's top or sides, predicts the whole photo as well and fills the pixels outside
the face crop from it, instead of calling them background. Crops framed by landmarks are trusted."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np
import torch

from faceparse.align import AlignParams, Alignment, HaarFaceFinder, align_whole_image, unwarp_probs, warp_image
from faceparse.errors import FaceparseDataError
from faceparse.labels import get_label_set, mapping_matrix
from faceparse.models import default_device, load_checkpoint
from faceparse.inference import predict_probs

# Alignment methods whose box a detector guessed (and can get wrong), as opposed to landmarks.
DETECTOR_METHODS = ("haar_frontal", "haar_profile")


@dataclass
class Predictor:
    """A model ready to segment: `crop_probs` on aligned crops, `photo_probs` on original photos."""

    model_path: Path
    adapter_path: Path | None = None
    tta: bool = True
    target_label_set: str | None = None   # project the output onto this label set (many-to-one)
    batch_size: int = 16
    # Share of the crop's top, left or right edge (where it lies inside the photo) predicted as the
    # face itself, above which the whole photo is predicted too; None never does.
    spill: float | None = 0.15

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
        self.finder = HaarFaceFinder(self.align_params)

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
        crop's, when already predicted).

        Where a detector's crop cut the face (see `spill`), the photo is predicted whole (letter-boxed)
        as well, and its head regions that reach into the crop fill the pixels outside the crop;
        the rest stays background, so another person or a hand in the photo is not taken for this
        face (a head that touches this one is, a limit of the rule).
        """
        matrix = alignment.matrix
        if probs is None:
            probs = self.crop_probs(warp_image(image, matrix, self.size)[None])[0]
        shape = image.shape[:2]
        full = unwarp_probs(probs, matrix, shape)
        if alignment.method not in DETECTOR_METHODS or not self._runs_off(probs, matrix, shape):
            return full
        whole = align_whole_image(shape, self.align_params).matrix
        outer = unwarp_probs(self.crop_probs(warp_image(image, whole, self.size)[None])[0], whole, shape)
        inside = crop_coverage(matrix, self.size, shape)
        head = (outer.argmax(0) != 0).astype(np.uint8)
        _, regions = cv2.connectedComponents(head, connectivity=8)
        own = np.unique(regions[(head > 0) & (inside > 0.5)])
        elsewhere = ~np.isin(regions, own[own > 0])      # background, or a head that does not reach the crop
        outer[:, elsewhere] = 0
        outer[0, elsewhere] = 1
        # `full` is already background outside the crop (blended along its one-pixel edge).
        return inside[None] * full + (1 - inside[None]) * outer

    def _runs_off(self, probs: np.ndarray, matrix: np.ndarray, shape: tuple[int, int]) -> bool:
        """Whether the face itself covers more than `spill` of the crop's top, left or right edge
        where that edge lies inside the photo: the face box under-framed the head.

        The bottom edge, where a well-framed crop cuts the neck, does not count, nor does hair over
        any edge; an edge with less than an eighth of its length inside the photo is too short to
        judge, and a crop that holds the whole photo never runs off.
        """
        if self.spill is None:
            return False
        h, w = shape
        corners = cv2.transform(np.array([[[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]]], np.float64), matrix)[0]
        if (corners >= -1.0).all() and (corners <= self.size).all():  # within a pixel of the crop
            return False
        in_photo = cv2.warpAffine(np.ones((h, w), np.uint8), matrix, (self.size, self.size), flags=cv2.INTER_NEAREST,
                                  borderValue=0) > 0
        face = self._face_classes[probs.argmax(0)]
        for edge in (np.s_[0, :], np.s_[:, 0], np.s_[:, -1]):
            inside = in_photo[edge]
            if inside.sum() >= self.size // 8 and face[edge][inside].mean() > self.spill:
                return True
        return False

    @cached_property
    def _face_classes(self) -> np.ndarray:
        """`(K,) bool` over the output classes: the face itself, read as FASSEG's skin, eyes, nose and
        mouth (every label set maps onto FASSEG's six classes; `test_labels` checks it)."""
        target = get_label_set("fasseg6").classes
        face = np.isin(np.arange(len(target)), [target.index(c) for c in ("skin", "eyes", "nose", "mouth")])
        if self.label_set == "fasseg6":
            return face
        return mapping_matrix(self.label_set, "fasseg6")[:, face].sum(1) > 0.5


def crop_coverage(matrix: np.ndarray, size: int, shape: tuple[int, int]) -> np.ndarray:
    """`(H, W) float32`: how much of each photo pixel the `size`-pixel crop taken by `matrix` covers
    (1 inside, 0 outside, in between along its edge)."""
    h, w = shape[:2]
    return cv2.warpAffine(np.ones((size, size), np.float32), matrix, (w, h),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderValue=0.0)


def segment_photo(predictor: Predictor, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[Alignment]]:
    """Label map, confidence and faces of one photo, at its original size.

    Each face is predicted on its own crop (`Predictor.photo_probs`). Where crops overlap, faces
    are averaged by how much of the pixel each crop covers; outside every crop, by how surely each
    face calls the pixel head, so a head one face filled in from the whole photo is not outvoted by
    faces that leave it background.
    """
    faces = predictor.align(image) or [align_whole_image(image.shape, predictor.align_params)]
    h, w = image.shape[:2]
    acc = np.zeros((len(predictor.classes), h, w), np.float32)
    weight = np.zeros((h, w), np.float32)
    for face in faces:
        probs = predictor.photo_probs(image, face)
        inside = crop_coverage(face.matrix, predictor.size, (h, w))
        share = inside + (1 - inside) * (1 - probs[0]) + 1e-6
        acc += probs * share
        weight += share
    probs = acc / weight[None]
    return probs.argmax(0).astype(np.uint8), probs.max(0), faces
