"""Label sets, flips and mapping tables, checked on small label maps worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

import faceparse.datasets  # noqa: F401  (registers the mapping tables between label sets)
from faceparse.labels import IGNORE, LABEL_SETS, MAPPINGS, convert, flip_labels, get_label_set, mapping_matrix

SIDED = sorted(name for name, ls in LABEL_SETS.items() if ls.flip_pairs)


def test_every_real_photo_vocabulary_is_registered_with_its_side():
    sides = {name: LABEL_SETS[name].side for name in ("helen11", "lapa11", "ibugmask11", "celebamask19", "mut1ny11")}
    assert sides == {"helen11": "image", "lapa11": "image", "ibugmask11": "image", "celebamask19": "image",
                     "mut1ny11": "none"}
    assert set(SIDED) >= {"facesynthetics19", "helen11", "lapa11", "ibugmask11", "celebamask19"}


@pytest.mark.parametrize("name", SIDED)
def test_flip_moves_each_sided_class_to_the_other_side_and_relabels_it(name):
    ls = get_label_set(name)
    sided = {c for pair in ls.flip_pairs for c in pair}
    plain = next(i for i, c in enumerate(ls.classes) if c not in sided and i != 0)
    for a, b in ls.flip_pairs:
        ia, ib = ls.index(a), ls.index(b)
        mask = np.zeros((4, 6), np.uint8)
        mask[1:3, 0] = ia      # class a in the leftmost column
        mask[0, 1] = plain     # an unsided class, second column
        mask[3, 5] = IGNORE    # ignored pixel, rightmost column
        flipped = flip_labels(mask, name)
        expected = np.zeros((4, 6), np.uint8)
        expected[1:3, 5] = ib  # now in the rightmost column, and called b
        expected[0, 4] = plain
        expected[3, 0] = IGNORE
        np.testing.assert_array_equal(flipped, expected)
        assert not (flipped == ia).any()
        np.testing.assert_array_equal(flip_labels(flipped, name), mask)


@pytest.mark.parametrize("name", SIDED)
def test_flipping_twice_is_identity_on_every_class(name):
    ls = get_label_set(name)
    rng = np.random.default_rng(0)
    values = np.append(np.arange(ls.num_classes), IGNORE).astype(np.uint8)
    mask = rng.choice(values, size=(9, 11))
    np.testing.assert_array_equal(flip_labels(flip_labels(mask, name), name), mask)
    # Pixel counts swap between the two classes of each pair and stay put for every other class.
    before = np.bincount(mask.ravel(), minlength=256)
    after = np.bincount(flip_labels(mask, name).ravel(), minlength=256)
    perm = ls.flip_permutation
    assert all(after[perm[i]] == before[i] for i in range(ls.num_classes))


# --- which physical side a sided class is on ----------------------------------------------------

def named_side(class_name: str) -> str:
    if class_name.startswith(("left", "l_")):
        return "L"
    if class_name.startswith(("right", "r_")):
        return "R"
    raise AssertionError(class_name)


def image_side(label_set: str, class_name: str) -> str | None:
    """'L' or 'R' half of a frontal photo the class lies in, None for an unsided class."""
    ls = get_label_set(label_set)
    if class_name not in {c for pair in ls.flip_pairs for c in pair}:
        return None
    side = named_side(class_name)
    return side if ls.side == "image" else {"L": "R", "R": "L"}[side]


@pytest.mark.parametrize("source,target", sorted(MAPPINGS))
def test_mapping_tables_keep_every_sided_class_on_its_physical_side(source, target):
    for name, goes_to in MAPPINGS[(source, target)].items():
        if goes_to is None:
            continue
        src_side, dst_side = image_side(source, name), image_side(target, goes_to)
        if dst_side is not None:
            assert src_side == dst_side, f"{source}.{name} -> {target}.{goes_to}"


@pytest.mark.parametrize("source,target", sorted(MAPPINGS))
def test_mapping_commutes_with_flipping(source, target):
    rng = np.random.default_rng(1)
    values = np.append(np.arange(get_label_set(source).num_classes), IGNORE).astype(np.uint8)
    mask = rng.choice(values, size=(7, 8))
    np.testing.assert_array_equal(flip_labels(convert(mask, source, target), target),
                                  convert(flip_labels(mask, source), source, target))


def test_mapping_matrix_sums_facesynthetics_probabilities_into_fasseg_classes():
    """A softmax over the 19 FaceSynthetics classes, summed by hand into FASSEG's six."""
    src = get_label_set("facesynthetics19").classes
    p = np.zeros(len(src))
    for name, value in {"background": 0.05, "clothing": 0.05, "skin": 0.2, "left_ear": 0.05, "neck": 0.05,
                        "right_eye": 0.1, "left_eye": 0.05, "right_brow": 0.1, "hair": 0.1, "beard": 0.05,
                        "top_lip": 0.05, "mouth_interior": 0.05, "nose": 0.05, "glasses": 0.05}.items():
        p[src.index(name)] = value
    # background 0.05 + 0.05; skin 0.2 + 0.05 + 0.05; hair (FASSEG paints brows and beards as hair)
    # 0.1 + 0.1 + 0.05; eyes 0.1 + 0.05; nose 0.05; mouth 0.05 + 0.05; glasses have no honest
    # FASSEG class and their 0.05 is dropped.
    np.testing.assert_allclose(p @ mapping_matrix("facesynthetics19", "fasseg6"),
                               [0.1, 0.3, 0.25, 0.15, 0.05, 0.1], atol=1e-7)


# --- the tables, on maps drawn by hand ----------------------------------------------------------

def counts(labels: np.ndarray) -> dict[int, int]:
    values, n = np.unique(labels, return_counts=True)
    return {int(v): int(c) for v, c in zip(values, n)}


def test_celebamask19_to_fasseg6_by_hand():
    # One row per CelebAMask-HQ class 0..18, class i painted on i + 1 pixels.
    mask = np.full((19, 19), IGNORE, np.uint8)
    for i in range(19):
        mask[i, : i + 1] = i
    got = counts(convert(mask, "celebamask19", "fasseg6"))
    # background: background 1 + hat 15 + cloth 19; skin: skin 2 + ears 9 + 10 + neck 18;
    # hair: brows 7 + 8 + hair 14; eyes 5 + 6; nose 3; mouth 11 + 12 + 13;
    # ignored: eye_g 4, earring 16, necklace 17 and the 361 - 190 pixels left at 255.
    assert got == {0: 35, 1: 39, 2: 29, 3: 11, 4: 3, 5: 36, 255: 4 + 16 + 17 + 171}


def test_celebamask19_to_helen11_keeps_sides_and_reads_l_lip_as_lower_lip():
    classes = get_label_set("celebamask19").classes
    mask = np.array([[classes.index(c) for c in ("l_eye", "r_eye", "l_brow", "mouth", "l_lip", "u_lip", "l_ear",
                                                   "neck", "eye_g")]], np.uint8)
    helen = get_label_set("helen11").classes
    assert [helen[i] if i != IGNORE else None for i in convert(mask, "celebamask19", "helen11")[0]] == [
        "left_eye", "right_eye", "left_brow", "inner_mouth", "lower_lip", "upper_lip", "background", "background",
        None]


def test_mut1ny11_to_fasseg6_by_hand():
    #                   bg lips eyes nose skin hair ears brows teeth beard glasses
    mask = np.array([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]], np.uint8)
    assert convert(mask, "mut1ny11", "fasseg6")[0].tolist() == [0, 5, 3, 4, 1, 2, 1, 2, 5, 2, IGNORE]


def test_eleven_class_sets_map_to_fasseg6_alike():
    mask = np.arange(11, dtype=np.uint8)[None]
    expected = [0, 1, 2, 2, 3, 3, 4, 5, 5, 5, 2]  # brows are hair, the three mouth parts are mouth
    for name in ("helen11", "lapa11", "ibugmask11"):
        assert convert(mask, name, "fasseg6")[0].tolist() == expected, name


def test_unsided_classes_cannot_be_split_into_sided_ones():
    # mut1ny's eyes, brows, lips and ears have no side: no table may invent one.
    mask = np.array([[1, 2, 6, 7, 8]], np.uint8)  # lips, eyes, ears, eyebrows, teeth
    mouth = get_label_set("celebamask19").index("mouth")
    assert convert(mask, "mut1ny11", "celebamask19")[0].tolist() == [IGNORE] * 4 + [mouth]
    assert convert(mask, "mut1ny11", "lapa11")[0].tolist() == [IGNORE, IGNORE, 1, IGNORE, 8]
    assert convert(mask, "mut1ny11", "helen11")[0].tolist() == [IGNORE, IGNORE, 0, IGNORE, 8]


@pytest.mark.parametrize("name", sorted(set(LABEL_SETS) - {"fasseg6"}))
def test_every_label_set_maps_onto_the_study_label_set(name):
    # Predictor reads "the face itself" through this mapping; each class goes to one fasseg6 class or none.
    m = mapping_matrix(name, "fasseg6")
    assert m.shape == (len(get_label_set(name).classes), 6) and set(m.sum(1).tolist()) <= {0.0, 1.0}
