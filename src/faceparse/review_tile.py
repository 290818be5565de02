"""One face's review tile: the face's square of the photo, scaled to `TILE` pixels, with the face
map's class outlines (the photo shows between them), the three skin patches, the fWHR width and
height lines, the pixels read as sclera and, with `--chart auto`, the chart's box, each drawn where
the face's profile row says it was measured."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np

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


def cell_number(value: object) -> float:
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
    x, y, size = (cell_number(row.get(f"{name}_{k}")) for k in ("x", "y", "size_px"))
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
        p = (cell_number(row.get(x)), cell_number(row.get(y)))
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
        bx, by, bw, bh = (cell_number(row.get(k)) for k in ("box_x", "box_y", "box_w", "box_h"))
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

    chart = [cell_number(row.get(k)) for k in ("chart_x0", "chart_y0", "chart_x1", "chart_y1")]
    if all(map(math.isfinite, chart)):
        (cx0, cy0), (cx1, cy1) = view.to_tile(chart[0], chart[1]), view.to_tile(chart[2], chart[3])
        cv2.rectangle(tile, (int(round(cx0)), int(round(cy0))), (int(round(cx1)), int(round(cy1))), CHART_COLOUR, 1)

    for a, b in ((("fwhr_x0", "fwhr_y0"), ("fwhr_x1", "fwhr_y1")),
                 (("fwhr_top_x", "fwhr_top_y"), ("fwhr_bottom_x", "fwhr_bottom_y"))):
        _line(tile, view, (cell_number(row.get(a[0])), cell_number(row.get(a[1]))),
              (cell_number(row.get(b[0])), cell_number(row.get(b[1]))), LINE_COLOUR)

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
