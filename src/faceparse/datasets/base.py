"""What every dataset reader shares: the sample record, the registry, and robust image/mask I/O."""

from __future__ import annotations

import inspect
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import numpy as np
from PIL import Image, ImageOps

from faceparse.errors import FaceparseConfigError, FaceparseDataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class Sample:
    """One photo (and its mask, when the dataset has one) in its original on-disk place."""

    id: str                      # unique within the dataset
    image: Path
    mask: Path | None
    dataset: str
    split: str = ""              # the dataset's own split ("train", "test", ...) or "" if none
    subject: str = ""            # person identity, to keep one person's photos on one side of a split
    pose: str = ""               # e.g. FASSEG V3 yaw folder
    landmarks: Path | None = None
    extra: dict = field(default_factory=dict, compare=False, hash=False)


class DatasetReader(Protocol):
    name: str
    vocabulary: str  # the LabelSet name of the masks `read_mask` returns

    def samples(self, root: Path) -> list[Sample]: ...

    def read_mask(self, sample: Sample) -> tuple[np.ndarray, dict]:
        """`(H, W) uint8` native label map and facts about the conversion (e.g. off-palette share)."""
        ...

    def read_landmarks(self, sample: Sample) -> np.ndarray | None: ...


READERS: dict[str, Callable[..., DatasetReader]] = {}


def register(name: str):
    """Class decorator adding a reader to the registry under `name`."""

    def wrap(cls):
        READERS[name] = cls
        return cls

    return wrap


def get_reader(name: str, **options) -> DatasetReader:
    try:
        cls = READERS[name]
    except KeyError:
        raise FaceparseConfigError(f"unknown dataset format {name!r}; known: {sorted(READERS)}") from None
    try:  # options come from users (CLI --options, params.yaml): a wrong name is a config error, not a crash
        inspect.signature(cls).bind(**options)
    except TypeError:
        known = [p for p in inspect.signature(cls).parameters]
        raise FaceparseConfigError(f"dataset format {name!r} takes the options {known or 'none'}; "
                                   f"found {sorted(options)}") from None
    return cls(**options)


def read_image(path: Path | str) -> np.ndarray:
    """Decode a photo as `(H, W, 3) uint8` sRGB.

    EXIF orientation is applied; grayscale, palette, CMYK, alpha and 16-bit images are converted.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                im.load()
                ImageOps.exif_transpose(im, in_place=True)  # no copy of a photo already upright
                if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                    arr = np.asarray(im, dtype=np.float64)
                    scale = 65535.0 if arr.max() > 255 else 255.0
                    arr = np.clip(np.round(arr / scale * 255.0), 0, 255).astype(np.uint8)
                    return np.repeat(arr[..., None], 3, axis=2)
                if im.mode == "RGBA" or (im.mode == "P" and "transparency" in im.info):
                    im = im.convert("RGBA")
                    background = Image.new("RGBA", im.size, (255, 255, 255, 255))
                    im = Image.alpha_composite(background, im)
                return np.asarray(im if im.mode == "RGB" else im.convert("RGB"))
    except FileNotFoundError:
        raise FaceparseDataError(path, "file not found") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise FaceparseDataError(path, f"cannot decode as an image ({err})") from None


def read_index_mask(path: Path | str) -> np.ndarray:
    """Read a single-channel label PNG as `(H, W) uint8` indices (palette PNGs keep their indices)."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("L", "P"):
                return np.array(im, dtype=np.uint8)
            if im.mode in ("I", "I;16", "I;16B", "I;16L"):
                arr = np.asarray(im)
                if arr.max() > 255:
                    raise FaceparseDataError(path, f"label values up to {arr.max()}; expected at most 255")
                return arr.astype(np.uint8)
            if im.mode in ("RGB", "RGBA"):
                arr = np.asarray(im)[..., :3]
                if (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all():
                    return arr[..., 0].copy()
                raise FaceparseDataError(path, "expected a single-channel label map, found a colour image")
            raise FaceparseDataError(path, f"unsupported mask mode {im.mode}")
    except FileNotFoundError:
        raise FaceparseDataError(path, "mask file not found") from None
    except OSError as err:
        raise FaceparseDataError(path, f"cannot decode mask ({err})") from None


def read_rgb_mask(path: Path | str) -> np.ndarray:
    """Read a colour-coded mask as `(H, W, 3) uint8` RGB, without any EXIF or colour handling."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            return np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise FaceparseDataError(path, "mask file not found") from None
    except OSError as err:
        raise FaceparseDataError(path, f"cannot decode mask ({err})") from None


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """`(..., 3) uint8` -> `(...) int32` as 0xRRGGBB."""
    out = rgb[..., 0].astype(np.int32) << 16
    out |= rgb[..., 1].astype(np.int32) << 8
    out |= rgb[..., 2]
    return out


class PaletteLookup:
    """Nearest-palette-colour lookup over all 2**24 packed RGB values, filled lazily.

    Only colours not seen before are searched (a mask holds a few hundred distinct colours, and
    masks of one dataset share most of them); every pixel is then one table lookup.
    """

    def __init__(self, palette: np.ndarray) -> None:
        self.palette = np.asarray(palette, dtype=np.int64).reshape(-1, 3)
        self.label = np.zeros(1 << 24, dtype=np.uint8)
        self.distance = np.full(1 << 24, -1.0, dtype=np.float32)  # -1: not searched yet

    def __call__(self, packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Labels and distances to the nearest palette colour of `(...) int32` packed colours."""
        # np.take is several times faster than fancy indexing for a gather from a large table.
        distance = np.take(self.distance, packed)
        unseen = distance < 0
        if unseen.any():
            colours = np.unique(packed[unseen])
            rgb = np.stack([(colours >> 16) & 255, (colours >> 8) & 255, colours & 255], axis=1).astype(np.int64)
            d2 = ((rgb[:, None, :] - self.palette[None, :, :]) ** 2).sum(axis=2)
            self.label[colours] = d2.argmin(axis=1)  # ties go to the first palette colour
            self.distance[colours] = np.sqrt(d2.min(axis=1))
            distance = np.take(self.distance, packed)
        return np.take(self.label, packed), distance


_LOOKUPS: dict[bytes, PaletteLookup] = {}


def _lookup(palette: np.ndarray) -> PaletteLookup:
    key = np.asarray(palette, dtype=np.int64).tobytes()
    if key not in _LOOKUPS:
        if len(_LOOKUPS) >= 8:  # 80 MB each: keep only a few palettes
            _LOOKUPS.pop(next(iter(_LOOKUPS)))
        _LOOKUPS[key] = PaletteLookup(palette)
    return _LOOKUPS[key]


def colours_to_labels(rgb: np.ndarray, palette: np.ndarray, tolerance: float | None = None,
                      path: Path | str | None = None, near: float = 0.0) -> tuple[np.ndarray, float]:
    """Map a `(H, W, 3) uint8` colour mask to `(H, W) uint8` indices of the nearest palette colour.

    A lookup table over packed RGB values maps every pixel; the nearest-colour search runs only over
    distinct colours not met before. Returns the label map and the share of pixels whose colour is
    farther than `near` from every palette colour (near = 0: not exactly a palette colour). With
    `tolerance`, a colour farther than that (Euclidean RGB distance) from every palette colour raises
    `FaceparseDataError` naming `path`.
    """
    packed = pack_rgb(rgb)
    labels, distance = _lookup(palette)(packed)
    if tolerance is not None:
        far = distance > tolerance
        if far.any():
            worst = np.unravel_index(int(distance.argmax()), distance.shape)
            raise FaceparseDataError(path, f"{int(far.sum())} pixels have colours off the palette by more than "
                                     f"{tolerance} (worst {tuple(int(c) for c in rgb[worst])}, distance "
                                     f"{float(distance[worst]):.1f})")
    off_share = float((distance > near).mean()) if packed.size else 0.0
    return labels, off_share


def list_images(folder: Path, recursive: bool = False) -> list[Path]:
    """Image files inside `folder` (and, with `recursive`, below it), sorted by path."""
    found = Path(folder).rglob("*") if recursive else Path(folder).iterdir()
    return sorted(p for p in found if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
