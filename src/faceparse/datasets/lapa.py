"""LaPa (Liu et al., AAAI 2020): `{train,val,test}/{images,labels,landmarks}/<id>.{jpg,png,txt}`.

Labels are index PNGs in the `lapa11` order. A landmark file is a count line ("106") followed by
one `x y` line per point. Ids are the file stems and must be unique across splits: the same stem
in two splits would put one photo on both sides of the evaluation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faceparse.datasets.base import IMAGE_SUFFIXES, Sample, read_index_mask, register
from faceparse.datasets.checks import (check_label_range, check_unique_ids, fit_mask_to_image,
                                       index_by_stem, pair_by_stem, photo_shape)
from faceparse.errors import FaceparseDataError

SPLITS = ("train", "val", "test")
N_LANDMARKS = 106


@register("lapa")
class LapaReader:
    name = "lapa"
    vocabulary = "lapa11"

    def samples(self, root: Path) -> list[Sample]:
        root = Path(root)
        out: list[Sample] = []
        for split in SPLITS:
            split_dir = root / split
            if not split_dir.is_dir():
                continue
            image_dir, label_dir, ldmk_dir = (split_dir / "images", split_dir / "labels", split_dir / "landmarks")
            if not image_dir.is_dir():
                raise FaceparseDataError(split_dir, "expected an images/ folder")
            if not label_dir.is_dir():
                raise FaceparseDataError(split_dir, "expected a labels/ folder beside images/")
            images = index_by_stem(image_dir, IMAGE_SUFFIXES)
            pairs = pair_by_stem(images, index_by_stem(label_dir, (".png",)), image_dir, label_dir)
            landmarks = self._landmarks(ldmk_dir, images) if ldmk_dir.is_dir() else {}
            out.extend(Sample(id=stem, image=image, mask=mask, dataset=self.name, split=split, subject=stem,
                              landmarks=landmarks.get(stem)) for stem, image, mask in pairs)
        if not out:
            raise FaceparseDataError(root, "no LaPa photos found (looked for {train,val,test}/images/)")
        check_unique_ids([(s.id, s.image) for s in out])
        return out

    @staticmethod
    def _landmarks(folder: Path, images: dict[str, Path]) -> dict[str, Path]:
        files = index_by_stem(folder, (".txt",))
        orphans = sorted(set(files) - set(images))
        if orphans:
            raise FaceparseDataError(files[orphans[0]], f"landmarks without a photo ({len(orphans)} such)")
        missing = sorted(set(images) - set(files))
        if missing:
            raise FaceparseDataError(images[missing[0]], f"photo without landmarks in {folder} ({len(missing)} such)")
        return files

    def read_mask(self, sample: Sample) -> tuple[np.ndarray, dict]:
        labels = read_index_mask(sample.mask)
        check_label_range(labels, self.vocabulary, sample.mask)
        return fit_mask_to_image(labels, photo_shape(sample.image), sample.mask)

    def read_landmarks(self, sample: Sample) -> np.ndarray | None:
        if sample.landmarks is None:
            return None
        return read_counted_points(sample.landmarks, N_LANDMARKS)


def read_counted_points(path: Path, expected: int) -> np.ndarray:
    """`(N, 2) float64` from a text file holding a count line and then N lines of `x y`."""
    try:
        lines = [line.split() for line in Path(path).read_text().splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as err:
        raise FaceparseDataError(path, f"cannot read landmarks ({err})") from None
    if not lines or len(lines[0]) != 1 or not lines[0][0].isdigit():
        raise FaceparseDataError(path, f"expected a first line with the point count ({expected})")
    count = int(lines[0][0])
    if count != expected or len(lines) - 1 != count:
        raise FaceparseDataError(path, f"expected {expected} points; the count line says {count} "
                                 f"and {len(lines) - 1} point lines follow")
    widths = sorted({len(line) for line in lines[1:]})
    if widths != [2]:
        raise FaceparseDataError(path, f"expected point lines of 'x y', found lines of {widths} values")
    try:
        return np.array(lines[1:], dtype=np.float64)
    except ValueError as err:
        raise FaceparseDataError(path, f"cannot parse landmarks ({err})") from None
