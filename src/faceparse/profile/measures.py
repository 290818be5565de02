"""The measures `faceparse profile` can take of a face, each a module of `faceparse.profile` with its
columns, its quality flags and a one-line definition with its source (`Measure`). `--measures`
and the study's `profile.measure.measures` name the ones a run takes; `MEASURES` lists them all.

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
