"""The whole study reruns from `dvc repro`: a temporary copy of the project with shrunken params
(a handful of photos, 64 px crops, one epoch) runs every stage on the real data mirror, a second
`dvc repro` does nothing, and an experiment's per-class changes show in `dvc metrics diff`."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import ROOT

DVC = [sys.executable, "-m", "dvc"]


def _run(cmd: list[str], cwd: Path, env: dict) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout + proc.stderr


def shrink(params: dict) -> dict:
    for d in params["prepare"]["datasets"].values():
        d["limit"] = 4
    params["align"]["size"] = 64
    for m in params["train"].values():
        m.update(epochs=1, batch_size=2, num_workers=0, weights="none", arch="compact")
    params["adapt"].update(epochs=1, batch_size=2)
    params["evaluate"].update(bootstrap=20, overlays=1)
    params["profile"]["limit"] = 4
    return params


@pytest.fixture(scope="module")
def study(tmp_path_factory, mirror):
    work = tmp_path_factory.mktemp("study")
    for name in ("dvc.yaml", "params.yaml", "stages", "src", ".dvc/config", ".dvcignore", ".gitignore", "Makefile",
                 "pyproject.toml", "requirements.lock"):
        src = ROOT / name
        if not src.exists():
            continue
        dst = work / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dst)
    params = shrink(yaml.safe_load((ROOT / "params.yaml").read_text()))
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "FACEPARSE_MIRROR": str(mirror), "DVC_NO_ANALYTICS": "1",
           "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    for cmd in (["git", "init", "-q"], ["git", "config", "user.email", "t@example.org"], ["git", "config", "user.name", "t"]):
        _run(cmd, work, env)
    _run(DVC + ["init", "-q", "--force"], work, env) if not (work / ".dvc" / "config").exists() else None
    out = _run(DVC + ["repro"], work, env)
    return work, env, out


def test_every_stage_writes_real_outputs(study):
    work, _, _ = study
    evaluation = json.loads((work / "metrics/evaluate.json").read_text())
    assert set(evaluation) == {"main", "synthetic", "synthetic+adapter"}
    for model in evaluation.values():
        s = model["fasseg/test"]
        assert s["n_images"] == 4
        assert 0.0 <= s["pixel_accuracy"] <= 1.0
        assert set(s["f1"]) == {"background", "skin", "hair", "eyes", "nose", "mouth"}
    manifest = (work / "data/prepared/manifest.csv").read_text().splitlines()
    assert manifest[0].startswith("id,dataset,split,subject,pose,image,label")
    for name in ("main", "synthetic", "adapter"):
        assert (work / "models" / f"{name}.pt").stat().st_size > 10_000
    trained = json.loads((work / "metrics/train_main.json").read_text())
    timings = json.loads((work / "metrics/timings/train_main.json").read_text())
    assert timings["peak_memory_mb"]["main"] > 100  # torch alone takes more than this
    assert "peak_memory_mb" not in trained and "seconds" not in trained
    poses = trained["val_mean_f1_by_pose"]  # empty when no V3 photo falls in this tiny validation split
    assert isinstance(poses, dict) and all(0.0 <= v <= 1.0 for v in poses.values())
    assert (work / "metrics/report.md").read_text().count("|") > 20
    assert (work / "data/report/report.html").stat().st_size > 10_000
    profile = (work / "data/profile/profile.csv").read_text().splitlines()
    assert len(profile) >= 2
    assert (work / "dvc.lock").exists()
    summary = json.loads((work / "metrics/summary.json").read_text())
    assert summary["main"]["fasseg_f1"] == evaluation["main"]["fasseg/test"]["mean_f1"]


def test_no_output_holds_a_path_of_the_machine(study):
    """Outputs are the same in any folder on any machine: none holds the study's own absolute path
    (or the environment's), so two clones' `dvc.lock` files agree."""
    work, _, _ = study
    needles = [str(work).encode(), str(Path(sys.prefix).resolve()).encode(), str(ROOT).encode()]
    found = []
    for top in ("models", "metrics", "data"):
        for f in (work / top).rglob("*"):
            if f.is_file() and not f.is_symlink() and not f.is_relative_to(work / "data/raw"):
                data = f.read_bytes()
                found += [f"{f.relative_to(work)}: {n.decode()}" for n in needles if n in data]
    assert not found, found
    timings = {out for stage in yaml.safe_load((work / "dvc.lock").read_text())["stages"].values()
               for out in stage.get("outs", []) if "timings" in out["path"]}
    assert not timings  # timings are not DVC outputs: a rerun leaves dvc.lock as it was


def test_second_repro_does_nothing(study):
    work, env, _ = study
    out = _run(DVC + ["repro"], work, env)
    assert "Running stage" not in out


def test_a_plotting_change_reruns_no_training(study):
    """A source file is a rerun unit: a colour changed in the plotting module makes evaluate, profile
    and report stale, never a model's training."""
    work, env, _ = study
    plots = work / "src/faceparse/plots.py"
    original = plots.read_text()
    assert 'color="tab:blue"' in original
    try:
        plots.write_text(original.replace('color="tab:blue"', 'color="tab:green"'))
        stale = set(json.loads(_run(DVC + ["status", "--json"], work, env)))
    finally:
        plots.write_text(original)
    assert {"evaluate", "profile"} <= stale
    assert not stale & {"train@main", "train@synthetic", "adapt", "download", "prepare", "align"}, stale


def readme_blocks() -> list[tuple[str, str]]:
    """The ```bash blocks a user runs in the project, as (page, block): README.md's in order, then each
    docs/*.md page's, pages by name; the quick start (`make repro`, `make test`) builds the real study
    and runs outside this test. Text that is not meant to be run as written (GPU training, a Ray
    cluster, the full-scale study) belongs in a ```text or ```console block."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return [(page.relative_to(ROOT).as_posix(), block) for page in pages
            for block in re.findall(r"^```bash\n(.*?)^```", page.read_text(), flags=re.S | re.M)
            if "make repro" not in block]


def test_readme_is_short_and_links_every_docs_page():
    """A README a newcomer reads to the end: under 230 lines, every docs/ page linked from it, and
    every ```bash fence of README and docs found by `readme_blocks` (none skipped by a stray space)."""
    readme = (ROOT / "README.md").read_text()
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    assert len(pages) > 1 and len(readme.splitlines()) < 230
    unlinked = [p.name for p in pages[1:] if f"](docs/{p.name}" not in readme]
    assert not unlinked, f"docs pages the README does not link: {unlinked}"
    fences = sum(len(re.findall(r"^```bash", p.read_text(), flags=re.M)) for p in pages)
    quick_start = sum("make repro" in b for b in re.findall(r"^```bash\n(.*?)^```", readme, flags=re.S | re.M))
    assert quick_start == 1 and fences == len(readme_blocks()) + quick_start


def test_readme_commands_run_as_written_in_a_fresh_shell(study):
    """Each README and docs/ command, in a shell where the project's environment is not active (system
    PATH, no VIRTUAL_ENV), on the tiny study: the experiment's per-class changes show in the diff."""
    work, env, _ = study
    _run(["git", "add", "-A"], work, env)
    _run(["git", "commit", "-qm", "baseline"], work, env)
    venv = work / ".venv"
    if not venv.exists():
        venv.symlink_to(Path(sys.prefix), target_is_directory=True)
    # The user's environment (certificates, proxies, HOME) less the project's: no venv on PATH.
    venv_bin = {str(Path(sys.prefix) / "bin"), str(Path(sys.executable).parent)}
    shell = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH")}
    shell["PATH"] = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p not in venv_bin)
    assert shutil.which("faceparse", path=shell["PATH"]) is None  # the environment is really not active
    pages_blocks = readme_blocks()
    blocks = [block for _, block in pages_blocks]
    assert len(blocks) >= 2 and any("dvc exp run" in b for b in blocks) and any("faceparse profile" in b for b in blocks)
    for page, block in pages_blocks:
        started = time.perf_counter()
        proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block], cwd=work, env=shell,
                              capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, f"{page} block failed:\n{block}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        print(f"{time.perf_counter() - started:.0f} s: {page}: {block.splitlines()[1]} ...")
    diff = json.loads(_run(DVC + ["metrics", "diff", "--json"], work, env))
    assert list(diff) == ["metrics/summary.json"]  # the summary alone, short enough to read whole
    assert "main.fasseg_f1" in diff["metrics/summary.json"]
    assert len(diff["metrics/summary.json"]) < 80
    changes = json.loads(_run(DVC + ["metrics", "diff", "--json", "--targets", "metrics/evaluate.json"], work,
                              env))["metrics/evaluate.json"]
    per_class = [k for k in changes if k.startswith("main.fasseg/test.f1.")]
    assert per_class, f"no per-class F1 in the diff: {sorted(changes)[:10]}"
    # The README's `dvc exp show` line fits a 200-column terminal for this one-param experiment.
    line = next(line for page, b in pages_blocks if page == "README.md" for line in b.splitlines()
                if line.startswith("dvc exp show"))
    shown = subprocess.run(["bash", "-c", f"source .venv/bin/activate && {line}"], cwd=work,
                           env={**shell, "COLUMNS": "200"}, capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0 and shown.stdout, shown.stderr
    width = max(len(line) for line in shown.stdout.splitlines())
    assert width <= 200, shown.stdout
    assert "main.fasseg_f1" in shown.stdout and "train.main.arch" in shown.stdout
    # what the photo commands wrote: one row per London photo, one label map per neutral photo
    neutral = sorted((work / "data/raw/london_faces/neutral_front").glob("*.jpg"))
    assert len(list((work / "predictions").glob("*_labels.png"))) == len(neutral) > 0
    profile = pd.read_csv(work / "profile.csv")
    assert profile["photo"].nunique() == 2 * len(neutral)  # neutral and smiling photos of each person
    assert (work / "eval/metrics.json").exists()
