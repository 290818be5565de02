"""What every stage entry point shares: the repo root, logging, params."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Stage files are named after their stages, and `profile` is also a standard-library module that
# torch imports (through cProfile): take this folder off the import path once _common is loaded.
_HERE = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve().as_posix() != _HERE]
sys.path.insert(0, str(ROOT / "src"))  # stages run from a checkout, installed or not

from faceparse.params import get, load_params  # noqa: E402


def setup() -> dict:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.chdir(ROOT)
    return load_params(ROOT / "params.yaml")


def write_json(path: Path, data: dict) -> None:
    from faceparse.jsonio import write_json as _write

    _write(ROOT / path, data)


__all__ = ["ROOT", "get", "setup", "write_json"]
