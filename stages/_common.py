"""What every stage entry point shares: the repo root, logging, threads, params, and its data and
model paths from argv."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # stages run from a checkout, installed or not

from faceparse.params import get, load_params, parse  # noqa: E402


def setup() -> dict:
    """Logging, offline-safe settings, thread pools sized by FACEPARSE_THREADS (else every core this
    process may use), the repo root as working folder; returns params.yaml."""
    from faceparse.threads import configure

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    configure()
    os.chdir(ROOT)
    return load_params(ROOT / "params.yaml")


def arguments(doc: str | None, *names: str, argv: list[str] | None = None) -> argparse.Namespace:
    """The stage's positional arguments: each name ending in `_path` becomes a Path under ROOT."""
    parser = argparse.ArgumentParser(description=doc)
    for name in names:
        parser.add_argument(name)
    args = parser.parse_args(argv)
    for name in names:
        if name.endswith("_path"):
            setattr(args, name, ROOT / getattr(args, name))
    return args


def write_json(path: Path, data: dict) -> None:
    from faceparse.jsonio import write_json as _write

    _write(ROOT / path, data)


__all__ = ["ROOT", "arguments", "get", "parse", "setup", "write_json"]
