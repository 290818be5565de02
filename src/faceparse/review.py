"""The review folder of a profile run: `ReviewWriter` writes each face's tile (`faceparse.review_tile`)
as a JPEG file while the faces are measured, keeps which photo and face each tile shows so that a run
continuing a stopped one keeps its tiles, and at the end writes `index.html` beside them over the
CSV's rows (`faceparse.review_page`).
"""

from __future__ import annotations

import csv
import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

from faceparse.errors import FaceparseDataError
from faceparse.facemap import FaceMap
from faceparse.profile.params import ProfileParams
from faceparse.review_page import review_html
from faceparse.review_tile import TILE, cell_number, draw_tile


def _key(photo: object) -> str:
    """A photo as the review recognises it across runs: its resolved path."""
    return str(Path(str(photo)).resolve())


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


MANIFEST = "tiles.jsonl"  # one JSON line per tile drawn: [tile, photo, face_index]; the first line, the run


class ReviewWriter:
    """A run's review folder: `tiles/<n>_<face>.jpg` drawn as faces are measured (`add`, safe from
    several threads; `n` is the photo's place in `photos`, so names follow the photos' order, not
    the order measuring finishes), and `index.html` over the CSV's rows (`finish`).

    Which photo and face each tile shows is kept in `tiles.jsonl`, line by line as tiles are written,
    so a run that continues a stopped one (same `identity`) keeps the tiles drawn before; a different
    `identity`, or `restart`, forgets them (their files are removed)."""

    def __init__(self, out_dir: Path | str, photos: Sequence[Path | str], identity: Mapping | None = None,
                 restart: bool = False, size: int = TILE, quality: int = 85) -> None:
        self.out = Path(out_dir)
        if self.out.exists() and not self.out.is_dir():
            raise FaceparseDataError(self.out, "is a file; --review needs a folder to write the page into")
        (self.out / "tiles").mkdir(parents=True, exist_ok=True)
        self.size, self.quality = size, quality
        self._order = {_key(p): i for i, p in enumerate(photos)}
        self._digits = len(str(max(len(photos) - 1, 0)))
        self._lock = threading.Lock()
        self._drawn: dict[tuple[str, int], str] = {}   # (photo, face_index) -> tile
        self._shows: dict[str, tuple[str, int]] = {}   # tile -> (photo, face_index), its inverse
        run = json.loads(json.dumps(dict(identity or {}), default=str))
        manifest = self.out / MANIFEST
        earlier = self._read_manifest(manifest)
        if earlier is not None and (restart or earlier[0] != run):
            for tile in {t for t, _ in earlier[1]}:
                (self.out / tile).unlink(missing_ok=True)
            earlier = None
        if earlier is None:
            _write_atomically(manifest, (json.dumps({"run": run}) + "\n").encode())
        else:
            for tile, key in earlier[1]:
                self._assign(key, tile)
            self._drawn = {k: t for k, t in self._drawn.items() if (self.out / t).is_file()}
        self._manifest = manifest

    def _assign(self, key: tuple[str, int], tile: str) -> None:
        """Record that `tile` shows `key`'s face: a photo whose earlier tile name now shows another
        (the photos given to a rerun changed their order) has no tile any more."""
        before = self._shows.get(tile)
        if before is not None and before != key:
            self._drawn.pop(before, None)
        old = self._drawn.get(key)
        if old is not None and old != tile:
            self._shows.pop(old, None)
        self._drawn[key], self._shows[tile] = tile, key

    @staticmethod
    def _read_manifest(path: Path) -> tuple[dict, list[tuple[str, tuple[str, int]]]] | None:
        """The run recorded in a manifest and its tiles in the order they were written."""
        if not path.is_file():
            return None
        lines = path.read_text(encoding="utf-8").splitlines()
        try:
            run = json.loads(lines[0])["run"]
            drawn = []
            for line in lines[1:]:
                try:
                    tile, photo, face_index = json.loads(line)
                except json.JSONDecodeError:  # the last line of a run killed mid-write
                    continue
                drawn.append((tile, (photo, int(face_index))))
        except (IndexError, KeyError, TypeError, ValueError, json.JSONDecodeError):
            raise FaceparseDataError(path, "is not a review manifest (expected a run line, then one JSON line "
                                     "per tile); remove it or give another --review folder") from None
        return run, drawn

    def add(self, image: np.ndarray, face: FaceMap, row: Mapping, params: ProfileParams = ProfileParams()) -> str:
        """Draw a face (`draw_tile`), write its tile and return the tile's path relative to the folder."""
        key = _key(row["photo"])
        if key not in self._order:
            raise ValueError(f"{row['photo']}: not one of the photos this review was opened for")
        face_index = int(row["face_index"])
        tile = f"tiles/{self._order[key]:0{self._digits}d}_{face_index}.jpg"
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(draw_tile(image, face, row, params, self.size), cv2.COLOR_RGB2BGR),
                                [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise FaceparseDataError(self.out / tile, "could not be encoded as JPEG")
        _write_atomically(self.out / tile, jpeg.tobytes())
        with self._lock:  # after the tile's file: a line in the manifest means its tile is whole
            self._assign((key, face_index), tile)
            with open(self._manifest, "a", encoding="utf-8") as f:
                f.write(json.dumps([tile, key, face_index]) + "\n")
        return tile

    def tile_of(self, photo: Path | str, face_index: int = 0) -> Path | None:
        """The tile drawn for a photo's face, or None."""
        tile = self._drawn.get((_key(photo), face_index))
        return self.out / tile if tile else None

    def finish(self, rows: Iterable[Mapping]) -> Path:
        """Write `index.html` for `rows` (the CSV's, every one of them: a tile each) and return its path."""
        rows = list(rows)
        tiles = [self._drawn.get((_key(r["photo"]), int(cell_number(r.get("face_index")))))
                 if cell_number(r.get("face_index")) >= 0 else None for r in rows]
        page = self.out / "index.html"
        _write_atomically(page, review_html(rows, tiles).encode("utf-8"))
        return page


def read_csv_rows(path: Path | str) -> list[dict[str, str]]:
    """A profile CSV's rows as strings (what `ReviewWriter.finish` reads; no type guessing)."""
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))
