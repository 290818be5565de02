"""`faceparse evaluate` on a small fixture of every labelled dataset format, checked against `faceparse predict`.

Each fixture is written in its format's documented layout (with the writers of test_formats.py where
they exist) and its photos are drawn: every pixel shows the FASSEG colour of its class, which a tiny
model trained here on coloured rectangles learns to read. Evaluate's pixel accuracy must equal the
accuracy counted here from predict's label maps against the fixture's truth, converted to fasseg6 by
a mapping written out by hand for the classes each fixture paints. The drawings are far smaller than
a face detector's minimum size, so both commands segment the whole photo.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from test_formats import FASSEG_COLOURS, H, MUT1NY_ROWS, W, celeba_parts, helen, lapa_sample, mut1ny, png

from faceparse.cli import main
from faceparse.datasets import READERS
from faceparse.train import TrainData, TrainParams, train

IGNORE = 255
GREY = (128, 128, 128)  # how ignored pixels are drawn; the model never learns a class for it


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """A compact fasseg6 model trained for 75 steps to label each FASSEG colour as its class."""
    rng = np.random.default_rng(0)
    images = np.zeros((24, 64, 64, 3), np.uint8)  # black, as the letter-box border of a whole-photo crop
    masks = np.zeros((24, 64, 64), np.uint8)
    for image, mask in zip(images, masks):
        for _ in range(8):
            k = rng.integers(0, 6)
            y, x = rng.integers(0, 56, 2)
            h, w = rng.integers(6, 40, 2)
            image[y:y + h, x:x + w] = FASSEG_COLOURS[k]
            mask[y:y + h, x:x + w] = k
    out = tmp_path_factory.mktemp("model") / "tiny.pt"
    p = TrainParams(arch="compact", weights="none", epochs=25, batch_size=8, num_workers=0, lr=0.03, threads=1,
                    augment=None)
    train(p, "fasseg6", TrainData(images, masks), TrainData(images[:8], masks[:8]), out, meta={"align": {"size": 64}})
    return out


# --- drawing ------------------------------------------------------------------------------------

def draw(path: Path, truth: np.ndarray) -> Path:
    """Write (or overwrite) the photo at `path`: each pixel the FASSEG colour of its fasseg6 class."""
    colours = np.zeros((256, 3), np.uint8)
    colours[:] = GREY
    colours[:6] = FASSEG_COLOURS
    path.parent.mkdir(parents=True, exist_ok=True)
    # JPEG's default chroma subsampling would blur the one-row stripes of some fixtures into each other.
    Image.fromarray(colours[truth]).save(path, quality=100, subsampling=0)
    return path


def cartoon(ids: dict[str, int], down: int = 0, h: int = 48, w: int = 40) -> np.ndarray:
    """`(h, w) uint8` label map of a drawn face in some vocabulary; `ids` gives each part's index there."""
    m = np.full((h, w), ids["background"], np.uint8)
    m[down:12 + down, 4:36] = ids["hair"]
    m[12 + down:40 + down, 8:32] = ids["skin"]
    m[18 + down:22 + down, 11:17] = ids["left_eye"]
    m[18 + down:22 + down, 23:29] = ids["right_eye"]
    m[23 + down:30 + down, 18:22] = ids["nose"]
    m[32 + down:35 + down, 14:26] = ids["mouth"]
    return m


def by_hand(native: np.ndarray, table: dict[int, int]) -> np.ndarray:
    """Convert a native label map with a table written in the test; every painted class must be in it."""
    painted = set(np.unique(native).tolist())
    assert painted <= set(table), f"classes {sorted(painted - set(table))} painted but not mapped by hand"
    lut = np.full(256, IGNORE, np.uint8)
    lut[list(table)] = list(table.values())
    return lut[native]


@dataclass
class Fixture:
    truth: dict[Path, np.ndarray]      # photo -> fasseg6 truth, for exactly the photos evaluate should score
    split: str | None = None           # None: leave --split at its default
    options: dict = field(default_factory=dict)


# --- one fixture per format ---------------------------------------------------------------------

FASSEG6 = {"background": 0, "skin": 1, "hair": 2, "left_eye": 3, "right_eye": 3, "nose": 4, "mouth": 5}


def fasseg_fixture(root: Path) -> Fixture:
    """V2 train (not scored), V2 test as BMP and PNG, V3 test pose 0 with one unlabelled photo."""
    truth = {}
    for rgb_dir, lab_dir, name, suffix, down in [
            ("V2/Train_RGB", "V2/Train_Labels", "1", ".bmp", 0),
            ("V2/Test_RGB", "V2/Test_Labels", "1", ".bmp", 0),
            ("V2/Test_RGB", "V2/Test_Labels", "2", ".png", 4),
            ("V3/Test_RGB/0", "V3/Test_labels/0", "personne01146+0+0", ".png", 2)]:
        labels = cartoon(FASSEG6, down)  # FASSEG masks are colours of its own six classes: fasseg6 as painted
        rgb = FASSEG_COLOURS.astype(np.uint8)[labels]
        rgb[46:] = (250, 250, 6)  # skin re-encoded a few units off its colour, as lossy copies are
        labels[46:] = FASSEG6["skin"]
        png(root / lab_dir / f"{name}{suffix}", rgb)
        photo = draw(root / rgb_dir / f"{name}{suffix}", labels)
        if "Test" in rgb_dir:
            truth[photo] = labels
    draw(root / "V3/Test_RGB/0/personne02146+0+0.png", cartoon(FASSEG6))  # V3 photo without a label: not scored
    return Fixture(truth, split="test")


def facesynthetics_fixture(root: Path) -> Fixture:
    """Two photos, no splits and no landmark files (with them evaluate would align by landmarks, predict cannot)."""
    ids = {"background": 0, "skin": 1, "hair": 13, "left_eye": 4, "right_eye": 3, "nose": 2, "mouth": 10}
    truth = {}
    for n, down in ((0, 0), (1, 5)):
        native = cartoon(ids, down)
        native[36 + down:38 + down, 14:26] = 11  # bottom lip under the top lip
        native[44:] = 15                          # clothing
        native[17, 10:30] = 16                    # glasses frame across the eyes
        native[:2, :2] = IGNORE
        png(root / f"{n:06d}_seg.png", native)
        fasseg6 = by_hand(native, {0: 0, 1: 1, 2: 4, 3: 3, 4: 3, 10: 5, 11: 5, 13: 2, 15: 0, 16: IGNORE,
                                   IGNORE: IGNORE})
        truth[draw(root / f"{n:06d}.png", fasseg6)] = fasseg6
    return Fixture(truth)


def celebamask_hq_fixture(root: Path) -> Fixture:
    """test_formats' part files (ids 1 and 2001, 12x16 parts for 24x32 photos), both in the test split."""
    celeba_parts(root)
    (root / "CelebA-HQ-to-CelebA-mapping.txt").write_text(
        "idx         orig_idx    orig_file\n1  5  000006.jpg\n2001  9  000010.jpg\n")
    (root / "list_eval_partition.txt").write_text("000006.jpg 2\n000010.jpg 2\n")
    # Id 1 merged in g_mask order, as worked out in test_formats: hair over rows 0-3, l_eye over eye_g.
    skin, nose, eye_g, l_eye, hair, cloth = 1, 2, 3, 4, 13, 18
    one = np.full((H, W), skin, np.uint8)
    one[0:4] = hair
    one[4:7, 1:6] = eye_g
    one[4:6, 2:5] = l_eye
    one[4:7, 6:10] = nose
    one[10:12] = cloth
    table = {skin: 1, nose: 4, eye_g: IGNORE, l_eye: 3, hair: 2, cloth: 0}
    truth = {}
    for sample_id, native in (("1", one), ("2001", np.full((H, W), skin, np.uint8))):
        fasseg6 = by_hand(native.repeat(2, axis=0).repeat(2, axis=1), table)  # parts are half the photo's size
        truth[draw(root / "CelebA-HQ-img" / f"{sample_id}.jpg", fasseg6)] = fasseg6
    return Fixture(truth, split="test")


def helen_fixture(root: Path) -> Fixture:
    """test_formats' Helen layout: 100_1 and 100_2 listed in exemplars.txt (train), 200_1 in testing.txt."""
    helen(root)
    # helen_maps merged by hand (see test_formats): rows 3-5 skin, 6-7 hair, rows 10-11 left half nose
    # (a nose/upper-lip tie goes to the lower index); everything else background.
    native = np.zeros((H, W), np.uint8)
    native[3:6] = 1
    native[6:8] = 10
    native[10:, :8] = 6
    fasseg6 = by_hand(native, {0: 0, 1: 1, 6: 4, 10: 2})
    return Fixture({draw(root / "images" / f"{name}.jpg", fasseg6): fasseg6 for name in ("100_1", "100_2")},
                   split="train")


def lapa_fixture(root: Path) -> Fixture:
    """test_formats' LaPa samples: a in train, b and c in test; landmark files removed, as for FaceSynthetics."""
    for split, name in (("train", "a"), ("test", "b"), ("test", "c")):
        lapa_sample(root, split, name)
        shutil.rmtree(root / split / "landmarks")
    native = np.zeros((H, W), np.uint8)  # as lapa_sample paints it
    native[:6] = 1
    native[6:8, :8] = 2
    native[6:8, 8:] = 3
    native[8:] = 10
    fasseg6 = by_hand(native, {1: 1, 2: 2, 3: 2, 10: 2})
    return Fixture({draw(root / "test" / "images" / f"{name}.jpg", fasseg6): fasseg6 for name in ("b", "c")},
                   split="test")


def ibugmask_fixture(root: Path) -> Fixture:
    """`{train,test}/<id>.jpg` beside `<id>.png`: one train photo (not scored), two test photos."""
    ids = {"background": 0, "skin": 1, "hair": 10, "left_eye": 4, "right_eye": 5, "nose": 6, "mouth": 7}
    table = {0: 0, 1: 1, 2: 2, 3: 2, 4: 3, 5: 3, 6: 4, 7: 5, 8: 5, 9: 5, 10: 2}
    truth = {}
    for split, name, down in (("train", "11", 0), ("test", "12", 0), ("test", "13", 6)):
        native = cartoon(ids, down)
        native[15 + down:17 + down, 11:17] = 2  # left brow
        native[15 + down:17 + down, 23:29] = 3  # right brow
        native[35 + down:37 + down, 14:26] = 9  # lower lip
        native[34 + down, 16:24] = 8            # inner mouth between the lips
        png(root / split / f"{name}.png", native)
        photo = draw(root / split / f"{name}.jpg", by_hand(native, table))
        if split == "test":
            truth[photo] = by_hand(native, table)
    return Fixture(truth, split="test")


MUT1NY_TO_FASSEG6 = {  # colour -> fasseg6, by hand, for every colour in test_formats' MUT1NY_ROWS
    (0, 0, 0): 0, (255, 0, 0): 5, (0, 255, 0): 3, (0, 0, 255): 4, (128, 128, 128): 1, (255, 255, 0): 2,
    (0, 255, 255): 1, (255, 0, 255): 2, (255, 255, 255): 5, (255, 192, 192): 2, (0, 128, 128): IGNORE,
    (250, 4, 0): 5,  # lips, 6.4 off the palette colour
}


def mut1ny_fixture(root: Path) -> Fixture:
    """test_formats' Mut1ny photo p1 and p2 (p1 upside down), both listed in training.xml."""
    entry = r'<srcimg name="images\sub\{0}.jpg"><labelimg name="labels\sub\{0}.png"/></srcimg>'
    mut1ny(root, entry.format("p1") + entry.format("p2"))
    rgb = np.asarray(Image.open(root / "labels/sub/p1.png").convert("RGB"))
    png(root / "labels/sub/p2.png", rgb[::-1])
    p1 = np.zeros((H, W), np.uint8)
    for rows, cols, colour in MUT1NY_ROWS:
        p1[rows, cols] = MUT1NY_TO_FASSEG6[colour]
    p2 = p1[::-1]
    return Fixture({draw(root / "images/sub/p1.jpg", p1): p1, draw(root / "images/sub/p2.jpg", p2): p2}, split="train")


# Colour masks in helen11 order through the folder reader's palette option.
FOLDER_PALETTE = [[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [255, 0, 255],
                  [0, 255, 255], [128, 0, 0], [0, 128, 0], [0, 0, 128]]


def folder_fixture(root: Path) -> Fixture:
    """`images/` + `masks/`: a.jpg with a.png, b.png with b.bmp; no splits."""
    ids = {"background": 0, "skin": 1, "hair": 10, "left_eye": 4, "right_eye": 5, "nose": 6, "mouth": 9}
    truth = {}
    for name, photo_suffix, mask_suffix, down in (("a", ".jpg", ".png", 0), ("b", ".png", ".bmp", 3)):
        native = cartoon(ids, down)
        png(root / "masks" / f"{name}{mask_suffix}", np.array(FOLDER_PALETTE, np.uint8)[native])
        fasseg6 = by_hand(native, {0: 0, 1: 1, 4: 3, 5: 3, 6: 4, 9: 5, 10: 2})
        truth[draw(root / "images" / f"{name}{photo_suffix}", fasseg6)] = fasseg6
    return Fixture(truth, options={"vocabulary": "helen11", "palette": FOLDER_PALETTE})


FIXTURES: dict[str, Callable[[Path], Fixture]] = {
    "fasseg": fasseg_fixture, "facesynthetics": facesynthetics_fixture, "celebamask_hq": celebamask_hq_fixture,
    "helen": helen_fixture, "lapa": lapa_fixture, "ibugmask": ibugmask_fixture, "mut1ny": mut1ny_fixture,
    "folder": folder_fixture,
}
WITHOUT_MASKS = {"photos"}


def test_every_format_with_masks_has_a_fixture():
    assert set(FIXTURES) == set(READERS) - WITHOUT_MASKS


# --- evaluate against predict -------------------------------------------------------------------

def evaluate_args(model: Path, fmt: str, root: Path, out: Path, fixture: Fixture | None = None) -> list[str]:
    args = ["evaluate", "--model", str(model), "--no-tta", "--dataset", fmt, "--root", str(root),
            "--bootstrap", "0", "--out", str(out)]
    if fixture is not None and fixture.split is not None:
        args += ["--split", fixture.split]
    if fixture is not None and fixture.options:
        args += ["--options", json.dumps(fixture.options)]
    return args


@pytest.mark.parametrize("fmt", sorted(FIXTURES))
def test_evaluate_agrees_with_predict_on_every_format(fmt, model, tmp_path):
    root = tmp_path / "data"
    fixture = FIXTURES[fmt](root)
    photos = sorted(fixture.truth)
    assert len({p.stem for p in photos}) == len(photos)  # predict names its outputs by stem
    assert main(["predict", "--model", str(model), "--no-tta", *map(str, photos), "--out", str(tmp_path / "pred")]) == 0
    assert (pd.read_csv(tmp_path / "pred/predictions.csv")["align_method"] == "none").all()  # whole photos
    correct = scored = 0
    for photo in photos:
        pred = np.asarray(Image.open(tmp_path / "pred" / f"{photo.stem}_labels.png"))
        truth = fixture.truth[photo]
        assert pred.shape == truth.shape  # original resolution
        counted = truth != IGNORE
        correct += int((pred == truth)[counted].sum())
        scored += int(counted.sum())
    assert correct / scored > 0.9  # predictions line up with the drawn truth, so a misplaced mask would show

    assert main(evaluate_args(model, fmt, root, tmp_path / "eval", fixture)) == 0
    metrics = json.loads((tmp_path / "eval/metrics.json").read_text())
    assert metrics["n_images"] == len(photos) and metrics["n_not_evaluated"] == 0
    assert metrics["pixel_accuracy"] == pytest.approx(correct / scored, abs=1e-6)  # metrics.json keeps 6 decimals
    assert len(pd.read_csv(tmp_path / "eval/per_image.csv")) == len(photos)
    assert (tmp_path / "eval/confusion.png").stat().st_size > 1000 and (tmp_path / "eval/f1.png").exists()


# --- folders evaluate cannot score --------------------------------------------------------------

NO_DATA_OPTIONS = {"folder": {"vocabulary": "fasseg6"}}


@pytest.mark.parametrize("case", ["empty", "missing"])
@pytest.mark.parametrize("fmt", sorted(READERS))
def test_evaluate_on_no_data_is_one_line_naming_the_folder(fmt, case, model, tmp_path, capsys):
    root = tmp_path / "data"
    if case == "empty":
        root.mkdir()
    args = evaluate_args(model, fmt, root, tmp_path / "eval", Fixture({}, options=NO_DATA_OPTIONS.get(fmt, {})))
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("faceparse evaluate: error: ") and str(root) in err[0]
    assert not (tmp_path / "eval").exists()


@pytest.mark.parametrize("case", ["empty", "missing"])
def test_evaluate_on_no_data_from_the_shell_prints_no_traceback(case, model, tmp_path):
    root = tmp_path / "data"
    if case == "empty":
        root.mkdir()
    command = [sys.executable, "-m", "faceparse.cli", *evaluate_args(model, "lapa", root, tmp_path / "eval")]
    proc = subprocess.run(command, capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and str(root) in proc.stderr


def test_evaluate_on_photos_without_masks_is_an_error(model, tmp_path, capsys):
    draw(tmp_path / "photos" / "a.png", cartoon(FASSEG6))
    assert main(evaluate_args(model, "photos", tmp_path / "photos", tmp_path / "eval")) == 2
    assert "no labelled photos" in capsys.readouterr().err
    assert not (tmp_path / "eval").exists()


def test_evaluate_with_a_wrong_reader_option_names_the_known_ones(model, tmp_path, capsys):
    fixture = Fixture({}, options={"vocabulary": "fasseg6"})  # only the folder format takes a vocabulary
    assert main(evaluate_args(model, "lapa", tmp_path, tmp_path / "eval", fixture)) == 2
    assert capsys.readouterr().err.strip() == ("faceparse evaluate: error: dataset format 'lapa' takes the options "
                                               "none; found ['vocabulary']")
