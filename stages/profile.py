"""Stage `profile`: skin colour (CIE L*a*b*, ITA) and fWHR of every face in a folder of photos.

    python -m stages.profile models/main.pt data/raw/london_faces data/profile

Writes <out>/profile.csv (one row per face, with quality flags), <out>/review/index.html (each face
drawn with where it was measured, `faceparse.review`), metrics/profile.json and the run's speed in
metrics/timings/profile.json; on the London set also the test-retest and landmark-agreement figures
and their scatter plots, and, with `profile.canada`, every measure validated on both template-labelled
sets (`faceparse.profile.validation`): <out>/validation/{canada,templates}.csv, the figures in
metrics/profile.json ("validation") and their tables in <out>/validation/tables.md.
"""

import shutil
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from stages._common import ROOT, arguments, get, parse, setup, write_json

from faceparse import tracking
from faceparse.datasets.base import list_images
from faceparse.plots import plot_distributions, plot_validation
from faceparse.predict import Predictor
from faceparse.profile.colour import ITA_BOUNDS, ITA_CATEGORIES
from faceparse.profile.correct import colour_source
from faceparse.profile.london import london_table, validate_london
from faceparse.profile.params import ProfileStageParams
from faceparse.profile.run import profile_rows, summarise, timed_profile
from faceparse.profile.validation import template_rows, validation_metrics
from faceparse.profile.validation_tables import markdown_tables
from faceparse.resume import write_rows
from faceparse.review import MANIFEST, ReviewWriter


def _relative(photo: str) -> str:
    return str(Path(photo).relative_to(ROOT)) if Path(photo).is_relative_to(ROOT) else photo


def main() -> None:
    args = arguments(__doc__, "model_path", "images_path", "out_path")
    cfg = parse(ProfileStageParams, get(setup(), "profile"), "profile")
    folder = args.images_path
    photos = list_images(folder, recursive=True)
    if cfg.limit:
        photos = photos[:cfg.limit]
    # Any model's classes are projected onto FASSEG's six, the regions profile measures.
    predictor = Predictor(args.model_path, tta=cfg.tta, target_label_set="fasseg6", precision=cfg.precision)
    colour = colour_source(cfg.chart, cfg.white_balance, cfg.measure.chart_method, cfg.measure.max_chart_dE)
    with tracking.run("profile", ROOT) as t:
        t.params(asdict(cfg))
        out = args.out_path
        out.mkdir(parents=True, exist_ok=True)
        review = ReviewWriter(out / "review", photos, restart=True)
        rows, seconds = timed_profile(predictor, photos, cfg.measure, colour, review)
        # Paths below the repo are written relative to it, so the CSV is the same on every machine.
        shown = [{**r, "photo": _relative(r["photo"])} for r in rows]
        write_rows(out / "profile.csv", shown)
        review.finish(shown)
        # The record that lets a stopped CLI run keep its tiles holds this machine's paths, in the order
        # the threads finished: the stage always starts over, so it keeps none.
        (out / "review" / MANIFEST).unlink(missing_ok=True)
        example = review.tile_of(photos[0]) if photos else None
        if example is not None:  # the first photo's face, drawn as the review page shows it, for the report
            (ROOT / "metrics/plots/profile").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(example, ROOT / "metrics/plots/profile/profile_example_face.jpg")
        table = pd.DataFrame(rows)
        summary = summarise(table)
        faces_per_second = summary["faces"] / seconds if seconds > 0 else float("nan")
        if (folder / "london_info.csv").exists():
            lt = london_table(table, folder)
            summary["london"] = validate_london(lt)
            plot_validation(lt, ROOT / "metrics/plots/profile")
            if cfg.canada:
                summary.update(_validate(predictor, cfg, rows, folder, Path(cfg.canada), colour, out / "validation"))
        else:
            (ROOT / "metrics/plots/profile").mkdir(parents=True, exist_ok=True)
        plot_distributions(table[table["face_index"] >= 0], ROOT / "metrics/plots/profile/profile_distributions.png",
                           ITA_BOUNDS, ITA_CATEGORIES)
        write_json("metrics/profile.json", summary)
        write_json("metrics/timings/profile.json", {"seconds": round(seconds, 1), "faces_per_second": faces_per_second})
        t.metrics({k: v for k, v in summary.items() if isinstance(v, (int, float))})
        t.metrics({"faces_per_second": faces_per_second})
        t.metrics({f"london.{k}": v for k, v in summary.get("london", {}).items() if isinstance(v, (int, float))})
        t.artifact(out / "profile.csv")
    print(f"profiled {summary['faces']} faces in {summary['photos']} photos ({faces_per_second:.2f} faces/s)")


def _validate(predictor: Predictor, cfg: ProfileStageParams, london_rows: list[dict], london: Path, canada: Path,
              colour, out: Path) -> dict:
    """Every measure on the London and Canada sets against the same measure on the maps drawn from their
    templates (`faceparse.profile.validation`): the Canada photos profiled as London's were, the
    template rows of both, the figures ("london", "validation") and their tables in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    canada_rows = profile_rows(predictor, list_images(canada, recursive=True), cfg.measure, colour=colour)
    photos = [Path(r["photo"]) for r in london_rows + canada_rows if r["face_index"] == 0]
    truth = template_rows([p for p in photos if p.with_suffix(".tem").is_file()], cfg.measure, colour)
    write_rows(out / "canada.csv", [{**r, "photo": _relative(r["photo"])} for r in canada_rows])
    write_rows(out / "templates.csv", [{**r, "photo": _relative(r["photo"])} for r in truth])
    figures = validation_metrics(pd.DataFrame(london_rows + canada_rows), pd.DataFrame(truth), london, canada,
                                 cfg.measure.measures)
    (out / "tables.md").write_text(markdown_tables(figures))
    return figures


if __name__ == "__main__":
    main()
