"""The `faceparse` command: score a model on any dataset folder, segment photos, profile faces.

    faceparse evaluate --model models/main.pt --dataset fasseg --root ../shared/data/fasseg --split test --out eval/
    faceparse predict  --model models/main.pt photos/ --out predictions/
    faceparse profile  --model models/main.pt photos/ --out profile.csv
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path


from faceparse.errors import FaceparseError

log = logging.getLogger("faceparse")


def _predictor(args):
    from faceparse.predict import Predictor

    return Predictor(Path(args.model), Path(args.adapter) if args.adapter else None, tta=not args.no_tta,
                     target_label_set=args.label_set, runtime=args.runtime)


def _maps(source: str, target: str) -> bool:
    """Whether labels in `source` can be converted to `target` (the same set, or a registered mapping)."""
    from faceparse.labels import mapping_lut

    try:
        mapping_lut(source, target)
    except FaceparseError:
        return False
    return True


def cmd_evaluate(args) -> int:
    from faceparse.align import align_sample
    from faceparse.datasets import get_reader
    from faceparse.evaluate import score_photos
    from faceparse.jsonio import write_json
    from faceparse.labels import convert, get_label_set
    from faceparse.plots import plot_confusion, plot_f1_bars
    from faceparse.datasets.checks import read_labelled

    try:
        options = json.loads(args.options) if args.options else {}
    except json.JSONDecodeError as err:
        raise FaceparseError(f"--options: not valid JSON ({err}): {args.options!r}") from None
    if not isinstance(options, dict):
        raise FaceparseError(f"--options: expected a JSON object of reader options, found {args.options!r}")
    reader = get_reader(args.dataset, **options)
    if not Path(args.root).is_dir():
        raise FaceparseError(f"--root {args.root}: no such folder")
    predictor = _predictor(args)
    if args.label_set is None and reader.vocabulary and not _maps(reader.vocabulary, predictor.label_set):
        # The truth cannot be put in the model's classes (a FaceSynthetics model on FASSEG, say):
        # score in the dataset's own classes, the model's projected onto them.
        if not _maps(predictor.label_set, reader.vocabulary):
            raise FaceparseError(f"{args.model} predicts {predictor.label_set} and {args.dataset} is labelled in "
                                 f"{reader.vocabulary}: neither maps onto the other; give --label-set")
        args.label_set = reader.vocabulary
        predictor = _predictor(args)
    samples = reader.samples(Path(args.root))
    splits = sorted({s.split for s in samples})
    if args.split and splits != [""]:
        samples = [s for s in samples if s.split == args.split]
        if not samples:
            raise FaceparseError(f"{args.root}: no photos in split {args.split!r}; splits found: {splits}")
    samples = [s for s in samples if s.mask is not None]
    if not samples:  # scores over no photos would be NaN written as a success
        raise FaceparseError(f"{args.root}: no labelled photos to score ({args.dataset} format)")
    target = predictor.label_set
    skipped: list[str] = []
    resized: list[str] = []  # masks within the size tolerance of their photo, resampled to it

    def items():
        for s in samples:
            try:
                image, mask, _, fit = read_labelled(reader, s)
            except FaceparseError as err:
                if not args.skip_bad:
                    raise
                log.warning("not evaluated: %s", err)
                skipped.append(f"{s.id}: {err}")
                continue
            if fit:
                (h, w), (H, W) = fit["mask_resized_from"], fit["mask_resized_to"]
                log.warning("%s: mask is %dx%d, resized to its photo's %dx%d", s.mask, w, h, W, H)
                resized.append(f"{s.id}: mask {w}x{h} resized to {W}x{H}")
            alignment = align_sample(image, reader.read_landmarks(s), predictor.finder, predictor.align_params)
            yield s.id, s.pose, convert(mask, reader.vocabulary, target), image, alignment

    result = score_photos(predictor, items(), len(samples), bootstrap=args.bootstrap, seed=0, not_evaluated=skipped)
    result.summary["not_evaluated"] = skipped
    result.summary["n_not_evaluated"] = len(skipped)
    result.summary["masks_resized"] = resized
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {"model": str(args.model), "adapter": args.adapter, "dataset": args.dataset, "root": str(args.root),
               "split": args.split if splits != [""] else "", "label_set": target, **result.summary}
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
    return 0


# What `predict` writes next to each photo's name; read back as photos, they would be segmented again.
PREDICT_OUTPUTS = ("_labels.png", "_overlay.jpg", "_confidence.png")


def _photos(inputs: list[str], skip_outputs_in: Path | None = None) -> list[tuple[Path, str]]:
    """Each photo in `inputs` (files, or folders searched recursively) once, with the name its
    outputs take: the stem for a file given by name, the path below the folder without its suffix
    for a file found in one. A file met twice (named and inside a folder given, say) keeps its first
    name; `predict`'s own outputs under `skip_outputs_in` are not photos."""
    from faceparse.datasets.base import list_images

    found: dict[Path, tuple[Path, str]] = {}  # by resolved path
    skip = skip_outputs_in.resolve() if skip_outputs_in is not None else None

    def is_output(q: Path) -> bool:
        return skip is not None and skip in q.resolve().parents and q.name.endswith(PREDICT_OUTPUTS)

    for item in inputs:
        p = Path(item)
        if p.is_dir():
            for q in list_images(p, recursive=True):
                if not is_output(q):
                    found.setdefault(q.resolve(), (q, q.relative_to(p).with_suffix("").as_posix()))
        elif p.is_file():
            found.setdefault(p.resolve(), (p, p.stem))
        else:
            raise FaceparseError(f"{p}: no such file or folder")
    if not found:
        raise FaceparseError(f"no photos found in {', '.join(inputs)}")
    return list(found.values())


def _check_distinct_names(photos: list[tuple[Path, str]]) -> None:
    """Two different photos whose outputs would overwrite each other raise, before any work."""
    first: dict[str, Path] = {}
    for photo, name in photos:
        if name in first:
            raise FaceparseError(f"{first[name]} and {photo} would both write {name}_*: rename one, or give them "
                                 "as separate runs")
        first[name] = photo


def _tell_problems(column, messages: dict[str, str], where: str) -> None:
    """One stderr line per kind of problem recorded in `column` (values "<kind>: <detail>" or
    "<kind>"; kinds missing from `messages`, such as "ok", are not problems)."""
    for kind, n in column.str.split(":").str[0].value_counts().items():
        if kind in messages:
            print(f"  {n} photo(s) {messages[kind]}: see {where}", file=sys.stderr)


def _check_out_file(out: str) -> None:
    if Path(out).is_dir() or out.endswith(("/", "\\")):
        raise FaceparseError(f"--out {out}: is a folder; give the CSV file to write, e.g. "
                             f"{Path(out) / 'profile.csv'}")


def _check_out_folder(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise FaceparseError(f"--out {out}: is a file; give the folder to write into")


def _identity(command: str, args, predictor, **options) -> dict:
    """What makes the rows of two runs interchangeable (see `faceparse.resume`)."""
    from faceparse import __version__
    from faceparse.checksums import sha256_of

    return {"command": command, "faceparse": __version__, "model_sha256": sha256_of(Path(args.model)),
            "adapter_sha256": sha256_of(Path(args.adapter)) if args.adapter else None, "tta": not args.no_tta,
            "label_set": predictor.label_set, "runtime": predictor.runtime, **options}


def _key(photo: Path | str) -> str:
    """A photo as a rerun recognises it: its resolved path, however the command named it."""
    return str(Path(photo).resolve())


def _done_photos(results) -> set[str]:
    return {_key(photo) for photo in results.done}


def _check_names_free(todo: list[tuple[Path, str]], results, out: Path) -> None:
    """A photo still to do must not write over files an earlier run in the same --out wrote for
    another photo (predict a/ then b/ into one folder, both holding 1.png)."""
    owner = {row.get("labels"): row["photo"] for rows in results.done.values() for row in rows if row.get("labels")}
    for photo, name in todo:
        other = owner.get(f"{name}_labels.png")
        if other is not None:
            raise FaceparseError(f"{photo} would overwrite {out / name}_* written for {other} by an earlier run; give "
                                 "another --out, or --restart to start over")


def _stopped(err, done: int, total: int, where: Path) -> int:
    """The one message of a run stopped by a signal; exit status 128 + the signal's number."""
    print(f"faceparse: {err}: {done} of {total} photos done, kept in {where}. Run the same command again to "
          "continue (--restart starts over).", file=sys.stderr)
    return 130 if err.signal_name == "SIGINT" else 143


def cmd_predict(args) -> int:
    import pandas as pd
    from tqdm import tqdm

    from faceparse.resume import Interrupted, ResultsFile, interruptible

    out = Path(args.out)
    _check_out_folder(out)
    predictor = _predictor(args)
    photos = _photos(args.inputs, skip_outputs_in=out)
    _check_distinct_names(photos)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / "predictions.csv"
    # The photo's files are written before its row: a row in predictions.csv means its files are whole.
    results = ResultsFile(csv_path, _identity("predict", args, predictor, confidence=bool(args.confidence)),
                          restart=args.restart)
    (out / "classes.json").write_text(json.dumps(list(predictor.classes)) + "\n")
    done = _done_photos(results)
    todo = [(photo, name) for photo, name in photos if _key(photo) not in done]
    _check_names_free(todo, results, out)
    bar = tqdm(total=len(photos), initial=len(photos) - len(todo), desc="predict", unit="photo", dynamic_ncols=True)
    from faceparse.pipeline import prefetch
    from faceparse.segment_files import read_and_find, segment_one
    from faceparse.threads import current

    if args.engine == "ray":
        from faceparse import ray_engine

        rows = ray_engine.predict_rows(Path(args.model), Path(args.adapter) if args.adapter else None,
                                       not args.no_tta, args.runtime, args.label_set, todo, out, args.confidence)
    else:
        found = (read_and_find(predictor, photo, name) for photo, name in todo)
        if current() > 1:  # decode and find faces in the next photos while the model runs
            found = prefetch(found, depth=8)
        rows = (segment_one(predictor, item, out, args.confidence) for item in found)
    try:
        with interruptible():
            for row in rows:
                results.add([[row]])
                bar.update(1)
    except Interrupted as err:
        bar.close()
        done = _done_photos(results)
        return _stopped(err, sum(_key(p) in done for p, _ in photos), len(photos), csv_path)
    bar.close()
    table = pd.read_csv(csv_path, keep_default_na=False)
    table = table[table["photo"].map(_key).isin({_key(p) for p, _ in photos})]
    done = int((~table["status"].str.startswith("unreadable")).sum())
    print(f"{done} of {len(photos)} photos segmented -> {out} (label maps: class index per pixel, classes in "
          "classes.json; one row per photo in predictions.csv)")
    _tell_problems(table["status"], {"unreadable": "could not be read",
                                     "no_face": "had no face found and were segmented whole"},
                   "the status column of predictions.csv")
    return 0


def cmd_profile(args) -> int:
    import pandas as pd
    from tqdm import tqdm

    from faceparse.checksums import sha256_of
    from faceparse.profile import ProfileParams
    from faceparse.profile.correct import colour_source
    from faceparse.profile.run import iter_profile, rows_complete
    from faceparse.resume import Interrupted, ResultsFile, interruptible

    args.label_set = "fasseg6"  # profile measures FASSEG's regions; any model is projected onto them
    _check_out_file(args.out)
    if args.review and args.engine == "ray":
        raise FaceparseError("--review draws each face in this process: use it with --engine local (the default)")
    out = Path(args.out)
    predictor = _predictor(args)
    photos = [photo for photo, _ in _photos(args.inputs)]
    params = ProfileParams(patch_size_fraction=args.patch_fraction, brow=args.fwhr_top, chart_method=args.chart_method)
    # The chart is read (and refused, naming it) before any photo is measured.
    colour = colour_source(args.chart, args.white_balance, params.chart_method, params.max_chart_dE)
    chart = {"chart": args.chart if args.chart in (None, "auto") else sha256_of(Path(args.chart)),
             "white_balance": args.white_balance, "chart_method": args.chart_method}
    identity = _identity("profile", args, predictor, patch_fraction=args.patch_fraction, fwhr_top=args.fwhr_top,
                         **chart)
    results = ResultsFile(out, identity, restart=args.restart, complete=rows_complete)
    review = None
    if args.review:
        from faceparse.review import ReviewWriter

        review = ReviewWriter(args.review, photos, identity, restart=args.restart)
    done = _done_photos(results)
    todo = [photo for photo in photos if _key(photo) not in done]
    bar = tqdm(total=len(photos), initial=len(photos) - len(todo), desc="profile", unit="photo", dynamic_ncols=True)
    if args.engine == "ray":
        from faceparse import ray_engine

        batches = ray_engine.profile_groups(Path(args.model), Path(args.adapter) if args.adapter else None,
                                            not args.no_tta, args.runtime, todo, params, chart=args.chart,
                                            white_balance=args.white_balance)
    else:
        batches = iter_profile(predictor, todo, params, colour=colour, review=review)
    try:
        with interruptible():
            for groups in batches:
                results.add(groups)
                bar.update(len(groups))
    except Interrupted as err:
        bar.close()
        done = _done_photos(results)
        if review is not None:
            _finish_review(review, out)
        return _stopped(err, sum(_key(p) in done for p in photos), len(photos), out)
    bar.close()
    if review is not None:
        page = _finish_review(review, out)
        print(f"review of every row of {out} -> {page}")
    table = pd.read_csv(out, keep_default_na=False, dtype={"flags": str})
    table = table[table["photo"].map(_key).isin({_key(p) for p in photos})]
    faces = table["face_index"] >= 0
    print(f"{int(faces.sum())} faces from {table.loc[faces, 'photo'].nunique()} of {len(photos)} photos -> {out}")
    _tell_problems(table.loc[~faces, "flags"], {"unreadable": "could not be read", "no_face": "had no face found"},
                   "the flags column")
    return 0


def _finish_review(review, csv_path: Path) -> Path:
    """The review page over every row of the CSV (this run's and those it continued)."""
    from faceparse.review import read_csv_rows

    return review.finish(read_csv_rows(csv_path) if csv_path.is_file() else [])


def _model_args(p: argparse.ArgumentParser, label_set_help: str | None) -> None:
    """Options naming the model; `label_set_help` None: the command fixes the label set itself."""
    from faceparse.labels import LABEL_SETS

    p.add_argument("--model", required=True, help="a trained model, e.g. models/main.pt")
    p.add_argument("--adapter", help="a label adapter reading this model's softmax, e.g. models/adapter.pt")
    if label_set_help is not None:
        p.add_argument("--label-set", choices=sorted(LABEL_SETS), help=label_set_help)
    p.add_argument("--no-tta", action="store_true", help="no flip test-time augmentation")
    p.add_argument("--runtime", choices=["auto", "onnx", "torch"], default="auto",
                   help="where the model runs: onnx (ONNX Runtime, the fastest on a CPU; the model is exported "
                   "once to ~/.cache/faceparse/onnx), torch (a GPU, a label adapter), or auto (default: onnx on a "
                   "CPU without adapter, else torch)")
    p.add_argument("--threads", type=int, default=argparse.SUPPRESS,
                   help="threads for the model and image work (default: FACEPARSE_THREADS, else every core this "
                   "process may use); give two runs on one machine half the cores each")
    p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log progress details")


def _engine_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="local (default: this process, its threads) or ray: the photos spread over Ray actors "
                   "that each hold the model, on this machine or the cluster RAY_ADDRESS names (needs "
                   "pip install \"faceparse[ray]\"; a cluster's machines need the photos, model and --out at "
                   "the same paths); the same rows and files either way")


def _resume_args(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--restart", action="store_true",
                   help=f"start over: discard {what} of an earlier run instead of continuing it (a run killed or "
                   "stopped part-way keeps every photo it finished, and the same command run again continues it)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="faceparse", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    parser.add_argument("--threads", type=int, default=None, help=argparse.SUPPRESS)  # also after the command
    sub = parser.add_subparsers(dest="command", required=True)

    from faceparse.datasets import READERS
    from faceparse.profile.params import CHART_METHODS, ProfileParams

    e = sub.add_parser("evaluate", help="score a model on a labelled dataset folder",
                       description="Score a model on a dataset in its original layout. Faces are found and "
                       "aligned as in training; predictions are warped back and scored at each photo's original "
                       "resolution with one confusion matrix over all photos. Writes metrics.json, per_image.csv, "
                       "confusion.png and f1.png into --out.")
    _model_args(e, "score in this label set (default: the model's own when the dataset's labels map onto it, "
                   "else the dataset's, the model's classes summed onto it)")
    e.add_argument("--dataset", required=True, choices=sorted(READERS), help="the folder's format")
    e.add_argument("--root", required=True, help="the dataset folder")
    e.add_argument("--split", default="test", help="which split to score when the dataset has splits (default: test)")
    e.add_argument("--options", help='reader options as JSON, e.g. \'{"versions": ["V2"]}\' for fasseg; the folder '
                   'format needs the label set of its masks, \'{"vocabulary": "fasseg6"}\' (plus "palette": '
                   '[[r, g, b], ...] for colour masks)')
    e.add_argument("--bootstrap", type=int, default=1000,
                   help="bootstrap resamples (over photos) for the mean-F1 95%% interval; 0 skips it (default 1000)")
    e.add_argument("--skip-bad", action="store_true", help="record unreadable photos as not evaluated instead of stopping")
    e.add_argument("--out", required=True, help="output folder")
    e.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="label maps and overlays for photos",
                       description="Find each face, segment it and write, per photo at its original size: "
                       "<name>_labels.png (class index per pixel), <name>_overlay.jpg and, with --confidence, "
                       "<name>_confidence.png (max softmax x 255).")
    _model_args(p, "project predictions onto this label set (default: the model's own)")
    p.add_argument("inputs", nargs="+", help="photos or folders of photos")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--confidence", action="store_true", help="also write per-pixel confidence maps")
    _engine_args(p)
    _resume_args(p, "predictions.csv")
    p.set_defaults(func=cmd_predict)

    r = sub.add_parser("profile", help="skin colour (CIE L*a*b*, ITA) and fWHR per face",
                       description="Measure every face in the photos: cheek and forehead CIE L*a*b* (D65) on "
                       "predicted skin, ITA and its category, fWHR, the face's light (sclera, clipping), with quality "
                       "flags. One CSV row per face, in the order of the photos given; a photo with no face, or a file "
                       "that is not a readable image, gets one row saying so in the flags column. Colours are read as "
                       "taken unless --chart (a ColorChecker 24) or --white-balance says otherwise.")
    _model_args(r, None)
    r.add_argument("inputs", nargs="+", help="photos or folders of photos")
    r.add_argument("--out", required=True, help="output CSV file")
    r.add_argument("--fwhr-top", choices=["brow", "eyelid"], default="brow", help="upper end of the face height")
    r.add_argument("--patch-fraction", type=float, default=0.35,
                   help="side of the cheek and forehead patches / inter-ocular distance (default 0.35)")
    r.add_argument("--chart", metavar="PHOTO|auto",
                   help="correct colour with a ColorChecker 24: PHOTO, a photo of the chart taken in the session's "
                   "light (applied to every photo), or auto (the chart in each photo; photos without one are "
                   "measured as taken and flagged no_chart). Default: colours as taken")
    r.add_argument("--chart-method", choices=CHART_METHODS, default=ProfileParams.chart_method,
                   help="the correction fitted to the chart after each channel's tone curve: matrix (3x3), a "
                   "colour-science polynomial, or auto (the least leave-one-patch-out dE2000 on the chart); "
                   f"default {ProfileParams.chart_method}")
    r.add_argument("--white-balance", choices=["none", "sclera"], default="none",
                   help="without a chart: sclera balances each face on its own sclera (a measured option with a "
                   "bias of its own, see the README); default none")
    r.add_argument("--review", metavar="DIR",
                   help="also write a review page, DIR/index.html, to open offline: one tile per CSV row, the face "
                   "with its map's outlines, the skin patches and the fWHR width and height lines drawn where they "
                   "were measured, its key values and flags; sort by any column, filter by flag, least confident "
                   "first. Tiles are files in DIR/tiles. A rerun that continues a stopped run draws the faces it "
                   "measures and keeps the tiles drawn earlier into DIR; a face measured by a run without --review "
                   "gets a tile saying so (--restart draws every face). Not with --engine ray")
    _engine_args(r)
    _resume_args(r, "the rows of --out")
    r.set_defaults(func=cmd_profile)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        from faceparse.threads import configure

        configure(args.threads)
        return args.func(args)
    except (FaceparseError, ValueError) as err:
        print(f"faceparse {args.command}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # an unwritable --out, a full disk: the file and the reason, no traceback
        print(f"faceparse {args.command}: error: {err.filename or ''}: {err.strerror or err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
