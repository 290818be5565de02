"""Shared by the benchmark scripts: merge results into metrics/bench.json without clobbering."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from faceparse.params import parse
from faceparse.train import TrainParams

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "metrics" / "bench.json"


def main_model_params() -> tuple[dict, TrainParams]:
    """params.yaml and its train.main section as TrainParams. Benchmarks train on the plain
    training split: its `oversample` is not applied."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    return params, parse(TrainParams, params["train"]["main"], "train.main")


def record(results: dict, path: Path = BENCH) -> dict:
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(sorted(data.items())), indent=2) + "\n")
    return data
