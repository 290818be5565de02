"""Fetch a dataset into data/raw/<name>/: from a local mirror, or by downloading, verifying and
safely extracting its archive. Whatever was in place before is replaced only once the new copy is
complete."""

from __future__ import annotations

import gzip
import hashlib
import http.client
import logging
import lzma
import os
import posixpath
import re
import shutil
import stat
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from tqdm import tqdm

from faceparse import __version__
from faceparse.errors import FaceparseConfigError, FaceparseDataError, FaceparseError

log = logging.getLogger(__name__)

MIRROR_ENV = "FACEPARSE_MIRROR"
DEFAULT_MAX_BYTES = 20 * 2**30      # 20 GiB extracted
DEFAULT_MAX_MEMBERS = 1_000_000     # CelebAMask-HQ-sized archives hold ~600k files
DEFAULT_TIMEOUT = 60.0              # seconds without progress before a download is given up
CHUNK = 1 << 20
# macOS resource forks zipped alongside the data: never part of a dataset, and they would stop the
# single top-level folder from being recognised.
IGNORED_TOP_LEVEL = ("__MACOSX",)

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_CONTENT_RANGE_RE = re.compile(r"^\s*bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*$")


@dataclass(frozen=True)
class DatasetSource:
    """Where a dataset comes from: its archive URL and how to unpack it."""

    name: str            # the folder data/raw/<name>/ and the mirror folder <mirror>/<name>/
    url: str             # archive URL (zip, tar, tar.gz/tgz, tar.bz2, tar.xz)
    sha256: str | None   # of the archive, when known
    format: str          # reader name, informational here
    strip: str | None = None  # archive folder whose contents become the dataset root; None: auto

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise FaceparseConfigError(f"dataset name {self.name!r}: expected letters, digits, '.', '_' or '-' "
                                       "(it becomes a folder name)")
        scheme = urllib.parse.urlsplit(self.url).scheme.lower()
        if scheme not in ("http", "https"):
            raise FaceparseConfigError(f"dataset {self.name}: url {self.url!r} is not http(s)")
        if self.sha256 is not None:
            sha = self.sha256.strip().lower()
            if not _SHA256_RE.match(sha):
                raise FaceparseConfigError(f"dataset {self.name}: sha256 {self.sha256!r} is not 64 hex digits")
            object.__setattr__(self, "sha256", sha)
        if self.strip is not None:
            object.__setattr__(self, "strip", "/".join(_strip_parts(self.strip, f"dataset {self.name}")))


def _strip_parts(strip: str, owner: str) -> tuple[str, ...]:
    parts = tuple(p for p in strip.split("/") if p not in ("", "."))
    if not parts or ".." in parts or "\\" in strip:
        raise FaceparseConfigError(f"{owner}: strip {strip!r} is not a relative folder inside the archive")
    return parts


@dataclass(frozen=True)
class TreeDigest:
    """Content summary of a folder: file count, total bytes, and sha256 over its (path, sha256) pairs."""

    files: int
    bytes: int
    sha256: str


# ---------------------------------------------------------------------------------------------------
# The entry point


def fetch_dataset(src: DatasetSource, dest: Path, mirror: Path | None, cache_dir: Path, *,
                  max_bytes: int = DEFAULT_MAX_BYTES, max_members: int = DEFAULT_MAX_MEMBERS,
                  timeout: float = DEFAULT_TIMEOUT) -> dict:
    """Put dataset `src` at `dest` and return a JSON-ready record of where it came from.

    With `mirror/<name>/` present its files are hard-linked (copied across filesystems) into
    `dest`; otherwise the archive is downloaded to `cache_dir/<name>/` (resumed, sha256-checked,
    reused on later calls) and extracted. Either way `dest` is replaced only when the new copy is
    complete, and `sha256_tree` in the record identifies the content (see `tree_digest`).
    """
    dest = Path(dest)
    if mirror is not None:
        mirror_dir = Path(mirror) / src.name
        if mirror_dir.is_dir():
            _refuse_overlap(mirror_dir, dest)
            log.info("%s: using the mirror %s", src.name, mirror_dir)
            digest = populate_from_mirror(mirror_dir, dest)
            return {"name": src.name, "source": "mirror", "path": str(mirror_dir),
                    "files": digest.files, "bytes": digest.bytes, "sha256_tree": digest.sha256}
        log.info("%s: the mirror %s has no %s/ folder; downloading %s", src.name, mirror, src.name, src.url)

    archive, sha, size = _fetch_archive(src, Path(cache_dir), mirror, timeout)
    try:
        digest = extract_archive(archive, dest, strip=src.strip, max_bytes=max_bytes, max_members=max_members)
    except _UnreadableArchive as e:
        if src.sha256 is None:
            # Nothing vouches for this file (it may be an HTML error page): let the next run fetch it again.
            archive.unlink(missing_ok=True)
            raise FaceparseDataError(archive, f"{e.problem} (downloaded from {src.url} without a known sha256; "
                                              "deleted it so the next run downloads it again)") from e
        raise
    return {"name": src.name, "source": "url", "url": src.url, "sha256": sha,
            "sha256_known": src.sha256 is not None, "bytes": size, "archive": str(archive),
            "files": digest.files, "tree_bytes": digest.bytes, "sha256_tree": digest.sha256}


def mirror_from_env() -> Path | None:
    """The mirror folder named by FACEPARSE_MIRROR, or None when the variable is unset or empty."""
    value = os.environ.get(MIRROR_ENV, "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        raise FaceparseConfigError(f"{MIRROR_ENV}={value!r}: not a folder")
    return path


def archive_path(src: DatasetSource, cache_dir: Path) -> Path:
    """Where the verified archive of `src` is kept: `cache_dir/<name>/<URL basename>`.

    One folder per dataset, because different datasets' URLs often end in the same name (`master.zip`).
    """
    base = posixpath.basename(urllib.parse.unquote(urllib.parse.urlsplit(src.url).path))
    base = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".") or "archive"
    return Path(cache_dir) / src.name / base


# ---------------------------------------------------------------------------------------------------
# Download


class _NetworkError(Exception):
    """The server could not be reached or did not deliver; the message is the reason."""


def _fetch_archive(src: DatasetSource, cache_dir: Path, mirror: Path | None,
                   timeout: float) -> tuple[Path, str, int]:
    """Return (path, sha256, size) of a complete archive, downloading it only when needed."""
    final = archive_path(src, cache_dir)
    part = final.with_name(final.name + ".part")
    if final.is_file():
        sha, size = _file_sha256(final)
        if src.sha256 is None or sha == src.sha256:
            log.info("%s: reusing %s", src.name, final)
            if src.sha256 is None:
                _warn_unpinned(src, sha)
            part.unlink(missing_ok=True)
            return final, sha, size
        log.warning("%s: %s has sha256 %s, expected %s; downloading it again", src.name, final, sha, src.sha256)
        final.unlink()

    final.parent.mkdir(parents=True, exist_ok=True)
    try:
        sha, size = download_file(src.url, part, timeout=timeout)
    except _NetworkError as e:
        where = f" ({mirror} has no {src.name}/)" if mirror is not None else ""
        raise FaceparseError(f"could not download {src.url} ({e}); set {MIRROR_ENV} to a folder holding "
                             f"{src.name}/ to use a local copy{where}") from e
    if src.sha256 is not None and sha != src.sha256:
        part.unlink()
        raise FaceparseDataError(src.url, f"sha256 mismatch: expected {src.sha256}, found {sha} "
                                          f"({size} bytes); the download was deleted")
    if src.sha256 is None:
        _warn_unpinned(src, sha)
    os.replace(part, final)
    log.info("%s: downloaded %s (%d bytes, sha256 %s)", src.name, final, size, sha)
    return final, sha, size


def _warn_unpinned(src: DatasetSource, sha: str) -> None:
    log.warning("%s: no sha256 given for %s, so its content is not verified; it arrived with sha256 %s "
                "(pin it in params.yaml)", src.name, src.url, sha)


def download_file(url: str, part: Path, *, timeout: float = DEFAULT_TIMEOUT) -> tuple[str, int]:
    """Download `url` into `part`, resuming from the bytes already there; return (sha256, size).

    A server answering a Range request with 200 sends the whole file, so the file restarts from
    zero; a 206 whose range does not start where the file ends restarts it too. Network failures
    raise `_NetworkError` and keep `part` for the next attempt. The content is not verified here.
    """
    part = Path(part)
    opener = urllib.request.build_opener()  # built per call so proxy variables are read now
    for _attempt in range(2):  # the second attempt only after a resume the server could not honour
        offset = part.stat().st_size if part.exists() else 0
        headers = {"User-Agent": f"faceparse/{__version__}", "Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        try:
            resp = opener.open(urllib.request.Request(url, headers=headers), timeout=timeout)
        except urllib.error.HTTPError as e:
            content_range = e.headers.get("Content-Range") if e.headers else None
            e.close()
            if e.code == 416 and offset:
                total = _parse_content_range(content_range)[2]
                if total == offset:
                    log.info("%s: %s is complete already", url, part)
                    return _file_sha256(part)
                log.warning("%s: the server refused to resume %s at byte %d; starting again", url, part, offset)
                part.unlink()
                continue
            raise _NetworkError(f"HTTP {e.code} {e.reason}") from e
        except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
            raise _NetworkError(_reason(e)) from e

        with resp:
            status = resp.status
            length = _int_or_none(resp.headers.get("Content-Length"))
            if status == 206:
                start, _end, total = _parse_content_range(resp.headers.get("Content-Range"))
                if start != offset:
                    log.warning("%s: asked to resume at byte %d, the server sent from %s; starting again",
                                url, offset, start)
                    part.unlink(missing_ok=True)
                    continue
                expected = total if total is not None else (offset + length if length is not None else None)
                hasher, _ = _sha256_of(part) if offset else (hashlib.sha256(), 0)
                mode = "ab"
                if offset:
                    log.info("%s: resuming at byte %d", url, offset)
            elif status == 200:
                if offset:
                    log.info("%s: the server ignored the resume request; starting from zero", url)
                offset, expected, hasher, mode = 0, length, hashlib.sha256(), "wb"
            else:
                raise _NetworkError(f"unexpected HTTP status {status}")

            size = _stream_to_file(resp, part, mode, hasher, offset, expected, url)
        if expected is not None and size != expected:
            raise _NetworkError(f"the connection closed after {size} of {expected} bytes; "
                                f"{part} is kept so the next run resumes")
        return hasher.hexdigest(), size
    raise _NetworkError(f"the server did not honour a resume of {part} twice")


def _stream_to_file(resp: BinaryIO, part: Path, mode: str, hasher: "hashlib._Hash", offset: int,
                    expected: int | None, url: str) -> int:
    """Append the response body to `part`, hashing it; return the file's size afterwards."""
    size = offset
    name = posixpath.basename(urllib.parse.urlsplit(url).path) or url
    with open(part, mode) as f, tqdm(total=expected, initial=offset, unit="B", unit_scale=True,
                                     unit_divisor=1024, desc=name, leave=False) as bar:
        while True:
            try:
                chunk = resp.read(CHUNK)
            except (http.client.HTTPException, OSError) as e:
                raise _NetworkError(f"{_reason(e)} after {size} bytes; {part} is kept so the next run "
                                    "resumes") from e
            if not chunk:
                break
            f.write(chunk)
            hasher.update(chunk)
            size += len(chunk)
            bar.update(len(chunk))
    return size


def _parse_content_range(value: str | None) -> tuple[int | None, int | None, int | None]:
    """`bytes start-end/total` -> (start, end, total), None for what is absent or '*'."""
    m = _CONTENT_RANGE_RE.match(value or "")
    if not m:
        return None, None, None
    start, end, total = (int(g) if g and g != "*" else None for g in m.groups())
    return start, end, total


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _reason(e: BaseException) -> str:
    if isinstance(e, urllib.error.URLError) and not isinstance(e, urllib.error.HTTPError):
        return str(e.reason)
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


# ---------------------------------------------------------------------------------------------------
# Extraction


class _UnreadableArchive(FaceparseDataError):
    """The archive is not a zip/tar or is corrupt (as opposed to readable but refused)."""


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
    which replaces `dest` only when complete.
    """
    archive = Path(archive)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                members = _zip_members(archive, zf, max_members)
                return _extract(archive, members, dest, strip, max_bytes, lambda m: zf.open(m.handle))
        try:
            tf = tarfile.open(archive, "r:*")
        except tarfile.ReadError as e:
            raise _UnreadableArchive(archive, f"not a zip or tar archive ({e})") from e
        with tf:
            members = _tar_members(archive, tf, max_members)
            return _extract(archive, members, dest, strip, max_bytes, lambda m: tf.extractfile(m.handle))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, tarfile.TarError, EOFError, zlib.error, lzma.LZMAError,
            gzip.BadGzipFile, NotImplementedError) as e:
        raise _UnreadableArchive(archive, f"corrupt or unsupported archive ({type(e).__name__}: {e})") from e


def _zip_members(archive: Path, zf: zipfile.ZipFile, max_members: int) -> list[_Member]:
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


def _tar_members(archive: Path, tf: tarfile.TarFile, max_members: int) -> list[_Member]:
    out = []
    for i, info in enumerate(iter(tf.next, None)):  # bounded by the archive; checked before listing all
        if i >= max_members:
            raise FaceparseDataError(archive, f"member {info.name!r} is past the limit of {max_members} members")
        if info.issym() or info.islnk():
            raise FaceparseDataError(archive, f"member {info.name!r} is a link to {info.linkname!r}; "
                                              "links are refused")
        if not (info.isfile() or info.isdir()):
            raise FaceparseDataError(archive, f"member {info.name!r} is a device, fifo or other special file; "
                                              "only files and folders are extracted")
        out.append(_Member(info.name, _safe_parts(archive, info.name), info.isdir(),
                           0 if info.isdir() else info.size, info))
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


def _select(archive: Path, members: list[_Member], strip: str | None) -> list[tuple[_Member, tuple[str, ...]]]:
    """Pair each member to extract with its path under the dataset root."""
    kept = [m for m in members if m.parts[0] not in IGNORED_TOP_LEVEL]
    if len(kept) < len(members):
        log.info("%s: skipping %d members under %s", archive.name, len(members) - len(kept), IGNORED_TOP_LEVEL)
    if strip is not None:
        prefix = _strip_parts(strip, str(archive))
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

    with _staging(dest) as tmp:
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
        digest = TreeDigest(len(files), total, _tree_sha256(pairs))
        _replace(root, dest, tmp / "previous")
    log.info("%s: extracted %d files (%d bytes) into %s", archive.name, digest.files, digest.bytes, dest)
    return digest


def _write_member(archive: Path, m: _Member, target: Path, open_member: Callable[[_Member], BinaryIO],
                  bar: tqdm) -> str:
    """Copy one member's bytes to `target` (a fresh file, default permissions); return their sha256."""
    h = hashlib.sha256()
    written = 0
    src = open_member(m)
    if src is None:
        raise FaceparseDataError(archive, f"member {m.name!r} has no readable content")
    with src, open(target, "wb") as out:
        while chunk := src.read(CHUNK):
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


# ---------------------------------------------------------------------------------------------------
# Mirror


def populate_from_mirror(mirror_dir: Path, dest: Path) -> TreeDigest:
    """Fill `dest` with the files under `mirror_dir`, hard-linked where possible, else copied.

    The mirror is only read. Files behind symbolic links are linked or copied as files.
    """
    mirror_dir = Path(mirror_dir)
    rels = _list_files(mirror_dir)
    if not rels:
        raise FaceparseDataError(mirror_dir, "holds no files; expected the dataset's files under it")
    linked = copied = 0
    with _staging(dest) as tmp:
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
        _replace(root, dest, tmp / "previous")
    log.info("%s: %d files hard-linked, %d copied from %s (%d bytes)", dest, linked, copied, mirror_dir, digest.bytes)
    return digest


def _refuse_overlap(mirror_dir: Path, dest: Path) -> None:
    m, d = mirror_dir.resolve(), dest.resolve()
    if m == d or m.is_relative_to(d) or d.is_relative_to(m):
        raise FaceparseConfigError(f"{MIRROR_ENV}: the mirror folder {mirror_dir} and the destination {dest} "
                                   "overlap; replacing the destination would destroy the mirror")


# ---------------------------------------------------------------------------------------------------
# Folder content hashing and atomic replacement


def tree_digest(root: Path, *, label: str | None = None) -> TreeDigest:
    """Summarise the files under `root` (symbolic links followed).

    `sha256` is the sha256 of, for each file in order of its '/'-separated relative path,
    `f"{relpath}\\0{file_sha256}\\n"` encoded as UTF-8: equal trees give equal digests on any
    machine, whatever the file dates, permissions or link structure.
    """
    root = Path(root)
    rels = _list_files(root)
    pairs, total = [], 0
    with tqdm(total=len(rels), desc=f"hash {label or root.name}", unit="file", leave=False) as bar:
        for rel in rels:
            sha, size = _file_sha256(root / rel)
            pairs.append((rel, sha))
            total += size
            bar.update(1)
    return TreeDigest(len(rels), total, _tree_sha256(pairs))


def _tree_sha256(pairs: list[tuple[str, str]]) -> str:
    h = hashlib.sha256()
    for rel, sha in sorted(pairs):
        h.update(f"{rel}\0{sha}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def _list_files(root: Path) -> list[str]:
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


def _sha256_of(path: Path) -> tuple["hashlib._Hash", int]:
    h, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h, size


def _file_sha256(path: Path) -> tuple[str, int]:
    h, size = _sha256_of(path)
    return h.hexdigest(), size


@contextmanager
def _staging(dest: Path) -> Iterator[Path]:
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


def _replace(new: Path, dest: Path, aside: Path) -> None:
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
