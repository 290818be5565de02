"""The training crops as a torch Dataset, augmented: geometric transforms (photo, mask and extra channels
together), photometric ones (photo only), the horizontal flip that swaps left and right classes, and
the levers for photos from the wild (`faceparse.wild`); and the seeding of each DataLoader worker.
"""

from __future__ import annotations

import random

import albumentations as A
import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from faceparse import wild
from faceparse.errors import FaceparseConfigError
from faceparse.inference import model_input
from faceparse.labels import IGNORE, get_label_set
from faceparse.threads import worker_process_init

DEFAULT_AUGMENT = {
    "flip": 0.5, "scale": 0.15, "rotate": 15, "shift": 0.06, "perspective": 0.3,
    "colour": 0.8, "blur": 0.2, "noise": 0.2,
    # the levers for photos from the wild (faceparse.wild): probabilities, off by default
    "background": 0.0, "scene_share": 0.5, "edge_ignore": 2, "camera": 0.0, "occlusion": 0.0,
}


def build_augment(cfg: dict) -> tuple[A.Compose, A.Compose]:
    """Geometric transforms (photo, mask and extra channels together) and photometric (photo only)."""
    c = {**DEFAULT_AUGMENT, **cfg}
    geometric = A.Compose([
        A.Affine(scale=(1 - c["scale"], 1 + c["scale"]), rotate=(-c["rotate"], c["rotate"]),
                 translate_percent=(-c["shift"], c["shift"]), interpolation=cv2.INTER_LINEAR,
                 mask_interpolation=cv2.INTER_NEAREST, border_mode=cv2.BORDER_CONSTANT, fill=0,
                 fill_mask=IGNORE, p=0.9),
        A.Perspective(scale=(0.02, 0.06), interpolation=cv2.INTER_LINEAR, mask_interpolation=cv2.INTER_NEAREST,
                      border_mode=cv2.BORDER_CONSTANT, fill=0, fill_mask=IGNORE, p=c["perspective"]),
    ], additional_targets={"extra": "image"})
    photometric = A.Compose([
        A.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.03, p=c["colour"]),
        A.OneOf([A.GaussianBlur(blur_limit=(3, 5)), A.MotionBlur(blur_limit=5)], p=c["blur"]),
        A.GaussNoise(std_range=(0.01, 0.05), p=c["noise"]),
    ])
    return geometric, photometric


class CropDataset(Dataset):
    """Aligned crops with augmentation; a horizontal flip swaps left/right classes (mask and extras)."""

    def __init__(self, images: np.ndarray, masks: np.ndarray, label_set: str, extra: np.ndarray | None = None,
                 extra_label_set: str | None = None, augment: dict | None = None,
                 scenes: np.ndarray | None = None) -> None:
        self.images, self.masks, self.extra = images, masks, extra
        self.flip_lut = get_label_set(label_set).flip_lut
        self.extra_perm = get_label_set(extra_label_set).flip_permutation if extra_label_set else None
        unknown = sorted(set(augment or {}) - set(DEFAULT_AUGMENT))
        if unknown:
            raise FaceparseConfigError(f"augment: unknown keys {unknown}; known: {sorted(DEFAULT_AUGMENT)}")
        self.cfg = {**DEFAULT_AUGMENT, **(augment or {})}
        self.flip_p = self.cfg["flip"]
        self.scenes = scenes if scenes is not None and len(scenes) else None
        self.geometric, self.photometric = build_augment(augment or {}) if augment is not None else (None, None)
        self.camera = wild.camera_transform() if augment is not None and self.cfg["camera"] > 0 else None

    def seed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        if self.geometric is not None:
            self.geometric.set_random_seed(seed)
            self.photometric.set_random_seed(seed + 1)
        if self.camera is not None:
            self.camera.set_random_seed(seed + 2)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        image, mask = self.images[i], self.masks[i]
        extra = self.extra[i].astype(np.float32) if self.extra is not None else None
        if self.geometric is not None:
            if self.rng.random() < self.flip_p:
                image, mask = image[:, ::-1], self.flip_lut[mask[:, ::-1]]
                if extra is not None:
                    extra = extra[:, ::-1]
                    if self.extra_perm is not None:
                        extra = extra[..., self.extra_perm]  # swap left/right probability channels
            if self.rng.random() < self.cfg["background"]:
                image, mask = wild.replace_background(image, mask, self._plate(), int(self.cfg["edge_ignore"]))
            targets = {"image": np.ascontiguousarray(image), "mask": np.ascontiguousarray(mask)}
            if extra is not None:
                targets["extra"] = np.ascontiguousarray(extra)
            out = self.geometric(**targets)
            image, mask, extra = out["image"], out["mask"], out.get("extra")
            if self.rng.random() < self.cfg["occlusion"]:
                image, mask = wild.occlude(image, mask, self.rng, self.scenes[self.rng.integers(len(self.scenes))]
                                           if self.scenes is not None else None)
            image = self.photometric(image=image)["image"]
            if self.camera is not None and self.rng.random() < self.cfg["camera"]:
                image = self.camera(image=image)["image"]
        x = model_input(image[None], None if extra is None else extra[None])[0]
        return x, torch.from_numpy(np.ascontiguousarray(mask)).long()


    def _plate(self) -> np.ndarray:
        """A background for `background`: a real scene (`scene_share` of the time, when given), else drawn."""
        if self.scenes is not None and self.rng.random() < self.cfg["scene_share"]:
            plate = self.scenes[self.rng.integers(len(self.scenes))]
            return plate[:, ::-1] if self.rng.random() < 0.5 else plate
        return wild.synthetic_background(self.rng, self.images.shape[1])


def seed_worker(worker_id: int) -> None:
    """A DataLoader worker's `worker_init_fn`: one thread, and every generator it draws from seeded."""
    # DataLoader gives each worker a seed derived from its seeded generator: reuse it everywhere.
    worker_process_init()
    seed = torch.initial_seed() % 2**31
    random.seed(seed)
    np.random.seed(seed)
    torch.utils.data.get_worker_info().dataset.seed(seed)
