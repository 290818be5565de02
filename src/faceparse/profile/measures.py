"""The measures `faceparse profile` can take of a face, each a module of `faceparse.profile` with its
columns, its quality flags and a one-line definition with its source (`Measure`). `--measures`
and the study's `profile.measure.measures` name the ones a run takes; `NAMES` lists them all.

A measure reads a `FaceView` and returns its columns (NaN where the face does not support the
value) and its quality flags, which say why a value is missing or should not be trusted. How a
value was measured is a column of its own (`fwhr_width_method`, `pose_method`), not a flag.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module

from faceparse.errors import FaceparseConfigError
from faceparse.profile.view import FaceView


@dataclass(frozen=True)
class Measure:
    """One measure: what it is, what it writes, and the function that takes it."""

    name: str                      # as `--measures` names it
    definition: str                # one line, with its source
    columns: tuple[str, ...]       # the row's columns it writes, in order (its flags column last)
    flags: dict[str, str]          # each quality flag it can raise -> what it means ("<patch>" patterns allowed)
    take: Callable[[FaceView], tuple[dict, list[str]]]  # the columns and the flags raised

    def __call__(self, view: FaceView) -> dict:
        """The measure's columns for one face, its flags joined into `<name>_flags`."""
        values, flags = self.take(view)
        row = {c: values.get(c, float("nan")) for c in self.columns[:-1]}
        row[self.columns[-1]] = ";".join(dict.fromkeys(flags))
        return row


# name -> the module that defines its MEASURE; the order is the CSV's.
MODULES = {"skin": "skin", "fwhr": "fwhr", "contrast": "contrast", "features": "features",
           "evenness": "evenness", "pose": "pose"}
NAMES = tuple(MODULES)


def get(name: str) -> Measure:
    """The measure called `name`."""
    if name not in MODULES:
        raise FaceparseConfigError(f"no measure {name!r}; the measures are {', '.join(NAMES)}")
    return import_module(f"faceparse.profile.{MODULES[name]}").MEASURE


def selected(names: tuple[str, ...] | list[str]) -> list[Measure]:
    """The measures called `names`, in the CSV's order."""
    unknown = [n for n in names if n not in MODULES]
    if unknown:
        raise FaceparseConfigError(f"unknown measure {', '.join(map(repr, unknown))}; the measures are {', '.join(NAMES)}")
    return [get(n) for n in NAMES if n in names]


def parse_names(text: str) -> tuple[str, ...]:
    """`--measures` text ("all", or names joined by commas) -> the names, checked."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if names in ((), ("all",)):
        return NAMES
    selected(names)
    return names


# Flags a row can carry besides its measures' own: the photo's, the light's and the colour's.
ROW_FLAGS = {
    "unreadable: <why>": "the file is not a readable image (the row has no face)",
    "no_face": "the detector found no face in the photo (one row for the photo)",
    "several_faces": "the photo holds more than one face (one row each, largest first)",
    "not_a_face": "the map finds no nose (less than min_nose_share of its labelled pixels) in what the detector "
                  "took for a face (an animal, a cup, a pattern): nothing is measured",
}
LIGHT_FLAGS = {
    "no_sclera": "fewer than min_sclera_pixels of sclera: eyes closed, too small, or sunglasses",
    "underexposed": "sclera L* below min_sclera_L",
    "overexposed": "more of the skin clipped than max_skin_clipped",
    "colour_cast": "sclera chroma above max_sclera_chroma: the light or the camera cast a colour",
}
COLOUR_FLAGS = {
    "no_chart": "--chart auto found no chart in the photo: colours as taken",
    "chart_fit_poor": "the chart fit's leave-one-patch-out dE2000 is above max_chart_dE",
    "chart_clipped": "a chart patch at 0 or 255, left out of the fit",
    "no_white_balance": "--white-balance sclera on a face without a sclera: colours as taken",
}
PLACEHOLDERS = {"<patch>": ("cheek_left", "cheek_right", "forehead"), "<side>": ("right", "left"),
                "<feature>": ("brows", "eyes", "lips"), "<why>": None}


def all_flags() -> dict[str, dict[str, str]]:
    """Every flag a profile row can carry, by where it comes from: "row", each measure's name,
    "light", "colour" -> {flag (placeholders in <>): meaning}."""
    out = {"row": ROW_FLAGS}
    out.update({name: get(name).flags for name in NAMES})
    out.update({"light": LIGHT_FLAGS, "colour": COLOUR_FLAGS})
    return out


def is_listed(flag: str) -> bool:
    """Whether `flag`, as raised, is one `all_flags` lists (its placeholders filled in)."""
    for flags in all_flags().values():
        for pattern in flags:
            if pattern == flag:
                return True
            for holder, values in PLACEHOLDERS.items():
                if holder not in pattern:
                    continue
                head, _, tail = pattern.partition(holder)
                if values is None:
                    if flag.startswith(head) and flag.endswith(tail):
                        return True
                elif any(flag == head + v + tail for v in values):
                    return True
    return False


def flags_markdown() -> str:
    """The flags of `all_flags` as the README lists them: one line per source."""
    lines = []
    for source, flags in all_flags().items():
        listed = "; ".join(f"`{f}`: {meaning}" for f, meaning in flags.items())
        lines.append(f"- **{source}**: {listed}")
    return "\n".join(lines)
