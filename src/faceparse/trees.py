"""Folder trees: the content digest that identifies a dataset copy, and the staged all-or-nothing
replacement of a folder that extraction and the mirror both write through."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from tqdm import tqdm

from faceparse.checksums import sha256_hasher
from faceparse.errors import FaceparseDataError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TreeDigest:
    """Content summary of a folder: file count, total bytes, and sha256 over its (path, sha256) pairs."""

    files: int
    bytes: int
    sha256: str


def tree_digest(root: Path, *, label: str | None = None) -> TreeDigest:
    """Summarise the files under `root` (symbolic links followed).

    `sha256` is the sha256 of, for each file in order of its '/'-separated relative path,
    `f"{relpath}\\0{file_sha256}\\n"` encoded as UTF-8: equal trees give equal digests on any
    machine, whatever the file dates, permissions or link structure.
    """
    root = Path(root)
    rels = list_files(root)
    pairs, total = [], 0
    with tqdm(total=len(rels), desc=f"hash {label or root.name}", unit="file", leave=False) as bar:
        for rel in rels:
            h, size = sha256_hasher(root / rel)
            pairs.append((rel, h.hexdigest()))
            total += size
            bar.update(1)
    return TreeDigest(len(rels), total, tree_sha256(pairs))


def tree_sha256(pairs: list[tuple[str, str]]) -> str:
    """The `sha256` of `tree_digest` from (relative path, file sha256) pairs, in any order."""
    h = hashlib.sha256()
    for rel, sha in sorted(pairs):
        h.update(f"{rel}\0{sha}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def list_files(root: Path) -> list[str]:
    """Sorted '/'-separated paths of the files under `root`, following folder links once."""

    def fail(e: OSError) -> None:
        raise FaceparseDataError(getattr(e, "filename", root), f"cannot list: {e.strerror or e}") from e

    out, seen = [], set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True, onerror=fail):
        st = os.stat(dirpath)
        if (st.st_dev, st.st_ino) in seen:  # a folder reached twice through links: a loop or an alias
            log.warning("%s: folder already listed through another path (a link loop?); skipped", dirpath)
            dirnames[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirnames.sort()
        for fn in filenames:
            path = os.path.join(dirpath, fn)
            if not os.path.isfile(path):
                raise FaceparseDataError(path, "is not a regular file (a broken link, fifo or socket)")
            out.append(Path(os.path.relpath(path, root)).as_posix())
    return sorted(out)


@contextmanager
def staging(dest: Path) -> Iterator[Path]:
    """A scratch folder next to `dest` (so the final rename stays on one filesystem), removed afterwards."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{dest.name}.staging-"
    for stale in dest.parent.glob(prefix + "*"):  # left by a killed earlier run
        log.info("removing %s, left by an interrupted run", stale)
        shutil.rmtree(stale, onerror=_log_rmtree_error)
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=dest.parent))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, onerror=_log_rmtree_error)


def replace_folder(new: Path, dest: Path, aside: Path) -> None:
    """Move `new` to `dest`; an existing `dest` goes to `aside` first and comes back if the move fails."""
    if not (dest.exists() or dest.is_symlink()):
        os.rename(new, dest)
        return
    os.rename(dest, aside)
    try:
        os.rename(new, dest)
    except BaseException:
        os.rename(aside, dest)
        raise


def _log_rmtree_error(func: Callable, path: str, exc_info: tuple) -> None:
    log.warning("could not remove %s: %s", path, exc_info[1])
