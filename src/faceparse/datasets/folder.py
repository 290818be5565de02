"""A generic labelled folder: `images/<id>.<ext>` + `masks/<id>.png|.bmp`, paired by stem.

Masks are index maps in the label set named by the `vocabulary` option, or colour masks when a
`palette` option is given (a list of `[r, g, b]`; position i is class i of that label set).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faceparse.datasets.base import (IMAGE_SUFFIXES, Sample, colours_to_labels, read_index_mask,
                                     read_rgb_mask, register)
from faceparse.datasets.checks import (check_label_range, fit_mask_to_image, index_by_stem, pair_by_stem,
                                       photo_shape)
from faceparse.errors import FaceparseConfigError, FaceparseDataError
from faceparse.labels import LABEL_SETS, get_label_set

MASK_SUFFIXES = (".png", ".bmp")


@register("folder")
class FolderReader:
    name = "folder"

    def __init__(self, vocabulary: str = "", palette: list[list[int]] | None = None, images: str = "images",
                 masks: str = "masks", near: float = 12.0, max_off_palette_share: float = 0.10) -> None:
        if not vocabulary:
            raise FaceparseConfigError("dataset format 'folder' needs the option vocabulary: the label set of its "
                                       f"masks, one of {sorted(LABEL_SETS)}")
        self.vocabulary = vocabulary
        k = get_label_set(vocabulary).num_classes
        self.palette: np.ndarray | None = None
        if palette is not None:
            pal = np.asarray(palette)
            if pal.ndim != 2 or pal.shape[1] != 3 or not 0 < len(pal) <= k or pal.min() < 0 or pal.max() > 255:
                raise FaceparseConfigError(f"folder palette: expected 1..{k} entries of [r, g, b] in 0..255 "
                                           f"for {vocabulary}, found shape {pal.shape}")
            self.palette = pal.astype(np.uint8)
        self.images, self.masks = images, masks
        self.near, self.max_off_palette_share = near, max_off_palette_share

    def samples(self, root: Path) -> list[Sample]:
        root = Path(root)
        image_dir, mask_dir = root / self.images, root / self.masks
        for folder in (image_dir, mask_dir):
            if not folder.is_dir():
                raise FaceparseDataError(folder, f"expected a folder ({self.images}/ and {self.masks}/ side by side)")
        images = index_by_stem(image_dir, IMAGE_SUFFIXES)
        if not images:
            raise FaceparseDataError(image_dir, f"no photos ({', '.join(IMAGE_SUFFIXES)}) found")
        pairs = pair_by_stem(images, index_by_stem(mask_dir, MASK_SUFFIXES), image_dir, mask_dir)
        return [Sample(id=stem, image=image, mask=mask, dataset=root.name, subject=stem)
                for stem, image, mask in pairs]

    def read_mask(self, sample: Sample) -> tuple[np.ndarray, dict]:
        info: dict = {}
        if self.palette is None:
            labels = read_index_mask(sample.mask)
            check_label_range(labels, self.vocabulary, sample.mask)
        else:
            labels, off = colours_to_labels(read_rgb_mask(sample.mask), self.palette, path=sample.mask, near=self.near)
            if off > self.max_off_palette_share:
                raise FaceparseDataError(sample.mask, f"{off:.1%} of pixels are off the given palette "
                                         f"(at most {self.max_off_palette_share:.0%} allowed)")
            info["off_palette_share"] = off
        labels, fitted = fit_mask_to_image(labels, photo_shape(sample.image), sample.mask)
        return labels, {**info, **fitted}

    def read_landmarks(self, sample: Sample) -> np.ndarray | None:
        return None
