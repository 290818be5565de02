"""The aligned-crop cache the align stage writes: its format, and reading it as training and evaluation do.

One folder per dataset, its crops in shards of `SHARD_SIZE` rows: `<dataset>/<key>-00000.npy`,
`<dataset>/<key>-00001.npy`, ... for each key (`images` `(n, S, S, 3) uint8`, `labels` and
`native_labels` `(n, S, S) uint8`, `affines` `(n, 2, 3) float64`), and `<dataset>/index.json` with
the row count, shard size and each key's row shape and dtype. A manifest row's `index` is its row
in its dataset.

Plain `.npy` files, because training draws rows in any order (shuffled epochs, `oversample` and
`mix` repeats): a row is one read at a known offset, with no decoding, no shuffle buffer and no
pickle. Rows are read with `os.preadv`, not a memory map, so a reader's resident memory holds the
rows it was asked for and nothing of the files around them (`Rows`): training at 100,000 crops
needs the memory of a batch, not of the dataset. `faceparse.shard_writer` streams rows into
each shard as they come, so align needs no more; `faceparse.sampling` picks the rows training reads.
"""

from __future__ import annotations

import json
import operator
import os
import weakref
from pathlib import Path

import numpy as np

from faceparse.errors import FaceparseConfigError, FaceparseDataError

SHARD_SIZE = 1024     # rows per shard file: an images shard of 256-px crops is 201 MB
INDEX = "index.json"


def crop_layout(size: int) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Row shape and dtype of each key the align stage stores for `size`-pixel crops."""
    return {"images": ((size, size, 3), np.dtype(np.uint8)), "labels": ((size, size), np.dtype(np.uint8)),
            "native_labels": ((size, size), np.dtype(np.uint8)), "affines": ((2, 3), np.dtype(np.float64))}


def shard_name(key: str, shard: int) -> str:
    return f"{key}-{shard:05d}.npy"


class Shards:
    """One key of one dataset's shards, read a row at a time (`row(i)`), files opened on first use
    in each process (a DataLoader worker gets the paths, not open files)."""

    def __init__(self, dataset_dir: Path, key: str) -> None:
        self.dir, self.key = Path(dataset_dir), key
        index = read_index(self.dir)
        if key not in index["keys"]:
            raise FaceparseConfigError(f"{self.dir / INDEX} holds {sorted(index['keys'])}, not {key!r}; "
                                       "rerun the align stage")
        self.count, self.shard_size = index["count"], index["shard_size"]
        self.row_shape, self.dtype = index["keys"][key]
        self.row_bytes = int(np.prod(self.row_shape, dtype=np.int64)) * self.dtype.itemsize
        self._offsets: list[int] | None = None
        self._fds: list[int] = []

    def __len__(self) -> int:
        return self.count

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_closer"} | {"_offsets": None, "_fds": []}

    def close(self) -> None:
        """Close the shard files (a later `row` opens them again)."""
        if self._offsets is not None:
            self._closer()
            self._offsets, self._fds = None, []

    def row(self, i: int) -> np.ndarray:
        """Row `i`: a fresh, writable array."""
        if not 0 <= i < self.count:
            raise IndexError(f"{self.dir}/{self.key}: row {i} of {self.count}")
        if self._offsets is None:
            self._open()
        shard, r = divmod(int(i), self.shard_size)
        buf = bytearray(self.row_bytes)
        n = os.preadv(self._fds[shard], [buf], self._offsets[shard] + r * self.row_bytes)
        if n != self.row_bytes:
            raise FaceparseDataError(self.dir / shard_name(self.key, shard), f"row {r} is cut short; rerun the align stage")
        return np.frombuffer(buf, dtype=self.dtype).reshape(self.row_shape)

    def _open(self) -> None:
        offsets, fds = [], []
        for shard in range(-(-self.count // self.shard_size)):
            path = self.dir / shard_name(self.key, shard)
            rows = min(self.shard_size, self.count - shard * self.shard_size)
            try:
                with open(path, "rb") as f:
                    version = np.lib.format.read_magic(f)
                    if version not in ((1, 0), (2, 0)):
                        raise ValueError(f"format version {version}")
                    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                   else np.lib.format.read_array_header_2_0)
                    shape, fortran, dtype = read_header(f)
                    offset = f.tell()
            except FileNotFoundError:
                raise FaceparseDataError(path, "missing; rerun the align stage") from None
            except ValueError as err:
                raise FaceparseDataError(path, f"not an array file ({err})") from None
            # An object array holds pickles: refused, never read.
            if dtype != self.dtype or fortran or shape != (rows, *self.row_shape):
                raise FaceparseDataError(path, f"holds {dtype} {shape}, expected {self.dtype} {(rows, *self.row_shape)} "
                                               f"as {self.dir / INDEX} says; rerun the align stage")
            if path.stat().st_size != offset + rows * self.row_bytes:
                raise FaceparseDataError(path, f"is {path.stat().st_size} bytes, expected {offset + rows * self.row_bytes}; "
                                               "rerun the align stage")
            offsets.append(offset)
            fds.append(os.open(path, os.O_RDONLY))
        self._offsets, self._fds = offsets, fds
        self._closer = weakref.finalize(self, _close_all, fds)


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)


def read_index(folder: Path) -> dict:
    """A dataset folder's `index.json`: `count`, `shard_size` and `keys` ({key: (row shape, dtype)})."""
    path = Path(folder) / INDEX
    try:
        index = json.loads(path.read_text())
        out = {"count": int(index["count"]), "shard_size": int(index["shard_size"]),
               "keys": {k: (tuple(int(n) for n in v["shape"]), np.dtype(v["dtype"])) for k, v in index["keys"].items()}}
    except FileNotFoundError:
        raise FaceparseConfigError(f"{path} is missing: {folder} is not a complete align stage output; "
                                   "rerun the align stage") from None
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise FaceparseDataError(path, f"not an align stage index ({type(err).__name__}: {err}); rerun the align stage") from None
    if out["count"] < 0 or out["shard_size"] < 1 or any(d.hasobject for _, d in out["keys"].values()):
        raise FaceparseDataError(path, f"count {out['count']}, shard_size {out['shard_size']}: not an align stage "
                                       "index; rerun the align stage")
    return out


class Rows:
    """A lazy `(N, ...)` array of rows from one or more `Shards`, in a given order: `rows[i]` reads
    one row, `rows[a:b]` reads those rows into an array, `rows[positions]` is a new `Rows`."""

    def __init__(self, sources: list[Shards], source: np.ndarray, position: np.ndarray) -> None:
        self.sources, self.source, self.position = sources, np.asarray(source, np.int32), np.asarray(position, np.int64)
        shapes = {(s.row_shape, s.dtype) for s in sources}
        if len(shapes) > 1:
            raise FaceparseConfigError(f"rows of different shapes cannot be read together: {sorted(map(str, shapes))}")
        self.row_shape, self.dtype = next(iter(shapes)) if shapes else ((), np.dtype(np.uint8))

    @classmethod
    def of(cls, shards: Shards, positions: np.ndarray) -> Rows:
        return cls([shards], np.zeros(len(positions), np.int32), positions)

    @classmethod
    def concat(cls, parts: list[Rows]) -> Rows:
        sources, source = [], []
        for p in parts:
            source.append(p.source + len(sources))
            sources.extend(p.sources)
        return cls(sources, np.concatenate(source) if source else np.zeros(0, np.int32),
                   np.concatenate([p.position for p in parts]) if parts else np.zeros(0, np.int64))

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.position), *self.row_shape)

    def __len__(self) -> int:
        return len(self.position)

    def __getitem__(self, i):
        if not isinstance(i, slice) and np.ndim(i) == 0:
            i = operator.index(i)
            return self.sources[self.source[i]].row(int(self.position[i]))
        if isinstance(i, slice):
            idx = range(*i.indices(len(self)))
            out = np.empty((len(idx), *self.row_shape), self.dtype)
            for j, k in enumerate(idx):
                out[j] = self.sources[self.source[k]].row(int(self.position[k]))
            return out
        i = np.asarray(i)
        return Rows(self.sources, self.source[i], self.position[i])

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self[0:len(self)]
        return out if dtype is None else out.astype(dtype)


def load_arrays(aligned_dir: Path, dataset: str, keys: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """Every row of `keys` (all keys when None) of `dataset`, read into memory: for the small ones
    (`affines`); training reads the others through `select_split`'s `Rows`."""
    folder = Path(aligned_dir) / dataset
    known = read_index(folder)["keys"]
    missing = sorted(set(keys or ()) - set(known))
    if missing:
        raise FaceparseConfigError(f"{folder / INDEX} holds {sorted(known)}, not {missing}; rerun the align stage")
    out = {}
    for key in keys or tuple(known):
        shards = Shards(folder, key)
        out[key] = np.asarray(Rows.of(shards, np.arange(len(shards))))
        shards.close()
    return out
