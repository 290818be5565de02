"""The review page of a profile run: tiles drawn where the CSV says each face was measured, and the
page, opened in headless Chromium, holding one tile per CSV row with each face's flags."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from faceparse.cli import main
from faceparse.facemap import FaceMap
from faceparse.profile import profile_face
from faceparse.resume import write_rows
from faceparse.review import ReviewWriter, read_csv_rows
from faceparse.review_page import review_html, sort_order
from faceparse.review_tile import PATCH_COLOURS, TILE, draw_tile, tile_view
from conftest import chromium

SKIN_RGB = (200, 150, 130)
PAINT = (0, 40, 250)  # far from skin in every channel
LONDON = ("001_03.jpg", "003_03.jpg", "008_03.jpg")


def _photo_with_face(x0: int = 250, y0: int = 180) -> tuple[np.ndarray, np.ndarray]:
    """A 900 x 1100 photo with a drawn face (fasseg6 classes) in a 512-pixel square whose top-left
    corner is at (x0, y0): skin ellipse, hair cap, brows, eyes, nose and mouth, so every measure is
    placed."""
    labels = np.zeros((512, 512), np.uint8)
    cv2.ellipse(labels, (256, 270), (150, 200), 0, 0, 360, 1, -1)
    labels[:110][labels[:110] == 1] = 2
    for x in (196, 316):
        cv2.ellipse(labels, (x, 188), (30, 6), 0, 0, 360, 2, -1)
        cv2.ellipse(labels, (x, 220), (22, 10), 0, 0, 360, 3, -1)
    cv2.ellipse(labels, (256, 290), (22, 45), 0, 0, 360, 4, -1)
    cv2.ellipse(labels, (256, 370), (45, 14), 0, 0, 360, 5, -1)
    whole = np.zeros((900, 1100), np.uint8)
    whole[y0:y0 + 512, x0:x0 + 512] = labels
    image = np.full((900, 1100, 3), 90, np.uint8)
    image[whole == 1] = SKIN_RGB
    image[whole == 3] = (240, 240, 240)
    return image, whole


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    assert xs.size, "nothing found"
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


@pytest.mark.parametrize("corner", [(250, 180), (0, 388)], ids=["inside", "beyond_the_photo"])
def test_a_patch_square_is_drawn_on_the_csv_centre_and_size(tmp_path, corner):
    image, whole = _photo_with_face(*corner)
    face = FaceMap.from_photo(whole)
    measured = {"photo": "face.png", "face_index": 0, **profile_face(image, face)}
    write_rows(tmp_path / "profile.csv", [measured])
    row = read_csv_rows(tmp_path / "profile.csv")[0]  # as the CSV holds it: strings
    # Without the patches and lines drawn, the tile is the photo and the map's outlines only.
    bare = dict(row, **{k: "" for k in row if k.startswith(("cheek_", "forehead_", "fwhr_"))
                        and k.endswith(("_x", "_y", "_x0", "_y0", "_x1", "_y1"))})
    assert tile_view(face, bare) == tile_view(face, row)  # the same square of the photo either way
    view = tile_view(face, row)
    beyond = view.left < 0 or view.top + view.side > image.shape[0]
    assert beyond == (corner == (0, 388))
    plain = draw_tile(image, face, bare)
    drawn = draw_tile(image, face, row)
    assert drawn.shape == (TILE, TILE, 3) and drawn.dtype == np.uint8
    for name, colour in PATCH_COLOURS.items():
        x, y, size = float(row[f"{name}_x"]), float(row[f"{name}_y"]), int(row[f"{name}_size_px"])
        assert size == 42  # round(0.35 x the 120 px between the eyes)
        x0, y0 = round(x - size / 2), round(y - size / 2)
        # Where the patch's photo pixels land on the tile, found without the drawing code: paint them
        # and see which tile pixels are more than half paint.
        painted = image.copy()
        painted[y0:y0 + size, x0:x0 + size] = PAINT
        share = np.abs(draw_tile(painted, face, bare).astype(float) - plain)[..., 2] / abs(PAINT[2] - SKIN_RGB[2])
        expected = _bbox(share > 0.5)
        outline = (drawn == colour).all(axis=-1)
        assert _bbox(outline) == expected, name
        # The same square from the CSV's numbers by hand: photo pixel edge X lands on the tile at
        # (X - left) x TILE / side.
        s = TILE / view.side
        by_hand = (round((x0 - view.left) * s), round((y0 - view.top) * s),
                   round((x0 + size - view.left) * s) - 1, round((y0 + size - view.top) * s) - 1)
        assert _bbox(outline) == by_hand, name
        u0, v0, u1, v1 = by_hand
        assert u1 - u0 + 1 == pytest.approx(size * s, abs=1) and v1 - v0 + 1 == pytest.approx(size * s, abs=1)
        # A hollow square, two pixels wide, all round.
        assert outline[v0:v1 + 1, u0:u0 + 2].all() and outline[v0:v1 + 1, u1 - 1:u1 + 1].all()
        assert outline[v0:v0 + 2, u0:u1 + 1].all() and outline[v1 - 1:v1 + 1, u0:u1 + 1].all()
        assert not outline[v0 + 2:v1 - 1, u0 + 2:u1 - 1].any()
    # The fWHR height line runs down the midline (x 256 in the face's square) from the brows' lower
    # edge to the mouth's top row (370 - 14).
    mid_x = corner[0] + 256
    assert float(row["fwhr_top_x"]) == pytest.approx(mid_x)
    assert float(row["fwhr_bottom_y"]) == pytest.approx(corner[1] + 356)
    mid_u = (mid_x - view.left + 0.5) * TILE / view.side - 0.5
    v_top, v_bottom = ((float(row[k]) - view.top + 0.5) * TILE / view.side - 0.5
                       for k in ("fwhr_top_y", "fwhr_bottom_y"))
    column = drawn[int(round(v_top)) + 6:int(round(v_bottom)) - 5, int(round(mid_u))]
    assert (column.min(axis=-1) > 200).mean() > 0.9  # white along the line (the nose's outline crosses it)


def test_missing_coordinates_draw_nothing():
    image, whole = _photo_with_face()
    face = FaceMap.from_photo(whole)
    row = {"photo": "face.png", "face_index": 0, "cheek_left_x": math.nan, "cheek_left_y": 300.0,
           "cheek_left_size_px": 42, "forehead_x": "", "forehead_y": "", "forehead_size_px": ""}
    tile = draw_tile(image, face, row)
    for colour in PATCH_COLOURS.values():
        assert not (tile == colour).all(axis=-1).any()


def test_the_page_sorts_least_confident_first_and_counts_rows():
    rows = [{"photo": "a/1.jpg", "face_index": 0, "n_faces": 1, "flags": "",
             "cheek_left_confidence": 0.9, "cheek_right_confidence": 0.8, "forehead_confidence": 1.0},
            {"photo": "a/2.jpg", "face_index": -1, "n_faces": 0, "flags": "no_face"},
            {"photo": "a/3.jpg", "face_index": 0, "n_faces": 1, "flags": "greyscale;cheek_left_small",
             "cheek_left_confidence": 0.5, "cheek_right_confidence": "", "forehead_confidence": 0.7}]
    # Means 0.9, none, 0.6: the missing one counts as the lowest.
    assert sort_order([0.9, math.nan, 0.6]) == [1, 2, 0]
    assert sort_order([0.9, math.nan, 0.6], descending=True) == [0, 2, 1]
    page = review_html(rows, ["tiles/0_0.jpg", None, "tiles/2_0.jpg"])
    order = re.findall(r'<figure class="tile[^"]*" data-i="(\d)"', page)
    assert order == ["1", "2", "0"]
    assert 'data-tiles="3" data-faces="2" data-drawn="2"' in page
    assert '<option value="greyscale">greyscale (1)</option>' in page
    assert "patch confidence 0.600" in page and "http" not in page.replace("http-equiv", "")


def test_a_tile_name_given_to_another_photo_is_no_longer_that_photos_tile(tmp_path):
    image, whole = _photo_with_face()
    face = FaceMap.from_photo(whole)
    a, b = str(tmp_path / "a.jpg"), str(tmp_path / "b.jpg")
    measured = profile_face(image, face)
    rows = [{"photo": photo, "face_index": 0, "n_faces": 1, **measured} for photo in (a, b)]
    first = ReviewWriter(tmp_path / "review", [a, b], {"model": "m"})
    assert [first.add(image, face, r) for r in rows] == ["tiles/0_0.jpg", "tiles/1_0.jpg"]
    # The same run continued with the photos given the other way round: b is drawn again, as 0_0.
    again = ReviewWriter(tmp_path / "review", [b, a], {"model": "m"})
    assert again.add(image, face, rows[1]) == "tiles/0_0.jpg"
    page = again.finish(rows).read_text()
    assert 'data-tiles="2" data-faces="2" data-drawn="1"' in page
    assert re.search(r'data-photo="[^"]*/b.jpg"[^>]*><img src="tiles/0_0.jpg"', page)
    # Another run (another model) forgets every tile drawn before and removes its files.
    other = ReviewWriter(tmp_path / "review", [a, b], {"model": "n"})
    assert 'data-drawn="0"' in other.finish(rows).read_text()
    assert not list((tmp_path / "review/tiles").iterdir())


def _london_folder(mirror: Path, dest: Path) -> list[Path]:
    """Three London photos and a greyscale copy of the first, in one folder."""
    dest.mkdir()
    for name in LONDON:
        shutil.copy(mirror / "london_faces/neutral_front" / name, dest / name)
    Image.open(dest / LONDON[0]).convert("L").save(dest / "grey_001_03.png")
    return sorted(dest.iterdir())


@pytest.mark.browser
def test_the_review_page_shows_a_tile_per_csv_row_and_each_flag(model, mirror, tmp_path, monkeypatch):
    browser = chromium()
    # The tests' tiny model paints no nose: the not_a_face gate (tests/test_no_person.py) would leave
    # every row unmeasured and unflagged. This test is about the page, so every face is measured.
    monkeypatch.setattr("faceparse.profile.face.is_not_a_face", lambda face, params: False)
    photos = _london_folder(mirror, tmp_path / "photos")
    csv_path, review = tmp_path / "profile.csv", tmp_path / "review"
    assert main(["profile", "--model", str(model), "--no-tta", "--threads", "2", str(tmp_path / "photos"),
                 "--out", str(csv_path), "--review", str(review)]) == 0
    rows = read_csv_rows(csv_path)
    faces = [r for r in rows if int(r["face_index"]) >= 0]
    assert len(rows) == 4 and len(faces) >= 4  # YuNet finds each face, the greyscale one too
    grey = next(r for r in rows if r["photo"].endswith("grey_001_03.png"))
    assert "greyscale" in grey["flags"].split(";")
    # Tiles are named by the photo's place in the run, whichever measuring thread finished first.
    manifest = [json.loads(line) for line in (review / "tiles.jsonl").read_text().splitlines()[1:]]
    assert sorted((t, p) for t, p, _ in manifest) == [(f"tiles/{i}_0.jpg", str(p.resolve())) for i, p in
                                                     enumerate(photos)]

    shot = tmp_path / "shot.png"
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'chrome'}", "--hide-scrollbars",
           "--window-size=1400,1200", "--virtual-time-budget=5000", f"--screenshot={shot}", "--dump-dom",
           (review / "index.html").as_uri()]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    dom = run.stdout
    tiles = re.findall(r'<figure class="tile( face)?"[^>]*>.*?</figure>', dom, flags=re.S)
    assert len(tiles) == len(rows)
    assert len(re.findall(r'<figure class="tile face"', dom)) == len(faces)
    assert re.search(r'<body[^>]*data-shown="4"', dom)  # the script ran and kept every row in view
    images = re.findall(r'<img src="([^"]+)"', dom)
    assert len(images) == len(faces) and all((review / src).is_file() for src in images)
    grey_tile = re.search(r'<figure class="tile face"[^>]*data-photo="[^"]*grey_001_03.png".*?</figure>', dom, re.S)
    assert grey_tile is not None and '<span class="flag">greyscale</span>' in grey_tile.group(0)
    colour_tile = re.search(r'<figure class="tile face"[^>]*data-photo="[^"]*/001_03.jpg".*?</figure>', dom, re.S)
    assert colour_tile is not None and "greyscale" not in colour_tile.group(0)
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.float64)
    assert (pixels.min(axis=2) < 200).mean() > 0.1  # the photos are on the screen, not a blank page

    # The flag filter, chosen in the page's address: only the greyscale face stays in view.
    cmd[-1] = (review / "index.html").as_uri() + "#filter=greyscale&sort=fwhr&dir=desc"
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    shown = [t for t in re.findall(r'<figure class="tile[^"]*"[^>]*>', run.stdout) if " hidden" not in t]
    assert re.search(r'<body[^>]*data-shown="1"', run.stdout)
    assert len(shown) == 1 and "grey_001_03.png" in shown[0]


def test_a_continued_run_keeps_earlier_tiles_and_says_which_faces_have_none(model, mirror, tmp_path):
    photos = _london_folder(mirror, tmp_path / "photos")[:3]
    csv_path, review = tmp_path / "profile.csv", tmp_path / "review"
    base = ["profile", "--model", str(model), "--no-tta", "--out", str(csv_path)]
    assert main([*base, str(photos[0])]) == 0  # no review
    assert main([*base, *map(str, photos[:2]), "--review", str(review)]) == 0  # continues: draws photo 2
    page = (review / "index.html").read_text()
    assert 'data-tiles="2" data-faces="2" data-drawn="1"' in page and "no tile: measured by an earlier run" in page
    first = (review / "tiles/1_0.jpg").stat().st_mtime_ns
    assert main([*base, *map(str, photos), "--review", str(review)]) == 0  # continues: draws photo 3 only
    assert 'data-drawn="2"' in (review / "index.html").read_text()
    assert (review / "tiles/1_0.jpg").stat().st_mtime_ns == first
    assert main([*base, *map(str, photos), "--review", str(review), "--restart"]) == 0
    assert 'data-tiles="3" data-faces="3" data-drawn="3"' in (review / "index.html").read_text()


def test_review_is_refused_with_the_ray_engine(tmp_path, capsys):
    assert main(["profile", "--engine", "ray", "--model", str(tmp_path / "none.pt"), str(tmp_path),
                 "--out", str(tmp_path / "p.csv"), "--review", str(tmp_path / "r")]) != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--review" in err and "--engine local" in err
