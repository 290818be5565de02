"""What the figures show, read back from their pixels: cell colours follow the share or the count,
bar lengths follow the scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from faceparse.plots import colourise, overlay_panel, overlay_with_key, plot_confusion, plot_f1_bars

BLUES_TOP = (8, 48, 107)     # the darkest colour of matplotlib's Blues map
TAB_BLUE = (31, 119, 180)


def _near(png: Path, rgb: tuple[int, int, int], tol: int = 12) -> np.ndarray:
    """`(H, W) bool`: where the PNG's colour is within `tol` of `rgb` in every channel."""
    image = np.asarray(Image.open(png).convert("RGB")).astype(np.int16)
    return (np.abs(image - np.array(rgb)) <= tol).all(-1)


def _blobs(png: Path, rgb: tuple[int, int, int], min_area: int = 1000) -> int:
    """How many solid areas of that colour, of `min_area` pixels or more, the PNG holds (a cell of
    a small matrix is about 10,000 pixels; the colour bar's top, a gradient, holds under 200)."""
    labelled, n = ndimage.label(_near(png, rgb))
    return int((np.bincount(labelled.ravel())[1:] >= min_area).sum())


def test_confusion_cells_are_coloured_by_their_rows_share_or_by_count(tmp_path):
    cm = np.array([[1_500_000, 20, 0], [3, 12_000, 1], [0, 0, 7]])
    shares = plot_confusion(cm, ["background", "skin", "nose"], tmp_path / "plots/shares.png")
    counts = plot_confusion(cm, ["background", "skin", "nose"], tmp_path / "counts.png", normalise=False)
    side = 2.5 + 0.45 * 3  # inches, as plot_confusion sizes a 3-class matrix; 120 dpi
    assert Image.open(shares).size == (round((side + 1.0) * 120), round(side * 120))
    # Each diagonal cell holds nearly all of its truth row: three cells at the top of the scale.
    # By count, only background's 1.5 M pixels reach it: one cell.
    assert _blobs(shares, BLUES_TOP) == 3 and _blobs(counts, BLUES_TOP) == 1


def test_f1_bars_are_drawn_to_each_classes_score(tmp_path):
    out = plot_f1_bars({"skin": 0.95, "nose": 0.9, "hat": float("nan"), "l_eye": 0.8}, tmp_path / "f1.png")
    assert Image.open(out).size == (720, round((1.0 + 0.3 * 4) * 120))
    bars, n = ndimage.label(_near(out, TAB_BLUE))
    assert n == 3  # the absent class gets an empty bar
    boxes = sorted(ndimage.find_objects(bars), key=lambda b: b[0].start)  # the top bar first
    widths = np.array([b[1].stop - b[1].start for b in boxes], dtype=float)
    np.testing.assert_allclose(widths / widths[0], [1.0, 0.9 / 0.95, 0.8 / 0.95], atol=0.01)


def test_predict_overlay_lets_the_photo_through_and_keys_the_classes_it_shows():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (400, 300, 3), dtype=np.uint8)
    labels = np.zeros((400, 300), np.uint8)
    labels[150:350, 50:250] = 1   # skin (255, 255, 0)
    labels[150:200, 100:200] = 2  # hair (127, 0, 0)
    labels[390:, :] = 255         # ignore
    out = overlay_with_key(image, labels, "fasseg6")
    below_key = np.zeros(labels.shape, bool)
    below_key[120:] = True
    background = below_key & ((labels == 0) | (labels == 255))
    np.testing.assert_array_equal(out[background], image[background])  # the photo itself
    skin = below_key & (labels == 1)
    expected = np.round(0.55 * image[skin] + 0.45 * np.array([255, 255, 0])).astype(np.uint8)
    np.testing.assert_array_equal(out[skin], expected)
    # The key (top-left): a swatch of each class the map holds, none of the others (eyes: blue).
    key = out[:120, :150].reshape(-1, 3)
    assert ((key == (255, 255, 0)).all(-1)).sum() > 50 and ((key == (127, 0, 0)).all(-1)).sum() > 50
    assert not (key == (0, 0, 255)).all(-1).any()
    assert not np.array_equal(out[:30, :30], image[:30, :30])  # the panel behind the key is darker


def test_overlay_panel_marks_only_the_wrong_pixels():
    image = np.full((4, 6, 3), 100, np.uint8)
    truth = np.zeros((4, 6), np.uint8)
    truth[:, 3:] = 1
    pred = truth.copy()
    pred[0, 0] = 1            # one wrong pixel
    truth[3, 5] = 255         # ignored: never wrong
    pred[3, 5] = 0
    panel = overlay_panel(image, truth, pred, "fasseg6", height=4)
    assert panel.shape == (4, 24, 3)
    errors = panel[:, 18:]
    magenta = (errors == (255, 0, 255)).all(-1)
    assert magenta.sum() == 1 and magenta[0, 0]
    assert (errors[~magenta] == 40).all()  # the photo dimmed to 40 %
    np.testing.assert_array_equal(panel[:, 6:12], colourise(truth, "fasseg6"))
    assert tuple(colourise(np.array([[255]], np.uint8), "fasseg6")[0, 0]) == (128, 128, 128)
