"""Mut1ny face/head segmentation: photos and RGB colour masks paired by the publisher's XML index.

The index (`training.xml`, `testing.xml`, or the sample set's `sampleset.xml`) is read as published:
- it may hold several top-level elements (the sample set has `<labels>` then `<trainingdata>`), which
  strict XML refuses, so its body is parsed inside a wrapper element, in the encoding it declares;
- each `<srcimg name="...">` is paired with one `<labelimg name="..."/>`, either inside it or as the
  element right after it (the sample set's form);
- names are Windows paths (back-slashed, case-insensitive) relative to the XML's folder: a name whose
  case differs from the file's resolves when exactly one file matches;
- `<label name= red= green= blue=>` elements declare the mask colours; they are mapped by name to
  `mut1ny11` (`generalface` is its skin) and override its default colours. Without them the masks
  use the 11 colours of `mut1ny11`.

Masks are RGB, or RGBA (the sample's real photos): a fully transparent pixel is unlabelled (the
painter's strokes stop a row or two short of the border there), so it reads as 255 (ignore), not
as the black (background) its colour channels hold.

The id is the photo's path relative to the XML's folder, without suffix, `/` -> `__`. Rendered heads
(`<folder>/headrende<frame>.png`) are one head model per folder, so their subject is the folder; any
other photo is its own subject.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from faceparse.datasets.base import Sample, colours_to_labels, register
from faceparse.datasets.checks import check_unique_ids, fit_mask_to_image, photo_shape
from faceparse.errors import FaceparseDataError
from faceparse.labels import IGNORE, get_label_set

VOCABULARY = "mut1ny11"
# Colours within NEAR of a palette entry count as on it (lossy re-encodes shift them a little).
NEAR = 12.0
SPLIT_OF_XML = {"training.xml": "train", "testing.xml": "test"}
# The publisher's label names that differ from mut1ny11's class names (after lower case, spaces -> "_").
CLASS_OF_LABEL = {"generalface": "skin"}
_DRIVE = re.compile(r"^[A-Za-z]:")
_DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml\b[^>]*?\bencoding\s*=\s*['"]([A-Za-z0-9._:-]+)['"]""")
_DECLARATION = re.compile(r"^\s*<\?xml\b.*?\?>", re.DOTALL)
_RENDERED = re.compile(r"^headrender?\d+$", re.IGNORECASE)


def _parse_index(xml_path: Path) -> ET.Element:
    """The index's elements under one wrapper element, however many top-level elements it has."""
    try:
        raw = xml_path.read_bytes()
    except OSError as err:
        raise FaceparseDataError(xml_path, f"cannot read the index ({err})") from None
    declared = _DECLARED_ENCODING.match(raw)
    encoding = "utf-8-sig" if not declared else declared.group(1).decode("ascii")
    try:
        text = raw.decode(encoding)
    except (LookupError, UnicodeDecodeError) as err:
        raise FaceparseDataError(xml_path, f"cannot decode the index as {encoding} ({err})") from None
    # The declaration must go: inside the wrapper it would be misplaced. Its newline stays, so the
    # parser's line numbers are the file's.
    body = _DECLARATION.sub("", text, count=1)
    try:
        return ET.fromstring(f"<mut1ny-index>{body}</mut1ny-index>")
    except ET.ParseError as err:
        raise FaceparseDataError(xml_path, f"not well-formed XML ({err})") from None


def _resolve(xml_path: Path, name: str | None, what: str) -> Path:
    """The file a back-slashed, case-insensitive relative path from the XML names; it must exist."""
    if not name or not name.strip():
        raise FaceparseDataError(xml_path, f"a <{what}> has no name attribute")
    posix = name.strip().replace("\\", "/")
    if _DRIVE.match(posix) or posix.startswith("/"):
        raise FaceparseDataError(xml_path, f"<{what} name={name!r}> is absolute; expected a path relative to the XML")
    path = xml_path.parent.joinpath(*PurePosixPath(posix).parts)
    if path.is_file():
        return path
    # Written on Windows, where names are case-insensitive: look for the one file matching regardless of case.
    found = xml_path.parent
    for part in PurePosixPath(posix).parts:
        if part in (".", ".."):
            found = found / part
            continue
        matches = [p for p in found.iterdir() if p.name.lower() == part.lower()] if found.is_dir() else []
        if len(matches) > 1:
            raise FaceparseDataError(xml_path, f"<{what} name={name!r}> matches {len(matches)} names that differ "
                                     f"only in case in {found}: {sorted(p.name for p in matches)}")
        if not matches:
            raise FaceparseDataError(xml_path, f"<{what} name={name!r}> names a missing file ({path})")
        found = matches[0]
    if not found.is_file():
        raise FaceparseDataError(xml_path, f"<{what} name={name!r}> names a missing file ({path})")
    return found


def _palette(xml_path: Path, root: ET.Element) -> tuple[tuple[tuple[int, int, int], int], ...]:
    """`((r, g, b), mut1ny11 class)` for every mask colour: the XML's `<label>`s over mut1ny11's defaults."""
    label_set = get_label_set(VOCABULARY)
    declared: dict[int, tuple[int, int, int]] = {}
    for element in root.iter("label"):
        name = (element.get("name") or "").strip()
        key = re.sub(r"[\s-]+", "_", name.lower())
        cls = CLASS_OF_LABEL.get(key, key)
        if cls not in label_set.classes:
            raise FaceparseDataError(xml_path, f"<label name={name!r}> is not a Mut1ny class; expected one of "
                                     f"{sorted(set(label_set.classes) | set(CLASS_OF_LABEL))}")
        try:
            colour = tuple(int(element.get(c, "")) for c in ("red", "green", "blue"))
        except ValueError:
            raise FaceparseDataError(xml_path, f"<label name={name!r}> needs integer red, green and blue "
                                     f"attributes; found {dict(element.attrib)}") from None
        if not all(0 <= c <= 255 for c in colour):
            raise FaceparseDataError(xml_path, f"<label name={name!r}> has colour {colour}; expected 0..255 each")
        index = label_set.index(cls)
        if index in declared:
            raise FaceparseDataError(xml_path, f"<label name={name!r}> declares {cls!r} a second time")
        clash = next((label_set.classes[i] for i, c in declared.items() if c == colour), None)
        if clash is not None:
            raise FaceparseDataError(xml_path, f"<label name={name!r}> has colour {colour}, which {clash!r} "
                                     "already has")
        declared[index] = colour
    taken = set(declared.values())
    defaults = {i: tuple(int(v) for v in c) for i, c in enumerate(label_set.palette())}
    # A class the XML does not declare keeps its default colour unless a declared class now has it.
    entries = {**{i: c for i, c in defaults.items() if c not in taken}, **declared}
    return tuple((entries[i], i) for i in sorted(entries))


def _pairs(xml_path: Path, root: ET.Element) -> list[tuple[ET.Element, ET.Element]]:
    """`(srcimg, labelimg)` in document order: the labelimg inside its srcimg or right after it."""
    pairs = []
    nested: set[int] = set()
    waiting: ET.Element | None = None  # a srcimg with nothing inside, wanting the next element

    def no_label(src: ET.Element) -> FaceparseDataError:
        return FaceparseDataError(xml_path, f"<srcimg name={src.get('name')!r}> has 0 <labelimg> elements; "
                                  "expected exactly one, inside it or right after it")

    for element in root.iter():
        if id(element) in nested:
            continue
        if waiting is not None and element.tag != "labelimg":
            raise no_label(waiting)
        if element.tag == "srcimg":
            inside = list(element.iter("labelimg"))
            if len(inside) > 1:
                raise FaceparseDataError(xml_path, f"<srcimg name={element.get('name')!r}> has {len(inside)} "
                                         "<labelimg> elements; expected exactly one")
            if inside:
                nested.add(id(inside[0]))
                pairs.append((element, inside[0]))
            else:
                waiting = element
        elif element.tag == "labelimg":
            if waiting is None:
                raise FaceparseDataError(xml_path, f"<labelimg name={element.get('name')!r}> follows no <srcimg>; "
                                         "expected each right after its <srcimg> or inside it")
            pairs.append((waiting, element))
            waiting = None
    if waiting is not None:
        raise no_label(waiting)
    return pairs


def _read_colour_mask(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """`(H, W, 3) uint8` colours and, for a mask with an alpha channel, the `(H, W) bool` opaque pixels."""
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                rgba = np.asarray(im.convert("RGBA"))
                return rgba[..., :3], rgba[..., 3] > 0
            return np.asarray(im.convert("RGB")), None
    except FileNotFoundError:
        raise FaceparseDataError(path, "mask file not found") from None
    except OSError as err:
        raise FaceparseDataError(path, f"cannot decode mask ({err})") from None


@register("mut1ny")
class Mut1nyReader:
    name = "mut1ny"
    vocabulary = VOCABULARY

    def __init__(self, xml_files: tuple[str, ...] = ("training.xml", "sampleset.xml"),
                 max_off_palette_share: float = 0.10) -> None:
        self.xml_files = tuple(xml_files)
        self.max_off_palette_share = max_off_palette_share

    def samples(self, root: Path) -> list[Sample]:
        root = Path(root)
        present = [root / f for f in self.xml_files if (root / f).is_file()]
        if not present:
            raise FaceparseDataError(root, f"no Mut1ny index found (looked for {', '.join(self.xml_files)})")
        out: list[Sample] = []
        for xml_path in present:
            out.extend(self._read_index(xml_path))
        check_unique_ids([(s.id, s.image) for s in out])
        return out

    def _read_index(self, xml_path: Path) -> list[Sample]:
        root = _parse_index(xml_path)
        palette = _palette(xml_path, root)
        pairs = _pairs(xml_path, root)
        if not pairs:
            raise FaceparseDataError(xml_path, "no <srcimg> elements; expected <srcimg name=...> each with one "
                                     "<labelimg name=.../> inside it or right after it")
        out = []
        for src, label in pairs:
            image = _resolve(xml_path, src.get("name"), "srcimg")
            mask = _resolve(xml_path, label.get("name"), "labelimg")
            rel = image.relative_to(xml_path.parent).with_suffix("")
            sample_id = rel.as_posix().replace("/", "__")
            rendered = _RENDERED.match(rel.name) and len(rel.parts) > 1
            out.append(Sample(id=sample_id, image=image, mask=mask, dataset=self.name,
                              split=SPLIT_OF_XML.get(xml_path.name.lower(), ""),
                              subject=rel.parent.as_posix().replace("/", "__") if rendered else sample_id,
                              extra={"index": str(xml_path), "palette": palette}))
        return out

    def read_mask(self, sample: Sample) -> tuple[np.ndarray, dict]:
        """`(H, W) uint8` mut1ny11 labels at the photo's size, 255 where an RGBA mask is transparent."""
        palette = sample.extra.get("palette") or tuple(
            (tuple(int(v) for v in c), i) for i, c in enumerate(get_label_set(VOCABULARY).palette()))
        colours = np.array([c for c, _ in palette], dtype=np.uint8)
        classes = np.array([i for _, i in palette], dtype=np.uint8)
        rgb, opaque = _read_colour_mask(sample.mask)
        if opaque is None:
            index, off = colours_to_labels(rgb, colours, path=sample.mask, near=NEAR)
            labels = classes[index]
        else:
            if not opaque.any():
                raise FaceparseDataError(sample.mask, "every pixel is transparent; expected a painted label map")
            index, off = colours_to_labels(rgb[opaque][None], colours, path=sample.mask, near=NEAR)
            labels = np.full(opaque.shape, IGNORE, dtype=np.uint8)
            labels[opaque] = classes[index[0]]
        if off > self.max_off_palette_share:
            raise FaceparseDataError(sample.mask, f"{off:.1%} of pixels are off the Mut1ny palette "
                                     f"(at most {self.max_off_palette_share:.0%} expected)")
        labels, info = fit_mask_to_image(labels, photo_shape(sample.image), sample.mask)
        transparent = 0.0 if opaque is None else float(1.0 - opaque.mean())
        return labels, {"off_palette_share": off, "transparent_share": transparent, **info}

    def read_landmarks(self, sample: Sample) -> np.ndarray | None:
        return None
