"""The align stage's shards: written row by row, read back lazily, the same bytes as the rows."""

import json
import pickle

import numpy as np
import pandas as pd
import pytest

from faceparse.crops import Rows, Shards, crop_layout, load_arrays
from faceparse.sampling import select_split
from faceparse.shard_writer import ShardWriter
from faceparse.errors import FaceparseConfigError, FaceparseDataError


def _write(root, dataset, n, size=4, shard_size=3, seed=0):
    rng = np.random.default_rng(seed)
    rows = [{"images": rng.integers(0, 256, (size, size, 3), dtype=np.uint8),
             "labels": rng.integers(0, 6, (size, size), dtype=np.uint8),
             "native_labels": rng.integers(0, 19, (size, size), dtype=np.uint8),
             "affines": rng.normal(size=(2, 3))} for _ in range(n)]
    w = ShardWriter(root, dataset, n, crop_layout(size), shard_size)
    for r in rows:
        w.add(**r)
    w.close()
    return rows


def test_shards_hold_the_rows_in_order_across_shard_boundaries(tmp_path):
    rows = _write(tmp_path, "d", 7)
    files = sorted(p.name for p in (tmp_path / "d").iterdir())
    assert files == sorted([f"{k}-{i:05d}.npy" for k in ("affines", "images", "labels", "native_labels")
                            for i in range(3)] + ["index.json"])
    assert np.load(tmp_path / "d" / "images-00002.npy").shape == (1, 4, 4, 3)  # plain .npy files: 3 + 3 + 1 rows
    assert json.loads((tmp_path / "d" / "index.json").read_text())["count"] == 7
    for key in ("images", "labels", "native_labels", "affines"):
        shards = Shards(tmp_path / "d", key)
        for i, r in enumerate(rows):
            assert np.array_equal(shards.row(i), r[key]), (key, i)
        assert np.array_equal(load_arrays(tmp_path, "d", (key,))[key], np.stack([r[key] for r in rows]))


def test_rows_index_slice_take_and_concatenate_like_an_array(tmp_path):
    a, b = _write(tmp_path, "a", 5), _write(tmp_path, "b", 4, seed=1)
    ref = np.stack([r["images"] for r in a] + [r["images"] for r in b])
    rows = Rows.concat([Rows.of(Shards(tmp_path / "a", "images"), np.arange(5)),
                        Rows.of(Shards(tmp_path / "b", "images"), np.arange(4))])
    assert rows.shape == ref.shape and len(rows) == 9
    assert np.array_equal(rows[6], ref[6]) and np.array_equal(rows[2:8], ref[2:8])
    order = np.array([8, 0, 0, 3, 5])
    taken = rows[order]
    assert isinstance(taken, Rows) and np.array_equal(np.asarray(taken), ref[order])
    assert np.array_equal(np.asarray(taken[np.array([4, 1])]), ref[order][[4, 1]])
    row = taken[0]
    row[0, 0, 0] ^= 1  # rows are fresh arrays: writing one leaves the file alone
    assert np.array_equal(taken[0], ref[8])
    # a DataLoader worker gets a copy that opens the files again
    clone = pickle.loads(pickle.dumps(taken))
    assert np.array_equal(np.asarray(clone), ref[order])


def test_select_split_reads_the_split_and_label_set_asked_for(tmp_path):
    rows = _write(tmp_path, "fasseg", 5)
    manifest = pd.DataFrame({"dataset": "fasseg", "index": [0, 1, 2, 3, 4, -1], "id": list("abcdef"),
                             "split": ["train", "val", "train", "train", "val", "train"],
                             "label_set": "fasseg6", "native_label_set": "fasseg6_native"})
    x, y, m = select_split(tmp_path, manifest, ["fasseg"], "fasseg6", "train")
    assert list(m["id"]) == ["a", "c", "d"]
    assert np.array_equal(np.asarray(x), np.stack([rows[i]["images"] for i in (0, 2, 3)]))
    assert np.array_equal(np.asarray(y), np.stack([rows[i]["labels"] for i in (0, 2, 3)]))
    _, native, _ = select_split(tmp_path, manifest, ["fasseg"], "fasseg6_native", "val")
    assert np.array_equal(np.asarray(native), np.stack([rows[i]["native_labels"] for i in (1, 4)]))
    with pytest.raises(FaceparseConfigError, match="not helen"):
        select_split(tmp_path, manifest, ["fasseg"], "helen", "train")


def test_an_unfinished_or_damaged_folder_is_refused_by_name(tmp_path):
    w = ShardWriter(tmp_path, "d", 4, crop_layout(4), shard_size=3)
    w.add(**{k: np.zeros(s, d) for k, (s, d) in crop_layout(4).items()})
    with pytest.raises(ValueError, match="1 of 4 rows"):
        w.close()
    with pytest.raises(FaceparseConfigError, match="index.json is missing"):
        Shards(tmp_path / "d", "images")  # killed mid-way: no index, nothing taken for complete
    _write(tmp_path, "e", 4)
    path = tmp_path / "e" / "images-00001.npy"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(FaceparseDataError, match="images-00001.npy: is .* bytes, expected"):
        Shards(tmp_path / "e", "images").row(0)
    with pytest.raises(FaceparseConfigError, match="not 'masks'"):
        Shards(tmp_path / "e", "masks")


def test_a_rerun_drops_the_old_index_and_a_bad_row_writes_nothing(tmp_path):
    _write(tmp_path, "d", 4)
    w = ShardWriter(tmp_path, "d", 4, crop_layout(4), shard_size=3)
    assert not (tmp_path / "d" / "index.json").exists()  # until this run's rows are all there
    good = {k: np.zeros(s, d) for k, (s, d) in crop_layout(4).items()}
    with pytest.raises(ValueError, match="row 0 of labels is \\(5, 5\\), expected \\(4, 4\\)"):
        w.add(**{**good, "labels": np.zeros((5, 5), np.uint8)})
    assert w.written == 0
    for _ in range(4):
        w.add(**good)
    w.close()
    assert np.array_equal(load_arrays(tmp_path, "d", ("images",))["images"], np.zeros((4, 4, 4, 3), np.uint8))


def test_a_damaged_index_is_named(tmp_path):
    _write(tmp_path, "d", 2)
    (tmp_path / "d" / "index.json").write_text('{"count": 2, "shard_size": 0, "keys": {}}')
    with pytest.raises(FaceparseDataError, match="d/index.json: count 2, shard_size 0"):
        Shards(tmp_path / "d", "images")
    (tmp_path / "d" / "index.json").write_text("not json")
    with pytest.raises(FaceparseDataError, match="d/index.json: not an align stage index"):
        load_arrays(tmp_path, "d")


def test_rows_take_any_integer_scalar_and_close_their_files(tmp_path):
    rows = _write(tmp_path, "d", 5)
    shards = Shards(tmp_path / "d", "labels")
    lazy = Rows.of(shards, np.arange(5))
    for i in (3, np.int64(3), np.array(3), -2):
        assert np.array_equal(lazy[i], rows[3]["labels"])
    shards.close()
    assert np.array_equal(lazy[4], rows[4]["labels"])  # reopened on demand
