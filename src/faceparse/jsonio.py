"""JSON for metrics files: NaN becomes null (JSON has no NaN), NumPy scalars become numbers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def jsonable(value: Any, digits: int | None = 6) -> Any:
    if isinstance(value, dict):
        return {str(k): jsonable(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, digits) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float):
        if value != value:
            return None
        return round(value, digits) if digits is not None else value
    return value


def write_json(path: Path | str, data: dict) -> None:
    """Write atomically: a crash leaves the previous file, never half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(jsonable(data), indent=2) + "\n")
    tmp.replace(path)
