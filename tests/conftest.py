"""Shared fixtures: where the real data mirror is, and a quiet, offline environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def mirror_root() -> Path | None:
    env = os.environ.get("FACEPARSE_MIRROR")
    candidates = [Path(env)] if env else []
    candidates.append(ROOT.parent / "shared" / "data")
    for c in candidates:
        if (c / "fasseg").is_dir():
            return c.resolve()
    return None


@pytest.fixture(scope="session")
def mirror() -> Path:
    root = mirror_root()
    if root is None:
        pytest.skip("no data mirror: set FACEPARSE_MIRROR to the folder holding fasseg/")
    return root
