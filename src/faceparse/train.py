"""The training loop, shared by every model of the study and by the label adapter.

Inputs are aligned crops, read row by row from the align stage's shards (`faceparse.crops.Rows`) or
given as arrays (`(N, S, S, 3) uint8` photos, `(N, S, S) uint8` label maps, optionally
`(N, S, S, C) float16` extra channels such as another model's softmax); augmentation
(`faceparse.augment`) runs in DataLoader workers. One epoch: train, then score the validation crops;
the best checkpoint (by validation mean F1) and the last are kept.

On a GPU when there is one (`precision` bf16 or fp16 for mixed precision, deterministic kernels
where torch has them). Under `torchrun` it trains data-parallel (DistributedDataParallel): each of
the W processes takes `batch_size / W` crops of every step's batch (a DistributedSampler; batch
norm and the loss see a process's share, as in any DDP run without SyncBatchNorm), and rank 0
alone validates and writes checkpoints (`faceparse.launch` sets each process up).
"""

from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from faceparse import wild
from faceparse.augment import CropDataset, seed_worker
from faceparse.errors import FaceparseConfigError
from faceparse.inference import predict_probs
from faceparse.labels import FASSEG6, get_label_set
from faceparse.launch import Ranks, loader_workers, ranks, run_setting, training_device
from faceparse.losses import WeightedLoss, label_frequency_weights
from faceparse.metrics import confusion_matrix, scores
from faceparse.models import IMAGENET_MEAN, IMAGENET_STD, ModelSpec, build_model, load_encoder_weights, save_checkpoint
from faceparse.sampling import mix_order, oversample, select_split

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainParams:
    """A `train.<name>` section of params.yaml (`faceparse.params.parse` reads it): the data a model
    learns from, then how it learns."""

    datasets: list[str] = field(default_factory=lambda: ["fasseg"])
    label_set: str = "fasseg6"
    oversample: dict = field(default_factory=dict)  # {dataset: {id prefix: times}}, see sampling.oversample
    arch: str = "Unet"
    encoder: str = "mobilenet_v2"
    weights: str | None = "imagenet"
    epochs: int = 40
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    optimizer: str = "adamw"          # adamw | sgd
    schedule: str = "cosine"          # cosine | onecycle | constant
    warmup_epochs: float = 1.0
    loss: dict = field(default_factory=lambda: {"ce": 1.0, "dice": 1.0})
    class_weights: bool = False       # weight cross-entropy by inverse sqrt label frequency
    augment: dict = field(default_factory=dict)     # see augment.DEFAULT_AUGMENT; the wild levers in faceparse.wild
    scenes: list[str] = field(default_factory=list)  # datasets whose train crops give `background` its real scenes
    mix: dict = field(default_factory=dict)         # {dataset: share of each epoch's crops}, see sampling.mix_order
    patience: int = 0                 # early stopping on validation mean F1; 0 = off
    seed: int = 0
    num_workers: int = 1              # DataLoader workers; -1 = one per core left to this process, at most 8
    threads: int = 0                  # torch threads; 0 = FACEPARSE_THREADS, else every core this process may use
    max_steps: int = 0                # stop after this many steps (0 = no limit); for tests and benchmarks
    precision: str = "fp32"           # fp32 | bf16 | fp16 (mixed precision, with loss scaling for fp16)
    deterministic: bool = True        # on a GPU: deterministic cuDNN and cuBLAS kernels (a little slower)


# --- data --------------------------------------------------------------------------------------

@dataclass
class TrainData:
    images: np.ndarray  # or faceparse.crops.Rows: anything with len, shape, [i] and [a:b]
    masks: np.ndarray
    extra: np.ndarray | None = None
    scenes: np.ndarray | None = None   # backgrounds without a person, for the `background` lever


def training_data(params: TrainParams, aligned_dir: Path, manifest: pd.DataFrame) -> tuple[TrainData, pd.DataFrame]:
    """The train split of `params.datasets` from the align stage's cache, oversampled and mixed as
    `params` says, with the scenes of `params.scenes` for the `background` lever; and its rows."""
    x, y, rows = select_split(aligned_dir, manifest, params.datasets, params.label_set, "train")
    order = oversample(rows, params.oversample)
    order = order[mix_order(rows.iloc[order].reset_index(drop=True), params.mix, params.seed)]
    scenes = None
    if params.scenes:  # the scenes behind these datasets' people, person removed
        sx, sy, _ = select_split(aligned_dir, manifest, params.scenes, FASSEG6.name, "train")
        scenes = wild.scene_plates(np.asarray(sx), np.asarray(sy))
    return TrainData(x[order], y[order], scenes=scenes), rows


# --- schedule ----------------------------------------------------------------------------------

def lr_factor(step: int, total: int, warmup: int, schedule: str) -> float:
    if schedule == "onecycle":  # linear up to the peak, cosine down to zero
        warmup = max(warmup, int(0.3 * total))
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def make_optimizer(model: nn.Module, p: TrainParams) -> torch.optim.Optimizer:
    if p.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=p.lr, weight_decay=p.weight_decay)
    if p.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=p.lr, momentum=0.9, weight_decay=p.weight_decay, nesterov=True)
    raise FaceparseConfigError(f"unknown optimizer {p.optimizer!r}; known: adamw, sgd")


# --- validation -------------------------------------------------------------------------------

def evaluate_crops(model: nn.Module, images: np.ndarray, masks: np.ndarray, classes: tuple[str, ...],
                   extra: np.ndarray | None = None, device: torch.device | str = "cpu") -> tuple[dict, np.ndarray]:
    """Validation at crop resolution: one confusion matrix over all crops (255 ignored)."""
    k = len(classes)
    per_image = np.zeros((len(images), k, k), dtype=np.int64)
    for i in range(0, len(images), 16):
        probs = predict_probs(model, images[i:i + 16], None if extra is None else extra[i:i + 16], device=device)
        for j, pr in enumerate(probs.argmax(1).astype(np.uint8)):
            per_image[i + j] = confusion_matrix(masks[i + j], pr, k)
    return scores(per_image.sum(0), classes), per_image


# --- the loop ----------------------------------------------------------------------------------

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Job:
    """What one `train` call learns from and writes, besides its params."""

    label_set: str
    train_data: TrainData
    val_data: TrainData
    out_path: Path                        # the best checkpoint; the last goes to `<stem>.last.pt`
    spec: ModelSpec | None = None         # None: built from the params and the data's channels
    meta: dict | None = None              # written into every checkpoint, beside what training adds
    extra_label_set: str | None = None    # the classes of `extra`'s channels, which a flip swaps
    on_epoch: Callable[[int, dict], None] | None = None


def train(params: TrainParams, label_set: str, train_data: TrainData, val_data: TrainData, out_path: Path,
          spec: ModelSpec | None = None, meta: dict | None = None, extra_label_set: str | None = None,
          on_epoch: Callable[[int, dict], None] | None = None) -> dict:
    """Train a model and write the best checkpoint to `out_path` (the last to `<stem>.last.pt`).

    Returns the history (per-epoch loss, validation scores, learning rate and seconds) and the best
    epoch's per-validation-crop confusion matrices (`best_val_per_image`, `(N, K, K)`), and the
    network as the last step left it (`model`). Under
    torchrun every rank calls it; rank 0 validates, writes and calls `on_epoch`, and the others
    return their history without validation scores.
    """
    if params.precision not in PRECISIONS:
        raise FaceparseConfigError(f"precision {params.precision!r}; known: {', '.join(PRECISIONS)}")
    r = ranks()
    if r.launched and params.batch_size % r.world:
        raise FaceparseConfigError(f"batch_size {params.batch_size} does not split over {r.world} processes: "
                                   "it is the global batch, each process takes batch_size / processes")
    with run_setting(params.threads, r):
        return _train(params, Job(label_set, train_data, val_data, out_path, spec, meta, extra_label_set, on_epoch), r)


@dataclass
class _Run:
    """What the loop works with, built by `_set_up`."""

    device: torch.device
    classes: tuple[str, ...]
    spec: ModelSpec
    net: nn.Module                # the network, validated and saved
    model: nn.Module              # the network as trained: `net`, wrapped for DDP in a torchrun launch
    weights_file: str | None      # the encoder's initial weights
    loader: DataLoader
    criterion: nn.Module
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    amp: torch.dtype | None       # autocast's dtype; None: fp32
    total: int                    # steps in the run
    warmup: int                   # of them, the warm-up's
    meta: dict                    # every checkpoint's, but for its epoch


def _set_up(params: TrainParams, job: Job, r: Ranks) -> _Run:
    """Seed every generator, then build what draws from them in a fixed order: the network (its
    initial weights), the data (augmentation and order), the loss, the optimiser."""
    torch.manual_seed(params.seed)
    np.random.seed(params.seed)
    random.seed(params.seed)
    device = training_device(params.precision, params.deterministic, r)
    classes = get_label_set(job.label_set).classes
    in_ch = 3 + (job.train_data.extra.shape[-1] if job.train_data.extra is not None else 0)
    spec = job.spec or ModelSpec(arch=params.arch, encoder=params.encoder, in_channels=in_ch, num_classes=len(classes))
    net = build_model(spec)
    weights_file = load_encoder_weights(net, spec, params.weights)
    net.to(device)
    model = net
    if r.launched:  # gradients averaged over the ranks in backward; rank 0's weights broadcast at the start
        model = nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)

    loader = _loader(params, job, r, device)
    cw = label_frequency_weights(job.train_data.masks, len(classes)).to(device) if params.class_weights else None
    criterion = WeightedLoss(params.loss, len(classes), cw)
    optimizer = make_optimizer(net, params)
    amp = PRECISIONS[params.precision]
    scaler = torch.amp.GradScaler(device.type, enabled=params.precision == "fp16")
    steps_per_epoch = len(loader)
    total = params.epochs * steps_per_epoch
    if params.max_steps:
        total = min(total, params.max_steps)
    warmup = int(params.warmup_epochs * steps_per_epoch)

    meta = {**(job.meta or {}), "label_set": job.label_set, "classes": list(classes),
            "input_size": int(job.train_data.images.shape[1]), "mean": IMAGENET_MEAN, "std": IMAGENET_STD,
            "train_params": asdict(params), "init_weights": weights_file, "extra_label_set": job.extra_label_set}
    return _Run(device, classes, spec, net, model, weights_file, loader, criterion, optimizer, scaler, amp,
                total, warmup, meta)


def _loader(params: TrainParams, job: Job, r: Ranks, device: torch.device) -> DataLoader:
    """The training crops, augmented in worker processes; in a torchrun launch each rank takes its
    share of every epoch's permutation."""
    d = job.train_data
    dataset = CropDataset(d.images, d.masks, job.label_set, d.extra, job.extra_label_set, augment=params.augment,
                          scenes=d.scenes)
    dataset.seed(params.seed + r.rank)
    workers = loader_workers(params.num_workers, r)
    batch = params.batch_size // r.world if r.launched else params.batch_size
    sampler = None
    if r.launched:  # every rank draws the same permutation of the epoch (seed + epoch) and takes every W-th crop
        sampler = DistributedSampler(dataset, num_replicas=r.world, rank=r.rank, shuffle=True, seed=params.seed,
                                     drop_last=True)
    n = len(sampler) if sampler is not None else len(dataset)
    return DataLoader(dataset, batch_size=batch, shuffle=sampler is None, sampler=sampler, drop_last=n > batch,
                      num_workers=workers, worker_init_fn=seed_worker if workers else None,
                      generator=torch.Generator().manual_seed(params.seed + r.rank),
                      persistent_workers=workers > 0, pin_memory=device.type == "cuda",
                      # Fresh worker processes: a forked one inherits OpenCV's thread pool from a parent
                      # that has used it (the scene plates' inpainting, a detector) and hangs in
                      # cv2.setNumThreads, joining threads that do not exist in the child.
                      multiprocessing_context="spawn" if workers else None)


def _step(s: _Run, x: torch.Tensor, y: torch.Tensor) -> float:
    """One optimisation step on a batch of crops `x` and label maps `y`; its loss."""
    x = x.to(s.device, memory_format=torch.channels_last, non_blocking=True)
    y = y.to(s.device, non_blocking=True)
    with torch.autocast(s.device.type, dtype=s.amp, enabled=s.amp is not None):
        loss = s.criterion(s.model(x), y)
    s.optimizer.zero_grad(set_to_none=True)
    s.scaler.scale(loss).backward()
    s.scaler.step(s.optimizer)
    s.scaler.update()
    return loss.item()


def _train(params: TrainParams, job: Job, r: Ranks) -> dict:
    """Epoch by epoch: a step on every batch, then (rank 0) validation, the best checkpoint kept, and a
    stop when the steps or the patience run out; the last checkpoint at the end."""
    s = _set_up(params, job, r)
    history: list[dict] = []
    best, best_epoch, best_per_image, step = -math.inf, -1, None, 0
    t_start = time.time()
    bar = tqdm(total=s.total, desc=f"train {job.out_path.stem}", unit="step", dynamic_ncols=True, disable=not r.main)
    for epoch in range(params.epochs):
        s.model.train()
        if r.launched:
            s.loader.sampler.set_epoch(epoch)
        t0, losses = time.time(), []
        for x, y in s.loader:
            for g in s.optimizer.param_groups:
                g["lr"] = params.lr * lr_factor(step, s.total, s.warmup, params.schedule)
            losses.append(_step(s, x, y))
            step += 1
            bar.update(1)
            bar.set_postfix(epoch=epoch, loss=f"{np.mean(losses[-20:]):.3f}", best_f1=f"{best:.3f}")
            if step >= s.total:
                break
        record = {"epoch": epoch, "step": step, "loss": float(np.mean(losses)) if losses else float("nan"),
                  "val_mean_f1": float("nan"), "lr": s.optimizer.param_groups[0]["lr"]}
        stop = step >= s.total
        if r.main:
            # An empty validation set gives NaN scores; the best checkpoint then follows the training loss.
            vd = job.val_data
            val, per_image = evaluate_crops(s.net, vd.images, vd.masks, s.classes, vd.extra, s.device)
            record.update({"val_mean_f1": val["mean_f1"], "val_pixel_accuracy": val.get("pixel_accuracy", float("nan")),
                           "seconds": time.time() - t0, **{f"val_f1_{c}": v for c, v in val["f1"].items()}})
            score = val["mean_f1"] if not math.isnan(val["mean_f1"]) else -record["loss"]
            if score > best:
                best, best_epoch, best_per_image = score, epoch, per_image
                save_checkpoint(job.out_path, s.net, s.spec, {**s.meta, "epoch": epoch, "val": val})
            if job.on_epoch:
                job.on_epoch(epoch, record)
            log.info("epoch %d: loss %.4f, val mean F1 %.4f", epoch, record["loss"], val["mean_f1"])
            stop = stop or bool(params.patience and epoch - best_epoch >= params.patience)
        record.setdefault("seconds", time.time() - t0)
        history.append(record)
        if r.launched:  # rank 0 alone knows whether patience ran out
            flag = torch.tensor([int(stop)], device=s.device)
            torch.distributed.broadcast(flag, src=0)
            stop = bool(flag.item())
        if stop:
            break
    bar.close()
    if r.main:
        last_path = job.out_path.with_name(job.out_path.stem + ".last.pt")
        save_checkpoint(last_path, s.net, s.spec, {**s.meta, "epoch": history[-1]["epoch"] if history else -1})
    return {"history": history, "best_epoch": best_epoch, "best_val_mean_f1": best,
            "best_val_per_image": best_per_image, "steps": step,
            "seconds": time.time() - t_start, "parameters": sum(p.numel() for p in s.net.parameters()),
            "init_weights": s.weights_file, "model": s.net}
