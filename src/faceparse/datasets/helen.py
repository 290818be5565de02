"""Helen relabelled by Smith et al. (CVPR 2013): one probability image per class, merged to labels.

Layout: `images/<name>.jpg`, `labels/<name>/<name>_lbl00.png` ... `_lbl10.png` (8-bit, 0..255 =
probability 0..1 of classes 0..10 of `helen11`), and the split lists `exemplars.txt` (train),
`tuning.txt` (val), `testing.txt` (test) with lines `NNN , <name>` or just `<name>`. Without the
lists every split is "". A sample's `mask` is its `labels/<name>/` folder. Names are
`<flickr photo id>_<face number>`; faces cut from one photo share a subject, so they stay on one
side of any split made by subject.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from faceparse.datasets.base import IMAGE_SUFFIXES, Sample, read_index_mask, register
from faceparse.datasets.checks import check_unique_ids, fit_mask_to_image, index_by_stem, photo_shape
from faceparse.errors import FaceparseDataError

N_CLASSES = 11
# A pixel is foreground only if some foreground map says it more likely than not (>= 0.5).
FOREGROUND_THRESHOLD = 128
SPLIT_LISTS = (("exemplars.txt", "train"), ("tuning.txt", "val"), ("testing.txt", "test"))
_LBL = re.compile(r"^(?P<name>.+)_lbl(?P<k>\d\d)\.png$", re.IGNORECASE)


def merge_probability_maps(probs: np.ndarray) -> tuple[np.ndarray, float]:
    """Merge `(11, H, W) uint8` class probability maps into a `(H, W) uint8` label map.

    Each pixel takes the class with the highest probability, lbl00 (background) included as a
    competitor; ties go to the lower index, so to background. Then every pixel where all of
    lbl01..lbl10 are below 128 becomes background whatever lbl00 says, which also covers pixels
    where every map, lbl00 too, is 0. Returns the label map and the share of pixels that this
    threshold turned from a foreground class to background.
    """
    labels = probs.argmax(axis=0).astype(np.uint8)
    weak = probs[1:].max(axis=0) < FOREGROUND_THRESHOLD
    turned = weak & (labels != 0)
    labels[weak] = 0
    return labels, float(turned.mean()) if labels.size else 0.0


@register("helen")
class HelenReader:
    name = "helen"
    vocabulary = "helen11"

    def samples(self, root: Path) -> list[Sample]:
        root = Path(root)
        image_dir, label_dir = root / "images", root / "labels"
        if not image_dir.is_dir() or not label_dir.is_dir():
            raise FaceparseDataError(root, "expected images/ and labels/ folders (Smith et al. Helen layout)")
        images = index_by_stem(image_dir, IMAGE_SUFFIXES)
        if not images:
            raise FaceparseDataError(image_dir, "no Helen photos found")
        folders = {p.name: p for p in label_dir.iterdir() if p.is_dir()}
        orphans = sorted(set(folders) - set(images))
        if orphans:
            raise FaceparseDataError(folders[orphans[0]], f"label folder without a photo in {image_dir} "
                                     f"({len(orphans)} such)")
        splits = self._splits(root, images)
        out = []
        for name, image in images.items():
            folder = folders.get(name)
            if folder is None:
                raise FaceparseDataError(image, f"photo without its label folder {label_dir / name}")
            self._check_maps(folder, name)
            out.append(Sample(id=name, image=image, mask=folder, dataset=self.name, split=splits.get(name, ""),
                              subject=name.rsplit("_", 1)[0]))
        check_unique_ids([(s.id, s.image) for s in out])
        return out

    @staticmethod
    def _check_maps(folder: Path, name: str) -> None:
        found = set()
        for p in folder.iterdir():
            if p.name.startswith("."):
                continue  # file-system metadata (.DS_Store and the like)
            m = _LBL.match(p.name)
            if m is None or m["name"] != name or int(m["k"]) >= N_CLASSES:
                raise FaceparseDataError(p, f"unexpected file; expected {name}_lbl00.png .. {name}_lbl10.png")
            found.add(int(m["k"]))
        missing = sorted(set(range(N_CLASSES)) - found)
        if missing:
            raise FaceparseDataError(folder / f"{name}_lbl{missing[0]:02d}.png",
                                     f"probability map missing ({len(missing)} of {N_CLASSES} missing in {folder})")

    @staticmethod
    def _splits(root: Path, images: dict[str, Path]) -> dict[str, str]:
        splits: dict[str, str] = {}
        where: dict[str, str] = {}
        for filename, split in SPLIT_LISTS:
            path = root / filename
            if not path.exists():
                continue
            for lineno, line in enumerate(path.read_text().splitlines(), start=1):
                if not line.strip():
                    continue
                name = line.split(",")[-1].strip()
                if Path(name).suffix.lower() in IMAGE_SUFFIXES:
                    name = Path(name).stem
                if name not in images:
                    raise FaceparseDataError(path, f"line {lineno} names {name!r}, which has no photo in images/")
                if name in splits:
                    raise FaceparseDataError(path, f"line {lineno}: {name!r} is already listed in {where[name]}")
                splits[name], where[name] = split, f"{filename} line {lineno}"
        return splits

    def read_mask(self, sample: Sample) -> tuple[np.ndarray, dict]:
        paths = [sample.mask / f"{sample.id}_lbl{k:02d}.png" for k in range(N_CLASSES)]
        maps = [read_index_mask(p) for p in paths]
        for p, m in zip(paths, maps):
            if m.shape != maps[0].shape:
                raise FaceparseDataError(p, f"probability map is {m.shape[1]}x{m.shape[0]}, "
                                         f"{paths[0].name} is {maps[0].shape[1]}x{maps[0].shape[0]}")
        labels, turned = merge_probability_maps(np.stack(maps))
        labels, info = fit_mask_to_image(labels, photo_shape(sample.image), paths[0])
        return labels, {"below_threshold_share": turned, **info}

    def read_landmarks(self, sample: Sample) -> np.ndarray | None:
        return None
