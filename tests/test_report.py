"""The study report from a small metrics folder: exact numbers and image links in the markdown, and the
self-contained HTML page rendered in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceparse.labels import FASSEG6
from faceparse.metrics import scores
from faceparse.plots import plot_confusion, plot_f1_bars
from faceparse.report import build_sections, study_summary, to_html, to_markdown
from conftest import chromium

CLASSES = FASSEG6.classes  # background, skin, hair, eyes, nose, mouth

# Symmetric, so each class has FP == FN and F1 = TP / (TP + row errors):
# background 90/100 = 0.9, skin 80/100 = 0.8, hair 40/50 = 0.8, eyes 6/8, nose 12/16, mouth 12/16 = 0.75.
# mean F1 = 4.75 / 6 = 0.79167, without background 3.85 / 5 = 0.77, pixel accuracy 240 / 290 = 0.82759.
#                    bg skin hair eyes nose mouth
MAIN_CM = np.array([[90, 5, 5, 0, 0, 0],
                    [5, 80, 5, 2, 4, 4],
                    [5, 5, 40, 0, 0, 0],
                    [0, 2, 0, 6, 0, 0],
                    [0, 4, 0, 0, 12, 0],
                    [0, 4, 0, 0, 0, 12]], dtype=np.int64)  # fmt: skip
SYNTHETIC_CM = np.array([[80, 12, 8, 0, 0, 0],
                         [10, 60, 6, 8, 10, 6],
                         [9, 7, 34, 0, 0, 0],
                         [0, 3, 0, 5, 0, 0],
                         [0, 6, 0, 0, 10, 0],
                         [1, 5, 0, 0, 0, 10]], dtype=np.int64)  # fmt: skip
ADAPTER_CM = np.array([[86, 8, 6, 0, 0, 0],
                       [7, 72, 5, 4, 7, 5],
                       [6, 6, 38, 0, 0, 0],
                       [0, 2, 0, 6, 0, 0],
                       [0, 5, 0, 0, 11, 0],
                       [0, 4, 0, 0, 0, 12]], dtype=np.int64)  # fmt: skip
SPLIT = "fasseg/test"
CI95 = {"main": [0.75, 0.83], "synthetic": [0.52, 0.61], "synthetic+adapter": [0.64, 0.72]}
TRAIN_MAIN = {"n_train": 180, "n_val": 20, "init_weights": "imagenet", "steps": 1200,
              "best_epoch": 17, "val_mean_f1": 0.81234, "val_mean_f1_by_pose": {"-15": 0.77121, "0": 0.84308}}

# What build_sections makes of the folder below.
TABLES = ("Summary", "F1 per class", "Synthetic model before and after the label adapter (mean F1)", "Training",
          "Validation mean F1 per head pose (main)")
IMAGES = ("plots/evaluate/confusion_main_fasseg_test.png", "plots/evaluate/f1_main_fasseg_test.png",
          "plots/evaluate/overlays/main_fasseg_test_worst1.jpg")


def _summary(cm: np.ndarray, ci95: list[float]) -> dict:
    return {"n_images": 3, **scores(cm, CLASSES), "mean_f1_ci95": ci95}


def _overlay(path: Path) -> None:
    """Photo | truth | prediction | errors, as evaluate writes them, 32 px high."""
    truth = np.zeros((32, 24), np.uint8)
    truth[4:30, 4:20] = 1  # skin
    truth[2:8, 4:20] = 2  # hair
    truth[12:14, 7:10] = truth[12:14, 14:17] = 3  # eyes
    truth[15:20, 11:13] = 4  # nose
    truth[23:25, 9:15] = 5  # mouth
    pred = truth.copy()
    pred[23:26, 8:16] = 5  # mouth predicted a little too large
    palette = np.array(FASSEG6.palette(), np.uint8)
    photo = (np.linspace(60, 200, 24)[None, :, None] * np.ones((32, 1, 3))).astype(np.uint8)
    errors = (photo * 0.4).astype(np.uint8)
    errors[truth != pred] = (255, 0, 255)
    panel = np.concatenate([photo, palette[truth], palette[pred], errors], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(panel).save(path, quality=85)


@pytest.fixture
def metrics_dir(tmp_path: Path) -> Path:
    root = tmp_path / "metrics"
    root.mkdir()
    evaluation = {
        "main": {SPLIT: _summary(MAIN_CM, CI95["main"])},
        "synthetic": {SPLIT: _summary(SYNTHETIC_CM, CI95["synthetic"])},
        "synthetic+adapter": {SPLIT: _summary(ADAPTER_CM, CI95["synthetic+adapter"])},
    }
    (root / "evaluate.json").write_text(json.dumps(evaluation, indent=2))
    (root / "train_main.json").write_text(json.dumps(TRAIN_MAIN, indent=2))
    (root / "timings").mkdir()
    (root / "timings/train_main.json").write_text(json.dumps({"seconds": 754.0}))  # 12.6 minutes
    plot_confusion(MAIN_CM, CLASSES, root / IMAGES[0])
    plot_f1_bars(evaluation["main"][SPLIT]["f1"], root / IMAGES[1])
    _overlay(root / IMAGES[2])
    return root


def _md_table(markdown: str, title: str) -> list[dict[str, str]]:
    """The rows of the markdown table under `### title`, as {column: cell text}."""
    lines = markdown.split(f"### {title}\n", 1)[1].lstrip("\n").splitlines()
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    head, body = rows[0], rows[2:]  # rows[1] is the |---| separator
    return [dict(zip(head, r)) for r in body]


def test_markdown_has_exact_scores_and_existing_image_links(metrics_dir: Path):
    sections = build_sections(metrics_dir, {})
    md = to_markdown(sections, metrics_dir)

    assert tuple(title for kind, title, _ in sections if kind == "table") == TABLES
    summary = {(r["model"], r["split"]): r for r in _md_table(md, "Summary")}
    main = summary[("main", SPLIT)]
    assert (main["photos"], main["pixel accuracy"], main["mean F1"], main["mean F1 (no bg)"]) == (
        "3", "0.8276", "0.7917", "0.7700")
    assert main["mean F1 95% CI"] == "[0.750, 0.830]"

    per_class = {(r["model"], r["split"]): r for r in _md_table(md, "F1 per class")}
    assert {c: per_class[("main", SPLIT)][c] for c in CLASSES} == {
        "background": "0.9000", "skin": "0.8000", "hair": "0.8000", "eyes": "0.7500", "nose": "0.7500",
        "mouth": "0.7500"}
    for model, cm in (("synthetic", SYNTHETIC_CM), ("synthetic+adapter", ADAPTER_CM)):
        f1 = scores(cm, CLASSES)["f1"]
        assert {c: per_class[(model, SPLIT)][c] for c in CLASSES} == {c: f"{f1[c]:.4f}" for c in CLASSES}

    (adaptation,) = _md_table(md, TABLES[2])
    assert adaptation == {"split": SPLIT,
                          "before adaptation (label table)": f"{scores(SYNTHETIC_CM, CLASSES)['mean_f1']:.4f}",
                          "after adaptation": f"{scores(ADAPTER_CM, CLASSES)['mean_f1']:.4f}"}
    (train,) = _md_table(md, "Training")
    assert (train["model"], train["best epoch"], train["val mean F1"]) == ("main", "17", "0.8123")
    assert "minutes" not in train  # timings vary run to run: the report, an output of the study, does not
    assert _md_table(md, TABLES[4]) == [{"-15": "0.7712", "0": "0.8431"}]


def test_each_figure_has_its_title_above_and_its_caption_below(metrics_dir: Path):
    page = to_html(build_sections(metrics_dir, {}))
    figures = re.findall(r"<figure><h4>([^<]*)</h4><img [^>]*><figcaption>([^<]*)</figcaption></figure>", page)
    assert [title for title, _ in figures] == ["Confusion matrix: main on FASSEG V2 Test",
                                               "F1 per class: main on FASSEG V2 Test",
                                               "Worst FASSEG test photo of main (worst1)"]
    assert figures[0][1].startswith("Rows are the true classes")
    assert page.count("<figure>") == len(IMAGES)


def test_the_london_check_is_read_without_background_and_the_summary_holds_the_headline(metrics_dir: Path):
    evaluation = json.loads((metrics_dir / "evaluate.json").read_text())
    # The London check labels no background: its F1 there is 0 and would pull the mean down.
    check = _summary(MAIN_CM, [0.7, 0.8])
    check["f1"]["background"], check["mean_f1"] = 0.0, 0.6
    evaluation["main"]["london_check"] = check
    (metrics_dir / "evaluate.json").write_text(json.dumps(evaluation))
    (metrics_dir / "profile.json").write_text(json.dumps({"photos": 80, "faces": 80, "london": {
        "icc_L": 0.987, "icc21_L": 0.95, "icc_L_pairs": 40, "icc_ita": 0.99, "icc_ita_pairs": 40,
        "fwhr_vs_landmarks_r": 0.886, "ita_by_ethnicity": {"white": {"n_photos": 4, "mean_ita": 45.25,
                                                                     "ci95": [40.0, 50.5]}}}}))
    sections = build_sections(metrics_dir, {}, {"version": "9.9", "commit": "abc123", "date": "2026-12-06",
                                                "models": {"main.pt": "f" * 64}})
    md = to_markdown(sections, metrics_dir)
    summary = {(r["model"], r["split"]): r for r in _md_table(md, "Summary")}
    row = summary[("main", "london_check")]
    assert (row["mean F1"], row["pixel accuracy"], row["mean F1 95% CI"]) == ("0.7700", "n/a", "n/a")
    assert {(r["model"], r["split"]): r for r in _md_table(md, "F1 per class")}[("main", "london_check")][
        "background"] == "not labelled"
    assert sections[0] == ("text", "Provenance", "faceparse 9.9, code of commit abc123 (2026-12-06); model files "
                           "(sha256): main.pt ffffffffffff.")
    assert sections[1][1] == "Headline" and "mean F1 0.7917 (95% CI 0.750-0.830)" in sections[1][2]
    assert _md_table(md, "Test-retest, neutral against smiling photo") == [
        {"measure": "cheek L*", "ICC(3,1)": "0.987", "ICC(2,1)": "0.950", "people": "40"},
        {"measure": "cheek ITA", "ICC(3,1)": "0.990", "ICC(2,1)": "n/a", "people": "40"}]
    assert _md_table(md, "Cheek ITA by self-reported ethnicity (mean, 95% bootstrap CI)") == [
        {"ethnicity": "white", "photos": "4", "mean ITA": "45.2", "95% CI": "40.0 to 50.5"}]
    assert "{" not in md  # no raw JSON anywhere
    summary = study_summary(metrics_dir)
    assert summary["main"] == {"fasseg_acc": pytest.approx(240 / 290), "fasseg_f1": pytest.approx(4.75 / 6),
                               "fasseg_f1_lo": 0.75, "fasseg_f1_hi": 0.83,
                               "fasseg_iou": pytest.approx(scores(MAIN_CM, CLASSES)["mean_iou"]),
                               "london_f1": pytest.approx(0.77)}
    assert summary["instrument"] == {"icc_L": 0.987, "icc21_L": 0.95, "icc_ita": 0.99, "fwhr_vs_landmarks_r": 0.886}

    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert sorted(links) == sorted(IMAGES)
    for link in links:
        assert not Path(link).is_absolute()
        assert (metrics_dir / link).is_file()


@pytest.mark.browser
def test_html_renders_in_headless_chromium(metrics_dir: Path, tmp_path: Path):
    browser = chromium()
    page = tmp_path / "report.html"
    page.write_text(to_html(build_sections(metrics_dir, {})))
    shot = tmp_path / "shot.png"
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage",  # containers often give /dev/shm only 64 MB
           f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars", "--window-size=1200,2400",
           "--virtual-time-budget=5000",  # virtual time: the load event has fired before the dump
           f"--screenshot={shot}", "--dump-dom", page.as_uri()]
    started = time.perf_counter()
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    seconds = time.perf_counter() - started
    assert run.returncode == 0, f"chromium exited {run.returncode} after {seconds:.1f} s:\n{run.stderr[-2000:]}"

    assert shot.is_file(), f"no screenshot written; chromium said:\n{run.stderr[-2000:]}"
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.float64)
    assert pixels.shape == (2400, 1200, 3)
    non_white = (pixels.min(axis=2) < 240).mean()
    assert non_white > 0.03, f"screenshot is {non_white:.1%} non-white: the page did not render"
    assert pixels.std() > 20.0

    dom = run.stdout
    body = re.search(r"<body([^>]*)>", dom)
    assert body is not None, f"no <body> in the dumped DOM:\n{dom[:500]}"
    attrs = dict(re.findall(r'(data-[\w-]+)="(\d+)"', body.group(1)))
    assert attrs == {"data-images-loaded": str(len(IMAGES)), "data-images": str(len(IMAGES)),
                     "data-tables": str(len(TABLES))}
    assert dom.count("<table") == len(TABLES)
    assert "<td>0.7917</td>" in dom  # main's mean F1 in the summary table
    print(f"chromium rendered the report in {seconds:.1f} s")
