"""The Mut1ny reader on the publisher's own sample set (`<mirror>/mut1ny_sample`), read as it is.

Every expected number here was counted from the PNGs with PIL and NumPy alone, the colours mapped by
hand from `sampleset.xml`'s `<label>` lines, never through the reader.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from faceparse.cli import main
from faceparse.datasets import get_reader
from faceparse.errors import FaceparseDataError

# mut1ny11's class numbers, by name.
BG, LIPS, EYES, NOSE, SKIN, HAIR, EARS, BROWS, TEETH = range(9)
IGNORE = 255
# sampleset.xml's <label> colours, by hand: background, generalface (= skin), eyes, lips, nose, ears,
# eyebrows, teeth, hair. The sample uses no other colour.
COLOUR_TO_CLASS = {(0, 0, 0): BG, (128, 128, 128): SKIN, (0, 255, 0): EYES, (255, 0, 0): LIPS, (0, 0, 255): NOSE,
                   (0, 255, 255): EARS, (255, 0, 255): BROWS, (255, 255, 255): TEETH, (255, 255, 0): HAIR}
HEAD = "female01/headrende0000"                            # a rendered head: RGB label, 300x280
CELEB = "celebs/1554.jpg_RESAMPLED_e28e9a1c5067c25f_scaled"  # a real photo: RGBA label, 256x256


@pytest.fixture(scope="module")
def sample_root(mirror) -> Path:
    root = mirror / "mut1ny_sample"
    if not (root / "sampleset.xml").is_file():
        pytest.skip(f"no Mut1ny sample in the mirror ({root})")
    return root


def listed_pairs(root: Path) -> list[tuple[str, str]]:
    """(srcimg, labelimg) names from the XML text by a regex, as the publisher's visualize_data.py reads it."""
    names = re.findall(r'<(srcimg|labelimg) name="([^"]*)"', (root / "sampleset.xml").read_text("latin-1"))
    assert [kind for kind, _ in names] == ["srcimg", "labelimg"] * (len(names) // 2)
    return [(names[i][1], names[i + 1][1]) for i in range(0, len(names), 2)]


def by_hand(path: Path) -> np.ndarray:
    """The label map of one mask PNG: every colour looked up in COLOUR_TO_CLASS, transparent pixels 255."""
    pixels = np.asarray(Image.open(path))
    out = np.full(pixels.shape[:2], 99, np.uint8)
    for colour, cls in COLOUR_TO_CLASS.items():
        out[(pixels[..., :3] == colour).all(axis=-1)] = cls
    if pixels.shape[-1] == 4:
        out[pixels[..., 3] == 0] = IGNORE
    assert (out != 99).all(), f"{path}: a colour the XML does not declare"
    return out


def counts(labels: np.ndarray) -> dict[int, int]:
    values, n = np.unique(labels, return_counts=True)
    return dict(zip(values.tolist(), n.tolist()))


def one(samples, sample_id: str):
    [s] = [s for s in samples if s.id == sample_id]
    return s


def test_the_sample_is_80_pairs_in_the_xmls_order(sample_root):
    samples = get_reader("mut1ny").samples(sample_root)
    pairs = listed_pairs(sample_root)
    assert len(samples) == len(pairs) == 80
    for s, (src, label) in zip(samples, pairs):
        assert s.image == sample_root / src.replace("\\", "/")
        assert s.mask == sample_root / label.replace("\\", "/")
        assert s.split == ""  # sampleset.xml is neither training.xml nor testing.xml
    assert samples[0].id == "celebs__101729.jpg_RESAMPLED_abebcbd49559e624_scaled"
    assert samples[-1].id == "male23__headrende0469"
    # 15 rendered head models (5 frames each, their folder the subject) and 5 photos of 5 people.
    subjects = pd.Series([s.subject for s in samples]).value_counts()
    assert len(subjects) == 20
    assert subjects["female01"] == subjects["male23"] == 5
    assert one(samples, CELEB.replace("/", "__")).subject == CELEB.replace("/", "__")


def test_a_rendered_heads_rgb_mask_pixel_counts(sample_root):
    reader = get_reader("mut1ny")
    s = one(reader.samples(sample_root), HEAD.replace("/", "__"))
    labels, info = reader.read_mask(s)
    assert labels.shape == (280, 300) and labels.dtype == np.uint8
    assert counts(labels) == {BG: 53117, LIPS: 237, EYES: 199, NOSE: 577, SKIN: 25328, HAIR: 4278, EARS: 123,
                              BROWS: 141}  # no teeth: a closed mouth
    np.testing.assert_array_equal(labels, by_hand(sample_root / "labels" / f"{HEAD}.png"))
    assert info == {"off_palette_share": 0.0, "transparent_share": 0.0}


def test_a_real_photos_rgba_mask_leaves_its_transparent_rows_unlabelled(sample_root):
    reader = get_reader("mut1ny")
    s = one(reader.samples(sample_root), CELEB.replace("/", "__"))
    labels, info = reader.read_mask(s)
    assert Image.open(s.image).size == (256, 256) and labels.shape == (256, 256)
    # The top two rows are transparent black: unpainted, not background.
    assert (labels[:2] == IGNORE).all() and (labels[2:] != IGNORE).all()
    assert counts(labels) == {BG: 54954, LIPS: 223, EYES: 79, NOSE: 415, SKIN: 5364, HAIR: 3512, EARS: 225,
                              BROWS: 139, TEETH: 113, IGNORE: 512}
    np.testing.assert_array_equal(labels, by_hand(sample_root / "labels" / f"{CELEB}.png"))
    assert info == {"off_palette_share": 0.0, "transparent_share": 512 / 65536}


def test_every_pair_reads_at_its_photos_size_within_the_label_set(sample_root):
    reader = get_reader("mut1ny")
    unlabelled = {}
    for s in reader.samples(sample_root):
        labels, info = reader.read_mask(s)
        w, h = Image.open(s.image).size
        assert labels.shape == (h, w), s.id
        assert set(np.unique(labels).tolist()) <= set(range(11)) | {IGNORE}, s.id
        np.testing.assert_array_equal(labels, by_hand(s.mask), err_msg=s.id)
        assert info["off_palette_share"] == 0.0
        if (labels == IGNORE).any():
            unlabelled[s.id.split("__")[0]] = unlabelled.get(s.id.split("__")[0], 0) + int((labels == IGNORE).sum())
    assert unlabelled == {"celebs": 766 + 766 + 1274 + 512 + 766}  # only the RGBA masks have holes


def writable_copy(sample_root: Path, dest: Path) -> Path:
    shutil.copytree(sample_root, dest, ignore=shutil.ignore_patterns("figure_sample.png"))
    for p in [dest, *dest.rglob("*")]:  # the mirror is read-only, and copytree keeps modes
        p.chmod(0o755 if p.is_dir() else 0o644)
    return dest


def test_names_whose_case_differs_from_the_files_resolve_as_on_windows(sample_root, tmp_path):
    root = writable_copy(sample_root, tmp_path / "copy")
    (root / "labels/female01").rename(root / "labels/Female01")
    (root / f"{HEAD}.png").rename(root / "female01/HEADRENDE0000.PNG")
    reader = get_reader("mut1ny")
    samples = reader.samples(root)
    assert len(samples) == 80
    s = one(samples, "female01__HEADRENDE0000")  # the id is the file's own name
    assert s.image == root / "female01/HEADRENDE0000.PNG" and s.mask == root / "labels/Female01/headrende0000.png"
    assert counts(reader.read_mask(s)[0])[SKIN] == 25328
    # Two files that differ only in case: the reader cannot tell which the XML meant.
    shutil.copy(root / "female01/HEADRENDE0000.PNG", root / "female01/Headrende0000.png")
    with pytest.raises(FaceparseDataError, match=r"sampleset.xml.*headrende0000.png.*2 names that differ only in case"):
        reader.samples(root)


def test_a_missing_mask_names_the_index_and_the_entry(sample_root, tmp_path):
    root = writable_copy(sample_root, tmp_path / "copy")
    (root / "labels/male23/headrende0469.png").unlink()
    with pytest.raises(FaceparseDataError, match=r"sampleset.xml.*labels\\\\male23\\\\headrende0469.png.*missing file"):
        get_reader("mut1ny").samples(root)


def test_a_labelimg_without_its_srcimg_is_named(sample_root, tmp_path):
    root = writable_copy(sample_root, tmp_path / "copy")
    xml = (root / "sampleset.xml").read_text("latin-1")
    (root / "sampleset.xml").write_text(xml.replace('<srcimg name="male07\\headrende0201.png"/>\n', ""), "latin-1")
    with pytest.raises(FaceparseDataError, match=r"sampleset.xml.*labelimg name='labels\\\\male07\\\\headrende0201.png'"
                                                 r".*follows no <srcimg>"):
        get_reader("mut1ny").samples(root)


def test_evaluate_scores_the_whole_sample(model, sample_root, tmp_path):
    out = tmp_path / "eval"
    assert main(["evaluate", "--model", str(model), "--no-tta", "--dataset", "mut1ny", "--root", str(sample_root),
                 "--bootstrap", "0", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_images"] == 80 and metrics["not_evaluated"] == [] and metrics["split"] == ""
    assert metrics["label_set"] == "fasseg6"
    ids = pd.read_csv(out / "per_image.csv")["id"].tolist()
    assert ids == [src.replace("\\", "/")[:-len(".png")].replace("/", "__") for src, _ in listed_pairs(sample_root)]
