"""FASSEG (Khan et al. 2015, 2017): V1/V2 frontal faces and V3 multi-pose faces, RGB colour masks.

Layout: `V2/{Train,Test}_RGB/N.bmp` + `V2/{Train,Test}_Labels/N.bmp`, the same for V1, and
`V3/{Train,Test}_RGB/<pose>/<name>.bmp` + `V3/{Train,Test}_labels/<pose>/<name>.bmp`.
`.png` is accepted wherever `.bmp` is. V3 photos come from the Pointing'04 head-pose set, named
`personne<PP><S><NN><tilt><pan>`: PP is the person, so the subject id is `personne<PP>`.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from faceparse.datasets.base import (Sample, colours_to_labels, read_rgb_mask,
                                     register)
from faceparse.datasets.checks import index_by_stem
from faceparse.errors import FaceparseDataError
from faceparse.labels import get_label_set

NEAR = 12.0
FASSEG_SUFFIXES = (".bmp", ".png")  # the publisher ships BMP; re-encoded mirrors PNG
_POINTING04 = re.compile(r"^(personne\d\d)")


def _find_dir(parent: Path, *names: str) -> Path | None:
    for name in names:
        if (parent / name).is_dir():
            return parent / name
    return None


@register("fasseg")
class FassegReader:
    name = "fasseg"
    vocabulary = "fasseg6"

    def __init__(self, versions: tuple[str, ...] = ("V1", "V2", "V3"), max_off_palette_share: float = 0.10,
                 include_unlabelled: bool = False) -> None:
        # Anti-aliased region edges are mixtures of two palette colours, arbitrarily far from both,
        # so the check is on their share of the mask (about 2% in FASSEG), not on their distance.
        self.versions = (versions,) if isinstance(versions, str) else tuple(versions)  # "V2" means ("V2",)
        self.max_off_palette_share = max_off_palette_share
        self.include_unlabelled = include_unlabelled

    def samples(self, root: Path) -> list[Sample]:
        root = Path(root)
        out: list[Sample] = []
        for version in self.versions:
            vdir = root / version
            if not vdir.is_dir():
                continue
            for split in ("Train", "Test"):
                rgb_dir = _find_dir(vdir, f"{split}_RGB", f"{split}_rgb")
                lab_dir = _find_dir(vdir, f"{split}_Labels", f"{split}_labels")
                if rgb_dir is None:
                    continue
                out.extend(self._pairs(version, split.lower(), rgb_dir, lab_dir))
        if not out:
            raise FaceparseDataError(root, f"no FASSEG photos found (looked for {'/'.join(self.versions)}/"
                                     "{Train,Test}_RGB)")
        return out

    def _pairs(self, version: str, split: str, rgb_dir: Path, lab_dir: Path | None) -> list[Sample]:
        pose_dirs = [d for d in sorted(rgb_dir.iterdir()) if d.is_dir()]
        groups = [(d.name, d, (lab_dir / d.name) if lab_dir else None) for d in pose_dirs] or [("", rgb_dir, lab_dir)]
        out = []
        for pose, img_dir, mask_dir in groups:
            images = index_by_stem(img_dir, FASSEG_SUFFIXES)
            masks = index_by_stem(mask_dir, FASSEG_SUFFIXES) if mask_dir is not None and mask_dir.is_dir() else {}
            orphans = sorted(set(masks) - set(images))
            if orphans:
                raise FaceparseDataError(mask_dir / orphans[0], f"mask without a photo ({len(orphans)} such in {mask_dir})")
            for stem, image in images.items():
                mask = masks.get(stem)
                if mask is None and not (self.include_unlabelled or pose):
                    raise FaceparseDataError(image, f"photo without a mask in {mask_dir}")
                if mask is None and not self.include_unlabelled:
                    continue  # V3 test folders hold more photos than labels; unlabelled ones are not samples
                m = _POINTING04.match(stem)
                subject = m.group(1) if m else f"{version}_{split}_{stem}"
                out.append(Sample(id=f"{version}_{split}_{pose + '_' if pose else ''}{stem}", image=image, mask=mask,
                                  dataset=self.name, split=split, subject=subject, pose=pose,
                                  extra={"version": version}))
        return out

    def read_mask(self, sample: Sample) -> tuple[np.ndarray, dict]:
        if sample.mask is None:
            raise FaceparseDataError(sample.image, "this photo has no mask")
        rgb = read_rgb_mask(sample.mask)
        # Colours within NEAR of a palette entry (lossy re-encodes shift them a few units) count as on it.
        labels, off = colours_to_labels(rgb, get_label_set(self.vocabulary).palette(), near=NEAR)
        if off > self.max_off_palette_share:
            raise FaceparseDataError(sample.mask, f"{off:.1%} of pixels are off the FASSEG palette "
                                     f"(at most {self.max_off_palette_share:.0%} expected from anti-aliasing)")
        return labels, {"off_palette_share": off}

    def read_landmarks(self, sample: Sample) -> np.ndarray | None:
        return None
