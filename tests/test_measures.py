"""The measure registry (`faceparse.profile.measures`): each measure writes the columns it declares,
every flag a row can carry is listed in the README, `--measures` picks columns, and the skin and
fWHR fixes of the face measures (patch margin, cheeks that disagree, the neck, fWHR out of range)."""

import math
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from faceparse.errors import FaceparseConfigError
from faceparse.profile import measures
from faceparse.profile.face import profile_face
from faceparse.profile.fwhr import fwhr_from_labels
from faceparse.profile.params import ProfileParams
from faceparse.facemap import FaceMap
from faceparse.profile.frame import face_frame
from faceparse.profile.skin import measure_skin
from faceparse.profile.view import FaceView
from conftest import ellipse_face

ROOT = Path(__file__).resolve().parents[1]
SKIN_RGB = (194, 150, 130)


def _face(shift_mouth: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`conftest.ellipse_face`: skin, hair cap and brows, two eyes 120 px apart, nose, mouth."""
    return ellipse_face(mouth_shift=shift_mouth, skin=SKIN_RGB)


def test_each_measure_writes_exactly_its_columns_flags_last():
    image, labels = _face()
    row = profile_face(image, labels)
    declared = []
    for name in measures.NAMES:
        m = measures.get(name)
        assert m.columns[-1] == f"{name}_flags" and len(set(m.columns)) == len(m.columns), name
        assert m.definition and m.flags, name
        values, _ = m.take(FaceView(image, *_framed(labels)))  # what the measure itself returns
        assert set(values) <= set(m.columns[:-1]), (name, set(values) - set(m.columns))
        declared += m.columns
    # The row: every measure's columns, then the light's, the correction's and face_flags; nothing else.
    rest = [c for c in row if c not in declared]
    assert rest == ["sclera_L", "sclera_a", "sclera_b", "sclera_n", "skin_clipped_high_share", "light_flags",
                    "chart_method", "chart_dE_mean", "chart_dE_max", "chart_x0", "chart_y0", "chart_x1", "chart_y1",
                    "colour_flags", "face_flags"], rest
    assert list(row)[: len(declared)] == declared


def _framed(labels: np.ndarray) -> tuple:
    """A FaceView's map, frame and the rest of its fields for `labels`, as `profile_face` builds them."""
    face = FaceMap.from_photo(labels)
    frame, flags = face_frame(face, None, ProfileParams())
    return face, frame, ProfileParams(), None, None, tuple(flags)


def test_measures_option_leaves_other_columns_out():
    image, labels = _face()
    only = profile_face(image, labels, params=ProfileParams(measures=("fwhr",)))
    assert "fwhr" in only and "cheeks_L" not in only and not any(c.startswith("contrast_") for c in only)
    everything = profile_face(image, labels)
    assert only["fwhr"] == everything["fwhr"]  # one measure's value does not depend on the others taken
    assert measures.parse_names("all") == measures.NAMES
    assert measures.parse_names("pose, skin") == ("pose", "skin")
    with pytest.raises(FaceparseConfigError, match="unknown measure 'ita'"):
        measures.parse_names("skin,ita")


def test_readme_lists_every_flag_and_flags_raised_are_listed():
    readme = (ROOT / "README.md").read_text()
    assert measures.flags_markdown() in readme, "README's flag list differs from measures.flags_markdown()"
    # Flags raised on broken maps are all listed (placeholders filled in).
    image, labels = _face()
    broken = []
    for drop in (3, 4, 5):  # no eyes, no nose (not_a_face), no mouth
        lab = labels.copy()
        lab[lab == drop] = 1
        broken.append(lab)
    one_eye = labels.copy()
    one_eye[:, :256][one_eye[:, :256] == 3] = 1
    above = labels.copy()
    above[above == 5] = 1
    cv2.ellipse(above, (256, 150), (45, 14), 0, 0, 360, 5, -1)
    raised = set()
    for lab in broken + [one_eye, above]:
        row = profile_face(image, lab)
        raised |= {f for k, v in row.items() if k.endswith("_flags") for f in str(v).split(";") if f}
    assert {"no_eyes", "one_eye", "not_a_face", "no_mouth", "mouth_above_eyes", "cheek_left_missing"} <= raised
    assert all(measures.is_listed(f) for f in raised), sorted(f for f in raised if not measures.is_listed(f))
    assert not measures.is_listed("made_up_flag") and measures.is_listed("unreadable: truncated JPEG")


def test_cheek_patch_keeps_its_margin_from_the_outline():
    # A face narrow on the image-left side: the cheek's centre, halfway between the nose and the
    # outline, puts a 42-px patch (0.35 x 120) within 6 px (0.05 x 120) of the outline; it moves inward.
    image, labels = _face()
    cut = labels.copy()
    cut[:, :150][cut[:, :150] == 1] = 0
    params = ProfileParams()
    p = {q.name: q for q in measure_skin(image, cut, params=params).patches}["cheek_right"]
    outline = np.flatnonzero(cut[int(p.y)] != 0).min()  # the face's first column on the patch's row
    x0 = int(round(p.x - p.size_px / 2))
    assert x0 - outline >= 0.05 * 120 - 1, (x0, outline)
    # Untouched on the full face: the patch sits where the cheek's centre puts it.
    q = {q.name: q for q in measure_skin(image, labels, params=params).patches}["cheek_right"]
    assert p.x > q.x


def test_cheeks_that_disagree_are_not_pooled():
    image, labels = _face()
    image[:, 256:][labels[:, 256:] == 1] = (60, 40, 35)  # the image-right cheek (the subject's left) in shadow
    s = measure_skin(image, labels)
    left, right = ({p.name: p for p in s.patches}[n].lab for n in ("cheek_left", "cheek_right"))
    assert math.dist(left, right) > 10 and "cheeks_disagree" in s.flags
    assert all(math.isnan(v) for v in s.cheeks_lab) and math.isnan(s.cheeks_ita)
    calm = measure_skin(*_face())
    assert "cheeks_disagree" not in calm.flags and not math.isnan(calm.cheeks_lab[0])


def test_fwhr_out_of_range_is_left_empty_and_the_width_method_is_a_column():
    image, labels = _face()
    ok = fwhr_from_labels(labels)
    assert not math.isnan(ok.fwhr) and ok.width_method == "outline_median"
    # The mouth 60 px lower: the height grows and fWHR falls below the range given.
    _, low = _face(shift_mouth=60)
    narrow = fwhr_from_labels(low, params=ProfileParams(fwhr_range=(ok.fwhr * 0.99, 2.8)))
    assert math.isnan(narrow.fwhr) and math.isnan(narrow.width_px) and "fwhr_out_of_range" in narrow.flags
    assert re.fullmatch(r"outline_median|ear_notch(_left|_right)?", narrow.width_method)


def test_a_map_with_the_mouth_above_the_eyes_gives_no_feature_colour_or_contrast():
    # As on a photo on its side: the map's mouth lies above its eye line. Its features are not read.
    image, labels = _face()
    labels[labels == 5] = 1
    cv2.ellipse(labels, (256, 150), (45, 14), 0, 0, 360, 5, -1)
    row = profile_face(image, labels)
    for name in ("contrast", "features"):
        assert row[f"{name}_flags"] == "mouth_above_eyes", name
    assert all(math.isnan(row[c]) for c in ("contrast_eyes_L", "contrast_lips_L", "lips_L", "eyes_L", "brows_L"))
    good = profile_face(*_face())
    assert not math.isnan(good["contrast_eyes_L"]) and not math.isnan(good["lips_L"])


def test_a_masks_pixels_read_on_its_box_are_the_whole_windows():
    """`FaceView.pixels` works on the box that holds the mask: the same pixels in the same order as
    the whole window's, for masks that touch the window's edges."""
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    labels = np.zeros((200, 250), np.uint8)
    face = FaceMap(labels, None, 60, 40, image.shape[:2])
    view = FaceView(image, face, None)
    window = image[40:240, 60:310]
    for mask in (rng.random((200, 250)) < 0.01,                      # scattered over the window
                 np.pad(np.ones((30, 50), bool), ((0, 170), (200, 0))),  # in its top-right corner
                 np.zeros((200, 250), bool), np.ones((200, 250), bool)):
        assert np.array_equal(view.pixels(mask), window[mask])


def _placed_on_the_whole_map(face, x, y, size, margin, towards):
    """Where a square keeps `margin` from the outline, by the whole map's distances to the outside
    (beyond the map's edge outside), trying each column from `x` towards `towards`."""
    distance = cv2.distanceTransform(np.pad(face, 1).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    r0 = int(round(y - size / 2))
    if r0 < 0 or r0 + size > face.shape[0]:
        return None
    start, stop = int(round(x - size / 2)), int(round(towards - size / 2))
    step = 1 if stop >= start else -1
    for c0 in range(start, stop + step, step):
        if 0 <= c0 <= face.shape[1] - size and distance[r0:r0 + size, c0:c0 + size].min() >= margin:
            return x if c0 == start else c0 + size / 2
    return None


def test_a_patch_is_placed_as_the_whole_maps_distances_place_it():
    """`skin._inside_outline` reads the distances to the outline on the squares' reach only: it places
    every square where the whole map's distances do, on outlines that touch the map's edges and on a
    face's, for margins of none to a third of the square, squares that start off the map, fit where
    placed, move, or fit nowhere."""
    from faceparse.profile.skin import _inside_outline

    rng = np.random.default_rng(5)
    _, labels = ellipse_face()
    outlines = [face_frame(labels, None, ProfileParams())[0].filled]
    for _ in range(12):
        h, w = rng.integers(20, 90, 2)
        rows, cols = np.mgrid[:h, :w]
        face = np.zeros((h, w), bool)
        for _ in range(3):  # overlapping ellipses, some cut by the map's edges
            cy, cx, ry, rx = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(3, h), rng.uniform(3, w)
            face |= ((rows - cy) / ry) ** 2 + ((cols - cx) / rx) ** 2 < 1
        outlines.append(face)
    kinds = set()
    for face in outlines:
        for outline in (face, face.T):
            h, w = outline.shape
            for _ in range(40):
                size = int(rng.integers(1, max(2, w // 2)))
                x, y, towards = rng.uniform(-10, w + 10), rng.uniform(-10, h + 10), rng.uniform(-10, w + 10)
                margin = float(rng.choice([0.0, 1.0, np.sqrt(2), rng.uniform(0, size / 3 + 1)]))
                placed = _inside_outline(outline, x, y, size, margin, towards)
                assert placed == _placed_on_the_whole_map(outline, x, y, size, margin, towards), (size, x, y, margin)
                kinds.add("none" if placed is None else "stays" if placed == x else "moved")
    assert kinds == {"none", "stays", "moved"}


def test_the_filled_face_is_the_face_and_every_region_that_does_not_reach_the_maps_border():
    """`frame.filled_face` against the definition, by scipy's labelling: the face classes, and every
    4-connected region of other pixels that touches no edge of the map (a brow, a mole, the lips'
    opening), on random maps, blocky ones and a face's; none is filled on a map of one class."""
    from scipy import ndimage

    from faceparse.profile.frame import FACE_CLASSES, filled_face

    rng = np.random.default_rng(11)
    _, labels = ellipse_face()
    maps = [labels, np.zeros((5, 7), np.uint8), np.ones((1, 9), np.uint8), np.full((6, 4), 255, np.uint8)]
    for _ in range(60):
        h, w = rng.integers(1, 40, 2)
        blocky = rng.integers(0, 6, (h, w)).astype(np.uint8)
        maps += [blocky, np.kron(blocky, np.ones((3, 2), np.uint8))]
    holes_seen = 0
    for labels in maps:
        face = np.isin(labels, FACE_CLASSES)
        regions, n = ndimage.label(~face)  # 4-connected by default
        edge = np.unique(np.concatenate([regions[0], regions[-1], regions[:, 0], regions[:, -1]]))
        holes = ~face & ~np.isin(regions, edge)
        holes_seen += int(holes.any())
        assert np.array_equal(filled_face(labels), face | holes)
    assert holes_seen > 20


def test_masks_warped_together_are_the_masks_warped_one_by_one():
    """`FaceView.window_masks` packs up to eight frame masks into the bits of one warp: each comes
    back as its own warp gives it, on a turned face (a frame at an angle to the photo)."""
    image, labels = ellipse_face()
    turned = cv2.warpAffine(labels, cv2.getRotationMatrix2D((256, 270), 17, 1.0), (512, 512), flags=cv2.INTER_NEAREST)
    view = FaceView(image, *_framed(turned))
    rng = np.random.default_rng(3)
    shape = view.frame.labels.shape
    masks = [rng.random(shape) < p for p in (0.001, 0.01, 0.1, 0.5, 0.9, 0.99, 0.999)] + [np.ones(shape, bool)]
    for n in (1, 2, 3, 8):
        together = view.window_masks(masks[:n])
        assert len(together) == n
        for one, mask in zip(together, masks):
            assert one.dtype == bool and np.array_equal(one, view.window_mask(mask))
    # Masks of other types: any nonzero value is in the mask, and no value reaches another's bit.
    twos, halves = masks[3].astype(np.uint8) * 2, masks[2] * 0.5
    assert [np.array_equal(a, view.window_mask(b)) for a, b in
            zip(view.window_masks([twos, halves, masks[0]]), masks[3:1:-1] + masks[:1])] == [True] * 3
    assert view.window_masks(masks)[-1].sum() > 0.3 * view.face.labels.size  # the frame covers the face
    with pytest.raises(ValueError, match="1 to 8"):
        view.window_masks(masks + masks[:1])


def test_blobs_found_on_the_masks_box_are_opencvs_on_the_whole_mask():
    """`frame.blobs` labels the mask's box only: the same components, in the same order (blobs of
    equal area too, on boxes starting at odd rows and columns), with OpenCV's boxes, areas and
    centroids on the whole mask to the last bit."""
    from faceparse.profile.frame import blobs

    rng = np.random.default_rng(5)
    ties = np.zeros((10, 10), bool)
    ties[2, 0] = ties[1, 5] = True  # two one-pixel blobs; the box starts on row 1
    masks = [rng.random((300, 420)) < 0.02,                                   # many small blobs
             np.pad(rng.random((40, 60)) < 0.6, ((250, 10), (355, 5))),       # near a corner
             np.pad(np.ones((7, 9), bool), ((0, 293), (411, 0))),             # on two edges
             np.zeros((300, 420), bool), ties]
    for top, left in ((1, 0), (0, 1), (1, 1), (3, 5)):  # sparse blobs, many of one pixel, at odd offsets
        masks.append(np.pad(rng.random((30, 40)) < 0.08, ((top, 2), (left, 3))))
    image, labels = ellipse_face()
    masks += [labels == c for c in np.unique(labels)]
    for mask in masks:
        _, _, stats, cents = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
        whole = sorted(((int(s[4]), int(s[1]), int(s[1] + s[3] - 1), int(s[0]), int(s[0] + s[2] - 1),
                         float(c[0]), float(c[1])) for s, c in zip(stats[1:], cents[1:])),
                       key=lambda b: -b[0])
        found = [(b.area, b.top, b.bottom, b.left, b.right, b.cx, b.cy) for b in blobs(mask)]
        assert found == whole  # exact equality, centroids included
        assert all(type(v) is int for b in found for v in b[:5])


def test_the_clipping_tables_and_lab_f_give_the_plain_formulas():
    """The lookup-table clipping test, the light's clipped share and `lab_f` computed where each branch
    applies equal the plain per-pixel formulas."""
    from faceparse.profile.colour import LAB_EPSILON, LAB_KAPPA, lab_f
    from faceparse.profile.frame import SKIN
    from faceparse.profile.light import measure_light

    rng = np.random.default_rng(7)
    params = ProfileParams()
    image = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    labels = rng.integers(0, 6, (100, 150)).astype(np.uint8)
    face = FaceMap(labels, None, 5, 10, image.shape[:2])
    view = FaceView(image, face, None)
    pix = image.reshape(-1, 3)
    plain = ((pix > params.clip_low) & (pix < params.clip_high)).all(axis=1)
    assert np.array_equal(view.unclipped(pix), plain) and 0 < plain.mean() < 1
    skin = image[10:110, 5:155][labels == SKIN]
    share = float((skin >= params.clip_high).any(axis=1).mean())
    assert measure_light(image, face, params).skin_clipped_share == share > 0
    t = np.concatenate([rng.random(1000), rng.random(1000) * 2 * LAB_EPSILON, [0.0, LAB_EPSILON]])
    assert np.array_equal(lab_f(t), np.where(t > LAB_EPSILON, np.cbrt(t), (LAB_KAPPA * t + 16.0) / 116.0))
    assert lab_f(0.001) == (LAB_KAPPA * 0.001 + 16.0) / 116.0 and lab_f(0.5) == np.cbrt(0.5)
