"""The London check set: FRL templates filled into fasseg6 label maps, on a hand-made template whose
regions are known and on the real London templates, and read back by the `folder` reader."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from faceparse.datasets import get_reader
from faceparse.errors import FaceparseDataError
from faceparse.labels import IGNORE, get_label_set
from faceparse.london_check import (FRL_BROWS, FRL_EYES, FRL_FACE, FRL_LIP_OPENING, FRL_LIPS, FRL_NOSE,
                                    build_london_check, rasterise_frl)
from faceparse.profile import read_tem

F = get_label_set("fasseg6")
SKIN, HAIR, EYES, NOSE, MOUTH = (F.index(c) for c in ("skin", "hair", "eyes", "nose", "mouth"))


def _along(points: np.ndarray, indices: tuple[int, ...], corners: list[tuple[float, float]]) -> None:
    """Put `points[indices]` in order along the polyline through `corners`, evenly by arc length."""
    c = np.asarray(corners, np.float64)
    seg = np.hypot(*np.diff(c, axis=0).T)
    at = np.linspace(0, seg.sum(), len(indices))
    cum = np.concatenate([[0], np.cumsum(seg)])
    for i, s in zip(indices, at):
        k = min(np.searchsorted(cum, s, side="right") - 1, len(seg) - 1)
        t = (s - cum[k]) / seg[k]
        points[i] = c[k] + t * (c[k + 1] - c[k])


def _synthetic() -> np.ndarray:
    """A 189-point template on a 200 x 200 photo drawn as rectangles: face x 20..180 y 20..190,
    brows y 45..55 (x 40..80 and 120..160), eyes y 65..75 (x 45..75 and 125..155), nose x 90..110
    y 70..120, lips x 70..130 y 140..160 with an opening about y 148..152 at the middle."""
    p = np.full((189, 2), 100.0)
    p[0], p[1] = (60, 70), (140, 70)                                     # pupils: a level eye line
    _along(p, FRL_FACE, [(20, 20), (20, 190), (180, 190), (180, 20), (20, 20)])
    for brow, (x0, x1) in zip(FRL_BROWS, [(40, 80), (120, 160)]):
        _along(p, brow[:6], [(x0, 45), (x1, 45)])                         # top edge
        _along(p, brow[6:], [(x1, 55), (x0, 55)])                         # lower edge, back
    for eye, (x0, x1) in zip(FRL_EYES, [(45, 75), (125, 155)]):
        _along(p, eye[:5], [(x0, 65), (x1, 65)])                          # upper lid
        _along(p, eye[5:], [(x1, 75), (x0, 75)])                          # lower lid, back
    _along(p, FRL_NOSE[:8], [(90, 70), (90, 120)])                        # 50..64 down the image-left side
    p[55] = (100, 120)
    _along(p, FRL_NOSE[9:], [(110, 120), (110, 70)])                      # 69..56 up the image-right side
    _along(p, FRL_LIPS[:7], [(70, 140), (130, 140)])                      # 87, upper lip 88-92, 93
    _along(p, FRL_LIPS[7:], [(130, 160), (70, 160)])                      # lower lip 108..104
    _along(p, FRL_LIP_OPENING[1:6], [(76, 148), (124, 148)])              # upper lip's lower edge
    _along(p, FRL_LIP_OPENING[7:], [(124, 152), (76, 152)])               # lower lip's upper edge
    return p


def test_synthetic_template_fills_the_known_regions():
    labels = rasterise_frl(_synthetic(), (200, 200))
    assert labels.shape == (200, 200) and labels.dtype == np.uint8
    expected = {(100, 5): IGNORE, (195, 195): IGNORE,      # outside the face outline
                (100, 30): IGNORE, (25, 40): IGNORE,        # forehead above the brows' top line
                (30, 100): SKIN, (100, 175): SKIN, (100, 60): SKIN,
                (60, 50): HAIR, (140, 50): HAIR,
                (60, 70): EYES, (140, 70): EYES,
                (100, 95): NOSE, (95, 118): NOSE,
                (100, 143): MOUTH, (100, 157): MOUTH, (73, 157): MOUTH,
                (100, 150): IGNORE}                           # the lip opening
    for (x, y), value in expected.items():
        assert labels[y, x] == value, (x, y)
    # A 2-px ignore band on both sides of every boundary: the eye's top edge is row 65.
    assert labels[62, 60] == SKIN and labels[63, 60] == IGNORE and labels[66, 60] == IGNORE
    assert labels[67, 60] == EYES
    assert labels[100, 21] == IGNORE and labels[100, 22] == SKIN  # face edge at x = 20
    assert set(np.unique(labels)) == {SKIN, HAIR, EYES, NOSE, MOUTH, IGNORE}  # no background: not known


def test_synthetic_template_options():
    p = _synthetic()
    assert rasterise_frl(p, (200, 200), hairline=True)[30, 100] == SKIN  # forehead up to the hairline
    unbanded = rasterise_frl(p, (200, 200), band=0)
    assert unbanded[65, 60] == EYES and unbanded[64, 60] == SKIN and unbanded[20, 100] == IGNORE
    with pytest.raises(ValueError, match="189"):
        rasterise_frl(p[:100], (200, 200))


def test_template_without_189_points_is_refused(tmp_path):
    folder = tmp_path / "london" / "neutral_front"
    folder.mkdir(parents=True)
    cv2.imwrite(str(folder / "001_03.jpg"), np.zeros((20, 20, 3), np.uint8))
    (folder / "001_03.tem").write_text("2\n1\t2\n3\t4\n")
    with pytest.raises(FaceparseDataError, match="001_03.tem"):
        build_london_check(tmp_path / "london", tmp_path / "out")


@pytest.fixture(scope="module")
def built(mirror, tmp_path_factory):
    out = tmp_path_factory.mktemp("london_check")
    return mirror / "london_faces", out, build_london_check(mirror / "london_faces", out)


def test_real_template_regions_sit_on_the_face(built):
    london, out, _ = built
    labels = cv2.imread(str(out / "masks" / "neutral_001_03.png"), cv2.IMREAD_UNCHANGED)
    photo = cv2.imread(str(london / "neutral_front" / "001_03.jpg"))
    assert labels.shape == photo.shape[:2]
    share = {c: float((labels == c).mean()) for c in (SKIN, HAIR, EYES, NOSE, MOUTH)}
    assert 0.03 < share[SKIN] < 0.30 and 0.001 < share[HAIR] < 0.02  # the face fills ~1/6 of the frame
    assert 0.002 < share[NOSE] < 0.03 and 0.002 < share[MOUTH] < 0.03
    n, parts, stats, centres = cv2.connectedComponentsWithStats((labels == EYES).astype(np.uint8))
    assert n == 3  # background + two eyes
    for area in stats[1:, cv2.CC_STAT_AREA]:
        assert 0.0005 < area / labels.size < 0.02  # 001: 0.11% and 0.12% of the photo
    ys, xs = np.nonzero(labels == NOSE)
    nose_x, nose_y = xs.mean(), ys.mean()
    assert min(centres[1:, 0]) < nose_x < max(centres[1:, 0])      # the eyes either side of the nose
    assert (centres[1:, 1] < nose_y).all()                         # and above its middle
    assert np.nonzero(labels == MOUTH)[0].mean() > ys.max()        # the mouth below the nose
    pupils = read_tem(london / "neutral_front" / "001_03.tem")[:2].round().astype(int)
    for x, y in pupils:
        assert labels[y, x] == EYES


def test_folder_reader_reads_the_built_set(built):
    london, out, count = built
    assert count == len(list(london.glob("*/*.tem"))) > 0
    reader = get_reader("folder", vocabulary="fasseg6")
    samples = reader.samples(out)
    assert len(samples) == count
    for s in samples:
        expression, stem = s.id.split("_", 1)
        tem = london / f"{expression}_front" / f"{stem}.tem"
        assert s.image.read_bytes() == tem.with_suffix(".jpg").read_bytes()
        labels, info = reader.read_mask(s)
        assert info == {}  # same size as the photo, nothing resampled
        assert np.array_equal(labels, rasterise_frl(read_tem(tem), labels.shape))
