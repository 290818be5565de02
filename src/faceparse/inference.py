"""Inference on aligned crops, shared by training's validation, the label adapter and prediction:
ImageNet normalisation into the model's channels-last input, softmax, flip test-time augmentation."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from faceparse.models import IMAGENET_MEAN, IMAGENET_STD


def normalise(images: np.ndarray) -> torch.Tensor:
    """`(N, S, S, 3) uint8` -> `(N, 3, S, S) float32` ImageNet-normalised tensor."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def model_input(images: np.ndarray, extra: np.ndarray | None) -> torch.Tensor:
    """Photos (and extra channels) as the model's channels-last input tensor."""
    x = normalise(images)
    if extra is not None:
        x = torch.cat([x, torch.from_numpy(np.ascontiguousarray(extra)).permute(0, 3, 1, 2).float()], dim=1)
    return x.contiguous(memory_format=torch.channels_last)


@torch.no_grad()
def predict_probs(model: nn.Module, images: np.ndarray, extra: np.ndarray | None = None, batch_size: int = 16,
                  flip_perm: np.ndarray | None = None, extra_flip_perm: np.ndarray | None = None,
                  device: torch.device | str = "cpu") -> np.ndarray:
    """`(N, S, S, 3) uint8` crops -> `(N, K, S, S) float32` softmax.

    With `flip_perm` (the output label set's flip permutation), also predict on the mirrored crops,
    mirror the result back, swap left/right channels and average: flip test-time augmentation.
    Extra input channels that are class probabilities are swapped by `extra_flip_perm`.
    """
    model.eval()
    out = []
    for i in range(0, len(images), batch_size):
        ex = None if extra is None else extra[i:i + batch_size]
        x = model_input(images[i:i + batch_size], ex).to(device)
        p = model(x).softmax(1)
        if flip_perm is not None:
            xf = x.flip(3)
            if ex is not None and extra_flip_perm is not None:
                idx = torch.cat([torch.arange(3), 3 + torch.as_tensor(extra_flip_perm)]).to(x.device)
                xf = xf[:, idx]
            pf = model(xf).softmax(1).flip(3)[:, torch.as_tensor(flip_perm, device=p.device)]
            p = (p + pf) / 2
        out.append(p.float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0,), np.float32)
