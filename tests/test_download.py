"""fetch_dataset (download, archives, mirror, trees) against a loopback HTTP server that the tests run
themselves, with archives built here."""

from __future__ import annotations

import errno
import hashlib
import io
import logging
import os
import random
import re
import socket
import stat
import tarfile
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from faceparse.archives import extract_archive
from faceparse.checksums import sha256_hasher, sha256_of
from faceparse.download import DatasetSource, archive_path, fetch_dataset
from faceparse.errors import FaceparseConfigError, FaceparseDataError, FaceparseError
from faceparse.locations import mirror_from_env
from faceparse.trees import TreeDigest, tree_digest

FILES = {
    "V2/Train_RGB/1.png": b"\x89PNG fake image one" * 7,
    "V2/Train_Labels/1.png": b"\x89PNG fake label one" * 5,
    "README.md": b"FASSEG test copy\n",
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def expected_tree(files: dict[str, bytes]) -> str:
    """The documented tree digest, computed independently of the module."""
    h = hashlib.sha256()
    for rel in sorted(files):
        h.update(f"{rel}\0{sha(files[rel])}\n".encode())
    return h.hexdigest()


def read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def make_zip(entries: list[tuple[str, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            info = zipfile.ZipInfo(name)
            if data is None:
                info.external_attr = (stat.S_IFDIR | 0o755) << 16 | 0x10
                zf.writestr(info, b"")
            else:
                info.external_attr = (stat.S_IFREG | 0o644) << 16
                zf.writestr(info, data)
    return buf.getvalue()


def make_tar(entries: list[tuple[str, bytes | None]], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(info)
            else:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def wrapped(top: str, files: dict[str, bytes]) -> list[tuple[str, bytes | None]]:
    return [(f"{top}/", None)] + [(f"{top}/{k}", v) for k, v in files.items()]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob(".*staging-*"))


# ---------------------------------------------------------------------------------------------------
# A loopback file server with optional Range support, truncation, and a request log


@dataclass
class FileServer:
    base: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    honour_range: bool = True
    truncate_at: int | None = None   # the next response stops after this many body bytes
    requests: list[dict] = field(default_factory=list)
    body_bytes_sent: int = 0

    def url(self, path: str) -> str:
        return self.base + path


def _handler(state: FileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            rng = self.headers.get("Range")
            state.requests.append({"path": self.path, "range": rng})
            body = state.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            start = 0
            if rng and state.honour_range:
                start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1))
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            payload = body[start:]
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if state.truncate_at is not None:  # promise everything, send part, hang up
                payload, state.truncate_at = payload[:state.truncate_at], None
            self.wfile.write(payload)
            state.body_bytes_sent += len(payload)

        def log_message(self, *args) -> None:
            pass

    return Handler


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def server():
    state = FileServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def closed_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: connection refused
    return f"http://127.0.0.1:{port}/x.zip"


# ---------------------------------------------------------------------------------------------------
# Download, verify, extract


def test_zip_is_verified_extracted_with_top_folder_stripped_and_not_downloaded_twice(server, tmp_path):
    data = make_zip(wrapped("FASSEG-repository-master", FILES))
    server.files["/master.zip"] = data
    src = DatasetSource("fasseg", server.url("/master.zip"), sha(data).upper(), "fasseg")
    dest, cache = tmp_path / "raw" / "fasseg", tmp_path / "cache"

    record = fetch_dataset(src, dest, None, cache, timeout=5)

    assert read_tree(dest) == FILES
    archive = cache / "fasseg" / "master.zip"
    assert archive_path(src, cache) == archive and archive.read_bytes() == data
    assert not archive.with_name("master.zip.part").exists()
    assert record == {"name": "fasseg", "source": "url", "url": server.url("/master.zip"), "sha256": sha(data),
                      "sha256_known": True, "bytes": len(data), "archive": str(archive), "files": 3,
                      "tree_bytes": sum(map(len, FILES.values())), "sha256_tree": expected_tree(FILES)}
    assert tree_digest(dest) == TreeDigest(3, sum(map(len, FILES.values())), expected_tree(FILES))
    assert leftovers(dest.parent) == []

    again = fetch_dataset(src, dest, None, cache, timeout=5)
    assert again == record
    assert [r["path"] for r in server.requests] == ["/master.zip"]  # the verified archive was reused


@pytest.mark.parametrize("mode,suffix", [("w:gz", "tar.gz"), ("w:bz2", "tar.bz2"), ("w:xz", "tar.xz"), ("w", "tar")])
def test_tar_without_known_sha256_warns_and_records_what_arrived(server, tmp_path, caplog, mode, suffix):
    data = make_tar(wrapped("lapa", FILES), mode)
    server.files[f"/lapa.{suffix}"] = data
    src = DatasetSource("lapa", server.url(f"/lapa.{suffix}"), None, "lapa")

    with caplog.at_level(logging.WARNING, logger="faceparse.download"):
        record = fetch_dataset(src, tmp_path / "raw" / "lapa", None, tmp_path / "cache", timeout=5)

    assert read_tree(tmp_path / "raw" / "lapa") == FILES
    assert record["sha256"] == sha(data) and record["sha256_known"] is False and record["bytes"] == len(data)
    assert record["sha256_tree"] == expected_tree(FILES)
    assert any(sha(data) in r.getMessage() and "no sha256" in r.getMessage() for r in caplog.records)


def test_wrong_sha256_raises_and_leaves_no_archive(server, tmp_path):
    data = make_zip(wrapped("top", FILES))
    server.files["/d.zip"] = data
    src = DatasetSource("d", server.url("/d.zip"), "0" * 64, "fasseg")
    cache, dest = tmp_path / "cache", tmp_path / "raw" / "d"

    with pytest.raises(FaceparseDataError) as err:
        fetch_dataset(src, dest, None, cache, timeout=5)

    msg = str(err.value)
    assert server.url("/d.zip") in msg and "0" * 64 in msg and sha(data) in msg
    assert list((cache / "d").iterdir()) == []  # neither the final file nor the .part
    assert not dest.exists()


def _payload(n: int) -> bytes:
    return random.Random(0).randbytes(n)  # incompressible, so the archive is about n bytes


def test_interrupted_download_resumes_with_a_range_request(server, tmp_path):
    data = make_tar(wrapped("top", {"big.bin": _payload(200_000)}), "w:gz")
    server.files["/big.tgz"] = data
    src = DatasetSource("big", server.url("/big.tgz"), sha(data), "photos")
    part = archive_path(src, tmp_path / "cache").with_name("big.tgz.part")
    part.parent.mkdir(parents=True)
    half = len(data) // 2
    part.write_bytes(data[:half])

    record = fetch_dataset(src, tmp_path / "raw" / "big", None, tmp_path / "cache", timeout=5)

    assert server.requests == [{"path": "/big.tgz", "range": f"bytes={half}-"}]
    assert server.body_bytes_sent == len(data) - half
    assert record["sha256"] == sha(data)
    assert archive_path(src, tmp_path / "cache").read_bytes() == data and not part.exists()


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    data = make_tar(wrapped("top", {"big.bin": _payload(100_000)}), "w:gz")
    server.files["/big.tgz"] = data
    server.honour_range = False
    src = DatasetSource("big", server.url("/big.tgz"), sha(data), "photos")
    part = archive_path(src, tmp_path / "cache").with_name("big.tgz.part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"\xff" * (len(data) // 2))  # wrong bytes: appending to them would fail the sha256

    record = fetch_dataset(src, tmp_path / "raw" / "big", None, tmp_path / "cache", timeout=5)

    assert server.requests[0]["range"] == f"bytes={len(data) // 2}-"
    assert server.body_bytes_sent == len(data)
    assert record["sha256"] == sha(data)
    assert read_tree(tmp_path / "raw" / "big") == {"big.bin": _payload(100_000)}


def test_connection_dropped_midway_keeps_part_and_next_call_resumes(server, tmp_path):
    data = make_tar(wrapped("top", {"big.bin": _payload(150_000)}), "w:gz")
    server.files["/big.tgz"] = data
    server.truncate_at = 60_000
    src = DatasetSource("big", server.url("/big.tgz"), sha(data), "photos")
    part = archive_path(src, tmp_path / "cache").with_name("big.tgz.part")

    with pytest.raises(FaceparseError) as err:
        fetch_dataset(src, tmp_path / "raw" / "big", None, tmp_path / "cache", timeout=5)
    assert "60000 of" in str(err.value) and "FACEPARSE_MIRROR" in str(err.value)
    assert part.stat().st_size == 60_000

    record = fetch_dataset(src, tmp_path / "raw" / "big", None, tmp_path / "cache", timeout=5)
    assert [r["range"] for r in server.requests] == [None, "bytes=60000-"]
    assert record["sha256"] == sha(data)


def test_complete_part_file_answered_with_416_is_used(server, tmp_path):
    data = make_zip(wrapped("top", FILES))
    server.files["/d.zip"] = data
    src = DatasetSource("d", server.url("/d.zip"), sha(data), "fasseg")
    part = archive_path(src, tmp_path / "cache").with_name("d.zip.part")
    part.parent.mkdir(parents=True)
    part.write_bytes(data)  # the previous run stopped just before the rename

    record = fetch_dataset(src, tmp_path / "raw" / "d", None, tmp_path / "cache", timeout=5)

    assert server.requests == [{"path": "/d.zip", "range": f"bytes={len(data)}-"}]
    assert server.body_bytes_sent == 0 and record["sha256"] == sha(data)
    assert read_tree(tmp_path / "raw" / "d") == FILES


def test_explicit_strip_keeps_only_that_folder(tmp_path):
    archive = tmp_path / "a.zip"
    archive.write_bytes(make_zip([("repo-master/data/a.txt", b"A"), ("repo-master/data/sub/b.txt", b"BB"),
                                  ("repo-master/docs/x.txt", b"X"), ("other/y.txt", b"Y")]))
    digest = extract_archive(archive, tmp_path / "out", strip="repo-master/data/")
    assert read_tree(tmp_path / "out") == {"a.txt": b"A", "sub/b.txt": b"BB"}
    assert digest == TreeDigest(2, 3, expected_tree({"a.txt": b"A", "sub/b.txt": b"BB"}))

    with pytest.raises(FaceparseDataError, match="'nope'.*not in the archive"):
        extract_archive(archive, tmp_path / "out2", strip="nope")


def test_two_top_level_entries_are_kept_as_they_are(tmp_path):
    archive = tmp_path / "a.tar"
    archive.write_bytes(make_tar([("one/a.txt", b"A"), ("two.txt", b"2")], "w"))
    extract_archive(archive, tmp_path / "out")
    assert read_tree(tmp_path / "out") == {"one/a.txt": b"A", "two.txt": b"2"}


# ---------------------------------------------------------------------------------------------------
# Unsafe archives


def _zip_symlink(name: str, target: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("top/ok.txt", b"ok")
        info = zipfile.ZipInfo(name)
        info.create_system = 3  # unix
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, target)
    return buf.getvalue()


def _tar_special(name: str, kind: bytes, linkname: str = "") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        ok = tarfile.TarInfo("top/ok.txt")
        ok.size = 2
        tf.addfile(ok, io.BytesIO(b"ok"))
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, linkname
        tf.addfile(info)
    return buf.getvalue()


UNSAFE = {
    "zip ..": ("zip", "../evil", "'..'"),
    "zip absolute": ("zip", "{abs}", "absolute"),
    "tar ..": ("tar", "top/../../evil", "'..'"),
    "tar .. inside": ("tar", "top/../evil", "'..'"),  # the data filter alone would allow this one
    "tar absolute": ("tar", "{abs}", "absolute"),
    "zip symlink": ("zip-symlink", "top/evil", "link"),
    "tar symlink": ("tar-symlink", "top/evil", "link"),
    "tar symlink inside": ("tar-symlink-inside", "top/evil", "links are refused"),  # allowed by the filter
    "tar hardlink": ("tar-hardlink", "top/evil", "link"),
    "tar device": ("tar-device", "top/evil", "special file"),
    "tar fifo": ("tar-fifo", "top/evil", "special file"),
}


@pytest.mark.parametrize("case", list(UNSAFE), ids=list(UNSAFE))
def test_unsafe_member_is_refused_and_nothing_is_written(tmp_path, case):
    kind, name, why = UNSAFE[case]
    outside = tmp_path / "outside"
    outside.mkdir()
    name = name.format(abs=str(outside / "evil"))
    if kind == "zip":
        data = make_zip([("top/ok.txt", b"ok"), (name, b"pwned")])
    elif kind == "tar":
        data = make_tar([("top/ok.txt", b"ok"), (name, b"pwned")])
    elif kind == "zip-symlink":
        data = _zip_symlink(name, str(outside / "evil"))
    elif kind == "tar-symlink-inside":
        data = _tar_special(name, tarfile.SYMTYPE, "ok.txt")
    else:
        tar_type = {"tar-symlink": tarfile.SYMTYPE, "tar-hardlink": tarfile.LNKTYPE, "tar-device": tarfile.CHRTYPE,
                    "tar-fifo": tarfile.FIFOTYPE}
        data = _tar_special(name, tar_type[kind], str(outside / "evil"))
    archive = tmp_path / "cache" / "bad.archive"
    archive.parent.mkdir()
    archive.write_bytes(data)
    dest = tmp_path / "raw" / "bad"

    with pytest.raises(FaceparseDataError) as err:
        extract_archive(archive, dest)

    assert repr(name) in str(err.value) and str(archive) in str(err.value) and why in str(err.value)
    assert not dest.exists() and leftovers(dest.parent) == []
    assert [p for p in tmp_path.rglob("*") if p.name in ("evil", "ok.txt")] == []


def test_unsafe_archive_from_the_network_is_refused(server, tmp_path):
    server.files["/bad.zip"] = make_zip([("top/ok.txt", b"ok"), ("../evil", b"pwned")])
    src = DatasetSource("bad", server.url("/bad.zip"), None, "photos")
    with pytest.raises(FaceparseDataError, match=r"member '\.\./evil' contains '\.\.'"):
        fetch_dataset(src, tmp_path / "raw" / "bad", None, tmp_path / "cache", timeout=5)
    assert not (tmp_path / "raw" / "bad").exists()
    assert [p for p in tmp_path.rglob("evil")] == []


def test_size_and_member_count_bounds(tmp_path):
    archive = tmp_path / "a.tgz"
    archive.write_bytes(make_tar([(f"top/{c}.bin", bytes(1000)) for c in "abc"]))
    with pytest.raises(FaceparseDataError, match=r"member 'top/c\.bin' takes the extracted size to 3000 bytes, "
                                                 r"past the limit of 2500"):
        extract_archive(archive, tmp_path / "out", max_bytes=2500)
    with pytest.raises(FaceparseDataError, match=r"member 'top/c\.bin' is past the limit of 2 members"):
        extract_archive(archive, tmp_path / "out", max_members=2)
    assert not (tmp_path / "out").exists()
    assert extract_archive(archive, tmp_path / "out", max_bytes=3000, max_members=3).bytes == 3000


def test_not_an_archive_without_sha256_is_deleted_for_a_fresh_download(server, tmp_path):
    server.files["/d.zip"] = b"<html>Sign in to continue</html>"
    src = DatasetSource("d", server.url("/d.zip"), None, "photos")
    with pytest.raises(FaceparseDataError, match="not a zip or tar archive"):
        fetch_dataset(src, tmp_path / "raw" / "d", None, tmp_path / "cache", timeout=5)
    assert not archive_path(src, tmp_path / "cache").exists()


# ---------------------------------------------------------------------------------------------------
# Mirror


def _make_mirror(root: Path) -> dict[str, bytes]:
    files = {"a.txt": b"alpha\n", "sub/deeper/b.bin": bytes(range(256)) * 3}
    for rel, data in files.items():
        (root / "ds" / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / "ds" / rel).write_bytes(data)
    for p in sorted((root / "ds").rglob("*"), reverse=True):  # read-only, like the project's shared mirror
        p.chmod(0o555 if p.is_dir() else 0o444)
    return files


def _snapshot(root: Path) -> list[tuple]:
    return [(p.relative_to(root).as_posix(), p.read_bytes() if p.is_file() else None, p.stat().st_mode,
             p.stat().st_mtime_ns, p.stat().st_nlink if p.is_dir() else None) for p in sorted(root.rglob("*"))]


def test_mirror_is_hard_linked_and_left_unchanged(tmp_path, closed_url):
    mirror = tmp_path / "mirror"
    files = _make_mirror(mirror)
    before = _snapshot(mirror)
    dest = tmp_path / "raw" / "ds"
    src = DatasetSource("ds", closed_url, None, "photos")  # the network must not be needed

    record = fetch_dataset(src, dest, mirror, tmp_path / "cache", timeout=5)

    assert read_tree(dest) == files
    assert all(os.path.samefile(dest / rel, mirror / "ds" / rel) for rel in files)
    assert record == {"name": "ds", "source": "mirror", "path": str(mirror / "ds"), "files": 2,
                      "bytes": sum(map(len, files.values())), "sha256_tree": expected_tree(files)}
    assert _snapshot(mirror) == before
    assert not (tmp_path / "cache").exists()


def test_mirror_is_copied_when_hard_links_fail(tmp_path, closed_url, monkeypatch):
    mirror = tmp_path / "mirror"
    files = _make_mirror(mirror)
    before = _snapshot(mirror)

    def no_link(src, dst, *args, **kwargs):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_link)
    dest = tmp_path / "raw" / "ds"
    record = fetch_dataset(DatasetSource("ds", closed_url, None, "photos"), dest, mirror, tmp_path / "cache")

    assert read_tree(dest) == files
    assert not any(os.path.samefile(dest / rel, mirror / "ds" / rel) for rel in files)
    assert record["sha256_tree"] == expected_tree(files)
    assert _snapshot(mirror) == before


def test_mirror_without_the_dataset_falls_back_to_the_url(server, tmp_path):
    (tmp_path / "mirror" / "other").mkdir(parents=True)
    data = make_zip(wrapped("top", FILES))
    server.files["/d.zip"] = data
    record = fetch_dataset(DatasetSource("d", server.url("/d.zip"), sha(data), "fasseg"), tmp_path / "raw" / "d",
                           tmp_path / "mirror", tmp_path / "cache", timeout=5)
    assert record["source"] == "url" and read_tree(tmp_path / "raw" / "d") == FILES


def test_mirror_overlapping_the_destination_is_refused(tmp_path, closed_url):
    mirror = tmp_path / "raw"
    files = _make_mirror(mirror)
    with pytest.raises(FaceparseConfigError, match="overlap"):
        fetch_dataset(DatasetSource("ds", closed_url, None, "photos"), mirror / "ds", mirror, tmp_path / "cache")
    assert read_tree(mirror / "ds") == files


# ---------------------------------------------------------------------------------------------------
# No source, and failures while replacing


def test_unreachable_url_without_mirror_names_the_url_and_the_variable(tmp_path, closed_url):
    src = DatasetSource("ds", closed_url, None, "photos")
    with pytest.raises(FaceparseError) as err:
        fetch_dataset(src, tmp_path / "raw" / "ds", None, tmp_path / "cache", timeout=5)
    assert closed_url in str(err.value) and "FACEPARSE_MIRROR" in str(err.value)
    assert not isinstance(err.value, FaceparseDataError)

    with pytest.raises(FaceparseError) as err:
        fetch_dataset(src, tmp_path / "raw" / "ds", tmp_path / "empty-mirror", tmp_path / "cache", timeout=5)
    assert "FACEPARSE_MIRROR" in str(err.value) and "empty-mirror has no ds/" in str(err.value)
    assert not (tmp_path / "raw" / "ds").exists()


def test_http_error_is_reported_with_its_status(server, tmp_path):
    src = DatasetSource("ds", server.url("/missing.zip"), None, "photos")
    with pytest.raises(FaceparseError, match=r"could not download .*/missing\.zip \(HTTP 404 .*FACEPARSE_MIRROR"):
        fetch_dataset(src, tmp_path / "raw" / "ds", None, tmp_path / "cache", timeout=5)


def _old_dest(dest: Path) -> dict[str, bytes]:
    dest.mkdir(parents=True)
    (dest / "old.txt").write_bytes(b"previous run")
    return {"old.txt": b"previous run"}


def test_failed_extraction_leaves_the_previous_dest_and_success_replaces_it(server, tmp_path):
    dest = tmp_path / "raw" / "d"
    old = _old_dest(dest)
    server.files["/bad.zip"] = make_zip(wrapped("top", FILES)[:2] + [("top/../../x", b"x")])
    with pytest.raises(FaceparseDataError):
        fetch_dataset(DatasetSource("d", server.url("/bad.zip"), None, "photos"), dest, None, tmp_path / "cache",
                      timeout=5)
    assert read_tree(dest) == old and leftovers(dest.parent) == []

    data = make_zip(wrapped("top", FILES))
    server.files["/good.zip"] = data
    fetch_dataset(DatasetSource("d", server.url("/good.zip"), sha(data), "photos"), dest, None, tmp_path / "cache",
                  timeout=5)
    assert read_tree(dest) == FILES and leftovers(dest.parent) == []


def test_failure_while_moving_into_place_restores_the_previous_dest(tmp_path, closed_url, monkeypatch):
    mirror = tmp_path / "mirror"
    _make_mirror(mirror)
    dest = tmp_path / "raw" / "ds"
    old = _old_dest(dest)
    real_rename = os.rename
    calls = []

    def failing_rename(a, b):
        calls.append((Path(a).name, Path(b)))
        if Path(a).name == "new" and Path(b) == dest:
            raise OSError(errno.EIO, "injected failure")
        return real_rename(a, b)

    monkeypatch.setattr(os, "rename", failing_rename)
    with pytest.raises(OSError, match="injected failure"):
        fetch_dataset(DatasetSource("ds", closed_url, None, "photos"), dest, mirror, tmp_path / "cache")

    assert [c[0] for c in calls] == ["ds", "new", "previous"]  # moved aside, failed, moved back
    assert read_tree(dest) == old and leftovers(dest.parent) == []


# ---------------------------------------------------------------------------------------------------
# Parameters


@pytest.mark.parametrize("kwargs,match", [
    ({"name": "../x"}, "dataset name"),
    ({"url": "ftp://127.0.0.1/x.zip"}, "not http"),
    ({"sha256": "abc"}, "64 hex"),
    ({"strip": "a/../b"}, "strip"),
])
def test_bad_source_parameters_are_refused(kwargs, match):
    args = {"name": "ds", "url": "http://127.0.0.1/x.zip", "sha256": None, "format": "photos", **kwargs}
    with pytest.raises(FaceparseConfigError, match=match):
        DatasetSource(**args)


def test_mirror_from_env(tmp_path, monkeypatch):
    monkeypatch.delenv("FACEPARSE_MIRROR", raising=False)
    assert mirror_from_env() is None
    monkeypatch.setenv("FACEPARSE_MIRROR", "  ")
    assert mirror_from_env() is None
    monkeypatch.setenv("FACEPARSE_MIRROR", str(tmp_path))
    assert mirror_from_env() == tmp_path
    monkeypatch.setenv("FACEPARSE_MIRROR", str(tmp_path / "missing"))
    with pytest.raises(FaceparseConfigError, match="FACEPARSE_MIRROR=.*missing.*found nothing there"):
        mirror_from_env()
    (tmp_path / "a-file").write_bytes(b"")
    monkeypatch.setenv("FACEPARSE_MIRROR", str(tmp_path / "a-file"))
    with pytest.raises(FaceparseConfigError, match="found a file"):
        mirror_from_env()


# ---------------------------------------------------------------------------------------------------
# What stages/download.py does with FACEPARSE_MIRROR


def _as_the_stage_does(src: DatasetSource, root: Path) -> dict:
    """stages/download.py for one dataset: the mirror from the environment, then fetch_dataset."""
    return fetch_dataset(src, root / "raw" / src.name, mirror_from_env(), root / "cache", timeout=5)


def test_stage_with_a_mirror_that_is_not_a_folder_stops_before_downloading(server, tmp_path, monkeypatch):
    data = make_zip(wrapped("top", FILES))
    server.files["/d.zip"] = data
    monkeypatch.setenv("FACEPARSE_MIRROR", str(tmp_path / "mirorr"))  # a typo: the stage used to download
    with pytest.raises(FaceparseConfigError) as err:
        _as_the_stage_does(DatasetSource("d", server.url("/d.zip"), sha(data), "fasseg"), tmp_path)
    assert f"FACEPARSE_MIRROR={str(tmp_path / 'mirorr')!r}" in str(err.value)
    assert server.requests == [] and not (tmp_path / "raw").exists() and not (tmp_path / "cache").exists()


def test_stage_with_a_mirror_lacking_the_dataset_offline_is_one_error_naming_both(tmp_path, closed_url,
                                                                                  monkeypatch):
    (tmp_path / "mirror" / "other").mkdir(parents=True)
    monkeypatch.setenv("FACEPARSE_MIRROR", str(tmp_path / "mirror"))
    with pytest.raises(FaceparseError) as err:
        _as_the_stage_does(DatasetSource("ds", closed_url, None, "photos"), tmp_path)
    msg = str(err.value)
    assert f"{tmp_path / 'mirror'} has no ds/" in msg and closed_url in msg and "FACEPARSE_MIRROR" in msg
    assert not (tmp_path / "raw" / "ds").exists()


# ---------------------------------------------------------------------------------------------------
# Checksums


def test_sha256_of_a_file_and_the_resumable_hasher(tmp_path):
    path = tmp_path / "f.bin"
    data = _payload(3 * 2**20 + 5)  # spans several read blocks, the last one short
    path.write_bytes(data)
    assert sha256_of(path) == sha(data)
    (tmp_path / "abc").write_bytes(b"abc")
    assert sha256_of(tmp_path / "abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

    h, size = sha256_hasher(path)
    assert size == len(data)
    h.update(b"rest")  # what a resumed download does with it
    assert h.hexdigest() == sha(data + b"rest")


def test_a_dataset_without_a_direct_download_is_taken_from_the_mirror_only(tmp_path):
    src = DatasetSource("lapa", "https://github.com/jd-opensource/lapa-dataset", None, "lapa",
                        manual="LaPa.tar.gz from the Google Drive link of the LaPa page")
    with pytest.raises(FaceparseDataError, match=r"mirror/lapa: missing; lapa has no direct download .*LaPa\.tar\.gz"):
        fetch_dataset(src, tmp_path / "raw" / "lapa", tmp_path / "mirror", tmp_path / "cache")
    assert not (tmp_path / "cache").exists()  # nothing was fetched
    (tmp_path / "mirror" / "lapa" / "train").mkdir(parents=True)
    (tmp_path / "mirror" / "lapa" / "train" / "a.txt").write_text("x")
    record = fetch_dataset(src, tmp_path / "raw" / "lapa", tmp_path / "mirror", tmp_path / "cache")
    assert record["source"] == "mirror" and (tmp_path / "raw" / "lapa" / "train" / "a.txt").read_text() == "x"
