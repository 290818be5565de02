"""The mask-merging step on the real data: label counts, splits that keep a person on one side."""

import numpy as np
import pytest

from faceparse.datasets import Sample, get_reader
from faceparse.prepare import PrepareDataset, carve_split, prepare_dataset


def _samples(subjects: dict[str, int], version: str = "V3") -> list[Sample]:
    return [Sample(id=f"{s}_{i}", image=None, mask=None, dataset="x", split="train", subject=s,
                   extra={"version": version}) for s, n in subjects.items() for i in range(n)]


def test_carve_keeps_each_subject_on_one_side():
    samples = _samples({f"p{i:02d}": 26 for i in range(7)})
    split = carve_split(samples, val_fraction=0.15, test_fraction=0.0, seed=0)
    by_subject = {}
    for s in samples:
        by_subject.setdefault(s.subject, set()).add(split[s.id])
    assert all(len(v) == 1 for v in by_subject.values())
    # 15% of 182 photos is 27.3: one person (26 photos) is closest
    assert sum(v == "val" for v in split.values()) == 26


def test_carve_is_seeded_and_keeps_test():
    samples = _samples({f"p{i}": 1 for i in range(20)}) + [
        Sample(id="t1", image=None, mask=None, dataset="x", split="test", subject="t1")]
    a = carve_split(samples, 0.15, 0.0, seed=0)
    assert a == carve_split(samples, 0.15, 0.0, seed=0)
    assert a != carve_split(samples, 0.15, 0.0, seed=1)
    assert a["t1"] == "test"
    assert sum(v == "val" for v in a.values()) == 3


def test_an_official_val_split_is_kept_and_nothing_more_carved_at_zero():
    """CelebAMask-HQ, LaPa and Helen come with a val split: val_fraction 0 keeps exactly theirs."""
    official = [Sample(id=f"v{i}", image=None, mask=None, dataset="x", split="val", subject=f"v{i}") for i in range(4)]
    samples = _samples({f"p{i}": 1 for i in range(20)}) + official
    split = carve_split(samples, 0.0, 0.0, seed=0)
    assert {i for i, v in split.items() if v == "val"} == {"v0", "v1", "v2", "v3"}
    assert sum(v == "train" for v in split.values()) == 20


def test_fasseg_v3_subjects_come_from_pointing04_names(mirror):
    samples = get_reader("fasseg").samples(mirror / "fasseg")
    v3 = [s for s in samples if s.extra["version"] == "V3"]
    assert len(v3) == 182
    assert len({s.subject for s in v3}) == 7
    assert {s.pose for s in v3} == {"0", "+15", "+30", "+45", "+60", "+75", "+90",
                                   "-15", "-30", "-45", "-60", "-75", "-90"}


def test_prepared_labels_match_independent_counts(mirror, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "facesynthetics_100").symlink_to(mirror / "facesynthetics_100")
    cfg = PrepareDataset(format="facesynthetics", val_fraction=0.1, test_fraction=0.1, limit=2)
    manifest = prepare_dataset("facesynthetics_100", cfg, raw, tmp_path / "out", "fasseg6", 0, "raise", tmp_path)
    assert list(manifest["status"]) == ["ok", "ok"]
    from PIL import Image

    native = np.array(Image.open(mirror / "facesynthetics_100/000000_seg.png"))
    ours = np.array(Image.open(tmp_path / manifest.loc[manifest["id"] == "000000", "label"].item()))
    # fasseg6 by hand: eyes = right_eye 3 + left_eye 4; mouth = 9, 10, 11; hair = brows 5, 6 + hair 13 + beard 14
    assert (ours == 3).sum() == np.isin(native, [3, 4]).sum()
    assert (ours == 5).sum() == np.isin(native, [9, 10, 11]).sum()
    assert (ours == 2).sum() == np.isin(native, [5, 6, 13, 14]).sum()
    assert (ours == 1).sum() == np.isin(native, [1, 7, 8, 12]).sum()
    assert (ours == 255).sum() == np.isin(native, [16, 18, 255]).sum()
    assert manifest["width"].tolist() == [512, 512]


def test_bad_mask_is_skipped_and_recorded(tmp_path):
    root = tmp_path / "raw" / "fs"
    root.mkdir(parents=True)
    from PIL import Image

    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(root / "000000.png")
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(root / "000000_seg.png")
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(root / "000001.png")
    (root / "000001_seg.png").write_bytes(b"not a png")
    cfg = PrepareDataset(format="facesynthetics", val_fraction=0.0)
    with pytest.raises(Exception, match="000001_seg.png"):
        prepare_dataset("fs", cfg, tmp_path / "raw", tmp_path / "out", "fasseg6", 0, "raise", tmp_path)
    m = prepare_dataset("fs", cfg, tmp_path / "raw", tmp_path / "out", "fasseg6", 0, "skip", tmp_path)
    assert m["status"].tolist() == ["ok", "skipped"]
    assert "000001_seg.png" in m.loc[1, "reason"]
