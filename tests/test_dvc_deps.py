"""Every stage in dvc.yaml lists, as deps, the code it runs: otherwise `dvc repro` calls stale outputs
up to date. The code a stage runs is its script plus every project module it imports, followed
transitively through the source (lazy imports inside functions count)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"

# Imported by stages but unable to change what a stage writes, so not deps (a change to them would
# rebuild the study for nothing): the package's version string, and MLflow logging.
NO_EFFECT = {"src/faceparse/__init__.py", "src/faceparse/tracking.py"}
PROJECT = ("faceparse", "stages")  # top-level packages whose files are the project's code


def _module_file(dotted: str) -> Path | None:
    """The project file of a module: `faceparse.*` under src/, `stages.*` (the stage scripts) at the root."""
    base = (ROOT if dotted.split(".")[0] == "stages" else SRC).joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _package_of(path: Path) -> str:
    """The package a source file's relative imports resolve against (for `__init__.py`, its own)."""
    base = ROOT if path.is_relative_to(ROOT / "stages") else SRC
    return ".".join(path.relative_to(base).parent.parts)


def _imported(path: Path) -> set[Path]:
    """Project files that `path` imports directly, with the `__init__.py` of every package on the way."""
    found: set[Path] = set()

    def add(dotted: str) -> None:
        parts = dotted.split(".")
        for i in range(1, len(parts) + 1):
            f = _module_file(".".join(parts[:i]))
            if f is not None:
                found.add(f)

    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PROJECT:
                    add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing file's package
                package = _package_of(path).split(".")
                package = package[:len(package) - node.level + 1]
                module = ".".join(package + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] not in PROJECT:
                continue
            add(module)
            for alias in node.names:  # `from faceparse import tracking` imports a module
                if _module_file(f"{module}.{alias.name}") is not None:
                    add(f"{module}.{alias.name}")
    return found


def code_closure(script: Path) -> set[str]:
    """Repository paths of `script` and every project file it imports, transitively."""
    seen: set[Path] = set()
    todo = [script]
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        todo.extend(_imported(f) - seen)
    return {f.relative_to(ROOT).as_posix() for f in seen}


def _stages() -> list[tuple[str, str, list[str]]]:
    """(name, script, deps) of every stage in dvc.yaml, `foreach` stages once."""
    doc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    out = []
    for name, stage in doc["stages"].items():
        body = stage.get("do", stage)
        words = body["cmd"].split()
        script = words[words.index("-m") + 1].replace(".", "/") + ".py"  # python -m stages.<name> ...
        out.append((name, script, [str(d) for d in body.get("deps", [])]))
    return out


def test_relative_imports_resolve_from_modules_and_package_inits(tmp_path, monkeypatch):
    pkg = tmp_path / "faceparse" / "sub"
    pkg.mkdir(parents=True)
    for name in ("__init__.py", "jsonio.py", "metrics.py", "sub/other.py"):
        (tmp_path / "faceparse" / name).write_text("")
    (pkg / "__init__.py").write_text("from .. import jsonio\nfrom . import other\n")
    (pkg / "mod.py").write_text("from ..metrics import x\n")
    monkeypatch.setattr(sys.modules[__name__], "SRC", tmp_path)
    names = lambda found: sorted(f.relative_to(tmp_path).as_posix() for f in found)  # noqa: E731
    assert names(_imported(pkg / "__init__.py")) == ["faceparse/__init__.py", "faceparse/jsonio.py",
                                                     "faceparse/sub/__init__.py", "faceparse/sub/other.py"]
    assert names(_imported(pkg / "mod.py")) == ["faceparse/__init__.py", "faceparse/metrics.py"]


def test_closure_follows_imports_through_packages():
    closure = code_closure(ROOT / "stages/evaluate.py")
    # evaluate -> faceparse.predict -> faceparse.inference (flip TTA); -> faceparse.datasets -> its readers
    assert "src/faceparse/inference.py" in closure
    assert "src/faceparse/datasets/__init__.py" in closure
    assert "src/faceparse/datasets/base.py" in closure
    assert "stages/_common.py" in closure and "stages/__init__.py" in closure


# What a model's training must not depend on: drawing, reporting, the CLI, prediction, profiling.
NOT_TRAINING = ("src/faceparse/plots.py", "src/faceparse/report.py", "src/faceparse/cli.py", "src/faceparse/predict.py",
                "src/faceparse/evaluate.py", "src/faceparse/profile/", "src/faceparse/align.py",
                "src/faceparse/datasets/")


@pytest.mark.parametrize("stage", ["train", "adapt"])
def test_training_depends_on_no_drawing_reporting_or_prediction_code(stage):
    [(_, script, deps)] = [s for s in _stages() if s[0] == stage]
    closure = code_closure(ROOT / script)
    assert not [p for p in closure if p.startswith(NOT_TRAINING)], closure
    assert not [d for d in deps if d.startswith(NOT_TRAINING)], deps
    # and no file it runs imports matplotlib, even lazily
    assert not [p for p in closure if "matplotlib" in (ROOT / p).read_text()]


# What scoring and measuring must not depend on: fetching and unpacking datasets, writing crops.
NOT_INFERENCE = ("src/faceparse/download.py", "src/faceparse/archives.py", "src/faceparse/mirror.py",
                 "src/faceparse/trees.py", "src/faceparse/shard_writer.py")


@pytest.mark.parametrize("stage", ["evaluate", "profile", "london_check"])
def test_inference_depends_on_no_download_or_shard_writing_code(stage):
    """A change to tar extraction or to the shard writer must not rerun evaluation and profiling."""
    [(_, script, deps)] = [s for s in _stages() if s[0] == stage]
    closure = code_closure(ROOT / script)
    assert not [p for p in closure if p in NOT_INFERENCE], sorted(closure)
    assert not [d for d in deps if d in NOT_INFERENCE], deps


@pytest.mark.parametrize("name,script,deps", _stages(), ids=[s[0] for s in _stages()])
def test_stage_deps_cover_the_code_it_runs(name, script, deps):
    covered = {d.rstrip("/") for d in deps}

    def is_dep(path: str) -> bool:
        return any(path == d or path.startswith(d + "/") for d in covered)

    missing = sorted(p for p in code_closure(ROOT / script) - NO_EFFECT if not is_dep(p))
    assert not missing, f"dvc.yaml stage {name!r} runs {script}, which imports files it does not list as deps: {missing}"


def test_bytecode_beside_the_sources_is_not_a_dependency():
    """Python writes `__pycache__/` into `src/` on import; were it hashed, running the tests would make
    `dvc status` call every stage with a code directory dep changed."""
    def ignored(path: str) -> bool:
        return subprocess.run([sys.executable, "-m", "dvc", "check-ignore", "-q", path], cwd=ROOT).returncode == 0

    assert ignored("src/faceparse/datasets/__pycache__/base.cpython-311.pyc")
    assert not ignored("src/faceparse/datasets/base.py")
