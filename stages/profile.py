"""Stage `profile`: skin colour (CIE L*a*b*, ITA) and fWHR of every face in `profile.images`.

Writes data/profile/profile.csv (one row per face, with quality flags), metrics/profile.json and
the run's speed in metrics/timings/profile.json; on the London set also the test-retest and landmark-agreement figures and their scatter plots.
"""

from pathlib import Path

from _common import ROOT, get, setup, write_json

from faceparse import tracking
from faceparse.datasets.base import IMAGE_SUFFIXES
from faceparse.predict import Predictor
from faceparse.profile import ProfileParams
from faceparse.profiling import london_table, plot_validation, summarise, timed_profile, validate_london


def main() -> None:
    params = setup()
    cfg = dict(get(params, "profile"))
    folder = ROOT / cfg["images"]
    photos = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if cfg.get("limit"):
        photos = photos[: int(cfg["limit"])]
    predictor = Predictor(ROOT / "models" / f"{cfg['model']}.pt", tta=bool(cfg["tta"]))
    p = ProfileParams(patch_size_fraction=float(cfg["patch_fraction"]), brow=cfg["fwhr_top"])
    with tracking.run("profile", ROOT) as t:
        t.params(cfg)
        table, seconds = timed_profile(predictor, photos, p)
        out = ROOT / "data/profile"
        out.mkdir(parents=True, exist_ok=True)
        table["photo"] = table["photo"].map(lambda s: str(Path(s).relative_to(ROOT)) if Path(s).is_relative_to(ROOT) else s)
        table.to_csv(out / "profile.csv", index=False)
        summary = summarise(table)
        faces_per_second = summary["faces"] / seconds if seconds > 0 else float("nan")
        if (folder / "london_info.csv").exists():
            table["photo"] = table["photo"].map(lambda s: str(ROOT / s))
            lt = london_table(table, folder)
            summary["london"] = validate_london(lt)
            plot_validation(lt, ROOT / "metrics/plots/profile")
        else:
            (ROOT / "metrics/plots/profile").mkdir(parents=True, exist_ok=True)
        write_json("metrics/profile.json", summary)
        write_json("metrics/timings/profile.json", {"seconds": round(seconds, 1), "faces_per_second": faces_per_second})
        t.metrics({k: v for k, v in summary.items() if isinstance(v, (int, float))})
        t.metrics({"faces_per_second": faces_per_second})
        t.metrics({f"london.{k}": v for k, v in summary.get("london", {}).items() if isinstance(v, (int, float))})
        t.artifact(out / "profile.csv")
    print(f"profiled {summary['faces']} faces in {summary['photos']} photos ({faces_per_second:.2f} faces/s)")


if __name__ == "__main__":
    main()
