"""An offline mirror of the datasets (FACEPARSE_MIRROR, one <name>/ folder each): found from the
environment and hard-linked (else copied) into place, without ever writing to the mirror."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from tqdm import tqdm

from faceparse.errors import FaceparseConfigError, FaceparseDataError
from faceparse.locations import MIRROR_ENV
from faceparse.trees import TreeDigest, list_files, replace_folder, staging, tree_digest

log = logging.getLogger(__name__)

def populate_from_mirror(mirror_dir: Path, dest: Path) -> TreeDigest:
    """Fill `dest` with the files under `mirror_dir`, hard-linked where possible, else copied.

    The mirror is only read. Files behind symbolic links are linked or copied as files.
    """
    mirror_dir, dest = Path(mirror_dir), Path(dest)
    rels = list_files(mirror_dir)
    if not rels:
        raise FaceparseDataError(mirror_dir, "holds no files; expected the dataset's files under it")
    linked = copied = 0
    with staging(dest) as tmp:
        root = tmp / "new"
        root.mkdir()
        for rel in tqdm(rels, desc=f"link {mirror_dir.name}", unit="file", leave=False):
            source, target = mirror_dir / rel, root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(source, target)
                linked += 1
            except OSError as e:  # another filesystem, or linking someone else's file is not allowed
                log.debug("hard link %s failed (%s); copying", source, e)
                shutil.copy2(source, target)
                copied += 1
        digest = tree_digest(root, label=dest.name)
        replace_folder(root, dest, tmp / "previous")
    log.info("%s: %d files hard-linked, %d copied from %s (%d bytes)", dest, linked, copied, mirror_dir, digest.bytes)
    return digest


def refuse_overlap(mirror_dir: Path, dest: Path) -> None:
    """Raise when `dest` and `mirror_dir` contain one another: replacing `dest` would destroy the mirror."""
    m, d = Path(mirror_dir).resolve(), Path(dest).resolve()
    if m == d or m.is_relative_to(d) or d.is_relative_to(m):
        raise FaceparseConfigError(f"{MIRROR_ENV}: the mirror folder {mirror_dir} and the destination {dest} "
                                   "overlap; replacing the destination would destroy the mirror")
