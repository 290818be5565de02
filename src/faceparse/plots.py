"""Everything the study draws: label-map colours and overlay panels, and the figures, which make
this the only module that imports matplotlib (inside the functions that need it, so that a command
that draws no figure never pays for the import). A change of colour or layout here reruns the
stages that draw, never the training.

Figures are drawn on a `Figure` with an Agg canvas directly: no pyplot global state, no backend
switch for the caller.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from faceparse.labels import IGNORE, get_label_set
from faceparse.metrics import as_confusion, normalised_confusion

if TYPE_CHECKING:
    import pandas as pd


def _figure(**kwargs):
    """A matplotlib `Figure` on its own Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def colourise(labels: np.ndarray, label_set: str) -> np.ndarray:
    """`(H, W) uint8` label map -> `(H, W, 3) uint8` colours (ignore = grey)."""
    pal = np.zeros((256, 3), np.uint8)
    pal[:] = 128
    p = get_label_set(label_set).palette()
    pal[: len(p)] = p
    return pal[labels]


def overlay_panel(image: np.ndarray, truth: np.ndarray, pred: np.ndarray, label_set: str, height: int = 256) -> np.ndarray:
    """Photo | truth | prediction | errors (wrong pixels in magenta over the dimmed photo), side by side."""
    wrong = (truth != pred) & (truth != IGNORE)
    errors = (image * 0.4).astype(np.uint8)
    errors[wrong] = (255, 0, 255)
    panels = [image, colourise(truth, label_set), colourise(pred, label_set), errors]
    scale = height / image.shape[0]
    size = (max(1, round(image.shape[1] * scale)), height)
    resized = [cv2.resize(p, size, interpolation=cv2.INTER_AREA if i == 0 else cv2.INTER_NEAREST)
               for i, p in enumerate(panels)]
    return np.concatenate(resized, axis=1)


OVERLAY_ALPHA = 0.45  # weight of a class's colour over the photo in predict's overlays


def overlay_with_key(image: np.ndarray, labels: np.ndarray, label_set: str, alpha: float = OVERLAY_ALPHA) -> np.ndarray:
    """`(H, W, 3) uint8` photo with its `(H, W) uint8` label map drawn over it: each class's colour
    blended at `alpha` (background and ignore pixels stay the photo's own), and a key in the top-left
    corner, a swatch and name for each class the map holds, in the label set's order."""
    ls = get_label_set(label_set)
    image = np.asarray(image)
    tinted = labels != IGNORE
    if "background" in ls.classes:
        tinted &= labels != ls.index("background")
    out = image.copy()
    blend = (1 - alpha) * image[tinted] + alpha * colourise(labels, label_set)[tinted].astype(np.float64)
    out[tinted] = np.round(blend).astype(np.uint8)
    present = np.unique(labels[tinted]).tolist()
    if not present:
        return out
    h, w = labels.shape
    line = max(int(round(min(h, w) / 40)), 14)       # one key row, in pixels
    scale = line / 30                                 # cv2's Hershey font: ~22 px tall at scale 1
    thick = max(int(round(scale * 1.5)), 1)
    palette = ls.palette()
    names = [ls.classes[k] for k in present]
    width = line + max(cv2.getTextSize(n, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)[0][0] for n in names) + line // 2
    pad = line // 3
    x1, y1 = min(2 * pad + width, w), min(2 * pad + len(names) * line, h)
    out[:y1, :x1] = (out[:y1, :x1] * 0.35).astype(np.uint8)  # a dark panel, the photo faint under it
    for i, (k, name) in enumerate(zip(present, names)):
        top = pad + i * line
        colour = tuple(int(c) for c in palette[k])
        cv2.rectangle(out, (pad, top + line // 6), (pad + line * 2 // 3, top + line * 5 // 6), colour, -1)
        cv2.putText(out, name, (pad + line, top + line * 3 // 4), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255),
                    thick, cv2.LINE_AA)
    return out




def _compact_count(n: int) -> str:
    """A pixel count short enough for a heat-map cell: 950, 12.3k, 4.56M, 1.2G."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= size:
            return f"{n / size:.3g}{suffix}"
    return str(n)


def plot_confusion(cm: np.ndarray, classes: Sequence[str], path: Path | str, normalise: bool = True,
                   title: str | None = None) -> Path:
    """Write a PNG heat map of a confusion matrix with the pixel counts written in the cells.

    Args:
        cm: `(K, K)` integer confusion matrix, rows = truth, columns = prediction.
        classes: the K class names (axis labels).
        path: PNG file to write; its folder is created if needed.
        normalise: colour by the row-normalised fraction (where each truth class went), which keeps
            small classes visible next to skin and background; otherwise colour by raw count.
        title: drawn above the matrix (which model, on which photos).

    Returns:
        `path` as a `Path`.
    """
    cm = as_confusion(cm, classes)
    k = cm.shape[0]
    shown = normalised_confusion(cm) if normalise else cm.astype(np.float64)
    vmax = 1.0 if normalise else max(float(shown.max()), 1.0)
    side = 2.5 + 0.45 * k
    fig = _figure(figsize=(side + 1.0, side), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(shown, cmap="Blues", vmin=0.0, vmax=vmax)
    fig.colorbar(image, ax=ax, label="fraction of truth row" if normalise else "pixels")
    ax.set_xticks(range(k), labels=list(classes), rotation=90)
    ax.set_yticks(range(k), labels=list(classes))
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    if title:
        ax.set_title(title, fontsize=10)
    fontsize = max(4.0, 9.0 - k / 4)
    # Zero cells stay blank so the off-diagonal mistakes stand out.
    for i, j in zip(*np.nonzero(cm)):
        text = _compact_count(int(cm[i, j]))
        if normalise:
            text = f"{shown[i, j]:.2f}\n{text}"
        colour = "white" if shown[i, j] > 0.5 * vmax else "black"
        ax.text(j, i, text, ha="center", va="center", fontsize=fontsize, color=colour)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def plot_f1_bars(f1_by_class: Mapping[str, float], path: Path | str, title: str | None = None) -> Path:
    """Write a PNG of horizontal F1 bars, highest at the top, values written at the bar ends.

    A NaN F1 (class absent from truth and prediction) is drawn as an empty bar labelled
    "absent" at the bottom rather than dropped, so the plot still lists every class.
    """
    items = list(f1_by_class.items())
    absent = [(name, v) for name, v in items if np.isnan(v)]
    present = sorted(((name, v) for name, v in items if not np.isnan(v)), key=lambda item: item[1])
    ordered = absent + present  # barh draws the first item at the bottom
    names = [name for name, _ in ordered]
    values = np.array([0.0 if np.isnan(v) else v for _, v in ordered])
    fig = _figure(figsize=(6.0, 1.0 + 0.3 * max(len(ordered), 1)), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(len(ordered))
    ax.barh(y, values, color="tab:blue")
    ax.set_yticks(y, labels=names)
    ax.set_xlim(0.0, 1.12)
    ax.set_xlabel("F1")
    if title:
        ax.set_title(title, fontsize=10)
    for yi, (_, v) in zip(y, ordered):
        ax.text(0.01 if np.isnan(v) else v + 0.01, yi, "absent" if np.isnan(v) else f"{v:.3f}", va="center", fontsize=8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def plot_validation(t: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Scatter plots: neutral against smiling per measure; mask fWHR against landmark fWHR."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    wide = t.pivot_table(index="person", columns="expression", values=["cheeks_L", "cheeks_b", "cheeks_ita", "fwhr"],
                         aggfunc="first", dropna=False)
    fig = _figure(figsize=(12, 3.2))
    for ax_i, (col, label) in enumerate((("cheeks_L", "cheek L*"), ("cheeks_b", "cheek b*"), ("cheeks_ita", "cheek ITA (deg)"),
                                         ("fwhr", "fWHR (face map)"))):
        ax = fig.add_subplot(1, 4, ax_i + 1)
        if col in wide.columns.get_level_values(0) and {"neutral", "smiling"} <= set(wide[col].columns):
            x, y = wide[col]["neutral"], wide[col]["smiling"]
            ax.scatter(x, y, s=12)
            lo, hi = np.nanmin([x.min(), y.min()]), np.nanmax([x.max(), y.max()])
            if np.isfinite(lo) and np.isfinite(hi):
                ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8)
        ax.set_xlabel(f"neutral {label}")
        ax.set_ylabel(f"smiling {label}")
    fig.suptitle("London set: the same person's neutral and smiling photo", fontsize=10)
    fig.tight_layout()
    paths.append(out_dir / "profile_test_retest.png")
    fig.savefig(paths[-1], dpi=90)
    fig = _figure(figsize=(4, 4))
    ax = fig.add_subplot(1, 1, 1)
    ax.scatter(t["fwhr_landmarks"], t["fwhr"], s=12)
    ax.set_xlabel("fWHR from hand-placed landmarks")
    ax.set_ylabel("fWHR from the face map")
    ax.set_title("fWHR: face map against template", fontsize=10)
    fig.tight_layout()
    paths.append(out_dir / "profile_fwhr_agreement.png")
    fig.savefig(paths[-1], dpi=90)
    return paths


def plot_distributions(profile: pd.DataFrame, path: Path, ita_bounds: Sequence[float],
                       ita_categories: Sequence[str]) -> Path:
    """Histograms of cheek ITA (its skin categories marked: `ita_bounds` between `ita_categories`,
    as `faceparse.profile.colour` defines them) and fWHR over the faces of a profile table."""
    fig = _figure(figsize=(10, 3.4))
    ax = fig.add_subplot(1, 2, 1)
    ita = profile["cheeks_ita"].dropna()
    ax.hist(ita, bins=20, color="tab:brown")
    for bound in ita_bounds:
        ax.axvline(bound, color="grey", lw=0.8, ls="--")
    edges = [-90.0, *ita_bounds, 90.0]
    lo, hi = (min(ita.min(), 0.0), max(ita.max(), 60.0)) if len(ita) else (-30.0, 90.0)
    for name, a, b in zip(ita_categories, edges[:-1], edges[1:]):
        centre = (max(a, lo) + min(b, hi)) / 2
        if lo < centre < hi:
            ax.text(centre, 1.0, name, transform=ax.get_xaxis_transform(), ha="center", va="bottom", fontsize=7)
    ax.set_xlabel("cheek ITA (degrees)")
    ax.set_ylabel("faces")
    ax = fig.add_subplot(1, 2, 2)
    ax.hist(profile["fwhr"].dropna(), bins=20, color="tab:blue")
    ax.set_xlabel("fWHR (face map)")
    ax.set_ylabel("faces")
    fig.suptitle(f"{len(ita)} faces", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    return path
