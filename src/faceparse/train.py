"""The training loop, shared by every model of the study and by the label adapter.

Inputs are aligned crops, read row by row from the align stage's shards (`faceparse.crops.Rows`) or
given as arrays (`(N, S, S, 3) uint8` photos, `(N, S, S) uint8` label maps, optionally
`(N, S, S, C) float16` extra channels such as another model's softmax); augmentation runs in
DataLoader workers. One epoch: train, then score the validation crops; the best checkpoint (by
validation mean F1) and the last are kept.

On a GPU when there is one (`precision` bf16 or fp16 for mixed precision, deterministic kernels
where torch has them). Under `torchrun` it trains data-parallel (DistributedDataParallel): each of
the W processes takes `batch_size / W` crops of every step's batch (a DistributedSampler; batch
norm and the loss see a process's share, as in any DDP run without SyncBatchNorm), and rank 0
alone validates and writes checkpoints.
"""

from __future__ import annotations

import logging
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Callable

import albumentations as A
import cv2
import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm import tqdm

from faceparse import wild
from faceparse.sampling import mix_order, oversample, select_split
from faceparse.errors import FaceparseConfigError
from faceparse.inference import model_input, predict_probs
from faceparse.labels import FASSEG6, IGNORE, get_label_set
from faceparse.metrics import confusion_matrix, scores
from faceparse.models import (IMAGENET_MEAN, IMAGENET_STD, ModelSpec, build_model, default_device,
                              load_encoder_weights, save_checkpoint)
from faceparse.threads import available_cores, configure as configure_threads, worker_process_init

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
    augment: dict = field(default_factory=dict)     # see DEFAULT_AUGMENT; the wild levers in faceparse.wild
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

DEFAULT_AUGMENT = {
    "flip": 0.5, "scale": 0.15, "rotate": 15, "shift": 0.06, "perspective": 0.3,
    "colour": 0.8, "blur": 0.2, "noise": 0.2,
    # the levers for photos from the wild (faceparse.wild): probabilities, off by default
    "background": 0.0, "scene_share": 0.5, "edge_ignore": 2, "camera": 0.0, "occlusion": 0.0,
}


def build_augment(cfg: dict) -> tuple[A.Compose, A.Compose]:
    """Geometric transforms (photo, mask and extra channels together) and photometric (photo only)."""
    c = {**DEFAULT_AUGMENT, **cfg}
    geometric = A.Compose([
        A.Affine(scale=(1 - c["scale"], 1 + c["scale"]), rotate=(-c["rotate"], c["rotate"]),
                 translate_percent=(-c["shift"], c["shift"]), interpolation=cv2.INTER_LINEAR,
                 mask_interpolation=cv2.INTER_NEAREST, border_mode=cv2.BORDER_CONSTANT, fill=0,
                 fill_mask=IGNORE, p=0.9),
        A.Perspective(scale=(0.02, 0.06), interpolation=cv2.INTER_LINEAR, mask_interpolation=cv2.INTER_NEAREST,
                      border_mode=cv2.BORDER_CONSTANT, fill=0, fill_mask=IGNORE, p=c["perspective"]),
    ], additional_targets={"extra": "image"})
    photometric = A.Compose([
        A.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.03, p=c["colour"]),
        A.OneOf([A.GaussianBlur(blur_limit=(3, 5)), A.MotionBlur(blur_limit=5)], p=c["blur"]),
        A.GaussNoise(std_range=(0.01, 0.05), p=c["noise"]),
    ])
    return geometric, photometric


class CropDataset(Dataset):
    """Aligned crops with augmentation; a horizontal flip swaps left/right classes (mask and extras)."""

    def __init__(self, images: np.ndarray, masks: np.ndarray, label_set: str, extra: np.ndarray | None = None,
                 extra_label_set: str | None = None, augment: dict | None = None,
                 scenes: np.ndarray | None = None) -> None:
        self.images, self.masks, self.extra = images, masks, extra
        self.flip_lut = get_label_set(label_set).flip_lut
        self.extra_perm = get_label_set(extra_label_set).flip_permutation if extra_label_set else None
        unknown = sorted(set(augment or {}) - set(DEFAULT_AUGMENT))
        if unknown:
            raise FaceparseConfigError(f"augment: unknown keys {unknown}; known: {sorted(DEFAULT_AUGMENT)}")
        self.cfg = {**DEFAULT_AUGMENT, **(augment or {})}
        self.flip_p = self.cfg["flip"]
        self.scenes = scenes if scenes is not None and len(scenes) else None
        self.geometric, self.photometric = build_augment(augment or {}) if augment is not None else (None, None)
        self.camera = wild.camera_transform() if augment is not None and self.cfg["camera"] > 0 else None

    def seed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        if self.geometric is not None:
            self.geometric.set_random_seed(seed)
            self.photometric.set_random_seed(seed + 1)
        if self.camera is not None:
            self.camera.set_random_seed(seed + 2)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        image, mask = self.images[i], self.masks[i]
        extra = self.extra[i].astype(np.float32) if self.extra is not None else None
        if self.geometric is not None:
            if self.rng.random() < self.flip_p:
                image, mask = image[:, ::-1], self.flip_lut[mask[:, ::-1]]
                if extra is not None:
                    extra = extra[:, ::-1]
                    if self.extra_perm is not None:
                        extra = extra[..., self.extra_perm]  # swap left/right probability channels
            if self.rng.random() < self.cfg["background"]:
                image, mask = wild.replace_background(image, mask, self._plate(), int(self.cfg["edge_ignore"]))
            targets = {"image": np.ascontiguousarray(image), "mask": np.ascontiguousarray(mask)}
            if extra is not None:
                targets["extra"] = np.ascontiguousarray(extra)
            out = self.geometric(**targets)
            image, mask, extra = out["image"], out["mask"], out.get("extra")
            if self.rng.random() < self.cfg["occlusion"]:
                image, mask = wild.occlude(image, mask, self.rng, self.scenes[self.rng.integers(len(self.scenes))]
                                           if self.scenes is not None else None)
            image = self.photometric(image=image)["image"]
            if self.camera is not None and self.rng.random() < self.cfg["camera"]:
                image = self.camera(image=image)["image"]
        x = model_input(image[None], None if extra is None else extra[None])[0]
        return x, torch.from_numpy(np.ascontiguousarray(mask)).long()


    def _plate(self) -> np.ndarray:
        """A background for `background`: a real scene (`scene_share` of the time, when given), else drawn."""
        if self.scenes is not None and self.rng.random() < self.cfg["scene_share"]:
            plate = self.scenes[self.rng.integers(len(self.scenes))]
            return plate[:, ::-1] if self.rng.random() < 0.5 else plate
        return wild.synthetic_background(self.rng, self.images.shape[1])


def _worker_init(worker_id: int) -> None:
    # DataLoader gives each worker a seed derived from its seeded generator: reuse it everywhere.
    worker_process_init()
    seed = torch.initial_seed() % 2**31
    random.seed(seed)
    np.random.seed(seed)
    torch.utils.data.get_worker_info().dataset.seed(seed)


# --- losses ------------------------------------------------------------------------------------

def _ce(num_classes: int, weights: torch.Tensor | None) -> nn.Module:
    return nn.CrossEntropyLoss(weight=weights, ignore_index=IGNORE)


def _smp_loss(name: str) -> Callable[[int, torch.Tensor | None], nn.Module]:
    import segmentation_models_pytorch as smp
    factory = {"dice": lambda: smp.losses.DiceLoss("multiclass", ignore_index=IGNORE),
               "lovasz": lambda: smp.losses.LovaszLoss("multiclass", ignore_index=IGNORE),
               "focal": lambda: smp.losses.FocalLoss("multiclass", ignore_index=IGNORE)}[name]
    return lambda k, w: factory()


LOSSES: dict[str, Callable[[int, torch.Tensor | None], nn.Module]] = {
    "ce": _ce, "dice": _smp_loss("dice"), "lovasz": _smp_loss("lovasz"), "focal": _smp_loss("focal"),
}


class WeightedLoss(nn.Module):
    """A weighted sum of named losses, e.g. {"ce": 1.0, "dice": 0.5}."""

    def __init__(self, weights: dict[str, float], num_classes: int, class_weights: torch.Tensor | None) -> None:
        super().__init__()
        unknown = set(weights) - set(LOSSES)
        if unknown:
            raise FaceparseConfigError(f"unknown losses {sorted(unknown)}; known: {sorted(LOSSES)}")
        self.weights = {k: float(v) for k, v in weights.items() if v}
        self.terms = nn.ModuleDict({k: LOSSES[k](num_classes, class_weights) for k in self.weights})

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return sum(w * self.terms[k](logits, target) for k, w in self.weights.items())


def label_frequency_weights(masks, num_classes: int) -> torch.Tensor:
    """Inverse square-root class frequency, normalised to mean 1 (255 ignored); `masks` an `(N, S, S)`
    array or `Rows`, counted 256 maps at a time."""
    counts = np.zeros(256, np.int64)
    for i in range(0, len(masks), 256):
        counts += np.bincount(np.asarray(masks[i:i + 256]).ravel(), minlength=256)
    counts = counts[:num_classes].astype(np.float64)
    w = 1.0 / np.sqrt(np.maximum(counts, 1.0))
    return torch.tensor(w / w.mean(), dtype=torch.float32)


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


@dataclass(frozen=True)
class Ranks:
    """This process's place in a `torchrun` launch: `launched` when torchrun started it (even alone)."""

    rank: int = 0
    world: int = 1
    local: int = 0
    local_world: int = 1    # processes on this machine
    launched: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0


def ranks() -> Ranks:
    """From the RANK, WORLD_SIZE and LOCAL_RANK that torchrun sets; one process without them."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return Ranks()
    world = int(os.environ["WORLD_SIZE"])
    return Ranks(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", 0)),
                 int(os.environ.get("LOCAL_WORLD_SIZE", world)), True)


PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def loader_workers(requested: int, r: Ranks) -> int:
    """`num_workers`, with -1 meaning the cores this process's share of the machine leaves after its
    own (at least 1, at most 8)."""
    if requested >= 0:
        return requested
    return max(1, min(8, available_cores() // r.local_world - 1))


def _threads(params: TrainParams, r: Ranks) -> int | None:
    """torch's threads: `threads`, else FACEPARSE_THREADS, else every core, shared out over the
    processes torchrun started on this machine."""
    if params.threads or not r.launched or os.environ.get("FACEPARSE_THREADS", "").strip():
        return params.threads or None
    return max(1, available_cores() // r.local_world)


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
    threads = torch.get_num_threads()
    flags = (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic,
             torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    configure_threads(_threads(params, r))
    started = False
    if r.launched and not torch.distributed.is_initialized():
        if torch.cuda.is_available():  # each rank on its own GPU before NCCL starts
            torch.cuda.set_device(r.local)
        # Rank 0 validates while the others wait at the next collective: give it time on a large val split.
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo", timeout=timedelta(hours=2))
        started = True
    try:
        return _train(params, label_set, train_data, val_data, out_path, spec, meta, extra_label_set, on_epoch, r)
    finally:
        if started:
            torch.distributed.destroy_process_group()
        torch.set_num_threads(threads)
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = flags[:2]
        torch.use_deterministic_algorithms(flags[2], warn_only=flags[3])


def _device(params: TrainParams, r: Ranks) -> torch.device:
    device = default_device()
    if device.type == "cuda":
        if r.launched:
            device = torch.device("cuda", r.local)
            torch.cuda.set_device(device)
        if params.precision == "bf16" and not torch.cuda.is_bf16_supported(including_emulation=False):
            raise FaceparseConfigError(f"precision bf16: {torch.cuda.get_device_name(device)} has no bfloat16; "
                                       "use fp16 (loss-scaled) or fp32")
        if params.deterministic:  # ops without a deterministic CUDA kernel warn rather than fail
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.backends.cudnn.benchmark = False
            torch.backends.cudnn.deterministic = True
            torch.use_deterministic_algorithms(True, warn_only=True)
        else:
            torch.backends.cudnn.benchmark = True
    return device


def _loader(dataset: CropDataset, params: TrainParams, r: Ranks, device: torch.device) -> DataLoader:
    workers = loader_workers(params.num_workers, r)
    batch = params.batch_size // r.world if r.launched else params.batch_size
    sampler = None
    if r.launched:  # every rank draws the same permutation of the epoch (seed + epoch) and takes every W-th crop
        sampler = DistributedSampler(dataset, num_replicas=r.world, rank=r.rank, shuffle=True, seed=params.seed,
                                     drop_last=True)
    n = len(sampler) if sampler is not None else len(dataset)
    return DataLoader(dataset, batch_size=batch, shuffle=sampler is None, sampler=sampler, drop_last=n > batch,
                      num_workers=workers, worker_init_fn=_worker_init if workers else None,
                      generator=torch.Generator().manual_seed(params.seed + r.rank),
                      persistent_workers=workers > 0, pin_memory=device.type == "cuda",
                      # Fresh worker processes: a forked one inherits OpenCV's thread pool from a parent
                      # that has used it (the scene plates' inpainting, a detector) and hangs in
                      # cv2.setNumThreads, joining threads that do not exist in the child.
                      multiprocessing_context="spawn" if workers else None)


def _train(params: TrainParams, label_set: str, train_data: TrainData, val_data: TrainData, out_path: Path,
           spec: ModelSpec | None, meta: dict | None, extra_label_set: str | None,
           on_epoch: Callable[[int, dict], None] | None, r: Ranks) -> dict:
    torch.manual_seed(params.seed)
    np.random.seed(params.seed)
    random.seed(params.seed)
    device = _device(params, r)
    classes = get_label_set(label_set).classes
    in_ch = 3 + (train_data.extra.shape[-1] if train_data.extra is not None else 0)
    spec = spec or ModelSpec(arch=params.arch, encoder=params.encoder, in_channels=in_ch, num_classes=len(classes))
    net = build_model(spec)
    weights_file = load_encoder_weights(net, spec, params.weights)
    net.to(device)
    model = net
    if r.launched:  # gradients averaged over the ranks in backward; rank 0's weights broadcast at the start
        model = nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)

    dataset = CropDataset(train_data.images, train_data.masks, label_set, train_data.extra, extra_label_set,
                          augment=params.augment, scenes=train_data.scenes)
    dataset.seed(params.seed + r.rank)
    loader = _loader(dataset, params, r, device)
    cw = label_frequency_weights(train_data.masks, len(classes)).to(device) if params.class_weights else None
    criterion = WeightedLoss(params.loss, len(classes), cw)
    optimizer = make_optimizer(net, params)
    amp = PRECISIONS[params.precision]
    scaler = torch.amp.GradScaler(device.type, enabled=params.precision == "fp16")
    steps_per_epoch = len(loader)
    total = params.epochs * steps_per_epoch
    if params.max_steps:
        total = min(total, params.max_steps)
    warmup = int(params.warmup_epochs * steps_per_epoch)

    meta = {**(meta or {}), "label_set": label_set, "classes": list(classes), "input_size": int(train_data.images.shape[1]),
            "mean": IMAGENET_MEAN, "std": IMAGENET_STD, "train_params": asdict(params),
            "init_weights": weights_file, "extra_label_set": extra_label_set}
    history: list[dict] = []
    best, best_epoch, best_per_image, step = -math.inf, -1, None, 0
    last_path = out_path.with_name(out_path.stem + ".last.pt")
    t_start = time.time()
    bar = tqdm(total=total, desc=f"train {out_path.stem}", unit="step", dynamic_ncols=True, disable=not r.main)
    for epoch in range(params.epochs):
        model.train()
        if r.launched:
            loader.sampler.set_epoch(epoch)
        t0, losses = time.time(), []
        for x, y in loader:
            for g in optimizer.param_groups:
                g["lr"] = params.lr * lr_factor(step, total, warmup, params.schedule)
            x = x.to(device, memory_format=torch.channels_last, non_blocking=True)
            y = y.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                loss = criterion(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            losses.append(loss.item())
            step += 1
            bar.update(1)
            bar.set_postfix(epoch=epoch, loss=f"{np.mean(losses[-20:]):.3f}", best_f1=f"{best:.3f}")
            if step >= total:
                break
        record = {"epoch": epoch, "step": step, "loss": float(np.mean(losses)) if losses else float("nan"),
                  "val_mean_f1": float("nan"), "lr": optimizer.param_groups[0]["lr"]}
        stop = step >= total
        if r.main:
            # An empty validation set gives NaN scores; the best checkpoint then follows the training loss.
            val, per_image = evaluate_crops(net, val_data.images, val_data.masks, classes, val_data.extra, device)
            record.update({"val_mean_f1": val["mean_f1"], "val_pixel_accuracy": val.get("pixel_accuracy", float("nan")),
                           "seconds": time.time() - t0, **{f"val_f1_{c}": v for c, v in val["f1"].items()}})
            score = val["mean_f1"] if not math.isnan(val["mean_f1"]) else -record["loss"]
            if score > best:
                best, best_epoch, best_per_image = score, epoch, per_image
                save_checkpoint(out_path, net, spec, {**meta, "epoch": epoch, "val": val})
            if on_epoch:
                on_epoch(epoch, record)
            log.info("epoch %d: loss %.4f, val mean F1 %.4f", epoch, record["loss"], val["mean_f1"])
            stop = stop or bool(params.patience and epoch - best_epoch >= params.patience)
        record.setdefault("seconds", time.time() - t0)
        history.append(record)
        if r.launched:  # rank 0 alone knows whether patience ran out
            flag = torch.tensor([int(stop)], device=device)
            torch.distributed.broadcast(flag, src=0)
            stop = bool(flag.item())
        if stop:
            break
    bar.close()
    if r.main:
        save_checkpoint(last_path, net, spec, {**meta, "epoch": history[-1]["epoch"] if history else -1})
    return {"history": history, "best_epoch": best_epoch, "best_val_mean_f1": best,
            "best_val_per_image": best_per_image, "steps": step,
            "seconds": time.time() - t_start, "parameters": sum(p.numel() for p in net.parameters()),
            "init_weights": weights_file, "model": net}
