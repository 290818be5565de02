"""Training and inference speed of the default model, side by side in one run.

faceparse's training loop (augmentation in a DataLoader worker, the study's loss, schedule and
validation bookkeeping) against a minimal plain-PyTorch loop over the same crops as pre-built
tensors, for the same number of steps. Writes samples per second for both and their ratio
(`train_overhead_ratio`, faceparse over plain) plus inference images per second at batch 1 and 16
to metrics/bench.json. Uses the aligned FASSEG crops of `dvc repro` when present, else random crops.

Each loop runs in a fresh Python process, so neither inherits the other's heap or warmed-up kernels.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from _bench import ROOT, machine, main_model_params, record  # noqa: E402

from faceparse.crops import Rows, Shards  # noqa: E402
from faceparse.inference import model_input  # noqa: E402
from faceparse.losses import WeightedLoss  # noqa: E402
from faceparse.models import ModelSpec, build_model  # noqa: E402
from faceparse.train import TrainData, TrainParams, train  # noqa: E402

STEPS = 24


def crops(size: int, n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    folder = ROOT / "data/aligned/fasseg"
    if (folder / "index.json").exists():
        rows = np.arange(min(n, len(Shards(folder, "images"))))
        images, labels = Rows.of(Shards(folder, "images"), rows), Rows.of(Shards(folder, "labels"), rows)
        if images.shape[1] == size:
            return np.asarray(images), np.asarray(labels)
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8), rng.integers(0, 6, (n, size, size), dtype=np.uint8)


def plain_loop(spec: ModelSpec, p: TrainParams, x: torch.Tensor, y: torch.Tensor) -> float:
    torch.manual_seed(0)
    model = build_model(spec)
    opt = torch.optim.AdamW(model.parameters(), lr=p.lr, weight_decay=p.weight_decay)
    loss_fn = WeightedLoss(p.loss, spec.num_classes, None)
    model.train()
    t0 = time.perf_counter()
    for step in range(STEPS):
        i = (step * p.batch_size) % (len(x) - p.batch_size + 1)
        loss = loss_fn(model(x[i:i + p.batch_size]), y[i:i + p.batch_size])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return STEPS * p.batch_size / (time.perf_counter() - t0)


def faceparse_loop(spec: ModelSpec, p: TrainParams, images: np.ndarray, masks: np.ndarray) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        result = train(p, "fasseg6", TrainData(images, masks), TrainData(images[:0], masks[:0]),
                       Path(tmp) / "bench.pt", spec=spec)
    return result["steps"] * p.batch_size / result["seconds"]


def inference(spec: ModelSpec, images: np.ndarray) -> dict[int, float]:
    model = build_model(spec).eval()
    out = {}
    with torch.no_grad():
        for batch in (1, 16):
            x = model_input(images[:batch], None)
            model(x)  # warm-up
            reps = 8 if batch == 1 else 2
            t0 = time.perf_counter()
            for _ in range(reps):
                model(x)
            out[batch] = reps * batch / (time.perf_counter() - t0)
    return out


def setting() -> tuple[int, ModelSpec, TrainParams]:
    params, p = main_model_params()
    size = int(params["align"]["size"])
    p = replace(p, weights="none", epochs=1000, max_steps=STEPS)
    return size, ModelSpec(arch=p.arch, encoder=p.encoder, num_classes=6), p


MEASUREMENTS = ("plain", "faceparse", "inference")


def measure(what: str) -> float | dict:
    """One measurement, in this process."""
    if what not in MEASUREMENTS:
        raise SystemExit(f"unknown measurement {what!r}; known: {', '.join(MEASUREMENTS)}")
    size, spec, p = setting()
    images, masks = crops(size)
    if what == "plain":
        return plain_loop(spec, p, model_input(images, None), torch.from_numpy(masks).long())
    if what == "faceparse":
        return faceparse_loop(spec, p, images, masks)
    return inference(spec, images)


def in_fresh_process(what: str) -> float | dict:
    out = subprocess.run([sys.executable, __file__, what], check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    size, _, p = setting()
    plain = in_fresh_process("plain")
    ours = in_fresh_process("faceparse")
    infer = {int(k): v for k, v in in_fresh_process("inference").items()}
    results = {
        "train_samples_per_second_faceparse": round(ours, 3),
        "train_samples_per_second_plain": round(plain, 3),
        "train_overhead_ratio": round(ours / plain, 3),
        "train_benchmark": f"{p.arch}/{p.encoder} at {size} px, batch {p.batch_size}, {STEPS} steps each",
        "inference_images_per_second_batch1": round(infer[1], 3),
        "inference_images_per_second_batch16": round(infer[16], 3),
        "train_machine": machine(),
    }
    record(results)
    for k, v in results.items():
        print(f"{k}: {v}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        print(json.dumps(measure(sys.argv[1])))
    else:
        main()
