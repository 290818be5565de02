"""Microsoft Face Synthetics (Wood et al. 2021): `{id:06d}.png`, `_seg.png` (0..18, 255 ignore),
`_ldmks.txt` (70 lines `x y`: the 68 iBUG points then the two pupils)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faceparse.datasets.base import Sample, read_index_mask, register
from faceparse.datasets.checks import check_label_range
from faceparse.errors import FaceparseDataError

N_LANDMARKS = 70


@register("facesynthetics")
class FaceSyntheticsReader:
    name = "facesynthetics"
    vocabulary = "facesynthetics19"

    def samples(self, root: Path) -> list[Sample]:
        root = Path(root)
        images = sorted(p for p in root.glob("[0-9]*.png") if p.stem.isdigit())
        if not images:
            raise FaceparseDataError(root, "no FaceSynthetics photos ({id:06d}.png) found")
        out = []
        for image in images:
            mask = image.with_name(f"{image.stem}_seg.png")
            if not mask.exists():
                raise FaceparseDataError(image, f"photo without its mask {mask.name}")
            ldmks = image.with_name(f"{image.stem}_ldmks.txt")
            out.append(Sample(id=image.stem, image=image, mask=mask, dataset=self.name, subject=image.stem,
                              landmarks=ldmks if ldmks.exists() else None))
        stems = {p.stem for p in images}
        for seg in root.glob("*_seg.png"):
            if seg.stem[: -len("_seg")] not in stems:
                raise FaceparseDataError(seg, "mask without a photo")
        return out

    def read_mask(self, sample: Sample) -> tuple[np.ndarray, dict]:
        labels = read_index_mask(sample.mask)
        check_label_range(labels, self.vocabulary, sample.mask)
        return labels, {}

    def read_landmarks(self, sample: Sample) -> np.ndarray | None:
        if sample.landmarks is None:
            return None
        try:
            pts = np.loadtxt(sample.landmarks, dtype=np.float64, ndmin=2)
        except ValueError as err:
            raise FaceparseDataError(sample.landmarks, f"cannot parse landmarks ({err})") from None
        if pts.shape != (N_LANDMARKS, 2):
            raise FaceparseDataError(sample.landmarks, f"expected {N_LANDMARKS} lines of 'x y', found shape {pts.shape}")
        return pts
