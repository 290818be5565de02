"""What the `faceparse` commands do around the library: `evaluate` a dataset folder, `predict` and
`profile` photos, each with its checks of the user's paths, its progress bar, results kept photo by
photo (`faceparse.resume`) and continued by a rerun, the engine (this process or Ray) and the closing
summary. `faceparse.cli` parses the arguments and calls these."""

from __future__ import annotations

import importlib
import json
import sys
import threading
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from faceparse.checksums import sha256_of
from faceparse.datasets import get_reader
from faceparse.errors import FaceparseConfigError, FaceparseError
from faceparse.evaluate import EvaluateParams, labelled_photos, score_photos
from faceparse.jsonio import write_json
from faceparse.label_maps import OUTPUTS, segment_files
from faceparse.labels import can_convert, get_label_set
from faceparse.plots import plot_confusion, plot_f1_bars
from faceparse.predict import Predictor
from faceparse.profile.correct import colour_source
from faceparse.profile.params import ProfileParams
from faceparse.profile.run import iter_profile, rows_complete
from faceparse.resume import Interrupted, ResultsFile, done_photos, interruptible, photo_key, run_identity, stopped
from faceparse.review import ReviewWriter, read_csv_rows
from faceparse.stream import collect_photos
from faceparse.threads import current as current_threads


def import_beside(*modules: str) -> threading.Thread | None:
    """With more than one thread, import `modules` in a thread of its own, and return it: a command
    that needs them only after its photos (evaluate's bootstrap and plots: scipy.stats and
    matplotlib, about 1.5 s of imports) finds them loaded, imported while the model ran. Join it
    before using them (an import of the same module meanwhile waits for the thread's, which is safe
    while the caller is inside no import of its own). Not a daemon: a run that fails early still
    lets the imports finish (matplotlib may be writing its font cache). An import that fails there
    fails again, with its message, where the module is used."""
    if current_threads() <= 1:
        return None

    def run() -> None:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001  (raised again where the module is used)
                return

    thread = threading.Thread(target=run, name="import")
    thread.start()
    return thread


def run_evaluate(predictor_for: Callable[[str | None], Predictor], dataset: str, root: Path, out: Path,
                 split: str | None = "test", options: dict | None = None, label_set: str | None = None,
                 bootstrap: int = EvaluateParams.bootstrap, skip_bad: bool = False) -> dict:
    """`faceparse evaluate`: score the model `predictor_for(label_set)` loads on a dataset folder in
    its original layout, each face found and aligned as in training; writes metrics.json,
    per_image.csv, confusion.png and f1.png into `out`, prints the scores, returns the summary.

    With no `label_set`, the scores are in the model's classes when the dataset's labels map onto
    them, else in the dataset's, the model's summed onto them. `skip_bad`: an unreadable photo is
    recorded as not evaluated instead of stopping the run."""
    reader = get_reader(dataset, **(options or {}))
    if not Path(root).is_dir():
        raise FaceparseError(f"--root {root}: no such folder")
    predictor = predictor_for(label_set)
    if label_set is None and reader.vocabulary and not can_convert(reader.vocabulary, predictor.label_set):
        # The truth cannot be put in the model's classes (a FaceSynthetics model on FASSEG, say):
        # score in the dataset's own classes, the model's projected onto them.
        if not can_convert(predictor.label_set, reader.vocabulary):
            raise FaceparseError(f"{predictor.model_path} predicts {predictor.label_set} and {dataset} is labelled in "
                                 f"{reader.vocabulary}: neither maps onto the other; give --label-set")
        predictor = predictor_for(reader.vocabulary)
    samples = reader.samples(Path(root))
    splits = sorted({s.split for s in samples})
    if split and splits != [""]:
        samples = [s for s in samples if s.split == split]
        if not samples:
            raise FaceparseError(f"{root}: no photos in split {split!r}; splits found: {splits}")
    samples = [s for s in samples if s.mask is not None]
    if not samples:  # scores over no photos would be NaN written as a success
        raise FaceparseError(f"{root}: no labelled photos to score ({dataset} format)")
    target = predictor.label_set
    # The bootstrap and the plots import these after the photos: imported meanwhile, beside the model.
    importing = import_beside("pandas", "scipy.stats", "matplotlib.figure", "matplotlib.backends.backend_agg")
    skipped: list[str] = []
    resized: list[str] = []  # masks within the size tolerance of their photo, resampled to it
    photos = labelled_photos(predictor, reader, samples, skipped if skip_bad else None, resized)
    result = score_photos(predictor, photos, len(samples), bootstrap=bootstrap, seed=0, not_evaluated=skipped)
    if importing is not None:
        importing.join()
    result.summary.update(not_evaluated=skipped, n_not_evaluated=len(skipped), masks_resized=resized)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {"model": str(predictor.model_path), "adapter": str(predictor.adapter_path) if predictor.adapter_path else None,
               "dataset": dataset, "root": str(root), "split": split if splits != [""] else "", "label_set": target,
               **result.summary}
    write_json(out / "metrics.json", summary)
    result.per_image.to_csv(out / "per_image.csv", index=False)
    classes = get_label_set(target).classes
    plot_confusion(result.confusion, classes, out / "confusion.png")
    plot_f1_bars(result.summary["f1"], out / "f1.png")
    print(f"{len(samples) - len(skipped)} photos: pixel accuracy {summary['pixel_accuracy']:.4f}, "
          f"mean F1 {summary['mean_f1']:.4f}, mean IoU {summary['mean_iou']:.4f} -> {out / 'metrics.json'}")
    for c in classes:
        print(f"  {c:<16} F1 {summary['f1'][c]:.4f}  IoU {summary['iou'][c]:.4f}")
    if resized:
        print(f"  {len(resized)} mask(s) differed slightly in size from their photos and were resized: see "
              "masks_resized in metrics.json", file=sys.stderr)
    if skipped:
        print(f"  {len(skipped)} photo(s) not evaluated: see not_evaluated in metrics.json", file=sys.stderr)
    return summary


def run_predict(load: Callable[[], Predictor], inputs: list[str], out: Path, confidence: bool = False,
                engine: str = "local", restart: bool = False) -> int:
    """`faceparse predict`: segment every photo in `inputs` (files or folders) with the model `load()`
    returns into `out`, continuing an earlier run there unless `restart`; prints what was done and
    returns the exit status."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FaceparseError(f"--out {out}: is a file; give the folder to write into")
    predictor = load()
    photos = collect_photos(inputs, skip=_is_output_in(out))
    _check_distinct_names(photos)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / "predictions.csv"
    # The photo's files are written before its row: a row in predictions.csv means its files are whole.
    results = ResultsFile(csv_path, run_identity("predict", predictor, confidence=bool(confidence)), restart=restart)
    (out / "classes.json").write_text(json.dumps(list(predictor.classes)) + "\n")
    done = done_photos(results)
    todo = [(photo, name) for photo, name in photos if photo_key(photo) not in done]
    _check_names_free(todo, results, out)
    bar = tqdm(total=len(photos), initial=len(photos) - len(todo), desc="predict", unit="photo", dynamic_ncols=True)
    if engine == "ray":
        from faceparse import ray_engine

        rows = ray_engine.predict_rows(predictor, todo, out, confidence)
    else:
        rows = segment_files(predictor, todo, out, confidence)
    try:
        with interruptible():
            for row in rows:
                results.add([[row]])
                bar.update(1)
    except Interrupted as err:
        bar.close()
        close = getattr(rows, "close", None)
        if close is not None:  # the writing threads finish before the run says it stopped
            close()
        done = done_photos(results)
        return stopped(err, sum(photo_key(p) in done for p, _ in photos), len(photos), csv_path)
    bar.close()
    statuses = [row["status"] for row in rows_of(csv_path, [p for p, _ in photos])]
    n_done = sum(not status.startswith("unreadable") for status in statuses)
    print(f"{n_done} of {len(photos)} photos segmented -> {out} (label maps: class index per pixel, classes in "
          "classes.json; one row per photo in predictions.csv)")
    tell_problems(statuses, {"unreadable": "could not be read", "no_face": "had no face found and were segmented whole"},
                  "the status column of predictions.csv")
    return 0


def run_profile(load: Callable[[], Predictor], inputs: list[str], out: str | Path,
                params: ProfileParams = ProfileParams(), chart: str | None = None, white_balance: str = "none",
                review_dir: str | None = None, engine: str = "local", restart: bool = False) -> int:
    """`faceparse profile`: measure every face in `inputs` (files or folders), segmented by the model
    `load()` returns (projected onto FASSEG's six classes), into the CSV `out`,
    continuing an earlier run of it unless `restart`, with colours read through `chart` (a session
    chart photo or "auto") or `white_balance`, and a review page in `review_dir` when given; prints
    what was done and returns the exit status."""
    if Path(out).is_dir() or str(out).endswith(("/", "\\")):
        raise FaceparseConfigError(f"--out {out}: is a folder; give the CSV file to write, e.g. "
                                   f"{Path(out) / 'profile.csv'}")
    out = Path(out)
    if review_dir and engine == "ray":
        raise FaceparseConfigError("--review draws each face in this process: use it with --engine local (the default)")
    predictor = load()
    photos = [photo for photo, _ in collect_photos(inputs)]
    # The chart is read (and refused, naming it) before any photo is measured.
    colour = colour_source(chart, white_balance, params.chart_method, params.max_chart_dE)
    chart_options = {"chart": chart if chart in (None, "auto") else sha256_of(Path(chart)),
                     "white_balance": white_balance, "chart_method": params.chart_method}
    identity = run_identity("profile", predictor, patch_fraction=params.patch_size_fraction, fwhr_top=params.brow,
                            measures=list(params.measures), **chart_options)
    results = ResultsFile(out, identity, restart=restart, complete=rows_complete)
    review = None
    if review_dir:
        review = ReviewWriter(review_dir, photos, identity, restart=restart)
    done = done_photos(results)
    todo = [photo for photo in photos if photo_key(photo) not in done]
    bar = tqdm(total=len(photos), initial=len(photos) - len(todo), desc="profile", unit="photo", dynamic_ncols=True)
    if engine == "ray":
        from faceparse import ray_engine

        batches = ray_engine.profile_groups(predictor, todo, params, chart=chart, white_balance=white_balance)
    else:
        batches = iter_profile(predictor, todo, params, colour=colour, review=review)
    try:
        with interruptible():
            for groups in batches:
                results.add(groups)
                bar.update(len(groups))
    except Interrupted as err:
        bar.close()
        close = getattr(batches, "close", None)
        if close is not None:  # the measuring threads finish before the page is written
            close()
        done = done_photos(results)
        if review is not None:
            _finish_review(review, out)
        return stopped(err, sum(photo_key(p) in done for p in photos), len(photos), out)
    bar.close()
    if review is not None:
        page = _finish_review(review, out)
        print(f"review of every row of {out} -> {page}")
    rows = rows_of(out, photos)
    faces = [row for row in rows if float(row["face_index"]) >= 0]
    print(f"{len(faces)} faces from {len({row['photo'] for row in faces})} of {len(photos)} photos -> {out}")
    tell_problems([row["flags"] for row in rows if float(row["face_index"]) < 0],
                  {"unreadable": "could not be read", "no_face": "had no face found"}, "the flags column")
    not_a_face = sum("not_a_face" in row["flags"].split(";") for row in faces)
    if not_a_face:
        print(f"  {not_a_face} face(s) found by the detector are not faces the map can measure (no nose: an animal, "
              "an object) and were not measured: see not_a_face in the flags column", file=sys.stderr)
    return 0


def _finish_review(review, csv_path: Path) -> Path:
    """The review page over every row of the CSV (this run's and those it continued)."""
    return review.finish(read_csv_rows(csv_path) if csv_path.is_file() else [])


def rows_of(csv_path: Path, photos: list[Path]) -> list[dict[str, str]]:
    """The rows of a results CSV (this run's and those it continued) that are of `photos`, as strings:
    the closing summary's, read without pandas (a quarter of a second of imports)."""
    keys = {photo_key(p) for p in photos}
    return [row for row in read_csv_rows(csv_path) if photo_key(row["photo"]) in keys]


def tell_problems(values: Iterable[str], messages: dict[str, str], where: str) -> None:
    """One stderr line per kind of problem recorded in `values` ("<kind>: <detail>" or "<kind>";
    kinds missing from `messages`, such as "ok", are not problems), the most frequent first."""
    for kind, n in Counter(str(v).split(":")[0] for v in values).most_common():
        if kind in messages:
            print(f"  {n} photo(s) {messages[kind]}: see {where}", file=sys.stderr)


def _is_output_in(out: Path):
    """Whether a file found in a folder is one of predict's own outputs under `out`."""
    skip = out.resolve()
    return lambda q: skip in q.resolve().parents and q.name.endswith(OUTPUTS)


def _check_distinct_names(photos: list[tuple[Path, str]]) -> None:
    """Two different photos whose outputs would overwrite each other raise, before any work."""
    first: dict[str, Path] = {}
    for photo, name in photos:
        if name in first:
            raise FaceparseError(f"{first[name]} and {photo} would both write {name}_*: rename one, or give them "
                                 "as separate runs")
        first[name] = photo


def _check_names_free(todo: list[tuple[Path, str]], results, out: Path) -> None:
    """A photo still to do must not write over files an earlier run in the same --out wrote for
    another photo (predict a/ then b/ into one folder, both holding 1.png)."""
    owner = {row.get("labels"): row["photo"] for rows in results.done.values() for row in rows if row.get("labels")}
    for photo, name in todo:
        other = owner.get(f"{name}_labels.png")
        if other is not None:
            raise FaceparseError(f"{photo} would overwrite {out / name}_* written for {other} by an earlier run; give "
                                 "another --out, or --restart to start over")
