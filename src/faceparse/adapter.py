"""The label adapter of Wood et al. (ICCV 2021): a small second network that reads the photo and a
synthetic-trained model's softmax and learns, on a few real labelled faces, to output the real
dataset's labels. It fixes the systematic differences between the synthetic and the real labelling
conventions (where a brow ends, what counts as skin) that no class-to-class table can express."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faceparse.errors import FaceparseConfigError
from faceparse.inference import predict_probs
from faceparse.models import ModelSpec
from faceparse.train import TrainParams
from faceparse.wild import LEVERS


@dataclass(frozen=True)
class AdaptParams(TrainParams):
    """The `adapt` section of params.yaml: the model whose softmax the adapter reads, then the same
    knobs as a `train.<name>` section (the adapter is trained by the same loop)."""

    source: str = "synthetic"

    def __post_init__(self) -> None:
        on = [k for k in LEVERS if self.augment.get(k)] + [k for k in ("scenes", "mix") if getattr(self, k)]
        if on:
            raise FaceparseConfigError(f"adapt: {', '.join(on)} must stay off: the adapter reads the source model's "
                                       "softmax of each stored crop, which a changed photo would no longer match")


def source_probs(model, images: np.ndarray, num_classes: int, device="cpu") -> np.ndarray:
    """The source model's softmax on `(N, S, S, 3)` crops as `(N, S, S, K) float16` extra channels."""
    out = [np.zeros((0, *images.shape[1:3], num_classes), np.float16)]
    out += [predict_probs(model, images[i:i + 16], device=device).transpose(0, 2, 3, 1).astype(np.float16)
            for i in range(0, len(images), 16)]
    return np.concatenate(out)


def adapter_spec(arch: str, source_classes: int, num_classes: int, encoder: str = "") -> ModelSpec:
    """The adapter reads the photo and the source model's K softmax channels: 3 + K inputs."""
    return ModelSpec(arch=arch, encoder=encoder, in_channels=3 + source_classes, num_classes=num_classes)
