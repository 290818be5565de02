"""The review page, `index.html`: one tile per profile CSV row (or a text tile where none was drawn),
least confident first, with each face's values and flags. It opens offline (inline CSS and JS, no
network), sorts by any numeric column and filters by flag.
"""

from __future__ import annotations

import html
import json
import math
import os
from collections import Counter
from collections.abc import Mapping, Sequence

from faceparse.labels import FASSEG6
from faceparse.profile.skin import PATCH_NAMES
from faceparse.review_tile import LINE_COLOUR, PATCH_COLOURS, SCLERA_COLOUR, TILE, cell_number

SORT_DEFAULT = "patch_confidence"  # the mean of the three patches' confidence: least confident first


def _flags(row: Mapping) -> list[str]:
    return [f.strip() for f in str(row.get("flags") or "").split(";") if f.strip()]


def _flag_kind(flag: str) -> str:
    """A flag as the filter groups it: `unreadable: <why>` -> `unreadable`."""
    return flag.split(":", 1)[0]


def _patch_confidence(row: Mapping) -> float:
    values = [v for v in (cell_number(row.get(f"{p}_confidence")) for p in PATCH_NAMES) if math.isfinite(v)]
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
        if all(map(_is_number, cells)) and len({cell_number(v) for v in cells if math.isfinite(cell_number(v))}) > 1:
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
    face_index = cell_number(row.get("face_index"))
    face_index, n_faces = int(face_index) if math.isfinite(face_index) else -1, cell_number(row.get("n_faces"))
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
        L, a, b = (cell_number(row.get(f"cheeks_{c}")) for c in "Lab")
        category = str(row.get("cheeks_ita_category") or "")
        lines = [f"cheeks L*a*b* {_fmt(L)} {_fmt(a)} {_fmt(b)}",
                 f"ITA {_fmt(cell_number(row.get('cheeks_ita')))}°" + (f" ({e(category)})" if category else ""),
                 f"fWHR {_fmt(cell_number(row.get('fwhr')), 3)}",
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
    values.update({c: [_short(cell_number(r.get(c))) for r in rows] for c in numeric})
    order = sort_order([_patch_confidence(r) for r in rows])
    names = _display_names(rows)
    flag_counts = Counter(k for r in rows for k in dict.fromkeys(_flag_kind(f) for f in _flags(r)))
    n_faces = sum(cell_number(r.get("face_index")) >= 0 for r in rows)
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
