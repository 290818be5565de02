"""Safe extraction of a dataset archive (zip, tar, tar.gz/bz2/xz): every member checked before
anything is written, the dataset root picked out, the result swapped into place only when complete."""

from __future__ import annotations

import gzip
import hashlib
import logging
import lzma
import re
import shutil
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable

from tqdm import tqdm

from faceparse.checksums import BLOCK
from faceparse.errors import FaceparseConfigError, FaceparseDataError, FaceparseError
from faceparse.trees import TreeDigest, replace_folder, staging, tree_sha256

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 20 * 2**30      # 20 GiB extracted
DEFAULT_MAX_MEMBERS = 1_000_000     # CelebAMask-HQ-sized archives hold ~600k files
# macOS resource forks zipped alongside the data: never part of a dataset, and they would stop the
# single top-level folder from being recognised.
IGNORED_TOP_LEVEL = ("__MACOSX",)


class UnreadableArchive(FaceparseDataError):
    """The archive is not a zip/tar or is corrupt (as opposed to readable but refused)."""


def strip_parts(strip: str, owner: str) -> tuple[str, ...]:
    """The components of a `strip` folder, refusing one that is not a relative folder inside the archive."""
    parts = tuple(p for p in strip.split("/") if p not in ("", "."))
    if not parts or ".." in parts or "\\" in strip:
        raise FaceparseConfigError(f"{owner}: strip {strip!r} is not a relative folder inside the archive")
    return parts


@dataclass(frozen=True)
class _Member:
    name: str                  # as stored in the archive, for messages
    parts: tuple[str, ...]     # normalised path components
    is_dir: bool
    size: int
    handle: object             # ZipInfo or TarInfo


def extract_archive(archive: Path, dest: Path, *, strip: str | None = None,
                    max_bytes: int = DEFAULT_MAX_BYTES, max_members: int = DEFAULT_MAX_MEMBERS) -> TreeDigest:
    """Extract a zip or tar (plain, gz, bz2, xz) archive so that `dest` holds its dataset root.

    Every member is checked before anything is written: absolute paths, '..' components, links,
    devices, more than `max_members` members or more than `max_bytes` in total raise
    `FaceparseDataError` naming the archive and the member. `strip` picks the archive folder that
    becomes `dest`; None strips a lone top-level folder. Extraction goes to a folder next to `dest`
    which replaces `dest` only when complete. An archive that cannot be read at all raises
    `UnreadableArchive`.
    """
    archive, dest = Path(archive), Path(dest)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                members = _zip_members(archive, zf, max_members)
                return _extract(archive, members, dest, strip, max_bytes, lambda m: zf.open(m.handle))
        try:
            tf = tarfile.open(archive, "r:*")
        except tarfile.ReadError as e:
            raise UnreadableArchive(archive, f"not a zip or tar archive ({e})") from e
        with tf:
            members = _tar_members(archive, tf, dest, max_members)
            return _extract(archive, members, dest, strip, max_bytes, lambda m: tf.extractfile(m.handle))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, tarfile.TarError, EOFError, zlib.error, lzma.LZMAError,
            gzip.BadGzipFile, NotImplementedError) as e:
        raise UnreadableArchive(archive, f"corrupt or unsupported archive ({type(e).__name__}: {e})") from e


# ---------------------------------------------------------------------------------------------------
# Member checks


def _zip_members(archive: Path, zf: zipfile.ZipFile, max_members: int) -> list[_Member]:
    # zipfile has no extraction filter: the file type lives in the unix mode bits, checked here.
    out = []
    for i, info in enumerate(zf.infolist()):
        if i >= max_members:
            raise FaceparseDataError(archive, f"member {info.filename!r} is past the limit of {max_members} members")
        mode = info.external_attr >> 16
        kind = stat.S_IFMT(mode)
        if kind == stat.S_IFLNK:
            raise FaceparseDataError(archive, f"member {info.filename!r} is a symbolic link; links are refused")
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise FaceparseDataError(archive, f"member {info.filename!r} is a special file (mode {oct(mode)}); "
                                              "only files and folders are extracted")
        if info.flag_bits & 0x1:
            raise FaceparseDataError(archive, f"member {info.filename!r} is encrypted")
        is_dir = info.is_dir() or kind == stat.S_IFDIR
        out.append(_Member(info.filename, _safe_parts(archive, info.filename), is_dir,
                           0 if is_dir else info.file_size, info))
    return out


def _tar_members(archive: Path, tf: tarfile.TarFile, dest: Path, max_members: int) -> list[_Member]:
    if not hasattr(tarfile, "data_filter"):
        raise FaceparseError(f"extracting {archive} needs tarfile.data_filter (Python 3.10.12+ or 3.11.4+)")
    out = []
    for i, info in enumerate(iter(tf.next, None)):  # bounded by the archive; checked before listing all
        if i >= max_members:
            raise FaceparseDataError(archive, f"member {info.name!r} is past the limit of {max_members} members")
        # Stricter than the filter, which rewrites '/abs' to 'abs' and allows '..' that stays inside.
        parts = _safe_parts(archive, info.name)
        # Stricter than the filter, which allows links inside the destination: only file bytes are
        # copied here, and a dataset has no use for links.
        if info.issym() or info.islnk():
            raise FaceparseDataError(archive, f"member {info.name!r} is a link to {info.linkname!r}; "
                                              "links are refused")
        try:
            tarfile.data_filter(info, str(dest))  # refuses devices, fifos and other special files
        except tarfile.FilterError as e:  # a TarError: re-raised here so it is not taken for corruption
            raise FaceparseDataError(archive, f"member {info.name!r} is refused by tarfile's 'data' filter "
                                              f"({e}); only files and folders are extracted") from e
        out.append(_Member(info.name, parts, info.isdir(), 0 if info.isdir() else info.size, info))
    return out


def _safe_parts(archive: Path, name: str) -> tuple[str, ...]:
    """Path components of a member name, refusing anything that could land outside the destination."""
    if not name or "\x00" in name:
        raise FaceparseDataError(archive, f"member {name!r} has an empty or invalid name")
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise FaceparseDataError(archive, f"member {name!r} has an absolute path")
    parts = tuple(p for p in re.split(r"[/\\]", name) if p not in ("", "."))
    if ".." in parts:
        raise FaceparseDataError(archive, f"member {name!r} contains '..' and could escape the destination")
    if not parts:
        raise FaceparseDataError(archive, f"member {name!r} names no path")
    return parts


# ---------------------------------------------------------------------------------------------------
# Choosing the dataset root and writing


def _select(archive: Path, members: list[_Member], strip: str | None) -> list[tuple[_Member, tuple[str, ...]]]:
    """Pair each member to extract with its path under the dataset root."""
    kept = [m for m in members if m.parts[0] not in IGNORED_TOP_LEVEL]
    if len(kept) < len(members):
        log.info("%s: skipping %d members under %s", archive.name, len(members) - len(kept), IGNORED_TOP_LEVEL)
    if strip is not None:
        prefix = strip_parts(strip, str(archive))
    else:
        tops = {m.parts[0] for m in kept}
        lone_folder = len(tops) == 1 and any(m.is_dir or len(m.parts) > 1 for m in kept)
        prefix = (tops.pop(),) if lone_folder else ()
    n = len(prefix)
    selected = [(m, m.parts[n:]) for m in kept if m.parts[:n] == prefix and len(m.parts) > n]
    if strip is not None:
        outside = sum(1 for m in kept if m.parts[:n] != prefix)
        if not any(m.parts[:n] == prefix for m in kept):
            tops = sorted({m.parts[0] for m in kept})[:10]
            raise FaceparseDataError(archive, f"folder {'/'.join(prefix)!r} (strip) is not in the archive; "
                                              f"its top-level entries are {tops}")
        if outside:
            log.info("%s: skipping %d members outside %s/", archive.name, outside, "/".join(prefix))
    elif prefix:
        log.info("%s: using the archive's top-level folder %s/ as the dataset root", archive.name, prefix[0])
    if not any(not m.is_dir for m, _ in selected):
        raise FaceparseDataError(archive, "holds no files to extract")
    return selected


def _extract(archive: Path, members: list[_Member], dest: Path, strip: str | None, max_bytes: int,
             open_member: Callable[[_Member], BinaryIO]) -> TreeDigest:
    selected = _select(archive, members, strip)
    total = 0
    files: dict[tuple[str, ...], _Member] = {}
    dirs: set[tuple[str, ...]] = set()
    for m, rel in selected:
        for k in range(1, len(rel) if not m.is_dir else len(rel) + 1):
            dirs.add(rel[:k])
        if m.is_dir:
            continue
        total += m.size
        if total > max_bytes:
            raise FaceparseDataError(archive, f"member {m.name!r} takes the extracted size to {total} bytes, "
                                              f"past the limit of {max_bytes} (max_bytes)")
        if rel in files:
            log.warning("%s: member %r appears twice; the later copy is kept", archive.name, m.name)
        files[rel] = m
    clash = next((rel for rel in files if rel in dirs), None)
    if clash is not None:
        raise FaceparseDataError(archive, f"member {files[clash].name!r} is both a file and a folder")

    with staging(dest) as tmp:
        root = tmp / "new"
        _check_free_space(root.parent, total, archive)
        root.mkdir()
        for rel in sorted(dirs):
            (root.joinpath(*rel)).mkdir(exist_ok=True)
        pairs = []
        with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=f"extract {archive.name}",
                  leave=False) as bar:
            for rel, m in files.items():
                sha = _write_member(archive, m, root.joinpath(*rel), open_member, bar)
                pairs.append(("/".join(rel), sha))
        digest = TreeDigest(len(files), total, tree_sha256(pairs))
        replace_folder(root, dest, tmp / "previous")
    log.info("%s: extracted %d files (%d bytes) into %s", archive.name, digest.files, digest.bytes, dest)
    return digest


def _write_member(archive: Path, m: _Member, target: Path, open_member: Callable[[_Member], BinaryIO],
                  bar: tqdm) -> str:
    """Copy one member's bytes to `target` (a fresh file, default permissions); return their sha256."""
    h = hashlib.sha256()  # hashed while copied, so the tree digest costs no second read
    written = 0
    src = open_member(m)
    if src is None:
        raise FaceparseDataError(archive, f"member {m.name!r} has no readable content")
    with src, open(target, "wb") as out:
        while chunk := src.read(BLOCK):
            written += len(chunk)
            if written > m.size:
                raise FaceparseDataError(archive, f"member {m.name!r} holds more than its declared {m.size} bytes")
            out.write(chunk)
            h.update(chunk)
            bar.update(len(chunk))
    if written != m.size:
        raise FaceparseDataError(archive, f"member {m.name!r}: read {written} bytes, expected {m.size}")
    return h.hexdigest()


def _check_free_space(folder: Path, needed: int, archive: Path) -> None:
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise FaceparseError(f"{folder}: extracting {archive} needs {needed} bytes, only {free} are free")
