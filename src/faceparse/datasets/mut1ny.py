"""Mut1ny face/head segmentation: photos and RGB colour masks paired by an XML index.

`training.xml` holds `<srcimg name="...">` elements, each with one `<labelimg name="..."/>` inside;
names are Windows paths (back-slashed) relative to the XML's folder. Masks use the 11 colours of
`mut1ny11`. The id is the photo's path relative to that folder, without suffix, `/` -> `__`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path, PurePosixPath

import numpy as np

from faceparse.datasets.base import Sample, colours_to_labels, read_rgb_mask, register
from faceparse.datasets.checks import check_unique_ids, fit_mask_to_image, photo_shape
from faceparse.errors import FaceparseDataError
from faceparse.labels import get_label_set

# Colours within NEAR of a palette entry count as on it (lossy re-encodes shift them a little).
NEAR = 12.0
SPLIT_OF_XML = {"training.xml": "train", "testing.xml": "test"}
_DRIVE = re.compile(r"^[A-Za-z]:")


def _relative(xml_path: Path, name: str | None, what: str) -> Path:
    """Resolve a back-slashed relative path from the XML to a path beside the XML; it must exist."""
    if not name or not name.strip():
        raise FaceparseDataError(xml_path, f"a <{what}> has no name attribute")
    posix = name.strip().replace("\\", "/")
    if _DRIVE.match(posix) or posix.startswith("/"):
        raise FaceparseDataError(xml_path, f"<{what} name={name!r}> is absolute; expected a path relative to the XML")
    path = xml_path.parent.joinpath(*PurePosixPath(posix).parts)
    if not path.is_file():
        raise FaceparseDataError(xml_path, f"<{what} name={name!r}> names a missing file ({path})")
    return path


@register("mut1ny")
class Mut1nyReader:
    name = "mut1ny"
    vocabulary = "mut1ny11"

    def __init__(self, xml_files: tuple[str, ...] = ("training.xml",), max_off_palette_share: float = 0.10) -> None:
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
        try:
            tree = ET.parse(xml_path)
        except ET.ParseError as err:
            raise FaceparseDataError(xml_path, f"not well-formed XML ({err})") from None
        entries = list(tree.getroot().iter("srcimg"))
        if not entries:
            raise FaceparseDataError(xml_path, "no <srcimg> elements; expected "
                                     "<srcimg name=...><labelimg name=.../></srcimg>")
        out = []
        for entry in entries:
            image = _relative(xml_path, entry.get("name"), "srcimg")
            labels = list(entry.iter("labelimg"))
            if len(labels) != 1:
                raise FaceparseDataError(xml_path, f"<srcimg name={entry.get('name')!r}> has {len(labels)} "
                                         "<labelimg> elements; expected exactly one")
            mask = _relative(xml_path, labels[0].get("name"), "labelimg")
            rel = image.relative_to(xml_path.parent).with_suffix("")
            out.append(Sample(id=rel.as_posix().replace("/", "__"), image=image, mask=mask, dataset=self.name,
                              split=SPLIT_OF_XML.get(xml_path.name.lower(), ""), subject=rel.name,
                              extra={"index": str(xml_path)}))
        return out

    def read_mask(self, sample: Sample) -> tuple[np.ndarray, dict]:
        rgb = read_rgb_mask(sample.mask)
        labels, off = colours_to_labels(rgb, get_label_set(self.vocabulary).palette(), path=sample.mask, near=NEAR)
        if off > self.max_off_palette_share:
            raise FaceparseDataError(sample.mask, f"{off:.1%} of pixels are off the Mut1ny palette "
                                     f"(at most {self.max_off_palette_share:.0%} expected)")
        labels, info = fit_mask_to_image(labels, photo_shape(sample.image), sample.mask)
        return labels, {"off_palette_share": off, **info}

    def read_landmarks(self, sample: Sample) -> np.ndarray | None:
        return None
