"""Results of long runs (`predict`, `profile`) kept photo by photo, so that a killed run loses
nothing it finished and the same command, run again, continues where it stopped.

The results are a CSV with one or more rows per photo, appended as each batch of photos is done
(flushed and synced, so a kill at any moment leaves every photo written before it). Beside it,
`<file>.run.json` records what produced the rows: the command, the model's and adapter's sha256,
the options that change a row, and the faceparse version. A rerun continues only a file whose
record matches; anything else is an error unless `--restart` is given, so rows of two different
runs are never mixed.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import signal
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from faceparse.errors import FaceparseError

Row = dict[str, Any]


def cell(value: Any) -> str:
    """A CSV cell: integers stay integers, floats keep every digit (repr), NaN and None are empty."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # NumPy scalars
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


class _Stop:
    """Where `interruptible` keeps a signal that arrived while a write was under way."""

    writing = False
    pending: str | None = None


@contextmanager
def _signals_held() -> Iterator[None]:
    """A SIGINT or SIGTERM arriving inside the block is acted on when the block is done (Python runs
    signal handlers in the main thread, between two bytecodes, so the flag is enough; SIGKILL cannot
    be held: see ResultsFile)."""
    _Stop.writing = True
    try:
        yield
    finally:
        _Stop.writing = False
    if _Stop.pending is not None:
        name, _Stop.pending = _Stop.pending, None
        raise Interrupted(name)


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def _csv_text(columns: list[str], rows: Iterable[Row], header: bool) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if header:
        writer.writerow(columns)
    for row in rows:
        writer.writerow([cell(row.get(c)) for c in columns])
    return buf.getvalue()


def write_rows(path: Path, rows: list[Row]) -> None:
    """Write `rows` as one CSV at once, atomically, columns in order of first appearance, cells as
    `cell` writes them (the format of the files `ResultsFile` keeps)."""
    columns = list(dict.fromkeys(k for r in rows for k in r))
    _write_atomically(Path(path), _csv_text(columns, rows, header=True))


class Interrupted(Exception):
    """SIGINT (Ctrl-C) or SIGTERM arrived; every photo finished before it is written."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(f"interrupted by {signal_name}")
        self.signal_name = signal_name


@contextmanager
def interruptible() -> Iterator[None]:
    """Turn SIGINT and SIGTERM into `Interrupted`, raised in the work, never inside a write (one
    that arrives during a write is raised when the write is done)."""
    def on_signal(signum, frame):
        name = signal.Signals(signum).name
        if _Stop.writing:
            _Stop.pending = name
        else:
            raise Interrupted(name)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


class ResultsFile:
    """A CSV of result rows, grouped by photo (the `key` column), kept on disk as the run goes.

    `complete(rows)` tells whether a photo's rows are all there (a photo with three faces has three
    rows); a kill in the middle of a write can leave the last photo short, and it is then done again.
    """

    def __init__(self, path: Path, identity: dict, restart: bool = False, key: str = "photo",
                 complete: Callable[[list[Row]], bool] = lambda rows: len(rows) > 0) -> None:
        self.path, self.key, self.complete = Path(path), key, complete
        self.record = self.path.with_name(self.path.name + ".run.json")
        self.identity = json.loads(json.dumps(identity))  # as it reads back from the record
        self.columns: list[str] = []
        self.done: dict[str, list[Row]] = {}
        if restart:
            for p in (self.path, self.record):
                p.unlink(missing_ok=True)
        self._open()

    def _open(self) -> None:
        if self.path.exists() and not self.record.exists():
            raise FaceparseError(f"{self.path} exists and was not written by a run that can be continued; give "
                                 "--restart to overwrite it, or another --out")
        if self.record.exists() and not self.path.exists():
            self.record.unlink()  # a run stopped before its first row kept nothing to continue
        if self.record.exists():
            try:
                stored = json.loads(self.record.read_text())
            except (OSError, json.JSONDecodeError) as err:
                raise FaceparseError(f"{self.record}: unreadable run record ({err}); give --restart to start over") from None
            if stored != self.identity:
                changed = sorted(k for k in set(stored) | set(self.identity) if stored.get(k) != self.identity.get(k))
                raise FaceparseError(f"{self.path} holds results of another run (different {', '.join(changed)}); "
                                     "rerun with the same model and options to continue it, or give --restart to "
                                     "start over")
            if self.path.exists():
                self._read()
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(self.record, json.dumps(self.identity, indent=2) + "\n")

    def _read(self) -> None:
        with open(self.path, newline="") as f:
            text = f.read()
        rows = list(csv.DictReader(io.StringIO(text)))
        self.columns = list(csv.reader(io.StringIO(text.partition("\n")[0])))[0] if text.strip() else []
        if text and not text.endswith("\n"):
            rows = rows[:-1]  # a line cut short by a kill
        groups: dict[str, list[Row]] = {}
        for row in rows:
            groups.setdefault(row[self.key], []).append(row)
        kept = {k: g for k, g in groups.items() if self.complete(g)}
        self.done = kept
        if len(kept) != len(groups) or (text and not text.endswith("\n")):
            self._rewrite()  # drop what a kill left half-written

    def _rewrite(self, extra: list[Row] = ()) -> None:
        rows = [r for g in self.done.values() for r in g] + list(extra)
        _write_atomically(self.path, _csv_text(self.columns, rows, header=True))

    def add(self, groups: list[list[Row]]) -> None:
        """Append the rows of finished photos (one list per photo) and sync them to disk."""
        rows = [r for g in groups for r in g]
        if not rows:
            return
        new = [c for c in dict.fromkeys(k for r in rows for k in r) if c not in self.columns]
        with _signals_held():
            if new or not self.path.exists():
                # A column no earlier row had: the header changes, so the file is written anew (rare).
                self.columns += new
                self._rewrite(extra=rows)
            else:
                with open(self.path, "a", newline="") as f:
                    f.write(_csv_text(self.columns, rows, header=False))
                    f.flush()
                    os.fsync(f.fileno())
            for g in groups:  # done once on disk, not before
                self.done[str(g[0][self.key])] = g


def run_identity(command: str, predictor, **options) -> dict:
    """What makes the rows of two runs interchangeable: the command, faceparse's version, the model's
    and adapter's sha256, flip TTA, the label set, the runtime, the precision and the options that
    change a row."""
    from faceparse import __version__
    from faceparse.checksums import sha256_of

    adapter = predictor.adapter_path
    return {"command": command, "faceparse": __version__, "model_sha256": predictor.model_sha256,
            "adapter_sha256": sha256_of(Path(adapter)) if adapter else None, "tta": predictor.tta,
            "label_set": predictor.label_set, "runtime": predictor.runtime, "precision": predictor.precision,
            **options}


def photo_key(photo: Path | str) -> str:
    """A photo as a rerun recognises it: its resolved path, however the command named it."""
    return str(Path(photo).resolve())


def done_photos(results: ResultsFile) -> set[str]:
    """The `photo_key` of every photo whose rows `results` holds."""
    return {photo_key(photo) for photo in results.done}


def stopped(err: Interrupted, done: int, total: int, where: Path) -> int:
    """Tell the user a run stopped by a signal, how far it got and how to continue; returns the exit
    status, 128 + the signal's number."""
    import sys

    print(f"faceparse: {err}: {done} of {total} photos done, kept in {where}. Run the same command again to "
          "continue (--restart starts over).", file=sys.stderr)
    return 130 if err.signal_name == "SIGINT" else 143
