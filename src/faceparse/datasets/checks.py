"""Checks every reader makes on its input: pairing photos with masks, and mask/photo sizes agree."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from faceparse.datasets.base import IMAGE_SUFFIXES
from faceparse.errors import FaceparseDataError
from faceparse.labels import IGNORE, get_label_set

# Re-exports and crops shave or pad a few pixels; anything larger is a different picture.
SIZE_TOLERANCE = 0.02
# EXIF orientations that swap width and height when applied (read_image applies them).
_TRANSPOSING = {5, 6, 7, 8}


def photo_shape(path: Path | str) -> tuple[int, int]:
    """`(H, W)` of a photo as `read_image` returns it, from the file header only (no decoding)."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            w, h = im.size
            orientation = im.getexif().get(0x0112, 1)
    except FileNotFoundError:
        raise FaceparseDataError(path, "photo not found") from None
    except OSError as err:
        raise FaceparseDataError(path, f"cannot read the photo's header ({err})") from None
    return (w, h) if orientation in _TRANSPOSING else (h, w)


def read_labelled(reader, sample) -> tuple[np.ndarray, np.ndarray, dict, dict]:
    """A labelled sample read as every consumer needs it: the photo `(H, W, 3) uint8`, its label map
    `(H, W) uint8` in the reader's vocabulary at the photo's size, the reader's info dict and what
    `fit_mask_to_image` did (empty when the sizes agreed)."""
    from faceparse.datasets.base import read_image

    image = read_image(sample.image)
    mask, info = reader.read_mask(sample)
    mask, fit = fit_mask_to_image(mask, image.shape, sample.mask)
    return image, mask, info, fit


def fit_mask_to_image(mask: np.ndarray, image_shape: tuple[int, ...], path: Path | str,
                      tolerance: float = SIZE_TOLERANCE) -> tuple[np.ndarray, dict]:
    """Return `mask` (`(h, w) uint8`) at the photo's `(H, W)` and what was done to it.

    Equal sizes pass unchanged. When every dimension differs by less than `tolerance` (relative to
    the photo's), the mask is resampled nearest-neighbour and the info dict records the sizes;
    otherwise `FaceparseDataError` names `path` and both sizes.
    """
    h, w = mask.shape[:2]
    H, W = int(image_shape[0]), int(image_shape[1])
    if (h, w) == (H, W):
        return mask, {}
    if abs(h - H) < tolerance * H and abs(w - W) < tolerance * W:
        resized = cv2.resize(mask, (W, H), interpolation=cv2.INTER_NEAREST)
        return resized, {"mask_resized_from": (h, w), "mask_resized_to": (H, W)}
    raise FaceparseDataError(path, f"mask is {w}x{h} but its photo is {W}x{H} (width x height); "
                             f"expected equal sizes or within {tolerance:.0%}")


def check_label_range(labels: np.ndarray, vocabulary: str, path: Path | str) -> None:
    """Raise when a label map holds values outside `0..K-1` and 255 (ignore) for `vocabulary`."""
    k = get_label_set(vocabulary).num_classes
    bad = (labels >= k) & (labels != IGNORE)
    if bad.any():
        raise FaceparseDataError(path, f"labels {sorted(np.unique(labels[bad]).tolist())} are outside "
                                 f"0..{k - 1} and 255 ({vocabulary})")


def index_by_stem(folder: Path, suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> dict[str, Path]:
    """Files directly in `folder` with one of `suffixes` (any case), by stem; duplicate stems raise."""
    files: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in suffixes:
            if p.stem in files:
                raise FaceparseDataError(p, f"duplicate id {p.stem!r} (also {files[p.stem].name})")
            files[p.stem] = p
    return files


def pair_by_stem(images: dict[str, Path], masks: dict[str, Path], image_place: Path,
                 mask_place: Path) -> list[tuple[str, Path, Path]]:
    """`(id, photo, mask)` for every stem; a photo without a mask or a mask without a photo raises."""
    orphans = sorted(set(masks) - set(images))
    if orphans:
        raise FaceparseDataError(masks[orphans[0]], f"mask without a photo in {image_place} "
                                 f"({len(orphans)} such masks)")
    missing = sorted(set(images) - set(masks))
    if missing:
        raise FaceparseDataError(images[missing[0]], f"photo without a mask in {mask_place} "
                                 f"({len(missing)} such photos)")
    return [(stem, images[stem], masks[stem]) for stem in sorted(images)]


def check_unique_ids(ids_to_paths: list[tuple[str, Path]]) -> None:
    """Raise on the first id that two samples share, naming both files."""
    seen: dict[str, Path] = {}
    for sample_id, path in ids_to_paths:
        if sample_id in seen:
            raise FaceparseDataError(path, f"duplicate id {sample_id!r} (also {seen[sample_id]})")
        seen[sample_id] = path
