"""Fetch a dataset into data/raw/<name>/: from a local mirror, or by downloading (resumably) and
verifying its archive over HTTP, then extracting it (see `faceparse.archives`)."""

from __future__ import annotations

import logging
import os
import posixpath
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from faceparse.archives import DEFAULT_MAX_BYTES, DEFAULT_MAX_MEMBERS, UnreadableArchive, extract_archive, strip_parts
from faceparse.checksums import sha256_hasher
from faceparse.errors import FaceparseConfigError, FaceparseDataError, FaceparseError
from faceparse.fetch import DEFAULT_TIMEOUT, NetworkError, download_file
from faceparse.locations import MIRROR_ENV
from faceparse.mirror import populate_from_mirror, refuse_overlap

log = logging.getLogger(__name__)

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class DatasetSource:
    """Where a dataset comes from: its archive URL and how to unpack it."""

    name: str            # the folder data/raw/<name>/ and the mirror folder <mirror>/<name>/
    url: str             # archive URL (zip, tar, tar.gz/tgz, tar.bz2, tar.xz)
    sha256: str | None   # of the archive, when known
    format: str          # reader name, informational here
    strip: str | None = None  # archive folder whose contents become the dataset root; None: auto
    # How to get it by hand where the publisher allows no direct download (`url` is then its page):
    # such a dataset is only ever taken from the mirror.
    manual: str | None = None

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
            object.__setattr__(self, "strip", "/".join(strip_parts(self.strip, f"dataset {self.name}")))


@dataclass(frozen=True)
class DownloadEntry:
    """One dataset of the `download.datasets` section of params.yaml (see `DatasetSource`)."""

    url: str
    sha256: str | None
    format: str
    strip: str | None = None
    manual: str | None = None


@dataclass(frozen=True)
class DownloadParams:
    """The `download` section of params.yaml."""

    datasets: dict[str, DownloadEntry]

    def sources(self) -> list[DatasetSource]:
        return [DatasetSource(name=name, url=d.url, sha256=d.sha256, format=d.format, strip=d.strip, manual=d.manual)
                for name, d in self.datasets.items()]


# ---------------------------------------------------------------------------------------------------
# The entry point


def fetch_dataset(src: DatasetSource, dest: Path, mirror: Path | None, cache_dir: Path, *,
                  max_bytes: int = DEFAULT_MAX_BYTES, max_members: int = DEFAULT_MAX_MEMBERS,
                  timeout: float = DEFAULT_TIMEOUT) -> dict:
    """Put dataset `src` at `dest` and return a JSON-ready record of where it came from.

    With `mirror/<name>/` present its files are hard-linked (copied across filesystems) into
    `dest`; otherwise the archive is downloaded to `cache_dir/<name>/` (resumed, sha256-checked,
    reused on later calls) and extracted. Either way `dest` is replaced only when the new copy is
    complete, and `sha256_tree` in the record identifies the content (see `trees.tree_digest`).
    """
    dest = Path(dest)
    if mirror is not None:
        mirror_dir = Path(mirror) / src.name
        if mirror_dir.is_dir():
            refuse_overlap(mirror_dir, dest)
            log.info("%s: using the mirror %s", src.name, mirror_dir)
            digest = populate_from_mirror(mirror_dir, dest)
            return {"name": src.name, "source": "mirror", "path": str(mirror_dir),
                    "files": digest.files, "bytes": digest.bytes, "sha256_tree": digest.sha256}
    if src.manual:
        raise FaceparseDataError(Path(mirror or "$FACEPARSE_MIRROR") / src.name,
                                 f"missing; {src.name} has no direct download ({src.url}): get {src.manual}, and "
                                 "put it there (docs/scale.md: the full-scale study)")
    if mirror is not None:
        log.info("%s: the mirror %s has no %s/ folder; downloading %s", src.name, mirror, src.name, src.url)

    archive, sha, size = _fetch_archive(src, Path(cache_dir), mirror, timeout)
    try:
        digest = extract_archive(archive, dest, strip=src.strip, max_bytes=max_bytes, max_members=max_members)
    except UnreadableArchive as e:
        if src.sha256 is None:
            # Nothing vouches for this file (it may be an HTML error page): let the next run fetch it again.
            archive.unlink(missing_ok=True)
            raise FaceparseDataError(archive, f"{e.problem} (downloaded from {src.url} without a known sha256; "
                                              "deleted it so the next run downloads it again)") from e
        raise
    return {"name": src.name, "source": "url", "url": src.url, "sha256": sha,
            "sha256_known": src.sha256 is not None, "bytes": size, "archive": str(archive),
            "files": digest.files, "tree_bytes": digest.bytes, "sha256_tree": digest.sha256}


def archive_path(src: DatasetSource, cache_dir: Path) -> Path:
    """Where the verified archive of `src` is kept: `cache_dir/<name>/<URL basename>`.

    One folder per dataset, because different datasets' URLs often end in the same name (`master.zip`).
    """
    base = posixpath.basename(urllib.parse.unquote(urllib.parse.urlsplit(src.url).path))
    base = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".") or "archive"
    return Path(cache_dir) / src.name / base


def _fetch_archive(src: DatasetSource, cache_dir: Path, mirror: Path | None,
                   timeout: float) -> tuple[Path, str, int]:
    """Return (path, sha256, size) of a complete archive, downloading it only when needed."""
    final = archive_path(src, cache_dir)
    part = final.with_name(final.name + ".part")
    if final.is_file():
        h, size = sha256_hasher(final)
        sha = h.hexdigest()
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
    except NetworkError as e:
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


