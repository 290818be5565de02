"""Dataset readers on fixtures written here in each documented layout, and on the real data mirror.

Expected pixel counts are worked out by hand from how each fixture is drawn (or, for the real
files, with a few lines of NumPy independent of faceparse), never by calling the reader.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceparse.datasets import get_reader, read_image
from faceparse.datasets.checks import fit_mask_to_image, photo_shape
from faceparse.errors import FaceparseConfigError, FaceparseDataError
from faceparse.labels import convert

H, W = 12, 16  # every fixture mask is 12 rows x 16 columns unless a test says otherwise


def png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(array)).save(path)
    return path


def photo(path: Path, h: int = H, w: int = W) -> Path:
    """A noise photo: readers only look at its size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    noise = np.random.default_rng(len(str(path))).integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(noise).save(path)
    return path


def counts(labels: np.ndarray) -> dict[int, int]:
    values, n = np.unique(labels, return_counts=True)
    return {int(v): int(c) for v, c in zip(values, n)}


def only(samples, sample_id):
    [sample] = [s for s in samples if s.id == sample_id]
    return sample


# --- CelebAMask-HQ ------------------------------------------------------------------------------

def celeba_parts(root: Path) -> None:
    """Id 1 with overlapping parts (drawn at 12x16, photo 24x32) and id 2001 with skin only."""
    anno = root / "CelebAMask-HQ-mask-anno"
    def part(rows, cols):
        m = np.zeros((H, W), np.uint8)
        m[rows, cols] = 255
        return m
    png(anno / "0" / "00001_skin.png", part(slice(0, 10), slice(None)))          # 160 px
    png(anno / "0" / "00001_nose.png", part(slice(4, 7), slice(6, 10)))          # 12 px, on skin
    png(anno / "0" / "00001_eye_g.png", part(slice(3, 7), slice(1, 6)))          # 20 px, on skin and hair
    png(anno / "0" / "00001_l_eye.png", part(slice(4, 6), slice(2, 5)))          # 6 px, inside eye_g
    # Hair saved as 3-channel, as some part files are; it overlaps skin and eye_g's top row.
    png(anno / "0" / "00001_hair.png", np.repeat(part(slice(0, 4), slice(None))[..., None], 3, axis=2))
    png(anno / "0" / "00001_cloth.png", part(slice(10, 12), slice(None)))        # 32 px
    photo(root / "CelebA-HQ-img" / "1.jpg", 2 * H, 2 * W)
    png(anno / "1" / "02001_skin.png", part(slice(None), slice(None)))
    photo(root / "CelebA-HQ-img" / "2001.jpg", 2 * H, 2 * W)


def test_celebamask_parts_merge_in_g_mask_order_later_wins(tmp_path):
    celeba_parts(tmp_path)
    reader = get_reader("celebamask_hq")
    samples = reader.samples(tmp_path)
    assert [s.id for s in samples] == ["1", "2001"]
    labels, info = reader.read_mask(only(samples, "1"))
    # At 12x16: hair 64 (rows 0-3, over skin and eye_g's top row); l_eye 6 (after eye_g, so over it);
    # eye_g 20 - 6 - 5 = 9; nose 12; cloth 32; skin 160 - 64 - 15 (eye_g/l_eye rows 4-6) - 12 = 69.
    # The 2x nearest-neighbour upscale to the 24x32 photo multiplies every count by 4.
    skin, nose, eye_g, l_eye, hair, cloth = 1, 2, 3, 4, 13, 18
    assert counts(labels) == {skin: 4 * 69, nose: 4 * 12, eye_g: 4 * 9, l_eye: 4 * 6, hair: 4 * 64, cloth: 4 * 32}
    assert info == {"mask_resized_from": (H, W), "mask_resized_to": (2 * H, 2 * W)}
    assert (labels[8:10, 4:6] == l_eye).all() and labels[6, 2] == hair  # row 3 col 1 of the part files
    other, _ = reader.read_mask(only(samples, "2001"))
    assert counts(other) == {skin: 4 * H * W}


def test_celebamask_official_split_through_the_celeba_mapping(tmp_path):
    celeba_parts(tmp_path)
    (tmp_path / "CelebA-HQ-to-CelebA-mapping.txt").write_text(
        "idx         orig_idx    orig_file\n1  5  000006.jpg\n2001  9  000010.jpg\n")
    (tmp_path / "list_eval_partition.txt").write_text("000006.jpg 2\n000010.jpg 0\n000011.jpg 1\n")
    (tmp_path / "identity_CelebA.txt").write_text("000006.jpg 77\n000010.jpg 77\n")
    samples = get_reader("celebamask_hq").samples(tmp_path)
    assert {s.id: s.split for s in samples} == {"1": "test", "2001": "train"}
    assert {s.subject for s in samples} == {"celeba_77"}


def test_celebamask_without_split_files_has_no_split(tmp_path):
    celeba_parts(tmp_path)
    assert {s.split for s in get_reader("celebamask_hq").samples(tmp_path)} == {""}


def test_celebamask_merged_maps_flat_and_in_another_part_order(tmp_path):
    labels = np.zeros((H, W), np.uint8)
    labels[:6] = 1      # skin: 96 px
    labels[6:8] = 17    # 32 px: "neck" in g_mask order, "hair" in face-parsing.PyTorch's order
    labels[8:] = 255    # 64 px ignored
    photo(tmp_path / "7.jpg")
    png(tmp_path / "7.png", labels)
    sample = only(get_reader("celebamask_hq").samples(tmp_path), "7")
    assert counts(get_reader("celebamask_hq").read_mask(sample)[0]) == {1: 96, 17: 32, 255: 64}
    pytorch_order = ["skin", "l_brow", "r_brow", "l_eye", "r_eye", "eye_g", "l_ear", "r_ear", "ear_r", "nose",
                     "mouth", "u_lip", "l_lip", "neck", "neck_l", "cloth", "hair", "hat"]
    remapped, _ = get_reader("celebamask_hq", merged_parts=pytorch_order).read_mask(sample)
    assert counts(remapped) == {1: 96, 13: 32, 255: 64}  # hair is 13 in g_mask order


def test_celebamask_merged_maps_in_images_and_labels_folders(tmp_path):
    labels = np.full((H, W), 13, np.uint8)
    labels[:, :4] = 0
    photo(tmp_path / "images" / "3.jpg")
    png(tmp_path / "labels" / "3.png", labels)
    reader = get_reader("celebamask_hq")
    assert counts(reader.read_mask(only(reader.samples(tmp_path), "3"))[0]) == {0: 48, 13: 144}


@pytest.mark.parametrize("label_dir", ["labels", "masks"])
def test_celebamask_merged_maps_take_any_name_and_a_masks_folder(tmp_path, label_dir):
    labels = np.full((H, W), 1, np.uint8)
    labels[:3] = 17  # 48 px of hair in g_mask order
    photo(tmp_path / "images" / "alice_2019-05.jpg")
    png(tmp_path / label_dir / "alice_2019-05.png", labels)
    reader = get_reader("celebamask_hq")
    sample = only(reader.samples(tmp_path), "alice_2019-05")
    assert sample.split == ""
    assert counts(reader.read_mask(sample)[0]) == {1: 144, 17: 48}


def test_celebamask_official_split_still_needs_numeric_ids(tmp_path):
    photo(tmp_path / "alice.jpg")
    png(tmp_path / "alice.png", np.ones((H, W), np.uint8))
    (tmp_path / "CelebA-HQ-to-CelebA-mapping.txt").write_text("idx orig_idx orig_file\n0 1 000001.jpg\n")
    (tmp_path / "list_eval_partition.txt").write_text("000001.jpg 0\n")
    with pytest.raises(FaceparseDataError, match="numeric CelebA-HQ ids.*'alice'"):
        get_reader("celebamask_hq").samples(tmp_path)


def test_celebamask_part_mask_without_photo_names_the_part_file(tmp_path):
    celeba_parts(tmp_path)
    png(tmp_path / "CelebAMask-HQ-mask-anno" / "0" / "00005_hair.png", np.zeros((H, W), np.uint8))
    with pytest.raises(FaceparseDataError, match="00005_hair.png.*without a photo"):
        get_reader("celebamask_hq").samples(tmp_path)


def test_celebamask_unknown_part_name_is_an_error(tmp_path):
    celeba_parts(tmp_path)
    png(tmp_path / "CelebAMask-HQ-mask-anno" / "0" / "00001_beard.png", np.zeros((H, W), np.uint8))
    with pytest.raises(FaceparseDataError, match="00001_beard.png"):
        get_reader("celebamask_hq").samples(tmp_path)


def test_celebamask_mask_with_another_aspect_ratio_names_the_part_file(tmp_path):
    celeba_parts(tmp_path)
    photo(tmp_path / "CelebA-HQ-img" / "1.jpg", 2 * W, 2 * W)  # square photo, 4:3 part masks
    reader = get_reader("celebamask_hq")
    with pytest.raises(FaceparseDataError, match="00001_skin.png.*aspect"):
        reader.read_mask(only(reader.samples(tmp_path), "1"))


# --- Helen --------------------------------------------------------------------------------------

def helen_maps(folder: Path, name: str) -> None:
    """Eleven probability maps whose merge is worked out by hand in the test below."""
    p = np.zeros((11, H, W), np.uint8)
    p[0, 0:3] = 255                                 # rows 0-2: plain background              48 px
    p[1, 3:6], p[0, 3:6] = 200, 55                  # rows 3-5: skin                            48 px
    p[10, 6:8], p[1, 6:8], p[0, 6:8] = 130, 120, 5  # rows 6-7: hair beats skin                 32 px
    p[4, 8], p[0, 8] = 100, 50                      # row 8: left_eye wins the argmax but < 128 16 px
    # row 9: every map 0                                                                       16 px
    p[6, 10:, :8], p[7, 10:, :8] = 128, 128         # rows 10-11 left: nose/upper_lip tie       16 px
    p[0, 10:, 8:], p[9, 10:, 8:] = 200, 140         # rows 10-11 right: lbl00 beats lower_lip   16 px
    for k in range(11):
        png(folder / f"{name}_lbl{k:02d}.png", p[k])


def helen(root: Path) -> None:
    for name in ("100_1", "100_2", "200_1"):
        photo(root / "images" / f"{name}.jpg")
        helen_maps(root / "labels" / name, name)
    (root / "exemplars.txt").write_text("1 , 100_1\n2 , 100_2\n")
    (root / "testing.txt").write_text("200_1\n")


def test_helen_probability_maps_merge_by_argmax_and_threshold(tmp_path):
    helen(tmp_path)
    reader = get_reader("helen")
    labels, info = reader.read_mask(only(reader.samples(tmp_path), "100_1"))
    # background: rows 0-2 (48) + row 8 (16, all foreground < 128) + row 9 (16, all zero)
    #             + rows 10-11 right (16, lbl00 200 > lower_lip 140) = 96
    skin, nose, hair = 1, 6, 10
    assert counts(labels) == {0: 96, skin: 48, hair: 32, nose: 16}  # the tie goes to the lower index
    assert info["below_threshold_share"] == pytest.approx(16 / (H * W))  # only row 8 was turned


def test_helen_splits_from_the_lists_and_subject_from_the_photo_id(tmp_path):
    helen(tmp_path)
    samples = get_reader("helen").samples(tmp_path)
    assert {s.id: s.split for s in samples} == {"100_1": "train", "100_2": "train", "200_1": "test"}
    assert {s.id: s.subject for s in samples} == {"100_1": "100", "100_2": "100", "200_1": "200"}


def test_helen_missing_probability_map_is_named(tmp_path):
    helen(tmp_path)
    (tmp_path / "labels" / "100_2" / "100_2_lbl05.png").unlink()
    with pytest.raises(FaceparseDataError, match="100_2_lbl05.png"):
        get_reader("helen").samples(tmp_path)


def test_helen_split_list_naming_an_unknown_photo_is_an_error(tmp_path):
    helen(tmp_path)
    (tmp_path / "tuning.txt").write_text("3 , 999_9\n")
    with pytest.raises(FaceparseDataError, match=r"tuning.txt.*line 1.*999_9"):
        get_reader("helen").samples(tmp_path)


# --- LaPa ---------------------------------------------------------------------------------------

def lapa_sample(root: Path, split: str, name: str, mask_hw=(H, W)) -> None:
    labels = np.zeros(mask_hw, np.uint8)
    labels[:6] = 1           # skin
    labels[6:8, :8] = 2      # left brow
    labels[6:8, 8:] = 3      # right brow
    labels[8:] = 10          # hair
    photo(root / split / "images" / f"{name}.jpg")
    png(root / split / "labels" / f"{name}.png", labels)
    points = "\n".join(f"{i} {i + 0.5}" for i in range(106))
    (root / split / "landmarks").mkdir(parents=True, exist_ok=True)
    (root / split / "landmarks" / f"{name}.txt").write_text(f"106\n{points}\n")


def test_lapa_reads_labels_splits_and_106_landmarks(tmp_path):
    lapa_sample(tmp_path, "train", "a")
    lapa_sample(tmp_path, "val", "b")
    lapa_sample(tmp_path, "test", "c")
    reader = get_reader("lapa")
    samples = reader.samples(tmp_path)
    assert {s.id: s.split for s in samples} == {"a": "train", "b": "val", "c": "test"}
    labels, info = reader.read_mask(only(samples, "b"))
    assert counts(labels) == {1: 96, 2: 16, 3: 16, 10: 64} and info == {}
    pts = reader.read_landmarks(only(samples, "c"))
    assert pts.shape == (106, 2) and pts[0].tolist() == [0.0, 0.5] and pts[105].tolist() == [105.0, 105.5]


def test_lapa_landmark_file_with_wrong_count_is_named(tmp_path):
    lapa_sample(tmp_path, "train", "a")
    (tmp_path / "train" / "landmarks" / "a.txt").write_text("106\n1 2\n3 4\n")
    reader = get_reader("lapa")
    with pytest.raises(FaceparseDataError, match=r"a\.txt.*106 points.*2 point lines"):
        reader.read_landmarks(only(reader.samples(tmp_path), "a"))


# --- iBugMask -----------------------------------------------------------------------------------

def test_ibugmask_pairs_jpg_and_png_in_each_split(tmp_path):
    labels = np.zeros((H, W), np.uint8)
    labels[2:10, 3:13] = 1      # 80 px skin
    labels[4, 4:6] = 4          # 2 px left eye
    labels[4, 10:12] = 5        # 2 px right eye
    photo(tmp_path / "train" / "11.jpg")
    png(tmp_path / "train" / "11.png", labels)
    photo(tmp_path / "test" / "12.jpg")
    png(tmp_path / "test" / "12.png", labels)
    reader = get_reader("ibugmask")
    samples = reader.samples(tmp_path)
    assert {s.id: s.split for s in samples} == {"11": "train", "12": "test"}
    assert counts(reader.read_mask(only(samples, "12"))[0]) == {0: 112, 1: 76, 4: 2, 5: 2}


# --- mut1ny -------------------------------------------------------------------------------------

MUT1NY_ROWS = [  # (rows, cols, colour) drawn in this order
    (slice(0, 2), slice(None), (0, 0, 0)),          # background   32
    (slice(2, 3), slice(None), (255, 0, 0)),        # lips         16
    (slice(3, 4), slice(None), (0, 255, 0)),        # eyes         16
    (slice(4, 5), slice(None), (0, 0, 255)),        # nose         16
    (slice(5, 7), slice(None), (128, 128, 128)),    # skin         32
    (slice(7, 8), slice(None), (255, 255, 0)),      # hair         16
    (slice(8, 9), slice(0, 8), (0, 255, 255)),      # ears          8
    (slice(8, 9), slice(8, 16), (255, 0, 255)),     # eyebrows      8
    (slice(9, 10), slice(None), (255, 255, 255)),   # teeth        16
    (slice(10, 11), slice(None), (255, 192, 192)),  # facial hair  16
    (slice(11, 12), slice(0, 8), (0, 128, 128)),    # glasses       8
    (slice(11, 12), slice(8, 16), (250, 4, 0)),     # lips, 6.4 off the palette colour: 8
]


def mut1ny(root: Path, entries: str | None = None) -> None:
    rgb = np.zeros((H, W, 3), np.uint8)
    for rows, cols, colour in MUT1NY_ROWS:
        rgb[rows, cols] = colour
    photo(root / "images" / "sub" / "p1.jpg")
    png(root / "labels" / "sub" / "p1.png", rgb)
    entries = entries or r'<srcimg name="images\sub\p1.jpg"><labelimg name="labels\sub\p1.png"/></srcimg>'
    (root / "training.xml").write_text(f'<?xml version="1.0" encoding="utf-8"?>\n<dataset>\n{entries}\n</dataset>\n')


def test_mut1ny_xml_with_backslashed_paths_and_colour_masks(tmp_path):
    mut1ny(tmp_path)
    reader = get_reader("mut1ny")
    [sample] = reader.samples(tmp_path)
    assert sample.id == "images__sub__p1" and sample.split == "train"
    assert sample.image == tmp_path / "images" / "sub" / "p1.jpg"
    assert sample.mask == tmp_path / "labels" / "sub" / "p1.png"
    labels, info = reader.read_mask(sample)
    bg, lips, eyes, nose, skin, hair, ears, brows, teeth, beard, glasses = range(11)
    assert counts(labels) == {bg: 32, lips: 24, eyes: 16, nose: 16, skin: 32, hair: 16, ears: 8, brows: 8,
                              teeth: 16, beard: 16, glasses: 8}
    assert info["off_palette_share"] == 0.0


def test_mut1ny_malformed_xml_is_named(tmp_path):
    (tmp_path / "training.xml").write_text('<dataset><srcimg name="a.jpg">')
    with pytest.raises(FaceparseDataError, match=r"training.xml.*not well-formed"):
        get_reader("mut1ny").samples(tmp_path)


def test_mut1ny_xml_naming_a_missing_mask_is_named(tmp_path):
    mut1ny(tmp_path, r'<srcimg name="images\sub\p1.jpg"><labelimg name="labels\sub\gone.png"/></srcimg>')
    with pytest.raises(FaceparseDataError, match=r"training.xml.*labels\\\\sub\\\\gone.png.*missing file"):
        get_reader("mut1ny").samples(tmp_path)


def test_mut1ny_srcimg_without_labelimg_is_an_error(tmp_path):
    mut1ny(tmp_path, r'<srcimg name="images\sub\p1.jpg"></srcimg>')
    with pytest.raises(FaceparseDataError, match=r"training.xml.*0 <labelimg>"):
        get_reader("mut1ny").samples(tmp_path)


def test_mut1ny_listing_one_photo_twice_is_a_duplicate_id(tmp_path):
    entry = r'<srcimg name="images\sub\p1.jpg"><labelimg name="labels\sub\p1.png"/></srcimg>'
    mut1ny(tmp_path, entry * 2)
    with pytest.raises(FaceparseDataError, match=r"p1.jpg.*duplicate id"):
        get_reader("mut1ny").samples(tmp_path)


def test_mut1ny_mask_mostly_off_palette_is_an_error(tmp_path):
    mut1ny(tmp_path)
    png(tmp_path / "labels" / "sub" / "p1.png", np.full((H, W, 3), 60, np.uint8))
    reader = get_reader("mut1ny")
    with pytest.raises(FaceparseDataError, match=r"p1.png.*100.0% of pixels are off"):
        reader.read_mask(reader.samples(tmp_path)[0])


# --- folder -------------------------------------------------------------------------------------

def test_folder_with_index_masks(tmp_path):
    labels = np.zeros((H, W), np.uint8)
    labels[:, 8:] = 2
    labels[0, 0] = 255
    photo(tmp_path / "images" / "x.jpg")
    png(tmp_path / "masks" / "x.png", labels)
    reader = get_reader("folder", vocabulary="fasseg6")
    assert reader.vocabulary == "fasseg6"
    assert counts(reader.read_mask(only(reader.samples(tmp_path), "x"))[0]) == {0: 95, 2: 96, 255: 1}


def test_folder_with_colour_masks_and_a_palette(tmp_path):
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[:4] = (10, 20, 30)      # class 0: 64 px
    rgb[4:] = (200, 100, 0)     # class 1: 128 px
    rgb[11, :3] = (203, 98, 2)  # class 1, a few units off: 3 px of the 128
    photo(tmp_path / "images" / "x.jpg")
    png(tmp_path / "masks" / "x.png", rgb)
    reader = get_reader("folder", vocabulary="fasseg6", palette=[[10, 20, 30], [200, 100, 0]])
    labels, info = reader.read_mask(reader.samples(tmp_path)[0])
    assert counts(labels) == {0: 64, 1: 128} and info == {"off_palette_share": 0.0}


def test_folder_needs_a_vocabulary_and_a_sane_palette():
    with pytest.raises(FaceparseConfigError, match="vocabulary"):
        get_reader("folder")
    with pytest.raises(FaceparseConfigError, match="palette"):
        get_reader("folder", vocabulary="fasseg6", palette=[[1, 2]])


# --- bad input, reader by reader ----------------------------------------------------------------

def write_pair(fmt: str, root: Path, sample_id: str, split: str = "train", photo_hw=(H, W)) -> tuple[Path, Path]:
    """Write one valid photo + mask in `fmt`'s layout; return (photo, mask) paths."""
    labels = np.ones((H, W), np.uint8)
    if fmt == "lapa":
        lapa_sample(root, split, sample_id)
        image = photo(root / split / "images" / f"{sample_id}.jpg", *photo_hw)
        return image, root / split / "labels" / f"{sample_id}.png"
    if fmt == "ibugmask":
        return photo(root / split / f"{sample_id}.jpg", *photo_hw), png(root / split / f"{sample_id}.png", labels)
    if fmt == "folder":
        return photo(root / "images" / f"{sample_id}.jpg", *photo_hw), png(root / "masks" / f"{sample_id}.png", labels)
    if fmt == "celebamask_hq":  # the merged, flat layout
        return photo(root / f"{sample_id}.jpg", *photo_hw), png(root / f"{sample_id}.png", labels)
    if fmt == "helen":
        helen_maps(root / "labels" / sample_id, sample_id)
        return photo(root / "images" / f"{sample_id}.jpg", *photo_hw), root / "labels" / sample_id
    raise AssertionError(fmt)


PAIRED = [("lapa", {}), ("ibugmask", {}), ("folder", {"vocabulary": "fasseg6"}), ("celebamask_hq", {}),
          ("helen", {})]


def remove(path: Path) -> None:
    if path.is_dir():
        for p in path.iterdir():
            p.unlink()
        path.rmdir()
    else:
        path.unlink()


def empty_layout(fmt: str, root: Path) -> None:
    if fmt in ("folder", "helen"):
        (root / "images").mkdir()
        (root / ("masks" if fmt == "folder" else "labels")).mkdir()


@pytest.mark.parametrize("fmt,options", PAIRED)
def test_photo_without_mask_is_named(tmp_path, fmt, options):
    write_pair(fmt, tmp_path, "1")
    image, mask = write_pair(fmt, tmp_path, "2")
    remove(mask)
    if fmt == "lapa":
        (tmp_path / "train" / "landmarks" / "2.txt").unlink()
    with pytest.raises(FaceparseDataError, match=rf"{image.name}: photo without"):
        get_reader(fmt, **options).samples(tmp_path)


@pytest.mark.parametrize("fmt,options", PAIRED)
def test_mask_without_photo_is_named(tmp_path, fmt, options):
    write_pair(fmt, tmp_path, "1")
    image, mask = write_pair(fmt, tmp_path, "2")
    image.unlink()
    with pytest.raises(FaceparseDataError, match=rf"{mask.name}.*without a photo"):
        get_reader(fmt, **options).samples(tmp_path)


@pytest.mark.parametrize("fmt,options", PAIRED)
def test_empty_dataset_is_an_error(tmp_path, fmt, options):
    empty_layout(fmt, tmp_path)
    with pytest.raises(FaceparseDataError, match=r"no .*photos"):
        get_reader(fmt, **options).samples(tmp_path)


@pytest.mark.parametrize("fmt,options", PAIRED)
def test_mask_and_photo_of_different_sizes_is_named(tmp_path, fmt, options):
    _, mask = write_pair(fmt, tmp_path, "1", photo_hw=(H + 3, W))
    reader = get_reader(fmt, **options)
    with pytest.raises(FaceparseDataError, match=rf"{mask.name}.*is 16x12 but its photo is 16x15"):
        reader.read_mask(reader.samples(tmp_path)[0])


@pytest.mark.parametrize("fmt,options", PAIRED)
def test_duplicate_ids_are_named(tmp_path, fmt, options):
    if fmt in ("lapa", "ibugmask"):  # one id in two splits
        write_pair(fmt, tmp_path, "5", split="train")
        image, _ = write_pair(fmt, tmp_path, "5", split="test")
    elif fmt == "celebamask_hq":  # 5.jpg and 005.jpg are both CelebA-HQ id 5
        write_pair(fmt, tmp_path, "5")
        image, _ = write_pair(fmt, tmp_path, "005")
    else:  # two photos with one stem
        image, _ = write_pair(fmt, tmp_path, "5")
        image = photo(image.with_suffix(".png"))
    with pytest.raises(FaceparseDataError, match=r"duplicate id") as err:
        get_reader(fmt, **options).samples(tmp_path)
    assert image.name in str(err.value) or image.name in str(err.value.path)


# --- the size check itself ----------------------------------------------------------------------

def test_fit_mask_resizes_nearest_only_within_two_percent(tmp_path):
    mask = np.zeros((100, 100), np.uint8)
    mask[:, 50:] = 3
    fitted, info = fit_mask_to_image(mask, (101, 99, 3), tmp_path / "m.png")
    assert fitted.shape == (101, 99) and set(np.unique(fitted).tolist()) == {0, 3}  # no blended values
    assert info == {"mask_resized_from": (100, 100), "mask_resized_to": (101, 99)}
    same, none = fit_mask_to_image(mask, (100, 100), tmp_path / "m.png")
    assert same is mask and none == {}
    with pytest.raises(FaceparseDataError, match=r"m.png: mask is 100x100 but its photo is 100x103"):
        fit_mask_to_image(mask, (103, 100), tmp_path / "m.png")  # 3 rows of 103: 2.9%


def test_photo_shape_follows_exif_rotation_like_read_image(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display: a 16x12 file shows as 12x16
    path = tmp_path / "rotated.jpg"
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(path, exif=exif)
    assert photo_shape(path) == (W, H) == read_image(path).shape[:2]


# --- the real data mirror -----------------------------------------------------------------------

MIRROR = Path(os.environ.get("FACEPARSE_MIRROR") or Path(__file__).parents[1].parent / "shared/data")
needs_mirror = pytest.mark.skipif(not (MIRROR / "fasseg").is_dir() or not (MIRROR / "facesynthetics_100").is_dir(),
                                  reason=f"real data mirror not found at {MIRROR}")

# FASSEG's palette, in fasseg6 order, written out here from the mirror's README.
FASSEG_COLOURS = np.array([(255, 0, 0), (255, 255, 0), (127, 0, 0), (0, 0, 255), (0, 255, 255), (0, 255, 0)])


def nearest_colour_counts(path: Path) -> tuple[list[int], list[int]]:
    """Per class: pixels nearest its colour (first colour on ties), and pixels exactly its colour."""
    rgb = np.asarray(Image.open(path).convert("RGB")).astype(np.int64)
    dist2 = ((rgb[:, :, None, :] - FASSEG_COLOURS[None, None]) ** 2).sum(axis=3)
    nearest = np.bincount(dist2.argmin(axis=2).ravel(), minlength=6)
    exact = (dist2 == 0).sum(axis=(0, 1))
    return nearest.tolist(), exact.tolist()


@needs_mirror
@pytest.mark.parametrize("sample_id,relpath", [
    ("V2_train_1", "V2/Train_Labels/1.png"),
    ("V2_test_1", "V2/Test_Labels/1.png"),
    ("V3_train_0_personne01146+0+0", "V3/Train_labels/0/personne01146+0+0.png"),
])
def test_fasseg_real_masks_class_counts(sample_id, relpath):
    reader = get_reader("fasseg")
    sample = only(reader.samples(MIRROR / "fasseg"), sample_id)
    assert sample.mask == MIRROR / "fasseg" / relpath
    labels, info = reader.read_mask(sample)
    nearest, exact = nearest_colour_counts(sample.mask)
    got = np.bincount(labels.ravel(), minlength=6).tolist()
    assert got == nearest
    assert all(g >= e for g, e in zip(got, exact)) and sum(exact) >= 0.95 * labels.size
    if sample_id == "V2_train_1":  # the same numbers, pinned: background, skin, hair, eyes, nose, mouth
        assert got == [7636, 103254, 61818, 2489, 6861, 3798]
        assert exact == [7368, 102245, 59451, 2367, 6683, 3673]


@needs_mirror
def test_facesynthetics_real_mask_counts_and_conversion_to_fasseg6():
    root = MIRROR / "facesynthetics_100"
    reader = get_reader("facesynthetics")
    labels, _ = reader.read_mask(only(reader.samples(root), "000000"))
    raw = np.asarray(Image.open(root / "000000_seg.png"))
    source = np.bincount(raw.ravel(), minlength=256)
    assert np.bincount(labels.ravel(), minlength=256).tolist() == source.tolist()
    assert {i: int(source[i]) for i in np.flatnonzero(source)} == {
        0: 157627, 1: 34444, 2: 2360, 3: 72, 4: 143, 5: 138, 6: 362, 8: 2799, 9: 552, 10: 473, 11: 713,
        12: 10396, 13: 10374, 15: 41657, 255: 34}
    # facesynthetics19 -> fasseg6 written out by hand: which source indices land in which class.
    by_hand = {0: [0, 15, 17],        # background, clothing, headwear
               1: [1, 7, 8, 12],      # skin, ears, neck
               2: [5, 6, 13, 14],     # brows, hair, beard
               3: [3, 4],             # eyes
               4: [2],                # nose
               5: [9, 10, 11],        # mouth interior, lips
               255: [16, 18, 255]}    # glasses, facewear, ignored
    converted = np.bincount(convert(labels, "facesynthetics19", "fasseg6").ravel(), minlength=256)
    for target, sources in by_hand.items():
        assert converted[target] == sum(int(source[s]) for s in sources), target
    assert converted.sum() == labels.size


def test_fasseg_versions_given_as_one_string_mean_that_version(mirror):
    one = get_reader("fasseg", versions="V2").samples(mirror / "fasseg")
    assert {s.extra["version"] for s in one} == {"V2"}
    assert [s.id for s in one] == [s.id for s in get_reader("fasseg", versions=["V2"]).samples(mirror / "fasseg")]


def test_folder_without_a_vocabulary_lists_the_label_sets():
    with pytest.raises(FaceparseConfigError, match=r"vocabulary: the label set of its masks, one of \[.*'fasseg6'"):
        get_reader("folder")
