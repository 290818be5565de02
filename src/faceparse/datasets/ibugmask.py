"""iBugMask (Lin et al. 2021): `{train,test}/<id>.jpg` beside `<id>.png` label maps (`ibugmask11`).

In each split folder a `.png` file is a label map and any other image file is a photo; the two
are paired by stem.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faceparse.datasets.base import IMAGE_SUFFIXES, Sample, read_index_mask, register
from faceparse.datasets.checks import (check_label_range, check_unique_ids, fit_mask_to_image,
                                       index_by_stem, pair_by_stem, photo_shape)
from faceparse.errors import FaceparseDataError

SPLITS = ("train", "test")
PHOTO_SUFFIXES = tuple(s for s in IMAGE_SUFFIXES if s != ".png")


@register("ibugmask")
class IbugMaskReader:
    name = "ibugmask"
    vocabulary = "ibugmask11"

    def samples(self, root: Path) -> list[Sample]:
        root = Path(root)
        out: list[Sample] = []
        for split in SPLITS:
            folder = root / split
            if not folder.is_dir():
                continue
            pairs = pair_by_stem(index_by_stem(folder, PHOTO_SUFFIXES), index_by_stem(folder, (".png",)),
                                 folder, folder)
            out.extend(Sample(id=stem, image=image, mask=mask, dataset=self.name, split=split, subject=stem)
                       for stem, image, mask in pairs)
        if not out:
            raise FaceparseDataError(root, "no iBugMask photos found (looked for {train,test}/<id>.jpg + <id>.png)")
        check_unique_ids([(s.id, s.image) for s in out])
        return out

    def read_mask(self, sample: Sample) -> tuple[np.ndarray, dict]:
        labels = read_index_mask(sample.mask)
        check_label_range(labels, self.vocabulary, sample.mask)
        return fit_mask_to_image(labels, photo_shape(sample.image), sample.mask)

    def read_landmarks(self, sample: Sample) -> np.ndarray | None:
        return None
