"""The training losses: cross-entropy and smp's dice, Lovasz and focal losses by name, their weighted
sum, and the class weights that counter rare labels (`class_weights`)."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

import faceparse._torchvision  # noqa: F401  (must precede smp)
from faceparse.errors import FaceparseConfigError
from faceparse.labels import IGNORE


def _ce(num_classes: int, weights: torch.Tensor | None) -> nn.Module:
    return nn.CrossEntropyLoss(weight=weights, ignore_index=IGNORE)


def _smp_loss(name: str) -> Callable[[int, torch.Tensor | None], nn.Module]:
    import segmentation_models_pytorch as smp
    factory = {"dice": lambda: smp.losses.DiceLoss("multiclass", ignore_index=IGNORE),
               "lovasz": lambda: smp.losses.LovaszLoss("multiclass", ignore_index=IGNORE),
               "focal": lambda: smp.losses.FocalLoss("multiclass", ignore_index=IGNORE)}[name]
    return lambda k, w: factory()


LOSSES: dict[str, Callable[[int, torch.Tensor | None], nn.Module]] = {
    "ce": _ce, "dice": _smp_loss("dice"), "lovasz": _smp_loss("lovasz"), "focal": _smp_loss("focal"),
}


class WeightedLoss(nn.Module):
    """A weighted sum of named losses, e.g. {"ce": 1.0, "dice": 0.5}."""

    def __init__(self, weights: dict[str, float], num_classes: int, class_weights: torch.Tensor | None) -> None:
        super().__init__()
        unknown = set(weights) - set(LOSSES)
        if unknown:
            raise FaceparseConfigError(f"unknown losses {sorted(unknown)}; known: {sorted(LOSSES)}")
        self.weights = {k: float(v) for k, v in weights.items() if v}
        self.terms = nn.ModuleDict({k: LOSSES[k](num_classes, class_weights) for k in self.weights})

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return sum(w * self.terms[k](logits, target) for k, w in self.weights.items())


def label_frequency_weights(masks, num_classes: int) -> torch.Tensor:
    """Inverse square-root class frequency, normalised to mean 1 (255 ignored); `masks` an `(N, S, S)`
    array or `Rows`, counted 256 maps at a time."""
    counts = np.zeros(256, np.int64)
    for i in range(0, len(masks), 256):
        counts += np.bincount(np.asarray(masks[i:i + 256]).ravel(), minlength=256)
    counts = counts[:num_classes].astype(np.float64)
    w = 1.0 / np.sqrt(np.maximum(counts, 1.0))
    return torch.tensor(w / w.mean(), dtype=torch.float32)
