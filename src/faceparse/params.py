"""Read `params.yaml` once and hand each stage its section; a missing key fails with its name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from faceparse.errors import FaceparseConfigError


def load_params(path: Path | str = "params.yaml") -> dict:
    path = Path(path)
    try:
        with open(path) as f:
            params = yaml.safe_load(f) or {}
    except FileNotFoundError:
        raise FaceparseConfigError(f"{path}: params file not found") from None
    except yaml.YAMLError as err:
        raise FaceparseConfigError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(params, dict):
        raise FaceparseConfigError(f"{path}: expected a mapping of stage names to settings")
    return params


def get(params: dict, dotted: str) -> Any:
    """`get(params, "train.main.arch")`, naming the missing key when there is none."""
    node: Any = params
    for i, key in enumerate(dotted.split(".")):
        if not isinstance(node, dict) or key not in node:
            raise FaceparseConfigError(f"params.yaml has no key {'.'.join(dotted.split('.')[: i + 1])!r}")
        node = node[key]
    return node
