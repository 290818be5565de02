"""Writing the aligned-crop shards (`faceparse.crops` is the format and its reader): the align
stage streams each dataset's crops into them, row by row, as it makes them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from faceparse.crops import INDEX, SHARD_SIZE, shard_name


class ShardWriter:
    """Write `count` rows of one dataset, row by row, into `out_dir/<dataset>/`. Each shard's files
    are written under a temporary name and renamed once full, and `index.json` comes last, so a
    killed run leaves no folder a reader takes for complete."""

    def __init__(self, out_dir: Path, dataset: str, count: int, layout: dict[str, tuple[tuple[int, ...], np.dtype]],
                 shard_size: int = SHARD_SIZE) -> None:
        if shard_size < 1:
            raise ValueError(f"shard_size must be at least 1, got {shard_size}")
        self.dir = Path(out_dir) / dataset
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / INDEX).unlink(missing_ok=True)  # an earlier run's index must not vouch for new shards
        self.count, self.layout, self.shard_size = count, layout, shard_size
        self.written, self._files = 0, {}

    def add(self, **rows: np.ndarray) -> None:
        """One row of every key of the layout."""
        if sorted(rows) != sorted(self.layout):
            raise ValueError(f"a row needs {sorted(self.layout)}, got {sorted(rows)}")
        if self.written >= self.count:
            raise ValueError(f"{self.dir}: all {self.count} rows are written")
        values = {}
        for key, value in rows.items():  # every key checked before any is written: the files stay in step
            shape, dtype = self.layout[key]
            values[key] = np.ascontiguousarray(value, dtype=dtype)
            if values[key].shape != shape:
                raise ValueError(f"{self.dir}: row {self.written} of {key} is {values[key].shape}, expected {shape}")
        shard, row = divmod(self.written, self.shard_size)
        if row == 0:
            self._open(shard)
        for key, value in values.items():
            self._files[key][1].write(value.tobytes())
        self.written += 1
        if row + 1 == self._rows(shard):
            self._finish()

    def close(self) -> Path:
        """Check every row came and write `index.json`; returns the dataset's folder."""
        if self.written != self.count:
            raise ValueError(f"{self.dir}: {self.written} of {self.count} rows written")
        index = {"count": self.count, "shard_size": self.shard_size,
                 "keys": {k: {"shape": list(s), "dtype": d.str} for k, (s, d) in self.layout.items()}}
        tmp = self.dir / (INDEX + ".tmp")
        tmp.write_text(json.dumps(index, indent=1))
        tmp.replace(self.dir / INDEX)
        return self.dir

    def _rows(self, shard: int) -> int:
        return min(self.shard_size, self.count - shard * self.shard_size)

    def _open(self, shard: int) -> None:
        for key, (shape, dtype) in self.layout.items():
            path = self.dir / shard_name(key, shard)
            f = open(path.with_suffix(".tmp"), "wb")
            np.lib.format.write_array_header_1_0(f, {"descr": np.lib.format.dtype_to_descr(dtype),
                                                     "fortran_order": False, "shape": (self._rows(shard), *shape)})
            self._files[key] = (path, f)

    def _finish(self) -> None:
        for path, f in self._files.values():
            f.close()
            path.with_suffix(".tmp").replace(path)
        self._files = {}
