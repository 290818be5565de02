"""Shared by the benchmark scripts: merge results into metrics/bench.json without clobbering."""

from __future__ import annotations

import json
import platform
from collections.abc import Callable
from pathlib import Path

import yaml

from faceparse.params import parse
from faceparse.threads import available_cores
from faceparse.train import TrainParams

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "metrics" / "bench.json"


def main_model_params() -> tuple[dict, TrainParams]:
    """params.yaml and its train.main section as TrainParams. Benchmarks train on the plain
    training split: its `oversample` is not applied."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    return params, parse(TrainParams, params["train"]["main"], "train.main")


def machine() -> dict:
    """The CPU a benchmark ran on: its model, the cores this process may use, and which of the vector
    instruction sets that decide the model's speed it has (these machines change from day to day,
    an Intel Xeon with AMX on one, an AMD EPYC with AVX2 alone on another)."""
    flags, model = set(), platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:  # not Linux: the model name platform gives, no flags
        pass
    return {"cpu": model, "cores": available_cores(),
            "vector": [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]}


def record(results: dict, path: Path = BENCH, drop: Callable[[str], bool] | None = None) -> dict:
    """Merge `results` into metrics/bench.json, first removing the keys `drop` says are this run's
    own (so a figure this run could not measure, an earlier machine's, is not left beside its own)."""
    data = json.loads(path.read_text()) if path.exists() else {}
    if drop is not None:
        data = {key: value for key, value in data.items() if not drop(key)}
    data.update(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(sorted(data.items())), indent=2) + "\n")
    return data
