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

import cv2
import numpy as np
import pandas as pd

from faceparse.labels import IGNORE, get_label_set
from faceparse.metrics import as_confusion, normalised_confusion


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




def _compact_count(n: int) -> str:
    """A pixel count short enough for a heat-map cell: 950, 12.3k, 4.56M, 1.2G."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= size:
            return f"{n / size:.3g}{suffix}"
    return str(n)


def plot_confusion(cm: np.ndarray, classes: Sequence[str], path: Path | str, normalise: bool = True) -> Path:
    """Write a PNG heat map of a confusion matrix with the pixel counts written in the cells.

    Args:
        cm: `(K, K)` integer confusion matrix, rows = truth, columns = prediction.
        classes: the K class names (axis labels).
        path: PNG file to write; its folder is created if needed.
        normalise: colour by the row-normalised fraction (where each truth class went), which keeps
            small classes visible next to skin and background; otherwise colour by raw count.

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


def plot_f1_bars(f1_by_class: Mapping[str, float], path: Path | str) -> Path:
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
    fig.tight_layout()
    paths.append(out_dir / "profile_test_retest.png")
    fig.savefig(paths[-1], dpi=90)
    fig = _figure(figsize=(4, 4))
    ax = fig.add_subplot(1, 1, 1)
    ax.scatter(t["fwhr_landmarks"], t["fwhr"], s=12)
    ax.set_xlabel("fWHR from hand-placed landmarks")
    ax.set_ylabel("fWHR from the face map")
    fig.tight_layout()
    paths.append(out_dir / "profile_fwhr_agreement.png")
    fig.savefig(paths[-1], dpi=90)
    return paths
