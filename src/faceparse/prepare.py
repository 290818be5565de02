"""The mask-merging step: every dataset's native masks become label PNGs in the study's label set,
listed in one manifest with a person-grouped, seeded train/val/test split."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from faceparse.datasets import Sample, get_reader
from faceparse.datasets.checks import read_labelled
from faceparse.errors import FaceparseConfigError, FaceparseDataError
from faceparse.labels import convert, get_label_set

log = logging.getLogger(__name__)

MANIFEST_COLUMNS = ["id", "dataset", "split", "subject", "pose", "image", "label", "label_set", "native_label",
                    "native_label_set", "landmarks", "width", "height", "off_palette_share", "mask_resized",
                    "status", "reason"]


def carve_split(samples: list[Sample], val_fraction: float, test_fraction: float, seed: int) -> dict[str, str]:
    """Split id -> "train" | "val" | "test", keeping all photos of one subject on one side.

    Samples that already have a "test" or "val" split (a dataset's official one) keep it. The others
    are grouped by (version, subject); within each version the subjects are shuffled by a seeded RNG
    and taken, whole, into test and then val while that brings the count closer to the wanted share.
    """
    out: dict[str, str] = {}
    groups: dict[str, list[Sample]] = {}
    for s in samples:
        if s.split in ("test", "val"):
            out[s.id] = s.split
        else:
            groups.setdefault(str(s.extra.get("version", "")), []).append(s)
    for version, members in sorted(groups.items()):
        by_subject: dict[str, list[str]] = {}
        for s in members:
            by_subject.setdefault(s.subject, []).append(s.id)
        subjects = sorted(by_subject)
        # A stable seed per group: same params, same split, whatever the reading order.
        key = int(hashlib.sha256(f"{seed}:{version}".encode()).hexdigest()[:8], 16)
        np.random.default_rng(key).shuffle(subjects)
        total = len(members)
        for split, fraction in (("test", test_fraction), ("val", val_fraction)):
            target, taken = fraction * total, 0
            while subjects and abs(taken + len(by_subject[subjects[0]]) - target) < abs(taken - target):
                subject = subjects.pop(0)
                taken += len(by_subject[subject])
                out.update({i: split for i in by_subject[subject]})
        for subject in subjects:
            out.update({i: "train" for i in by_subject[subject]})
    return out


def _relative(path: Path | None, root: Path) -> str:
    if path is None:
        return ""
    try:
        return str(Path(path).resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class PrepareDataset:
    """One dataset of the `prepare.datasets` section of params.yaml."""

    format: str                  # reader name (faceparse.datasets.READERS)
    val_fraction: float = 0.15   # of the train photos, whole persons at a time
    test_fraction: float = 0.0   # carved only where the dataset has no official test split
    limit: int = 0               # the first `limit` photos of each (version, split) group; 0 = all


@dataclass(frozen=True)
class PrepareParams:
    """The `prepare` section of params.yaml."""

    label_set: str               # the study's label set
    on_error: str                # raise | skip (skips are counted and recorded in the manifest)
    seed: int                    # seeds the person-grouped validation carve
    datasets: dict[str, PrepareDataset]

    def __post_init__(self) -> None:
        if self.on_error not in ("raise", "skip"):
            raise FaceparseConfigError(f"prepare.on_error must be 'raise' or 'skip', not {self.on_error!r}")


def prepare_dataset(name: str, cfg: PrepareDataset, raw_root: Path, out_dir: Path, label_set: str, seed: int,
                    on_error: str, repo_root: Path) -> pd.DataFrame:
    reader = get_reader(cfg.format)
    samples = reader.samples(raw_root / name)
    limit = cfg.limit
    if limit:  # a quick study: the first `limit` photos of each (version, split) group
        kept: dict[tuple, int] = {}
        small = []
        for s in samples:
            key = (s.extra.get("version", ""), s.split)
            if kept.get(key, 0) < limit:
                kept[key] = kept.get(key, 0) + 1
                small.append(s)
        samples = small
    ids = [s.id for s in samples]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise FaceparseDataError(raw_root / name, f"duplicate sample ids {dup[:5]}")
    splits = carve_split(samples, cfg.val_fraction, cfg.test_fraction, seed)
    native = reader.vocabulary
    target = get_label_set(label_set).name
    rows = []
    for s in tqdm(samples, desc=f"prepare {name}", unit="photo", dynamic_ncols=True):
        row = {"id": s.id, "dataset": name, "split": splits[s.id], "subject": s.subject, "pose": s.pose,
               "image": _relative(s.image, repo_root), "label": "", "label_set": target, "native_label": "", "native_label_set": native,
               "landmarks": _relative(s.landmarks, repo_root), "width": 0, "height": 0,
               "off_palette_share": 0.0, "mask_resized": False, "status": "ok", "reason": ""}
        try:
            image, mask, info, fitted = read_labelled(reader, s)
            row["height"], row["width"] = image.shape[:2]
            row["off_palette_share"] = float(info.get("off_palette_share", 0.0))
            row["mask_resized"] = bool(fitted or info.get("mask_resized_from"))
            label_path = out_dir / "labels" / target / name / f"{s.id}.png"
            label_path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(label_path), convert(mask, native, target))
            row["label"] = _relative(label_path, repo_root)
            if native != target:
                native_path = out_dir / "labels" / native / name / f"{s.id}.png"
                native_path.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(native_path), mask)
                row["native_label"] = _relative(native_path, repo_root)
            else:
                row["native_label"] = row["label"]
        except FaceparseDataError as err:
            if on_error == "raise":
                raise
            log.warning("skipped %s", err)
            row.update(status="skipped", reason=str(err))
        rows.append(row)
    return pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
