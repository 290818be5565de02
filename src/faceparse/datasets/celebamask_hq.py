"""CelebAMask-HQ (Lee et al., CVPR 2020): one binary PNG per face part, merged into `celebamask19`.

Official layout: `CelebA-HQ-img/<id>.jpg` and `CelebAMask-HQ-mask-anno/<k>/<id:05d>_<part>.png`
(k = id // 2000; part files are found in whichever `<k>` folder holds them). A pixel belongs to a
part where its file is non-zero; parts are painted in the official g_mask.py order, later parts
overwriting earlier ones, and class index = position in that order + 1 (0 = background).
Such a sample's `mask` is the `<k>` folder; `extra["parts"]` maps each part present to its file.

Already-merged label maps are accepted too, when `CelebA-HQ-img/` is absent: `images/` + `labels/`
(or `masks/`) when both folders exist, otherwise one flat folder where each `<name>.png` is the label
map of the photo `<name>.jpg` (any non-PNG image suffix). Their names may be anything; only the
official split needs numeric CelebA-HQ ids. Their values follow the g_mask order unless the
`merged_parts` option gives the order they were merged in (e.g. face-parsing.PyTorch's).

Part files are 512x512 while CelebA-HQ photos are 1024x1024: a mask with the photo's aspect ratio
is resized nearest-neighbour to the photo's size, and the info dict records it.

Official split: `list_eval_partition.txt` (CelebA file -> 0/1/2 = train/val/test) joined through
`CelebA-HQ-to-CelebA-mapping.txt` (idx, orig_idx, orig_file), both in the root; without them every
split is "". With `identity_CelebA.txt` also there, the subject is the CelebA identity.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import cv2
import numpy as np

from faceparse.datasets.base import IMAGE_SUFFIXES, Sample, read_index_mask, register
from faceparse.datasets.checks import (SIZE_TOLERANCE, check_label_range, check_unique_ids, index_by_stem,
                                       pair_by_stem, photo_shape)
from faceparse.errors import FaceparseConfigError, FaceparseDataError
from faceparse.labels import IGNORE, get_label_set

log = logging.getLogger(__name__)

VOCABULARY = "celebamask19"
PARTS = get_label_set(VOCABULARY).classes[1:]  # the g_mask.py painting order
IMAGE_DIR, ANNO_DIR = "CelebA-HQ-img", "CelebAMask-HQ-mask-anno"
MAPPING_FILE, PARTITION_FILE, IDENTITY_FILE = ("CelebA-HQ-to-CelebA-mapping.txt", "list_eval_partition.txt",
                                               "identity_CelebA.txt")
SPLIT_CODES = {"0": "train", "1": "val", "2": "test"}
PHOTO_SUFFIXES = tuple(s for s in IMAGE_SUFFIXES if s != ".png")
MERGED_LABEL_DIRS = ("labels", "masks")  # beside images/
_PART_FILE = re.compile(r"^(?P<id>\d+)_(?P<part>[a-z_]+)\.png$")


def merge_parts(part_masks: dict[str, np.ndarray]) -> np.ndarray:
    """Paint `(H, W)` binary part masks (non-zero = part) into a `(H, W) uint8` celebamask19 map.

    Parts are painted in g_mask.py order, so where parts overlap the later one in that order wins.
    """
    shape = next(iter(part_masks.values())).shape
    labels = np.zeros(shape, dtype=np.uint8)
    for index, part in enumerate(PARTS, start=1):
        if part in part_masks:
            labels[part_masks[part] != 0] = index
    return labels


def fit_to_photo(mask: np.ndarray, image_shape: tuple[int, int], path: Path) -> tuple[np.ndarray, dict]:
    """Resize a label map nearest-neighbour to the photo's `(H, W)` when the aspect ratios agree."""
    h, w = mask.shape
    H, W = image_shape
    if (h, w) == (H, W):
        return mask, {}
    if abs(h / w - H / W) >= SIZE_TOLERANCE * (H / W):
        raise FaceparseDataError(path, f"mask is {w}x{h} but its photo is {W}x{H} (width x height): "
                                 "different aspect ratios, so not a rescaled copy")
    resized = cv2.resize(mask, (W, H), interpolation=cv2.INTER_NEAREST)
    return resized, {"mask_resized_from": (h, w), "mask_resized_to": (H, W)}


@register("celebamask_hq")
class CelebAMaskHQReader:
    name = "celebamask_hq"
    vocabulary = VOCABULARY

    def __init__(self, merged_parts: tuple[str, ...] | list[str] | None = None) -> None:
        self.merged_lut: np.ndarray | None = None
        if merged_parts is not None:
            unknown = sorted(set(merged_parts) - set(PARTS))
            if unknown or len(set(merged_parts)) != len(merged_parts):
                raise FaceparseConfigError(f"celebamask_hq merged_parts: unknown or repeated parts "
                                           f"{unknown or list(merged_parts)}; known: {list(PARTS)}")
            # Merged value i+1 means merged_parts[i]; translate it to that part's g_mask index.
            lut = np.full(256, IGNORE, dtype=np.uint8)
            lut[0] = 0
            for i, part in enumerate(merged_parts, start=1):
                lut[i] = PARTS.index(part) + 1
            self.merged_lut = lut

    def samples(self, root: Path) -> list[Sample]:
        root = Path(root)
        if (root / IMAGE_DIR).is_dir():
            found = self._official(root)
        else:
            found = self._merged(root)
        if not found:
            raise FaceparseDataError(root, f"no CelebAMask-HQ photos found (looked for {IMAGE_DIR}/, "
                                     "images/ + labels/ or masks/, or <name>.jpg + <name>.png)")
        splits, subjects = self._splits(root, [s.id for s in found])
        return [Sample(id=s.id, image=s.image, mask=s.mask, dataset=self.name, split=splits.get(s.id, ""),
                       subject=subjects.get(s.id, s.id), extra=s.extra) for s in found]

    def _official(self, root: Path) -> list[Sample]:
        anno = root / ANNO_DIR
        if not anno.is_dir():
            raise FaceparseDataError(root, f"{IMAGE_DIR}/ found but not {ANNO_DIR}/")
        photos = [(_numeric_id(p), p) for p in index_by_stem(root / IMAGE_DIR, IMAGE_SUFFIXES).values()]
        check_unique_ids(photos)  # 12.jpg and 00012.jpg are the same id
        images = dict(photos)
        parts: dict[str, dict[str, Path]] = {}
        for folder in sorted(p for p in anno.iterdir() if p.is_dir()):
            for p in sorted(folder.iterdir()):
                if p.name.startswith("."):
                    continue  # file-system metadata (.DS_Store and the like)
                m = _PART_FILE.match(p.name)
                if m is None or m["part"] not in PARTS:
                    raise FaceparseDataError(p, "unexpected file; expected <id:05d>_<part>.png with part in "
                                             f"{list(PARTS)}")
                sample_id, part = str(int(m["id"])), m["part"]
                previous = parts.setdefault(sample_id, {}).get(part)
                if previous is not None:
                    raise FaceparseDataError(p, f"duplicate part file for id {sample_id} (also {previous})")
                parts[sample_id][part] = p
        orphans = sorted(set(parts) - set(images), key=int)
        if orphans:
            first = next(iter(parts[orphans[0]].values()))
            raise FaceparseDataError(first, f"part masks without a photo in {root / IMAGE_DIR} "
                                     f"({len(orphans)} such ids)")
        out = []
        for sample_id in sorted(images, key=int):
            if sample_id not in parts:
                raise FaceparseDataError(images[sample_id], f"photo without any part mask in {anno}/<k>/")
            found = parts[sample_id]
            first = found[next(p for p in PARTS if p in found)]
            out.append(Sample(id=sample_id, image=images[sample_id], mask=first.parent, dataset=self.name,
                              extra={"parts": {p: found[p] for p in PARTS if p in found}}))
        return out

    def _merged(self, root: Path) -> list[Sample]:
        label_dirs = [root / name for name in MERGED_LABEL_DIRS if (root / name).is_dir()]
        if (root / "images").is_dir() and label_dirs:
            if len(label_dirs) > 1:
                raise FaceparseDataError(root, f"both {' and '.join(d.name + '/' for d in label_dirs)} beside images/: "
                                         "keep the label maps in one of them")
            image_dir, label_dir = root / "images", label_dirs[0]
            images = index_by_stem(image_dir, IMAGE_SUFFIXES)
        elif root.is_dir():
            image_dir = label_dir = root
            images = index_by_stem(root, PHOTO_SUFFIXES)
        else:
            raise FaceparseDataError(root, "not a folder")
        pairs = pair_by_stem(images, index_by_stem(label_dir, (".png",)), image_dir, label_dir)
        found = [Sample(id=_merged_id(image), image=image, mask=mask, dataset=self.name, extra={"merged": True})
                 for _, image, mask in pairs]
        check_unique_ids([(s.id, s.image) for s in found])
        return found

    @staticmethod
    def _splits(root: Path, ids: list[str]) -> tuple[dict[str, str], dict[str, str]]:
        mapping_path, partition_path = root / MAPPING_FILE, root / PARTITION_FILE
        if not (mapping_path.exists() and partition_path.exists()):
            if mapping_path.exists() or partition_path.exists():
                log.warning("%s: the official split needs both %s and %s; using no split", root, MAPPING_FILE,
                            PARTITION_FILE)
            return {}, {}
        orig_file: dict[str, str] = {}
        for lineno, cols in _rows(mapping_path):
            if lineno == 1 and not cols[0].isdigit():
                continue  # header: idx orig_idx orig_file
            if len(cols) != 3 or not cols[0].isdigit():
                raise FaceparseDataError(mapping_path, f"line {lineno}: expected 'idx orig_idx orig_file', "
                                         f"found {cols}")
            orig_file[str(int(cols[0]))] = cols[2]
        partition = {cols[0]: cols[1] for _, cols in _rows(partition_path) if len(cols) == 2}
        identity = {cols[0]: cols[1] for _, cols in _rows(root / IDENTITY_FILE) if len(cols) == 2} \
            if (root / IDENTITY_FILE).exists() else {}
        splits, subjects = {}, {}
        for sample_id in ids:
            if not sample_id.isdigit():
                raise FaceparseDataError(root, f"the official split ({MAPPING_FILE}) needs numeric CelebA-HQ ids as "
                                         f"file names, found {sample_id!r}; remove the split files to read the "
                                         "folder without a split")
            if sample_id not in orig_file:
                raise FaceparseDataError(mapping_path, f"has no row for CelebA-HQ id {sample_id}")
            name = orig_file[sample_id]
            code = partition.get(name)
            if code not in SPLIT_CODES:
                raise FaceparseDataError(partition_path, f"expected split 0, 1 or 2 for {name} (CelebA-HQ id "
                                         f"{sample_id}), found {code!r}")
            splits[sample_id] = SPLIT_CODES[code]
            if name in identity:
                subjects[sample_id] = f"celeba_{identity[name]}"
        return splits, subjects

    def read_mask(self, sample: Sample) -> tuple[np.ndarray, dict]:
        if "parts" in sample.extra:
            part_paths: dict[str, Path] = sample.extra["parts"]
            masks = {part: read_index_mask(path) for part, path in part_paths.items()}
            first_part, first = next(iter(part_paths.items()))
            (h, w) = masks[first_part].shape
            for part, m in masks.items():
                if m.shape != (h, w):
                    raise FaceparseDataError(part_paths[part], f"part mask is {m.shape[1]}x{m.shape[0]}, "
                                             f"{first.name} is {w}x{h}")
            labels, where = merge_parts(masks), first
        else:
            labels, where = read_index_mask(sample.mask), sample.mask
            if self.merged_lut is not None:
                unmapped = (self.merged_lut[labels] == IGNORE) & (labels != IGNORE)
                if unmapped.any():
                    raise FaceparseDataError(where, f"labels {sorted(np.unique(labels[unmapped]).tolist())} are "
                                             "outside the merged_parts order")
                labels = self.merged_lut[labels]
            check_label_range(labels, self.vocabulary, where)
        return fit_to_photo(labels, photo_shape(sample.image), where)

    def read_landmarks(self, sample: Sample) -> np.ndarray | None:
        return None


def _merged_id(path: Path) -> str:
    """A merged label map's id: the CelebA-HQ id when the name is one (12.jpg and 00012.jpg are both
    12), else the name itself."""
    return str(int(path.stem)) if path.stem.isdigit() else path.stem


def _numeric_id(path: Path) -> str:
    if not path.stem.isdigit():
        raise FaceparseDataError(path, "expected a numeric CelebA-HQ id as the file name (e.g. 123.jpg)")
    return str(int(path.stem))


def _rows(path: Path) -> list[tuple[int, list[str]]]:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise FaceparseDataError(path, f"cannot read ({err})") from None
    return [(n, line.split()) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
