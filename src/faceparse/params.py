"""Read `params.yaml` once and turn each stage's section into its frozen params dataclass, one way
for every stage (`parse`); a missing, unknown or mistyped key fails with its dotted name."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from faceparse.errors import FaceparseConfigError

T = TypeVar("T")


def load_params(path: Path | str = "params.yaml") -> dict:
    path = Path(path)
    try:
        with open(path) as f:
            params = yaml.safe_load(f) or {}
    except FileNotFoundError:
        raise FaceparseConfigError(f"{path}: params file not found") from None
    except yaml.YAMLError as err:
        raise FaceparseConfigError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(params, dict):
        raise FaceparseConfigError(f"{path}: expected a mapping of stage names to settings")
    return params


def get(params: dict, dotted: str) -> Any:
    """`get(params, "train.main.arch")`, naming the missing key when there is none."""
    node: Any = params
    for i, key in enumerate(dotted.split(".")):
        if not isinstance(node, dict) or key not in node:
            raise FaceparseConfigError(f"params.yaml has no key {'.'.join(dotted.split('.')[: i + 1])!r}")
        node = node[key]
    return node


def parse(cls: type[T], section: Any, where: str) -> T:
    """A frozen params dataclass from one section of params.yaml, checked key by key.

    Unknown keys, missing keys (fields without a default) and values of the wrong type raise
    FaceparseConfigError naming the dotted key (`train.main.epochs`). A field whose type is itself
    a params dataclass, or `dict[str, <dataclass>]`, is parsed the same way, one level down.
    """
    if not isinstance(section, dict):
        raise FaceparseConfigError(f"params.yaml: {where} must be a mapping of settings, found {section!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(section) - set(fields))
    if unknown:
        raise FaceparseConfigError(f"params.yaml: unknown key {', '.join(f'{where}.{k}' for k in unknown)}; "
                                   f"{where} takes {', '.join(fields)}")
    missing = [name for name, f in fields.items() if name not in section
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise FaceparseConfigError(f"params.yaml has no key {', '.join(f'{where}.{k}' for k in missing)}")
    hints = typing.get_type_hints(cls)
    return cls(**{name: _value(value, hints[name], f"{where}.{name}") for name, value in section.items()})


def _value(value: Any, hint: Any, where: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return _value(value, option, where)
            except FaceparseConfigError as err:
                errors.append(err)
        raise errors[0]
    if dataclasses.is_dataclass(hint):
        return parse(hint, value, where)
    if origin is dict:
        if not isinstance(value, dict):
            raise FaceparseConfigError(f"params.yaml: {where} must be a mapping, found {value!r}")
        if args and dataclasses.is_dataclass(args[1]):
            return {k: parse(args[1], v, f"{where}.{k}") for k, v in value.items()}
        return dict(value)
    if origin in (list, tuple) or hint in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise FaceparseConfigError(f"params.yaml: {where} must be a list, found {value!r}")
        return tuple(value) if (origin or hint) is tuple else list(value)
    if hint is dict:
        if not isinstance(value, dict):
            raise FaceparseConfigError(f"params.yaml: {where} must be a mapping, found {value!r}")
        return dict(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and not (isinstance(value, hint) and not (hint is int and isinstance(value, bool))):
        raise FaceparseConfigError(f"params.yaml: {where} must be {hint.__name__}, found {value!r}")
    return value
