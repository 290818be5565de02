"""Score a model on a test split the way the field compares models: one confusion matrix over the
whole split, at each photo's original label resolution (the face's probabilities warped back through
its alignment, then argmax: the photo stream's label map), label 255 ignored."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

import cv2
import numpy as np
from tqdm import tqdm

from faceparse.datasets import read_image, read_index_mask
from faceparse.geometry import Alignment
from faceparse.metrics import bootstrap_mean_f1, confusion_matrix, mean_f1_by_group, protocol_summary, scores
from faceparse.plots import overlay_panel
from faceparse.predict import Predictor
from faceparse.stream import BATCH, Photo, overlapped, segmented

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger("faceparse")

# The published summary each label set is compared by, in the papers that use it.
PROTOCOL_OF_LABEL_SET = {"helen11": "helen_overall", "lapa11": "lapa", "celebamask19": "celebamask"}
SCORERS = 1  # photos scored at once while the model segments the next batch (one keeps up, and holds fewer photos)


@dataclass(frozen=True)
class EvaluateParams:
    """The `evaluate` section of params.yaml."""

    models: list[str]          # "main" is models/main.pt; "synthetic+adapter" the synthetic model read by the adapter
    splits: list[str]          # "<dataset>/<split>" of the aligned manifest
    tta: bool = True           # flip test-time augmentation (left/right classes swapped back)
    precision: str = "fp32"    # fp32 | bf16 | auto (bf16: the graph in OpenVINO on a CPU with bfloat16)
    bootstrap: int = 1000      # resamples over photos for the mean-F1 95% interval
    seed: int = 0
    overlays: int = 3          # best and worst photos of the first split drawn for the report
    # Labelled folders scored by finding the face as `faceparse evaluate` does (no stored alignment):
    # {name: {root: folder of images/ + masks/, vocabulary: the masks' label set}}
    folders: dict = field(default_factory=dict)


@dataclass
class SplitResult:
    summary: dict
    confusion: np.ndarray                      # (K, K) over the whole split
    per_image: pd.DataFrame                    # id, pose, mean_f1 per scored photo
    per_image_cms: np.ndarray = field(repr=False)


def score_photos(predictor: Predictor, photos: Iterable[Photo], n: int, bootstrap: int = 1000, seed: int = 0,
                 not_evaluated: Sequence[str] = ()) -> SplitResult:
    """Score `n` photos, each a `Photo` with its image, its one face's alignment and, as its payload,
    `(id, pose, (H, W) truth)` in the predictor's label set: the face's map over the whole photo is
    compared with the truth. They walk the photo stream (`faceparse.stream.segmented`; a generator of
    photos is advanced in its reading thread) in batches of `stream.BATCH` photos, whose maps are
    those of one photo at a time, and are scored one by one in a thread of its own while the model
    segments the next batch (`stream.overlapped`).

    `not_evaluated` names photos that could not be scored (unreadable, skipped): they are counted
    in the summary, never silently dropped.
    """
    classes = predictor.classes
    k = len(classes)
    cms, ids, poses = [], [], []

    def score(photo: Photo) -> tuple[str, str, np.ndarray]:
        return photo.payload[0], photo.payload[1], confusion_matrix(photo.payload[2], photo.label_map()[0], k)

    with tqdm(total=n, desc="evaluate", unit="photo", dynamic_ncols=True, leave=False) as bar:
        for photo_id, pose, cm in overlapped(score, segmented(predictor, photos, BATCH), SCORERS, "score", depth=BATCH):
            cms.append(cm)
            ids.append(photo_id)
            poses.append(pose)
            bar.update(1)
    cms_arr = np.stack(cms) if cms else np.zeros((0, k, k), np.int64)
    total = cms_arr.sum(0)
    s = scores(total, classes)
    lo, hi = bootstrap_mean_f1(cms_arr, n_boot=bootstrap, seed=seed) if bootstrap and len(cms) else (np.nan, np.nan)
    import pandas as pd  # here, not at import: `faceparse profile` and `predict` start without it

    per_image = pd.DataFrame({"id": ids, "pose": poses, "mean_f1": [scores(c, classes)["mean_f1"] for c in cms_arr]})
    summary = {
        "n_images": len(cms), "n_not_evaluated": len(not_evaluated), "not_evaluated": list(not_evaluated),
        "pixel_accuracy": s["pixel_accuracy"], "mean_f1": s["mean_f1"], "mean_f1_ci95": [lo, hi],
        "mean_iou": s["mean_iou"], "mean_f1_fg": s["mean_f1_fg"], "mean_iou_fg": s["mean_iou_fg"],
        "f1": s["f1"], "iou": s["iou"], "precision": s["precision"], "recall": s["recall"],
    }
    protocol = PROTOCOL_OF_LABEL_SET.get(predictor.label_set)
    if protocol and len(cms):
        summary["protocol"] = {"name": protocol, **protocol_summary(total, classes, protocol)}
    if any(p != "" for p in poses):
        summary["mean_f1_by_pose"] = mean_f1_by_group(cms_arr, poses, classes)
    return SplitResult(summary=summary, confusion=total, per_image=per_image, per_image_cms=cms_arr)


def evaluate_split(predictor: Predictor, rows: pd.DataFrame, affines: np.ndarray, repo_root: Path,
                   bootstrap: int = 1000, seed: int = 0) -> SplitResult:
    """`rows`: the aligned manifest rows of one split; `affines`: that dataset's stored alignments."""
    ok = rows[rows["index"] >= 0]
    photos = (Photo(repo_root / r["image"], image=read_image(repo_root / r["image"]), faces=[stored_alignment(r, affines)],
                    payload=(r["id"], r["pose"], read_index_mask(repo_root / r["label"]))) for _, r in ok.iterrows())
    return score_photos(predictor, photos, len(ok), bootstrap, seed,
                        not_evaluated=rows.loc[rows["index"] < 0, "id"].tolist())


def evaluate_folder(predictor: Predictor, root: Path, vocabulary: str, bootstrap: int = 1000,
                    seed: int = 0) -> SplitResult:
    """Score a labelled `folder`-format set (images/ + masks/ in `vocabulary`), each face found and
    aligned by the predictor's detector, truth converted to the predictor's label set."""
    from faceparse.datasets import get_reader

    reader = get_reader("folder", vocabulary=vocabulary)
    samples = [s for s in reader.samples(Path(root)) if s.mask is not None]
    return score_photos(predictor, labelled_photos(predictor, reader, samples), len(samples), bootstrap, seed)


def labelled_photos(predictor: Predictor, reader, samples: list, skipped: list[str] | None = None,
                    resized: list[str] | None = None) -> Iterator[Photo]:
    """Each labelled sample of a dataset reader as `score_photos` takes it: the photo, its face
    aligned as in training (the dataset's landmarks, else the largest face found, else the whole
    photo) and its truth in the predictor's label set. With `skipped`, a sample that cannot be read
    is recorded there ("<id>: <why>") and passed over instead of stopping the run; with `resized`, a
    mask resampled to its photo's size is logged and recorded there."""
    from faceparse.datasets.checks import read_labelled
    from faceparse.errors import FaceparseError
    from faceparse.geometry import align_sample
    from faceparse.labels import convert

    for s in samples:
        try:
            image, mask, _, fit = read_labelled(reader, s)
        except FaceparseError as err:
            if skipped is None:
                raise
            log.warning("not evaluated: %s", err)
            skipped.append(f"{s.id}: {err}")
            continue
        if fit and resized is not None:
            (h, w), (H, W) = fit["mask_resized_from"], fit["mask_resized_to"]
            log.warning("%s: mask is %dx%d, resized to its photo's %dx%d", s.mask, w, h, W, H)
            resized.append(f"{s.id}: mask {w}x{h} resized to {W}x{H}")
        face = align_sample(image, reader.read_landmarks(s), predictor.finder, predictor.align_params)
        yield Photo(s.image, image=image, faces=[face],
                    payload=(s.id, s.pose, convert(mask, reader.vocabulary, predictor.label_set)))


def stored_alignment(row: pd.Series, affines: np.ndarray) -> Alignment:
    """The alignment the align stage stored for one aligned manifest row."""
    return Alignment(matrix=affines[row["index"]], method=row["align_method"],
                     box=tuple(float(row[k]) for k in ("box_x", "box_y", "box_w", "box_h")), angle=float(row["angle"]))


def write_overlays(predictor: Predictor, result: SplitResult, rows: pd.DataFrame, affines: np.ndarray,
                   repo_root: Path, out_dir: Path, prefix: str, n: int) -> list[Path]:
    """The `n` best and `n` worst photos of the split (by per-photo mean F1) as overlay panels."""
    by_id = rows.set_index("id")
    ranked = result.per_image.dropna(subset=["mean_f1"]).sort_values("mean_f1")["id"].tolist()
    picks = [("worst", i) for i in ranked[:n]] + [("best", i) for i in ranked[::-1][:n]]
    out_dir.mkdir(parents=True, exist_ok=True)
    photos = []
    for rank, (kind, photo_id) in enumerate(picks):
        r = by_id.loc[photo_id]
        photos.append(Photo(repo_root / r["image"], name=f"{prefix}_{kind}{rank % n + 1}.jpg",
                            image=read_image(repo_root / r["image"]), faces=[stored_alignment(r, affines)],
                            payload=read_index_mask(repo_root / r["label"])))
    paths = []
    for photo in segmented(predictor, photos, batch_size=1):
        panel = overlay_panel(photo.image, photo.payload, photo.label_map()[0], predictor.label_set)
        cv2.imwrite(str(out_dir / photo.name), cv2.cvtColor(panel, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
        paths.append(out_dir / photo.name)
    return paths
