"""The align step over a whole manifest: aligned crops cached as arrays, one `.npz` per dataset,
with each sample's affine, so training never decodes or resizes a photo again."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from faceparse.align import AlignParams, HaarFaceFinder, align_sample, warp_image, warp_mask
from faceparse.datasets import get_reader, read_image, read_index_mask
from faceparse.errors import FaceparseConfigError, FaceparseDataError

log = logging.getLogger(__name__)


def align_manifest(manifest: pd.DataFrame, params: AlignParams, repo_root: Path, out_dir: Path,
                   formats: dict[str, str]) -> pd.DataFrame:
    """Write `out_dir/<dataset>.npz` (images, labels, native_labels, affines) and return the manifest
    with the alignment of every sample (`index` is the row in its dataset's arrays; -1 if skipped)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    finder = HaarFaceFinder(params)
    rows = []
    for dataset, group in manifest.groupby("dataset", sort=True):
        reader = get_reader(formats[dataset])
        ok = group[group["status"] == "ok"]
        n, s = len(ok), params.size
        images = np.zeros((n, s, s, 3), np.uint8)
        labels = np.zeros((n, s, s), np.uint8)
        native = np.zeros((n, s, s), np.uint8)
        affines = np.zeros((n, 2, 3), np.float64)
        for i, (_, r) in enumerate(tqdm(ok.iterrows(), total=n, desc=f"align {dataset}", unit="photo",
                                        dynamic_ncols=True)):
            image = read_image(repo_root / r["image"])
            landmarks = None
            if r["landmarks"]:
                from faceparse.datasets import Sample
                landmarks = reader.read_landmarks(Sample(id=r["id"], image=Path(r["image"]), mask=None, dataset=dataset,
                                                         landmarks=repo_root / r["landmarks"]))
            a = align_sample(image, landmarks, finder, params)
            images[i] = warp_image(image, a.matrix, s)
            labels[i] = warp_mask(read_index_mask(repo_root / r["label"]), a.matrix, s)
            native[i] = warp_mask(read_index_mask(repo_root / r["native_label"]), a.matrix, s)
            affines[i] = a.matrix
            rows.append({**r.to_dict(), "index": i, "align_method": a.method, "face_found": a.face_found,
                         "box_x": a.box[0], "box_y": a.box[1], "box_w": a.box[2], "box_h": a.box[3],
                         "angle": a.angle})
        for _, r in group[group["status"] != "ok"].iterrows():
            rows.append({**r.to_dict(), "index": -1, "align_method": "skipped", "face_found": False})
        tmp = out_dir / f"{dataset}.tmp.npz"
        np.savez(tmp, images=images, labels=labels, native_labels=native, affines=affines)
        tmp.replace(out_dir / f"{dataset}.npz")
        found = sum(1 for r in rows if r["dataset"] == dataset and r["face_found"])
        log.info("%s: %d photos aligned, face found in %d", dataset, n, found)
    return pd.DataFrame(rows)


def load_arrays(aligned_dir: Path, dataset: str, keys: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """The arrays `align_manifest` stored for `dataset` (only `keys`, when given: each is read on demand)."""
    path = aligned_dir / f"{dataset}.npz"
    with np.load(path, allow_pickle=False) as z:  # arrays only: a pickled object is refused, never run
        missing = sorted(set(keys or ()) - set(z.files))
        if missing:
            raise FaceparseConfigError(f"{path} holds {sorted(z.files)}, not {missing}; rerun the align stage")
        try:
            return {k: z[k] for k in (keys or z.files)}
        except ValueError as err:
            raise FaceparseDataError(path, f"refused: it holds Python objects, not plain arrays ({err})") from None


def select_split(aligned_dir: Path, manifest: pd.DataFrame, datasets: list[str], label_set: str,
                 split: str) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Aligned crops, label maps in `label_set` and manifest rows of one split of `datasets`."""
    images, masks, rows = [], [], []
    for name in datasets:
        m = manifest[(manifest["dataset"] == name) & (manifest["index"] >= 0)]
        if m.empty:
            raise FaceparseConfigError(f"dataset {name!r} has no aligned photos; prepared: {sorted(manifest['dataset'].unique())}")
        if m["label_set"].iloc[0] == label_set:
            key = "labels"
        elif m["native_label_set"].iloc[0] == label_set:
            key = "native_labels"
        else:
            raise FaceparseConfigError(f"dataset {name!r} has labels in {m['label_set'].iloc[0]} and "
                                       f"{m['native_label_set'].iloc[0]}, not {label_set}")
        arrays = load_arrays(aligned_dir, name)
        m = m[m["split"] == split]
        idx = m["index"].to_numpy(dtype=np.int64)
        images.append(arrays["images"][idx])
        masks.append(arrays[key][idx])
        rows.append(m)
    return np.concatenate(images), np.concatenate(masks), pd.concat(rows, ignore_index=True)


def oversample(rows: pd.DataFrame, repeat: dict[str, dict[str, int]]) -> np.ndarray:
    """Row positions with photos repeated: `{dataset: {id prefix: times}}`, e.g. `{"fasseg": {"V2_": 4}}`.

    Every row appears once, in order; then the repeats follow, one round over the listed rows at a
    time, so a row whose id starts with a listed prefix appears `times` times in all.
    """
    times = np.ones(len(rows), dtype=np.int64)
    for dataset, prefixes in (repeat or {}).items():
        for prefix, n in prefixes.items():
            if int(n) < 1:
                raise FaceparseConfigError(f"oversample {dataset}/{prefix}: times must be at least 1, got {n}")
            hit = ((rows["dataset"] == dataset) & rows["id"].astype(str).str.startswith(prefix)).to_numpy()
            if not hit.any():
                raise FaceparseConfigError(f"oversample {dataset}/{prefix}: no training photo matches")
            times[hit] = int(n)
    rounds = [np.flatnonzero(times > r) for r in range(int(times.max(initial=1)))]
    return np.concatenate(rounds) if len(rows) else np.zeros(0, dtype=np.int64)
