"""A plain folder of face photos without masks (e.g. the London set), read recursively."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faceparse.datasets.base import IMAGE_SUFFIXES, Sample, list_images, register
from faceparse.errors import FaceparseDataError


@register("photos")
class PhotoFolderReader:
    name = "photos"
    vocabulary = ""

    def samples(self, root: Path) -> list[Sample]:
        root = Path(root)
        if not root.is_dir():
            raise FaceparseDataError(root, "not a folder")
        images = list_images(root, recursive=True)
        if not images:
            raise FaceparseDataError(root, f"no photos ({', '.join(IMAGE_SUFFIXES)}) found")
        out = []
        for p in images:
            rel = p.relative_to(root).with_suffix("")
            tem = p.with_suffix(".tem")
            out.append(Sample(id=str(rel).replace("/", "__"), image=p, mask=None, dataset=root.name,
                              subject=p.stem.split("_")[0], pose=p.parent.name if p.parent != root else "",
                              landmarks=tem if tem.exists() else None))
        return out

    def read_mask(self, sample: Sample) -> tuple[np.ndarray, dict]:
        raise FaceparseDataError(sample.image, "a photo folder has no masks")

    def read_landmarks(self, sample: Sample) -> np.ndarray | None:
        return None
