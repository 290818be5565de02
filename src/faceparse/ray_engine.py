"""`faceparse profile` and `predict` with `--engine ray`: the photos spread over a Ray cluster.

Ray Data reads the list of photos, `map_batches` hands batches of them to a pool of actors that each
hold the model (`_Profiler`, `_Segmenter`: the photo stream, as in one process), and the rows come back
to this process in the photos' order, which writes the same CSV (and `predict` the same files) as
without Ray, a run stopped part-way kept and continued the same way.

Ray runs on this machine (`ray.init`, one actor per core `--threads` allows) unless `RAY_ADDRESS` names a cluster
(`ray start --head` on one machine, `ray start --address ...` on the others), whose actors then need
the photos, the model and, for `predict`, the output folder at the same paths: a shared filesystem.
Ray is an extra: `pip install "faceparse[ray]"`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from faceparse.errors import FaceparseConfigError

log = logging.getLogger(__name__)


def start(cpus: int | None = None) -> int:
    """Connect to `RAY_ADDRESS`, else start Ray on this machine with `cpus` CPUs (default: every core
    this process may use); returns the CPUs the cluster has."""
    try:
        import ray
    except ImportError:
        raise FaceparseConfigError('--engine ray needs Ray: pip install "faceparse[ray]"') from None
    if not ray.is_initialized():
        address = os.environ.get("RAY_ADDRESS")
        quiet = {"log_to_driver": False, "configure_logging": True, "logging_level": logging.WARNING}
        if address:
            ray.init(address=address, **quiet)
        else:
            from faceparse.threads import current

            ray.init(num_cpus=cpus or current(), include_dashboard=False, **quiet)
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the command's own bar counts the photos
        context.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.ERROR)
    return int(ray.cluster_resources().get("CPU", 1))


def predictor_options(predictor) -> dict:
    """What an actor needs to load the same model as `predictor` (plain values, sent to each actor)."""
    adapter = predictor.adapter_path
    return {"model_path": str(predictor.model_path), "adapter_path": str(adapter) if adapter else None,
            "tta": predictor.tta, "target_label_set": predictor.target_label_set, "runtime": predictor.runtime,
            "precision": predictor.precision}


def _load(options: dict):
    from faceparse.predict import Predictor
    from faceparse.threads import configure

    configure(1)  # each actor is one of the parallel parts
    adapter = options["adapter_path"]
    try:
        return Predictor(**{**options, "model_path": Path(options["model_path"]),
                            "adapter_path": Path(adapter) if adapter else None})
    except FaceparseConfigError as err:  # the runtime and precision were settled on the machine that started the run
        import socket

        raise FaceparseConfigError(f"Ray worker on {socket.gethostname()}: {err} (every machine of a run uses the "
                                   f"runtime and precision of the machine that started it: "
                                   f"{options['runtime']}, {options['precision']})") from None


class _Profiler:
    """A Ray actor holding the model: a batch of photo paths -> their `iter_profile` rows (JSON, so
    numbers come back as they were)."""

    def __init__(self, predictor: dict, params: dict, chart: str | None = None, white_balance: str = "none") -> None:
        from faceparse.profile.correct import colour_source
        from faceparse.profile.params import ProfileParams

        self.predictor = _load(predictor)
        self.params = ProfileParams(**params)
        self.colour = colour_source(chart, white_balance, self.params.chart_method, self.params.max_chart_dE)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from faceparse.profile.run import iter_profile

        photos = [Path(p) for p in batch["photo"]]
        groups = [group for part in iter_profile(self.predictor, photos, self.params, batch_size=len(photos),
                                                 colour=self.colour)
                  for group in part]
        return {"order": batch["order"], "rows": np.array([json.dumps(g) for g in groups], dtype=object)}


class _Segmenter:
    """A Ray actor holding the model: a batch of photos -> their files written and predictions.csv rows."""

    def __init__(self, predictor: dict, out: str, confidence: bool) -> None:
        self.predictor = _load(predictor)
        self.out, self.confidence = Path(out), confidence

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from faceparse.label_maps import segment_files

        rows = list(segment_files(self.predictor, zip(batch["photo"], batch["name"]), self.out, self.confidence))
        return {"order": batch["order"], "rows": np.array([json.dumps(r) for r in rows], dtype=object)}


def _ordered(actor: type, items: list[dict], batch_size: int, kwargs: dict) -> Iterator[list]:
    """Each item's result, in the order of `items`, computed by a pool of `actor`s (one per CPU)."""
    if not items:  # a finished run continued: nothing to start Ray for
        return
    import ray

    cpus = start()
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    data = ray.data.from_items([{"order": i, **item} for i, item in enumerate(items)],
                               override_num_blocks=max(1, min(len(items), 4 * cpus)))
    done = data.map_batches(actor, batch_size=batch_size, concurrency=max(1, min(cpus, len(items))), num_cpus=1,
                            fn_constructor_kwargs=kwargs, batch_format="numpy")
    expected = 0
    for batch in done.iter_batches(batch_size=None, batch_format="numpy"):
        for order, rows in zip(batch["order"], batch["rows"]):
            if int(order) != expected:
                raise RuntimeError(f"Ray returned item {int(order)} where {expected} was due")
            expected += 1
            yield json.loads(rows)


def profile_groups(predictor, photos: list[Path], params, batch_size: int = 8, chart: str | None = None,
                   white_balance: str = "none") -> Iterator[list[list[dict]]]:
    """`iter_profile`'s batches (one list of rows per photo), computed on Ray by actors loading the
    model `predictor` holds, in the photos' order; `chart` and `white_balance` as
    `faceparse.profile.correct.colour_source` takes them."""
    from dataclasses import asdict

    from faceparse.stream import chunks

    kwargs = {"predictor": predictor_options(predictor), "params": asdict(params), "chart": chart,
              "white_balance": white_balance}
    yield from chunks(_ordered(_Profiler, [{"photo": str(p)} for p in photos], batch_size, kwargs), batch_size)


def predict_rows(predictor, todo: list[tuple[Path, str]], out: Path, confidence: bool) -> Iterator[dict]:
    """`predict`'s row for each photo (its files written by the actor), in the photos' order."""
    kwargs = {"predictor": predictor_options(predictor), "out": str(out), "confidence": confidence}
    yield from _ordered(_Segmenter, [{"photo": str(p), "name": n} for p, n in todo], 4, kwargs)
