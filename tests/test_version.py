"""One version string: `faceparse.__version__`, which pyproject.toml reads (a dynamic version) and
which keys the ONNX cache and the identity of resumed runs."""

import json
import tomllib
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

import faceparse

ROOT = Path(__file__).resolve().parents[1]


def test_pyproject_reads_the_version_from_the_package():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in config["project"] and config["project"]["dynamic"] == ["version"]
    assert config["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "faceparse.__version__"}


def _editable_tree(dist: metadata.Distribution) -> Path | None:
    """The source tree an editable install (`pip install -e`) points at; None for any other install."""
    info = json.loads(dist.read_text("direct_url.json") or "{}")
    if not info.get("dir_info", {}).get("editable"):
        return None
    return Path(unquote(urlparse(info["url"]).path)).resolve()


def test_the_installed_distribution_has_faceparse_version():
    try:
        dist = metadata.distribution("faceparse")
    except metadata.PackageNotFoundError:
        pytest.skip("faceparse is not installed (imported from a source tree): no distribution version to compare")
    here = Path(faceparse.__file__).resolve()
    tree = _editable_tree(dist)
    if tree is not None and not here.is_relative_to(tree):
        pytest.skip(f"the installed faceparse is the editable install of {tree}, not the imported {here}")
    if tree is None and Path(dist.locate_file("faceparse/__init__.py")).resolve() != here:
        pytest.skip(f"the installed faceparse ({dist.locate_file('')}) is another copy than the imported {here}")
    assert dist.version == faceparse.__version__
