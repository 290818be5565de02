"""What every stage entry point shares: the repo root, logging, params."""

from __future__ import annotations

import json
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


def _clean(value):
    """JSON has no NaN: absent scores become null. NumPy scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float):
        return None if value != value else round(value, 6)
    return value


def write_json(path: Path, data: dict) -> None:
    path = ROOT / path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(_clean(data), indent=2) + "\n")
    tmp.replace(path)


__all__ = ["ROOT", "get", "setup", "write_json"]
