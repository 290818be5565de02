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


def _predictor(args, label_set: str | None = None):
    from faceparse.predict import Predictor

    return Predictor(Path(args.model), Path(args.adapter) if args.adapter else None, tta=not args.no_tta,
                     target_label_set=label_set, runtime=args.runtime, precision=args.precision)


def cmd_evaluate(args) -> int:
    from faceparse.commands import run_evaluate

    try:
        options = json.loads(args.options) if args.options else {}
    except json.JSONDecodeError as err:
        raise FaceparseError(f"--options: not valid JSON ({err}): {args.options!r}") from None
    if not isinstance(options, dict):
        raise FaceparseError(f"--options: expected a JSON object of reader options, found {args.options!r}")
    run_evaluate(lambda label_set: _predictor(args, label_set), args.dataset, Path(args.root), Path(args.out),
                 split=args.split, options=options, label_set=args.label_set, bootstrap=args.bootstrap,
                 skip_bad=args.skip_bad)
    return 0


def cmd_predict(args) -> int:
    from faceparse.commands import run_predict

    return run_predict(lambda: _predictor(args, args.label_set), args.inputs, Path(args.out),
                       confidence=args.confidence, engine=args.engine, restart=args.restart)


def cmd_profile(args) -> int:
    from faceparse.commands import run_profile
    from faceparse.profile import ProfileParams
    from faceparse.profile.measures import parse_names

    params = ProfileParams(patch_size_fraction=args.patch_fraction, brow=args.fwhr_top, chart_method=args.chart_method,
                           measures=parse_names(args.measures))
    # profile measures FASSEG's regions; any model is projected onto them
    return run_profile(lambda: _predictor(args, "fasseg6"), args.inputs, args.out, params, chart=args.chart,
                       white_balance=args.white_balance, review_dir=args.review, engine=args.engine,
                       restart=args.restart)


def _model_args(p: argparse.ArgumentParser, label_set_help: str | None) -> None:
    """Options naming the model; `label_set_help` None: the command fixes the label set itself."""
    from faceparse.labels import LABEL_SETS
    from faceparse.runtime import PRECISIONS

    p.add_argument("--model", required=True, help="a trained model, e.g. models/main.pt")
    p.add_argument("--adapter", help="a label adapter reading this model's softmax, e.g. models/adapter.pt")
    if label_set_help is not None:
        p.add_argument("--label-set", choices=sorted(LABEL_SETS), help=label_set_help)
    p.add_argument("--no-tta", action="store_true", help="no flip test-time augmentation")
    p.add_argument("--runtime", choices=["auto", "onnx", "torch"], default="auto",
                   help="where the model runs: onnx (ONNX Runtime, the fastest on a CPU; the model is exported "
                   "once to ~/.cache/faceparse/onnx), torch (a GPU, a label adapter), or auto (default: onnx on a "
                   "CPU without adapter, else torch)")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="fp32 (default: the study's own numbers), bf16 (the model in OpenVINO in "
                   "bfloat16, its first layers in fp32, on a CPU with AMX or AVX-512 BF16; YuNet in OpenVINO in "
                   "fp32; values move by hundredths on average, the London cheeks' L* by 0.02, at most 0.17: "
                   "docs/speed.md) or auto (bf16 where the CPU has it, else fp32)")
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
    from faceparse.evaluate import EvaluateParams
    from faceparse.profile.measures import NAMES as MEASURE_NAMES
    from faceparse.profile.params import CHART_METHODS, WHITE_BALANCE, ProfileParams, ProfileStageParams

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
    e.add_argument("--bootstrap", type=int, default=EvaluateParams.bootstrap,
                   help="bootstrap resamples (over photos) for the mean-F1 95%% interval; 0 skips it "
                   f"(default {EvaluateParams.bootstrap})")
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
    p.add_argument("--confidence", action="store_true",
                   help="also write per-pixel confidence maps (each pixel's max softmax x 255, from the crop that "
                   "decided it; 255 off every crop)")
    _engine_args(p)
    _resume_args(p, "predictions.csv")
    p.set_defaults(func=cmd_predict)

    r = sub.add_parser("profile", help="skin colour, fWHR, facial contrast, feature colour, evenness, pose per face",
                       description="Measure every face in the photos: cheek and forehead CIE L*a*b* (D65) on "
                       "predicted skin, ITA and its category, fWHR, the contrast of brows, eyes and lips with the skin "
                       "around them, their colour, the skin's evenness, the head's yaw and roll, and the face's light "
                       "(sclera, clipping), with quality flags (README: every column and flag). One CSV row per face, in the order of the photos given; a photo with no face, or a file "
                       "that is not a readable image, gets one row saying so in the flags column. Colours are read as "
                       "taken unless --chart (a ColorChecker 24) or --white-balance says otherwise.")
    _model_args(r, None)
    r.add_argument("inputs", nargs="+", help="photos or folders of photos")
    r.add_argument("--out", required=True, help="output CSV file")
    r.add_argument("--measures", default="all", metavar="NAMES",
                   help=f"the measures to take, joined by commas, from {', '.join(MEASURE_NAMES)} (default all); "
                   "a measure left out leaves its columns out of the CSV")
    r.add_argument("--fwhr-top", choices=["brow", "eyelid"], default=ProfileParams.brow,
                   help=f"upper end of the face height (default {ProfileParams.brow})")
    r.add_argument("--patch-fraction", type=float, default=ProfileParams.patch_size_fraction,
                   help="side of the cheek and forehead colour patches / inter-ocular distance "
                   f"(default {ProfileParams.patch_size_fraction}); the evenness reads squares of its own, "
                   f"{ProfileParams.evenness_patch_fraction} x iod")
    r.add_argument("--chart", metavar="PHOTO|auto",
                   help="correct colour with a ColorChecker 24: PHOTO, a photo of the chart taken in the session's "
                   "light (applied to every photo), or auto (the chart in each photo; photos without one are "
                   "measured as taken and flagged no_chart). Default: colours as taken")
    r.add_argument("--chart-method", choices=CHART_METHODS, default=ProfileParams.chart_method,
                   help="the correction fitted to the chart after each channel's tone curve: matrix (3x3), a "
                   "colour-science polynomial, or auto (the least leave-one-patch-out dE2000 on the chart); "
                   f"default {ProfileParams.chart_method}")
    r.add_argument("--white-balance", choices=WHITE_BALANCE, default=ProfileStageParams.white_balance,
                   help="without a chart: sclera balances each face on its own sclera (a measured option with a "
                   "bias of its own, docs/colour.md); default none")
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
        from faceparse.heap import keep_freed_memory
        from faceparse.threads import configure

        keep_freed_memory()
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
