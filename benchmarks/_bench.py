"""Shared by the benchmark scripts: merge results into metrics/bench.json without clobbering."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from faceparse.train import split_section

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "metrics" / "bench.json"


def main_model_params() -> tuple[dict, dict, dict]:
    """params.yaml, the data keys of its train.main section, and the rest of that section (TrainParams).

    Benchmarks train on the plain training split: `oversample` is among the data keys set aside.
    """
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    data, cfg = split_section(params["train"]["main"])
    return params, data, cfg


def record(results: dict, path: Path = BENCH) -> dict:
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(sorted(data.items())), indent=2) + "\n")
    return data
