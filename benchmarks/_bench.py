"""Shared by the benchmark scripts: merge results into metrics/bench.json without clobbering."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "metrics" / "bench.json"
# Keys of a train.<name> section that choose the data, not TrainParams; benchmarks train on the
# plain training split, so oversample is read and set aside too.
DATA_KEYS = ("datasets", "label_set", "oversample")


def main_model_params() -> tuple[dict, dict, dict]:
    """params.yaml, the data keys of its train.main section, and the rest of that section (TrainParams)."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    cfg = dict(params["train"]["main"])
    data = {k: cfg.pop(k, None) for k in DATA_KEYS}
    return params, data, cfg


def record(results: dict, path: Path = BENCH) -> dict:
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(sorted(data.items())), indent=2) + "\n")
    return data
