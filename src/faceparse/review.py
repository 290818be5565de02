"""The review page of a profile run: each face drawn with where it was measured, one tile per CSV row.

A tile is the face's square of the photo, scaled to `TILE` pixels, with the face map's class outlines
(the photo shows between them), the three skin patches, the fWHR width and height lines, the pixels
read as sclera and, with `--chart auto`, the chart's box. `ReviewWriter` writes the tiles as JPEG
files while the faces are measured and `index.html` beside them at the end: a page that opens
offline (inline CSS and JS, no network), sorts by any numeric column and filters by flag.
"""

from __future__ import annotations

import csv
import html
import json
import math
import os
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from faceparse.errors import FaceparseDataError
from faceparse.facemap import BACKGROUND, FaceMap
from faceparse.labels import FASSEG6
from faceparse.profile.light import sclera_mask
from faceparse.profile.params import ProfileParams
from faceparse.profile.skin import PATCH_NAMES

TILE = 320            # the tile's side in pixels
MARGIN = 0.12         # photo added on each side of the face, as a share of its larger side
PAD = (128, 128, 128)  # where the tile's square reaches beyond the photo
# Drawing colours (RGB). The patches' and lines' colours are none of fasseg6's class colours, so a
# tile's outline of a patch can be told from the map's outlines.
PATCH_COLOURS = {"cheek_left": (255, 0, 255), "cheek_right": (255, 140, 0), "forehead": (150, 60, 255)}
LINE_COLOUR = (255, 255, 255)   # fWHR width and height
SCLERA_COLOUR = (0, 255, 150)
CHART_COLOUR = (255, 255, 255)
PATCH_LINE = 2        # px: a patch's outline lies inside its square


def _num(value: object) -> float:
    """A row's cell as a float: NaN for a missing, empty or non-numeric value (CSV rows hold strings)."""
    if value is None or isinstance(value, str) and not value.strip():
        return math.nan
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


@dataclass(frozen=True)
class TileView:
    """The square of the photo a tile shows: photo pixels `[left, left + side) x [top, top + side)`
    (it may reach beyond the photo), scaled to `size` x `size` tile pixels."""

    left: int
    top: int
    side: int
    size: int = TILE

    @property
    def scale(self) -> float:
        return self.size / self.side

    def to_tile(self, x: float, y: float) -> tuple[float, float]:
        """A photo pixel's centre `(x, y)` on the tile (pixel centres at integers on both)."""
        s = self.scale
        return (x - self.left + 0.5) * s - 0.5, (y - self.top + 0.5) * s - 0.5

    def span(self, start: int, stop: int, axis: int) -> tuple[int, int]:
        """The first and last tile pixel (inclusive) covering photo pixels `[start, stop)` along x
        (axis 0) or y (axis 1): pixel i covers [i, i + 1) on both, so the photo's [start, stop)
        covers the tile's [(start - left) * scale, (stop - left) * scale)."""
        origin = self.left if axis == 0 else self.top
        return round((start - origin) * self.scale), round((stop - origin) * self.scale) - 1


def patch_square(row: Mapping, name: str) -> tuple[int, int, int] | None:
    """The photo pixels `[x0, x0 + size) x [y0, y0 + size)` a patch measured, as `(x0, y0, size)`
    (the rounding of `skin._measure_patch`), or None when the row has no such patch."""
    x, y, size = _num(row.get(f"{name}_x")), _num(row.get(f"{name}_y")), _num(row.get(f"{name}_size_px"))
    if not (math.isfinite(x) and math.isfinite(y) and size >= 1):
        return None
    size = int(size)
    return int(round(x - size / 2)), int(round(y - size / 2)), size


def _points(row: Mapping) -> list[tuple[float, float]]:
    """Every finite point the tile draws besides the map: patch corners and fWHR line ends."""
    points = []
    for name in PATCH_NAMES:
        square = patch_square(row, name)
        if square is not None:
            x0, y0, size = square
            points += [(x0, y0), (x0 + size, y0 + size)]
    for x, y in (("fwhr_x0", "fwhr_y0"), ("fwhr_x1", "fwhr_y1"), ("fwhr_top_x", "fwhr_top_y"),
                 ("fwhr_bottom_x", "fwhr_bottom_y")):
        p = (_num(row.get(x)), _num(row.get(y)))
        if all(map(math.isfinite, p)):
            points.append(p)
    return points


def tile_view(face: FaceMap, row: Mapping, size: int = TILE) -> TileView:
    """The square a face's tile shows: its map's window (the detector's box when the map is empty)
    and everything drawn on it, `MARGIN` more on each side, centred."""
    h, w = face.labels.shape
    if (face.labels != BACKGROUND).any():
        x0, y0, x1, y1 = face.x0, face.y0, face.x0 + w, face.y0 + h
    else:
        bx, by, bw, bh = (_num(row.get(k)) for k in ("box_x", "box_y", "box_w", "box_h"))
        if not all(map(math.isfinite, (bx, by, bw, bh))):
            bx, by, bw, bh = 0, 0, face.photo_shape[1], face.photo_shape[0]
        x0, y0, x1, y1 = bx, by, bx + bw, by + bh
    for x, y in _points(row):
        x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x + 1), max(y1, y + 1)
    side = max(int(math.ceil(max(x1 - x0, y1 - y0) * (1 + 2 * MARGIN))), 1)
    return TileView(int(math.floor((x0 + x1 - side) / 2)), int(math.floor((y0 + y1 - side) / 2)), side, size)


def _square_of_photo(image: np.ndarray, view: TileView) -> np.ndarray:
    """The view's `(side, side, 3)` square of a photo, `PAD` beyond it (a view of the photo when
    the square lies inside it)."""
    h, w = image.shape[:2]
    x0, y0 = min(max(view.left, 0), w), min(max(view.top, 0), h)
    x1, y1 = max(min(view.left + view.side, w), x0), max(min(view.top + view.side, h), y0)
    inside = image[y0:y1, x0:x1]
    if inside.shape[:2] == (view.side, view.side):
        return inside
    if inside.size == 0:
        return np.full((view.side, view.side, 3), PAD, np.uint8)
    return cv2.copyMakeBorder(inside, y0 - view.top, view.top + view.side - y1, x0 - view.left,
                              view.left + view.side - x1, cv2.BORDER_CONSTANT, value=PAD)


def _window_on_square(face: FaceMap, values: np.ndarray, view: TileView, fill) -> np.ndarray:
    """A `(h, w)` array over the face's window, placed on the view's `(side, side)` square."""
    out = np.full((view.side, view.side), fill, values.dtype)
    h, w = values.shape
    x0, y0 = max(face.x0, view.left), max(face.y0, view.top)
    x1, y1 = min(face.x0 + w, view.left + view.side), min(face.y0 + h, view.top + view.side)
    if x1 > x0 and y1 > y0:
        out[y0 - view.top: y1 - view.top, x0 - view.left: x1 - view.left] = \
            values[y0 - face.y0: y1 - face.y0, x0 - face.x0: x1 - face.x0]
    return out


def _line(tile: np.ndarray, view: TileView, a: tuple[float, float], b: tuple[float, float], colour) -> None:
    """A line between two photo points, with short end ticks across it (sub-pixel exact: shift 4)."""
    (ax, ay), (bx, by) = view.to_tile(*a), view.to_tile(*b)
    if not all(map(math.isfinite, (ax, ay, bx, by))):
        return
    q = 16  # cv2's shift=4: coordinates in 1/16 pixel

    def pt(x: float, y: float) -> tuple[int, int]:
        return int(round(x * q)), int(round(y * q))

    cv2.line(tile, pt(ax, ay), pt(bx, by), colour, 1, cv2.LINE_AA, shift=4)
    length = math.hypot(bx - ax, by - ay)
    if length > 0:
        nx, ny = -(by - ay) / length * 5, (bx - ax) / length * 5  # 5 px either side
        for x, y in ((ax, ay), (bx, by)):
            cv2.line(tile, pt(x - nx, y - ny), pt(x + nx, y + ny), colour, 2, cv2.LINE_AA, shift=4)


def draw_tile(image: np.ndarray, face: FaceMap, row: Mapping, params: ProfileParams = ProfileParams(),
              size: int = TILE) -> np.ndarray:
    """One face's review tile, `(size, size, 3) uint8` RGB.

    image: `(H, W, 3) uint8` sRGB photo; face: its `FaceMap`; row: the face's profile row (dict, or a
    CSV row of strings). The tile shows `tile_view(face, row)`: the photo (INTER_AREA), the map's
    class boundaries one pixel wide in fasseg6's colours, the sclera pixels, the chart's box, the fWHR
    width and height lines with end ticks, and each patch's square as a `PATCH_LINE`-pixel outline
    lying exactly on the tile pixels that cover the patch's photo pixels (`TileView.span`). Missing
    (NaN, empty) coordinates are not drawn."""
    view = tile_view(face, row, size)
    tile = np.ascontiguousarray(cv2.resize(_square_of_photo(np.asarray(image), view), (size, size),
                                           interpolation=cv2.INTER_AREA))

    labels = cv2.resize(_window_on_square(face, face.labels, view, BACKGROUND), (size, size),
                        interpolation=cv2.INTER_NEAREST)
    edge = np.zeros(labels.shape, bool)
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    edge[1:] |= labels[1:] != labels[:-1]
    edge[:-1] |= labels[:-1] != labels[1:]
    edge &= labels != BACKGROUND  # each class outlined on its own side of the boundary
    tile[edge] = FASSEG6.palette()[labels[edge]]

    ys, xs = np.nonzero(sclera_mask(image, face, params)[0])  # the tile pixel each sclera pixel falls in
    u = np.floor((xs + face.x0 - view.left + 0.5) * view.scale).astype(int)
    v = np.floor((ys + face.y0 - view.top + 0.5) * view.scale).astype(int)
    keep = (u >= 0) & (u < size) & (v >= 0) & (v < size)
    tile[v[keep], u[keep]] = SCLERA_COLOUR

    chart = [_num(row.get(k)) for k in ("chart_x0", "chart_y0", "chart_x1", "chart_y1")]
    if all(map(math.isfinite, chart)):
        (cx0, cy0), (cx1, cy1) = view.to_tile(chart[0], chart[1]), view.to_tile(chart[2], chart[3])
        cv2.rectangle(tile, (int(round(cx0)), int(round(cy0))), (int(round(cx1)), int(round(cy1))), CHART_COLOUR, 1)

    for a, b in ((("fwhr_x0", "fwhr_y0"), ("fwhr_x1", "fwhr_y1")),
                 (("fwhr_top_x", "fwhr_top_y"), ("fwhr_bottom_x", "fwhr_bottom_y"))):
        _line(tile, view, (_num(row.get(a[0])), _num(row.get(a[1]))), (_num(row.get(b[0])), _num(row.get(b[1]))),
              LINE_COLOUR)

    for name in PATCH_NAMES:  # last: nothing is drawn over a patch's outline
        square = patch_square(row, name)
        if square is None:
            continue
        x0, y0, side = square
        u0, u1 = view.span(x0, x0 + side, 0)
        v0, v1 = view.span(y0, y0 + side, 1)
        for k in range(PATCH_LINE):
            if u1 - k >= u0 + k and v1 - k >= v0 + k:
                cv2.rectangle(tile, (u0 + k, v0 + k), (u1 - k, v1 - k), PATCH_COLOURS[name], 1)
    return tile


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
        tiles = [self._drawn.get((_key(r["photo"]), int(_num(r.get("face_index")))))
                 if _num(r.get("face_index")) >= 0 else None for r in rows]
        page = self.out / "index.html"
        _write_atomically(page, review_html(rows, tiles).encode("utf-8"))
        return page


def read_csv_rows(path: Path | str) -> list[dict[str, str]]:
    """A profile CSV's rows as strings (what `ReviewWriter.finish` reads; no type guessing)."""
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# ---- the page -----------------------------------------------------------------------------------

SORT_DEFAULT = "patch_confidence"  # the mean of the three patches' confidence: least confident first


def _flags(row: Mapping) -> list[str]:
    return [f.strip() for f in str(row.get("flags") or "").split(";") if f.strip()]


def _flag_kind(flag: str) -> str:
    """A flag as the filter groups it: `unreadable: <why>` -> `unreadable`."""
    return flag.split(":", 1)[0]


def _patch_confidence(row: Mapping) -> float:
    values = [v for v in (_num(row.get(f"{p}_confidence")) for p in PATCH_NAMES) if math.isfinite(v)]
    return sum(values) / len(values) if values else math.nan


def _is_number(value: object) -> bool:
    if isinstance(value, bool):
        return False
    try:
        float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True


def _numeric_columns(rows: list[Mapping]) -> list[str]:
    """Columns worth sorting by, in first-seen order: every non-empty cell a number, and not all the
    same (a constant column, such as every photo's width in a study, orders nothing)."""
    numeric = []
    for c in dict.fromkeys(k for r in rows for k in r):
        cells = [v for v in (r.get(c) for r in rows) if v is not None and not (isinstance(v, str) and not v.strip())]
        if all(map(_is_number, cells)) and len({_num(v) for v in cells if math.isfinite(_num(v))}) > 1:
            numeric.append(c)
    return numeric


def _short(value: float, digits: int = 6) -> float | None:
    """A number for the page's data: 6 significant digits (sorting needs no more), None for NaN."""
    return float(f"{value:.{digits}g}") if math.isfinite(value) else None


def sort_order(values: Sequence[float], descending: bool = False) -> list[int]:
    """Row indices sorted by `values`, missing (NaN) values counted as the lowest, ties in CSV order:
    the page's sort (its script does the same)."""
    def key(i: int) -> tuple[int, float, int]:
        v = values[i]
        missing = not math.isfinite(v)
        if descending:
            return (1 if missing else 0, 0.0 if missing else -v, i)
        return (0 if missing else 1, 0.0 if missing else v, i)
    return sorted(range(len(values)), key=key)


def _fmt(value: float, digits: int = 1) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else "–"


def _display_names(rows: list[Mapping]) -> list[str]:
    """Each row's photo, relative to the folder all the rows' photos share."""
    photos = [str(r.get("photo", "")) for r in rows]
    parents = [os.path.dirname(p) for p in photos]
    try:
        common = os.path.commonpath(parents) if parents and all(parents) else ""
    except ValueError:  # absolute and relative paths mixed
        common = ""
    return [os.path.relpath(p, common) if common else p for p in photos]


def _tile_html(i: int, row: Mapping, tile: str | None, name: str) -> str:
    e = html.escape
    flags = _flags(row)
    face_index = _num(row.get("face_index"))
    face_index, n_faces = int(face_index) if math.isfinite(face_index) else -1, _num(row.get("n_faces"))
    title = e(name) + (f' <span class="sub">face {face_index + 1} of {int(n_faces)}</span>'
                       if face_index >= 0 and n_faces > 1 else "")
    attrs = (f'class="tile{" face" if face_index >= 0 else ""}" data-i="{i}" '
             f'data-photo="{e(str(row.get("photo", "")))}" '
             f'data-face="{face_index}" data-flags="{e(";".join(flags))}"')
    if tile is not None:
        picture = (f'<img src="{e(tile)}" loading="lazy" width="{TILE}" height="{TILE}" '
                   f'alt="{e(name)}, face {face_index}">')
    elif face_index >= 0:
        picture = ('<div class="missing">no tile: measured by an earlier run that drew none '
                   '(--restart draws every face)</div>')
    else:
        picture = f'<div class="missing">{e("; ".join(flags) or "no face")}</div>'
    lines = []
    if face_index >= 0:
        L, a, b = (_num(row.get(f"cheeks_{c}")) for c in "Lab")
        category = str(row.get("cheeks_ita_category") or "")
        lines = [f"cheeks L*a*b* {_fmt(L)} {_fmt(a)} {_fmt(b)}",
                 f"ITA {_fmt(_num(row.get('cheeks_ita')))}°" + (f" ({e(category)})" if category else ""),
                 f"fWHR {_fmt(_num(row.get('fwhr')), 3)}",
                 f"patch confidence {_fmt(_patch_confidence(row), 3)}",
                 f"colour {e(str(row.get('colour_correction') or 'none'))}"]
    values = "".join(f"<div>{line}</div>" for line in lines)
    badges = "".join(f'<span class="flag">{e(f)}</span>' for f in flags) or '<span class="ok">no flags</span>'
    return (f'<figure {attrs}>{picture}<figcaption><div class="name" title="{e(str(row.get("photo", "")))}">'
            f'{title}</div><div class="values">{values}</div><div class="flags">{badges}</div></figcaption></figure>')


def _key_html() -> str:
    def swatch(colour, text: str) -> str:
        return f'<span class="key"><i style="background:rgb{tuple(colour)}"></i>{html.escape(text)}</span>'

    classes = [swatch(c, f"{n} outline") for n, c in zip(FASSEG6.classes, FASSEG6.palette().tolist())
               if n != "background"]
    drawn = [swatch(PATCH_COLOURS[p], p.replace("_", " ") + " patch") for p in PATCH_NAMES]
    drawn += [swatch(LINE_COLOUR, "fWHR width and height"), swatch(SCLERA_COLOUR, "sclera pixels")]
    return "".join(classes + drawn)


_CSS = """
body{font:14px/1.35 system-ui,sans-serif;margin:0;background:#eceff1;color:#222}
header{position:sticky;top:0;background:#fff;padding:10px 16px;border-bottom:1px solid #ccc;z-index:1}
h1{font-size:18px;margin:0 0 6px}
.controls label{margin-right:14px}
.keys{margin-top:6px;font-size:12px}
.key{margin-right:12px;white-space:nowrap}
.key i{display:inline-block;width:11px;height:11px;margin-right:4px;vertical-align:-1px;border:1px solid #555}
#grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(336px,1fr));gap:10px;padding:12px}
.tile{margin:0;background:#fff;border:1px solid #ccc;border-radius:4px;padding:8px}
.tile img,.missing{display:block;width:320px;height:320px;background:#808080}
.missing{display:flex;align-items:center;justify-content:center;text-align:center;color:#fff;
  padding:0 16px;box-sizing:border-box}
.name{font-weight:600;margin-top:4px;word-break:break-all}
.sub{font-weight:400;color:#666}
.values{font-variant-numeric:tabular-nums;color:#333}
.flag{display:inline-block;background:#c62828;color:#fff;border-radius:3px;padding:0 5px;margin:2px 3px 0 0;
  font-size:12px}
.ok{color:#2e7d32;font-size:12px}
.tile[hidden]{display:none}
"""

_JS = """
(function(){
  var data = JSON.parse(document.getElementById('rows').textContent);
  var grid = document.getElementById('grid');
  var tiles = Array.prototype.slice.call(grid.querySelectorAll('.tile'));
  var byIndex = [];
  tiles.forEach(function(t){ byIndex[+t.dataset.i] = t; });
  var sortBy = document.getElementById('sort'), dir = document.getElementById('dir');
  var filter = document.getElementById('filter'), shown = document.getElementById('shown');
  function kinds(t){  // `unreadable: <why>` is filtered as `unreadable`
    return t.dataset.flags ? t.dataset.flags.split(';').map(function(f){ return f.split(':')[0]; }) : [];
  }
  function update(){
    var col = data.values[sortBy.value], down = dir.value === 'desc';
    var order = byIndex.map(function(_, i){ return i; });
    order.sort(function(i, j){
      var a = col ? col[i] : i, b = col ? col[j] : j;
      var ma = a === null, mb = b === null;  // missing counts as the lowest value
      if (ma !== mb) return (ma ? -1 : 1) * (down ? -1 : 1);
      if (!ma && a !== b) return (a < b ? -1 : 1) * (down ? -1 : 1);
      return i - j;
    });
    var f = filter.value, n = 0;
    order.forEach(function(i){
      var t = byIndex[i], k = kinds(t);
      var keep = f === '' || (f === '@any' ? k.length > 0 : f === '@none' ? k.length === 0 : k.indexOf(f) >= 0);
      t.hidden = !keep; n += keep ? 1 : 0;
      grid.appendChild(t);
    });
    shown.textContent = n;
    document.body.dataset.shown = n;
    history.replaceState(null, '', '#' + new URLSearchParams({sort: sortBy.value, dir: dir.value, filter: f}));
  }
  // A view can be linked: index.html#sort=fwhr&dir=desc&filter=greyscale
  var asked = new URLSearchParams(location.hash.slice(1));
  [['sort', sortBy], ['dir', dir], ['filter', filter]].forEach(function(p){
    var v = asked.get(p[0]);
    if (v !== null && Array.prototype.some.call(p[1].options, function(o){ return o.value === v; })) p[1].value = v;
  });
  sortBy.onchange = dir.onchange = filter.onchange = update;
  update();
})();
"""


def review_html(rows: list[Mapping], tiles: Sequence[str | None]) -> str:
    """The review page: one tile per row (`tiles[i]`, a path relative to the page, or None for a text
    tile), sorted least confident first, with the data to sort by any numeric column inline."""
    e = html.escape
    numeric = _numeric_columns(rows)
    values = {SORT_DEFAULT: [_short(_patch_confidence(r)) for r in rows]}
    values.update({c: [_short(_num(r.get(c))) for r in rows] for c in numeric})
    order = sort_order([_patch_confidence(r) for r in rows])
    names = _display_names(rows)
    flag_counts = Counter(k for r in rows for k in dict.fromkeys(_flag_kind(f) for f in _flags(r)))
    n_faces = sum(_num(r.get("face_index")) >= 0 for r in rows)
    n_drawn = sum(t is not None for t in tiles)

    options = [f'<option value="{SORT_DEFAULT}" selected>mean patch confidence</option>',
               '<option value="">CSV order</option>']
    options += [f'<option value="{e(c)}">{e(c)}</option>' for c in numeric]
    filters = ['<option value="">every row</option>', '<option value="@any">any flag</option>',
               '<option value="@none">no flag</option>']
    filters += [f'<option value="{e(k)}">{e(k)} ({n})</option>' for k, n in sorted(flag_counts.items(),
                                                                                  key=lambda kv: (-kv[1], kv[0]))]
    data = json.dumps({"values": values}, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    body = "\n".join(_tile_html(i, rows[i], tiles[i], names[i]) for i in order)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>faceparse profile review</title>
<meta name="viewport" content="width=device-width,initial-scale=1"><style>{_CSS}</style></head>
<body data-tiles="{len(rows)}" data-faces="{n_faces}" data-drawn="{n_drawn}" data-shown="{len(rows)}">
<header><h1>faceparse profile review</h1>
<div>{len(rows)} rows, {n_faces} faces ({n_drawn} drawn), <span id="shown">{len(rows)}</span> shown.
Drawn on each face where it was measured; empty values sort as the lowest.</div>
<div class="controls"><label>sort by <select id="sort">{''.join(options)}</select></label>
<label><select id="dir"><option value="asc" selected>ascending</option><option value="desc">descending</option>
</select></label><label>show <select id="filter">{''.join(filters)}</select></label></div>
<div class="keys">{_key_html()}</div></header>
<main id="grid">
{body}
</main>
<script type="application/json" id="rows">{data}</script>
<script>{_JS}</script>
</body></html>
"""
