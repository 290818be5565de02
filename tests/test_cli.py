"""The `faceparse` command on real photos: predict, evaluate (PNG and the publisher's BMP layout), errors."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from faceparse import threads
from faceparse.cli import main
from faceparse.labels import get_label_set
from faceparse.train import TrainData, TrainParams, train

PHOTOS = ["1", "2", "3"]


def _fasseg_subset(mirror: Path, dest: Path, suffix: str) -> Path:
    """FASSEG V2 Test photos 1-3 in the publisher's layout, as PNG or as the original BMP."""
    for folder in ("Test_RGB", "Test_Labels"):
        (dest / "V2" / folder).mkdir(parents=True)
        for n in PHOTOS:
            Image.open(mirror / "fasseg/V2" / folder / f"{n}.png").save(dest / "V2" / folder / f"{n}{suffix}")
    return dest


def _truth(mirror: Path, n: str) -> np.ndarray:
    """FASSEG label by an independent nearest-colour search (brute force over the six colours)."""
    rgb = np.asarray(Image.open(mirror / f"fasseg/V2/Test_Labels/{n}.png").convert("RGB")).astype(np.int64)
    palette = np.array(get_label_set("fasseg6").colors)
    return ((rgb[:, :, None, :] - palette[None, None]) ** 2).sum(-1).argmin(-1)


def test_predict_then_evaluate_agree_with_an_independent_count(model, mirror, tmp_path, capsys):
    root = _fasseg_subset(mirror, tmp_path / "png", ".png")
    photos = [str(root / "V2/Test_RGB" / f"{n}.png") for n in PHOTOS]
    assert main(["predict", "--model", str(model), "--no-tta", "--confidence", *photos, "--out", str(tmp_path / "pred")]) == 0
    correct = total = 0
    for n in PHOTOS:
        pred = np.asarray(Image.open(tmp_path / "pred" / f"{n}_labels.png"))
        truth = _truth(mirror, n)
        assert pred.shape == truth.shape  # original resolution
        correct += int((pred == truth).sum())
        total += truth.size
        assert (tmp_path / "pred" / f"{n}_overlay.jpg").exists() and (tmp_path / "pred" / f"{n}_confidence.png").exists()
    assert main(["evaluate", "--model", str(model), "--no-tta", "--dataset", "fasseg", "--root", str(root),
                 "--split", "test", "--bootstrap", "50", "--out", str(tmp_path / "eval")]) == 0
    metrics = json.loads((tmp_path / "eval/metrics.json").read_text())
    assert metrics["n_images"] == 3
    assert metrics["pixel_accuracy"] == pytest.approx(correct / total, abs=1e-6)  # JSON keeps 6 decimals
    assert (tmp_path / "eval/confusion.png").stat().st_size > 1000


def test_evaluate_reads_the_publishers_bmp_layout(model, mirror, tmp_path):
    png = _fasseg_subset(mirror, tmp_path / "png", ".png")
    bmp = _fasseg_subset(mirror, tmp_path / "bmp", ".bmp")
    for root, out in ((png, "a"), (bmp, "b")):
        assert main(["evaluate", "--model", str(model), "--dataset", "fasseg", "--root", str(root),
                     "--bootstrap", "0", "--out", str(tmp_path / out)]) == 0
    a = json.loads((tmp_path / "a/metrics.json").read_text())
    b = json.loads((tmp_path / "b/metrics.json").read_text())
    assert a["f1"] == b["f1"] and a["n_images"] == b["n_images"] == 3


def test_bad_arguments_give_one_clear_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "faceparse.cli", "predict", "--model", str(tmp_path / "missing.pt"),
                           str(tmp_path), "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "missing.pt" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_help_teaches_each_command():
    for command in ("evaluate", "predict", "profile"):
        proc = subprocess.run([sys.executable, "-m", "faceparse.cli", command, "--help"], capture_output=True, text=True)
        assert proc.returncode == 0 and "--model" in proc.stdout and "--out" in proc.stdout


def test_predict_names_outputs_by_path_skips_its_own_output_and_records_unreadable_files(model, mirror, tmp_path, capsys):
    photos = tmp_path / "photos"
    for sub, n in (("a", "1"), ("b", "1"), ("", "2")):
        (photos / sub).mkdir(parents=True, exist_ok=True)
        Image.open(mirror / f"fasseg/V2/Test_RGB/{n}.png").save(photos / sub / f"{n}.png")
    (photos / "broken.jpg").write_bytes(b"not a jpeg")
    out = photos / "out"  # inside the folder it reads: a second run must not read its own label maps
    for _ in range(2):
        assert main(["predict", "--model", str(model), "--no-tta", str(photos), "--out", str(out)]) == 0
        table = pd.read_csv(out / "predictions.csv")
        assert sorted(table["photo"]) == sorted(str(photos / p) for p in ("a/1.png", "b/1.png", "2.png", "broken.jpg"))
    assert table.set_index("photo").loc[str(photos / "broken.jpg"), "status"].startswith("unreadable")
    for name, n in (("a/1", "1"), ("b/1", "1"), ("2", "2")):  # same stem in two folders: two outputs
        labels = np.asarray(Image.open(out / f"{name}_labels.png"))
        assert labels.shape == _truth(mirror, n).shape
        assert table.set_index("labels").loc[f"{name}_labels.png", "status"] == "ok"
    assert "1 photo(s) could not be read" in capsys.readouterr().err


def test_predict_refuses_two_photos_that_would_share_outputs(model, mirror, tmp_path):
    for suffix in (".png", ".jpg"):
        Image.open(mirror / "fasseg/V2/Test_RGB/1.png").convert("RGB").save(tmp_path / f"1{suffix}")
    proc = subprocess.run([sys.executable, "-m", "faceparse.cli", "predict", "--model", str(model), str(tmp_path),
                           "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert proc.returncode == 2 and "1.jpg" in proc.stderr and "1.png" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()


def test_profile_checks_its_output_path_before_the_work(model, mirror, tmp_path):
    (tmp_path / "prof").mkdir()
    proc = subprocess.run([sys.executable, "-m", "faceparse.cli", "profile", "--model", str(model),
                           str(mirror / "fasseg/V2/Test_RGB/1.png"), "--out", str(tmp_path / "prof")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "is a folder" in proc.stderr and "Traceback" not in proc.stderr
    assert "photo/s" not in proc.stderr  # no progress bar: it stopped before profiling anything


def test_an_adapter_given_as_the_model_is_named(tmp_path):
    from faceparse.adapter import adapter_spec
    from faceparse.models import build_model, save_checkpoint

    spec = adapter_spec("compact", 19, 6)  # reads an image and FaceSynthetics' 19-class softmax
    save_checkpoint(tmp_path / "adapter.pt", build_model(spec), spec,
                    {"label_set": "fasseg6", "extra_label_set": "facesynthetics19", "input_size": 64})
    proc = subprocess.run([sys.executable, "-m", "faceparse.cli", "predict", "--model", str(tmp_path / "adapter.pt"),
                           str(tmp_path), "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert proc.returncode == 2 and "label adapter, not a model" in proc.stderr and "Traceback" not in proc.stderr


def test_profile_keeps_input_order_and_counts_faces_not_rows(model, mirror, tmp_path, capsys):
    blank = tmp_path / "blank.png"  # no face: the detector finds none on flat noise
    Image.fromarray(np.random.default_rng(0).integers(100, 140, (200, 200, 3), dtype=np.uint8)).save(blank)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    photos = [str(mirror / "fasseg/V2/Test_RGB/1.png"), str(broken), str(blank), str(mirror / "fasseg/V2/Test_RGB/2.png")]
    assert main(["profile", "--model", str(model), "--no-tta", *photos, "--out", str(tmp_path / "p.csv")]) == 0
    table = pd.read_csv(tmp_path / "p.csv", keep_default_na=False)
    assert list(table["photo"]) == photos  # one face in each FASSEG photo; rows in the order given
    assert table["flags"].tolist()[1].startswith("unreadable") and table["flags"].tolist()[2] == "no_face"
    for flags in table["flags"]:
        assert len(flags.split(";")) == len(set(flags.split(";"))), flags
    assert capsys.readouterr().out.startswith("2 faces from 2 of 4 photos")


@pytest.mark.parametrize("extra,message", [
    (["--dataset", "fasseg", "--options", "{versions: V2}"], "--options: not valid JSON"),
    (["--dataset", "fasseg", "--root", "nowhere"], "--root nowhere: no such folder"),
])
def test_evaluate_names_the_argument_at_fault(tmp_path, extra, message):
    args = ["--root", str(tmp_path)] + extra if "--root" not in extra else extra
    proc = subprocess.run([sys.executable, "-m", "faceparse.cli", "evaluate", "--model", str(tmp_path / "m.pt"), *args,
                           "--out", str(tmp_path / "o")], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_evaluate_projects_a_model_whose_classes_the_truth_cannot_take(mirror, tmp_path):
    """A FaceSynthetics-class model on FASSEG: FASSEG's labels cannot be split into 19 classes, so
    evaluate scores in fasseg6, the model's classes summed onto them; predict with --label-set fasseg6
    gives the maps to count against."""
    from faceparse.geometry import AlignParams, align_sample, warp_image, warp_mask
    from faceparse.detect import FaceFinder
    from faceparse.datasets import get_reader, read_image

    reader = get_reader("fasseg", versions=("V2",))
    samples = [s for s in reader.samples(mirror / "fasseg") if s.split == "train"][:4]
    params = AlignParams(size=64)
    finder = FaceFinder(params)
    to19 = np.full(256, 255, np.uint8)  # 255 (outside the photo) stays ignored
    to19[:6] = [0, 1, 13, 3, 2, 10]     # background, skin, hair, eyes, nose, mouth in facesynthetics19
    images, masks = [], []
    for s in samples:
        image = read_image(s.image)
        a = align_sample(image, None, finder, params)
        images.append(warp_image(image, a.matrix, 64))
        masks.append(to19[warp_mask(reader.read_mask(s)[0], a.matrix, 64)])
    model = tmp_path / "fs19.pt"
    train(TrainParams(arch="compact", weights="none", epochs=2, batch_size=2, num_workers=0, lr=0.01), "facesynthetics19",
          TrainData(np.stack(images), np.stack(masks)), TrainData(np.stack(images), np.stack(masks)), model,
          meta={"align": {"size": 64, "scale": 1.8, "shift": 0.05, "level_eyes": True}})
    root = _fasseg_subset(mirror, tmp_path / "png", ".png")
    photos = [str(root / "V2/Test_RGB" / f"{n}.png") for n in PHOTOS]
    assert main(["predict", "--model", str(model), "--label-set", "fasseg6", "--no-tta", *photos,
                 "--out", str(tmp_path / "pred")]) == 0
    correct = sum(int((np.asarray(Image.open(tmp_path / "pred" / f"{n}_labels.png")) == _truth(mirror, n)).sum())
                  for n in PHOTOS)
    total = sum(_truth(mirror, n).size for n in PHOTOS)
    assert main(["evaluate", "--model", str(model), "--no-tta", "--dataset", "fasseg", "--root", str(root),
                 "--bootstrap", "0", "--out", str(tmp_path / "eval")]) == 0
    metrics = json.loads((tmp_path / "eval/metrics.json").read_text())
    assert metrics["label_set"] == "fasseg6" and list(metrics["f1"]) == list(get_label_set("fasseg6").classes)
    assert metrics["pixel_accuracy"] == pytest.approx(correct / total, abs=1e-6)


def test_photo_inputs_are_each_read_once_and_predict_outputs_are_not_photos(model, mirror, tmp_path, capsys):
    photos = tmp_path / "photos"
    (photos / "b").mkdir(parents=True)
    Image.open(mirror / "fasseg/V2/Test_RGB/1.png").save(photos / "1.png")
    Image.open(mirror / "fasseg/V2/Test_RGB/2.png").save(photos / "b" / "1.png")
    inputs = [str(photos / "1.png"), str(photos)]  # 1.png named, and again inside its folder: read once
    for _ in range(2):  # --out is the photos' own folder: the second run must not take label maps for photos
        assert main(["predict", "--model", str(model), "--no-tta", *inputs, "--out", str(photos)]) == 0
        table = pd.read_csv(photos / "predictions.csv")
        assert sorted(table["labels"]) == ["1_labels.png", "b/1_labels.png"]
    # profile writes one CSV, so photos that share a stem are fine there
    assert main(["profile", "--model", str(model), "--no-tta", str(photos / "1.png"), str(photos / "b" / "1.png"),
                 "--out", str(tmp_path / "p.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "p.csv")) == 2
    capsys.readouterr()
    assert main(["profile", "--model", str(model), str(photos / "1.png"), "--out", str(tmp_path / "new") + "/"]) == 2
    assert "is a folder" in capsys.readouterr().err and not (tmp_path / "new").exists()


def test_the_held_out_wild_protocol_scores_19_class_masks_in_fasseg_classes(model, mirror, tmp_path):
    """A folder of 512-px photos with CelebAMask-HQ's 19-class index masks, scored in FASSEG's six classes:
    `--dataset folder --options '{"vocabulary": "celebamask19"}' --label-set fasseg6`."""
    celeba = get_label_set("celebamask19").classes
    # FASSEG's six written as CelebAMask-HQ classes; eyes by image side (celebamask19's l_eye is image-left)
    as_celeba = {0: "background", 1: "skin", 2: "hair", 4: "nose", 5: "mouth"}
    (tmp_path / "wild/images").mkdir(parents=True)
    (tmp_path / "wild/masks").mkdir()
    truths = {}
    for n in PHOTOS:
        photo = Image.open(mirror / f"fasseg/V2/Test_RGB/{n}.png").convert("RGB").resize((512, 512), Image.BILINEAR)
        truth = np.asarray(Image.fromarray(_truth(mirror, n).astype(np.uint8)).resize((512, 512), Image.NEAREST))
        mask = np.zeros_like(truth)
        for k, name in as_celeba.items():
            mask[truth == k] = celeba.index(name)
        eyes = truth == 3
        left = np.zeros_like(eyes)
        left[:, :256] = True
        mask[eyes & left], mask[eyes & ~left] = celeba.index("l_eye"), celeba.index("r_eye")
        photo.save(tmp_path / f"wild/images/{n}.jpg", quality=95)
        Image.fromarray(mask).save(tmp_path / f"wild/masks/{n}.png")
        truths[n] = truth
    assert main(["evaluate", "--model", str(model), "--dataset", "folder", "--options", '{"vocabulary": "celebamask19"}',
                 "--label-set", "fasseg6", "--root", str(tmp_path / "wild"), "--bootstrap", "0",
                 "--out", str(tmp_path / "eval")]) == 0
    metrics = json.loads((tmp_path / "eval/metrics.json").read_text())
    assert metrics["n_images"] == 3 and metrics["label_set"] == "fasseg6"
    assert list(metrics["f1"]) == list(get_label_set("fasseg6").classes)
    # the score counts the hand-converted truth: predict's label maps give the same pixel accuracy
    images = [str(tmp_path / f"wild/images/{n}.jpg") for n in PHOTOS]
    assert main(["predict", "--model", str(model), *images, "--out", str(tmp_path / "pred")]) == 0
    correct = sum(int((np.asarray(Image.open(tmp_path / f"pred/{n}_labels.png")) == truths[n]).sum()) for n in PHOTOS)
    assert metrics["pixel_accuracy"] == pytest.approx(correct / (3 * 512 * 512), abs=1e-6)


def test_import_beside_imports_in_a_thread_of_its_own_and_only_with_more_than_one_thread(monkeypatch):
    """`commands.import_beside` loads what a command needs later while the model runs, in a thread
    the command joins; with one thread it does nothing, and a module that cannot be imported is left
    to fail where it is used."""
    from faceparse import commands

    for name in ("colorsys", "this_module_does_not_exist"):
        sys.modules.pop(name, None)
    monkeypatch.setattr(threads, "_configured", 1)
    assert commands.import_beside("colorsys") is None
    assert "colorsys" not in sys.modules
    monkeypatch.setattr(threads, "_configured", 2)
    failing = commands.import_beside("this_module_does_not_exist", "colorsys")  # stops at the first failure
    failing.join(timeout=10)
    assert not failing.is_alive() and "colorsys" not in sys.modules
    importing = commands.import_beside("colorsys")
    assert importing.name == "import" and not importing.daemon
    importing.join(timeout=10)
    assert "colorsys" in sys.modules
