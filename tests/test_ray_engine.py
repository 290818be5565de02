"""`--engine ray` writes what the single-process run writes: the same CSV rows, the same files."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ray", reason='the Ray extra is not installed (pip install "faceparse[ray]"; make test installs it)')


def faceparse(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "FACEPARSE_THREADS": "2"}  # a local Ray of 2 CPUs: two actors
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.run([sys.executable, "-m", "faceparse.cli", *args], capture_output=True, text=True, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def photos(mirror, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for photo in sorted((mirror / "london_faces").rglob("*.jpg"))[:5]:
        (folder / photo.name).symlink_to(photo)
    return folder


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()
            and not p.name.endswith(".run.json")}


def test_profile_on_ray_gives_the_rows_of_one_process(model, photos, tmp_path):
    faceparse("profile", "--model", str(model), "--out", str(tmp_path / "local.csv"), str(photos))
    faceparse("profile", "--engine", "ray", "--model", str(model), "--out", str(tmp_path / "ray.csv"), str(photos))
    local, ray = (tmp_path / "local.csv").read_text(), (tmp_path / "ray.csv").read_text()
    assert len(local.splitlines()) == 6  # a header and one row per photo
    assert ray == local


def test_predict_on_ray_writes_the_files_of_one_process(model, photos, tmp_path):
    faceparse("predict", "--model", str(model), "--out", str(tmp_path / "local"), str(photos))
    faceparse("predict", "--engine", "ray", "--model", str(model), "--out", str(tmp_path / "ray"), str(photos))
    local, ray = digests(tmp_path / "local"), digests(tmp_path / "ray")
    assert len(local) == 2 * 5 + 2  # labels and overlay per photo, classes.json, predictions.csv
    assert ray == local
