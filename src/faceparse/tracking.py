"""MLflow logging that never breaks a stage: on any MLflow failure it warns once and goes on.

Default store: `sqlite:///mlflow.db` at the repo root with artifacts in `mlartifacts/`;
`MLFLOW_TRACKING_URI` overrides. Runs are tagged with the git commit and the stage.
"""

from __future__ import annotations

import logging
import os
import subprocess
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

log = logging.getLogger(__name__)
EXPERIMENT = "faceparse"


def _flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def git_commit(root: Path) -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                              timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class Tracker:
    """A thin handle on one MLflow run; every call is a no-op once MLflow has failed."""

    def __init__(self, mlflow_module: Any | None) -> None:
        self._mlflow = mlflow_module

    def _call(self, what: str, fn, *args, **kwargs) -> None:
        if self._mlflow is None:
            return
        try:
            fn(*args, **kwargs)
        except Exception as err:  # MLflow must never stop the study
            log.warning("MLflow %s failed (%s); the stage goes on without tracking", what, err)
            self._mlflow = None

    def params(self, params: dict) -> None:
        flat = {k: str(v)[:500] for k, v in _flatten(params).items()}
        self._call("log_params", lambda: self._mlflow.log_params(flat))

    def metrics(self, metrics: dict, step: int | None = None) -> None:
        flat = {k: float(v) for k, v in _flatten(metrics).items()
                if isinstance(v, (int, float)) and v == v}
        self._call("log_metrics", lambda: self._mlflow.log_metrics(flat, step=step))

    def artifact(self, path: Path | str) -> None:
        if Path(path).exists():
            self._call("log_artifact", lambda: self._mlflow.log_artifact(str(path)))


@contextmanager
def run(stage: str, root: Path, run_name: str | None = None) -> Iterator[Tracker]:
    """An MLflow run for `stage` (a disabled Tracker if MLflow cannot start)."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    mlflow = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import mlflow as _mlflow
            logging.getLogger("alembic").setLevel(logging.WARNING)
            uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(root / 'mlflow.db').as_posix()}"
            _mlflow.set_tracking_uri(uri)
            if _mlflow.get_experiment_by_name(EXPERIMENT) is None:
                _mlflow.create_experiment(EXPERIMENT, artifact_location=(root / "mlartifacts").as_uri())
            _mlflow.set_experiment(EXPERIMENT)
            _mlflow.start_run(run_name=run_name or stage, tags={"stage": stage, "git_commit": git_commit(root)})
            mlflow = _mlflow
    except Exception as err:
        log.warning("MLflow unavailable (%s); stage %s goes on without tracking", err, stage)
    tracker = Tracker(mlflow)
    try:
        yield tracker
    finally:
        if tracker._mlflow is not None:
            try:
                tracker._mlflow.end_run()
            except Exception as err:
                log.warning("MLflow end_run failed (%s)", err)
