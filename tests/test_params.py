"""params.yaml holds every knob: each stage's section parses into its frozen params dataclass, and
every field of that dataclass (nested ones too) is written out, so `dvc exp run -S` reaches it."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import pytest
import yaml

from faceparse.adapter import AdaptParams
from faceparse.geometry import AlignParams
from faceparse.download import DownloadParams
from faceparse.errors import FaceparseConfigError
from faceparse.evaluate import EvaluateParams
from faceparse.params import parse
from faceparse.prepare import PrepareParams
from faceparse.profile.params import ProfileStageParams
from faceparse.train import TrainParams

ROOT = Path(__file__).resolve().parents[1]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
SECTIONS = {"download": DownloadParams, "prepare": PrepareParams, "align": AlignParams, "adapt": AdaptParams,
            "evaluate": EvaluateParams, "profile": ProfileStageParams,
            **{f"train.{name}": TrainParams for name in PARAMS["train"]}}


def _section(dotted: str) -> dict:
    node = PARAMS
    for key in dotted.split("."):
        node = node[key]
    return node


def _missing(cls: type, section: dict, where: str) -> list[str]:
    """Dotted names of the fields of `cls` (and of the params dataclasses inside it) absent from `section`."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if f.name not in section:
            out.append(f"{where}.{f.name}")
            continue
        hint, value = hints[f.name], section[f.name]
        if dataclasses.is_dataclass(hint):
            out += _missing(hint, value, f"{where}.{f.name}")
        elif typing.get_origin(hint) is dict and dataclasses.is_dataclass(typing.get_args(hint)[1]):
            for key, item in value.items():
                out += _missing(typing.get_args(hint)[1], item, f"{where}.{f.name}.{key}")
    return out


def test_every_stage_with_params_has_its_dataclass():
    assert set(PARAMS) == {k.partition(".")[0] for k in SECTIONS}


@pytest.mark.parametrize("where", sorted(SECTIONS))
def test_every_field_is_in_params_yaml_and_parses(where):
    cls = SECTIONS[where]
    assert _missing(cls, _section(where), where) == []
    assert isinstance(parse(cls, _section(where), where), cls)


def test_a_nested_section_names_its_wrong_key():
    profile = {**PARAMS["profile"], "measure": {**PARAMS["profile"]["measure"], "patch_fraction": 0.3}}
    with pytest.raises(FaceparseConfigError, match="unknown key profile.measure.patch_fraction;"):
        parse(ProfileStageParams, profile, "profile")
    prepare = {**PARAMS["prepare"], "datasets": {"fasseg": {"val_fraction": 0.1}}}
    with pytest.raises(FaceparseConfigError, match="no key prepare.datasets.fasseg.format"):
        parse(PrepareParams, prepare, "prepare")


def test_the_full_scale_params_parse_and_hang_together():
    """params_full.yaml (docs/scale.md: the full-scale study) is a whole params file: every section parses,
    every dataset a model trains on or a split scores is downloaded and prepared, and each one's
    labels reach the model's label set through a registered table."""
    from faceparse.datasets import get_reader
    from faceparse.labels import MAPPINGS

    full = yaml.safe_load((ROOT / "params_full.yaml").read_text())
    assert set(full) == set(PARAMS)
    sections = {**SECTIONS, **{f"train.{name}": TrainParams for name in full["train"]}}
    parsed = {}
    for where, cls in sections.items():
        node = full
        for key in where.split("."):
            node = node[key]
        assert _missing(cls, node, where) == [], where
        parsed[where] = parse(cls, node, where)
    downloaded = set(parsed["download"].datasets)
    prepared = parsed["prepare"].datasets
    assert set(prepared) <= downloaded
    for name, d in prepared.items():
        assert parsed["download"].datasets[name].format == d.format
    for where in [w for w in parsed if w.startswith("train.")]:
        p = parsed[where]
        for name in p.datasets:
            vocabulary = get_reader(prepared[name].format).vocabulary
            assert vocabulary == p.label_set or (vocabulary, p.label_set) in MAPPINGS, (where, name)
        assert p.precision == "bf16" and p.batch_size % 8 == 0
    for split in parsed["evaluate"].splits:
        assert split.split("/")[0] in prepared, split
    # the datasets without a direct download say how to get them, and are taken from the mirror only
    manual = {n for n, d in parsed["download"].datasets.items() if d.manual}
    assert manual == {"celebamask_hq", "lapa", "ibugmask", "helen"}
