"""One file from a URL over HTTP, resumed where an earlier attempt stopped and hashed as it streams
(the datasets' archives, `faceparse.download`; the detector's file, `faceparse.detect`)."""

from __future__ import annotations

import hashlib
import http.client
import logging
import posixpath
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import BinaryIO

from tqdm import tqdm

from faceparse import __version__
from faceparse.checksums import BLOCK, sha256_hasher

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 60.0              # seconds without progress before a download is given up

_CONTENT_RANGE_RE = re.compile(r"^\s*bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*$")


class NetworkError(Exception):
    """The server could not be reached or did not deliver; the message is the reason."""


def download_file(url: str, part: Path, *, timeout: float = DEFAULT_TIMEOUT) -> tuple[str, int]:
    """Download `url` into `part`, resuming from the bytes already there; return (sha256, size).

    A server answering a Range request with 200 sends the whole file, so the file restarts from
    zero; a 206 whose range does not start where the file ends restarts it too. Network failures
    raise `NetworkError` and keep `part` for the next attempt. The content is not verified here.
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
                    h, size = sha256_hasher(part)
                    return h.hexdigest(), size
                log.warning("%s: the server refused to resume %s at byte %d; starting again", url, part, offset)
                part.unlink()
                continue
            raise NetworkError(f"HTTP {e.code} {e.reason}") from e
        except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
            raise NetworkError(_reason(e)) from e

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
                hasher, _ = sha256_hasher(part) if offset else (hashlib.sha256(), 0)
                mode = "ab"
                if offset:
                    log.info("%s: resuming at byte %d", url, offset)
            elif status == 200:
                if offset:
                    log.info("%s: the server ignored the resume request; starting from zero", url)
                offset, expected, hasher, mode = 0, length, hashlib.sha256(), "wb"
            else:
                raise NetworkError(f"unexpected HTTP status {status}")

            size = _stream_to_file(resp, part, mode, hasher, offset, expected, url)
        if expected is not None and size != expected:
            raise NetworkError(f"the connection closed after {size} of {expected} bytes; "
                                f"{part} is kept so the next run resumes")
        return hasher.hexdigest(), size
    raise NetworkError(f"the server did not honour a resume of {part} twice")


def _stream_to_file(resp: BinaryIO, part: Path, mode: str, hasher: hashlib._Hash, offset: int,
                    expected: int | None, url: str) -> int:
    """Append the response body to `part`, hashing it; return the file's size afterwards."""
    size = offset
    name = posixpath.basename(urllib.parse.urlsplit(url).path) or url
    with open(part, mode) as f, tqdm(total=expected, initial=offset, unit="B", unit_scale=True,
                                     unit_divisor=1024, desc=name, leave=False) as bar:
        while True:
            try:
                chunk = resp.read(BLOCK)
            except (http.client.HTTPException, OSError) as e:
                raise NetworkError(f"{_reason(e)} after {size} bytes; {part} is kept so the next run "
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
