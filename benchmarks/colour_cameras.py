"""Skin colour across cameras: `faceparse profile` uncorrected and corrected, side by side, in one run.

The London photos (40 people, neutral and smiling) and the Canada photos (40 people, another lab's
camera) go through the original camera and 6 seeded simulated ones (`faceparse.cameras`:
white balance, crosstalk, exposure, sensor noise, tone curve, JPEG 60-95). Each camera also takes a
session photo of a rendered ColorChecker 24 (a tenth of the frame, in perspective), and a second copy
of every photo with the chart held at the chest (a twenty-fifth of the frame). Then, per camera:
- `none`: the photos as taken;
- `chart`: `--chart` the camera's session photo;
- `auto`: `--chart auto` on the copies holding the chart;
- `sclera`: `--white-balance sclera`, no chart.
For each set and way, over the faces measured by every camera: cheek ITA, L* and b* ICC(2,1) across
the original and the 6 cameras, mean |ITA difference| and mean CIE dE2000 of the cheek colour to the
original photo's (measured the same way), charts found, and the charts' leave-one-patch-out dE2000
for each fit method. Also the chart detectors side by side (OpenCV's mcc; colour-checker-detection's
segmentation detector when it is installed) on every rendered photo.

Results go to metrics/bench.json under "colour". Run with nothing else on the machine:
    python benchmarks/colour_cameras.py
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from _bench import ROOT, record  # noqa: E402

from faceparse.cli import main as faceparse  # noqa: E402
from faceparse.datasets import read_image  # noqa: E402
from faceparse.datasets.base import list_images  # noqa: E402
from faceparse.profile.chart import find_chart  # noqa: E402
from faceparse.profile.correct import METHODS, delta_e_2000, fit_chart  # noqa: E402
from faceparse.cameras import ORIGINAL, cameras, paste_chart, scene_of, session_scene  # noqa: E402
from faceparse.profile.stats import icc_2_1  # noqa: E402

MIRROR = Path(os.environ.get("FACEPARSE_MIRROR") or ROOT.parent / "shared/data")
WAYS = {"none": [], "chart": ["--chart", "{session}"], "auto": ["--chart", "auto"], "sclera": ["--white-balance", "sclera"]}


def render(photos: list[Path], cams: list, out: Path, seed: int) -> dict[str, dict]:
    """Each camera's folders of plain photos and of photos holding the chart, and its session chart
    photo. Every camera photographs the same scenes: the chart is held at the same place for all."""
    made: dict[str, dict] = {}
    for cam in cams:
        made[cam.name] = {"plain": out / cam.name / "plain", "held": out / cam.name / "held"}
        made[cam.name]["plain"].mkdir(parents=True), made[cam.name]["held"].mkdir(parents=True)
    shape = read_image(photos[0]).shape[:2]
    for i, photo in enumerate(tqdm(photos, desc=f"render {out.name}", unit="photo")):
        scene = scene_of(read_image(photo))
        held = paste_chart(scene, 0.04, tuple(np.random.default_rng([seed, i]).uniform((0.42, 0.88), (0.58, 0.9))),
                           np.random.default_rng([seed, i, 1]))
        for k, cam in enumerate(cams):
            rng = np.random.default_rng([seed, k, i])
            name = photo.with_suffix(".png" if cam.jpeg == 0 else ".jpg").name
            if cam is ORIGINAL:
                (made[cam.name]["plain"] / photo.name).symlink_to(photo.resolve())
            else:
                (made[cam.name]["plain"] / name).write_bytes(cam.save(scene, rng))
            (made[cam.name]["held"] / name).write_bytes(cam.save(held, rng))
    session = session_scene(shape, np.random.default_rng([seed, 10**6]))
    for k, cam in enumerate(cams):
        made[cam.name]["session"] = out / cam.name / f"chart{'.png' if cam.jpeg == 0 else '.jpg'}"
        made[cam.name]["session"].write_bytes(cam.save(session, np.random.default_rng([seed, k, 10**6])))
    return made


def profile(model: Path, folder: Path, extra: list[str], csv: Path) -> pd.DataFrame:
    with open(os.devnull, "w") as quiet, redirect_stderr(quiet), redirect_stdout(quiet):
        code = faceparse(["profile", "--model", str(model), "--out", str(csv), *extra, str(folder)])
    if code != 0:
        raise RuntimeError(f"faceparse profile {' '.join(extra)} {folder} exited {code}")
    table = pd.read_csv(csv, keep_default_na=False, na_values=[""], dtype={"flags": str})
    table["stem"] = table["photo"].map(lambda p: Path(p).stem)
    return table[table["face_index"] == 0].set_index("stem")


def agreement(tables: dict[str, pd.DataFrame]) -> dict:
    """ICC(2,1) across cameras, mean |ITA difference| and mean dE2000 to the original's cheeks."""
    names = list(tables)
    stems = sorted(set.intersection(*(set(t.dropna(subset=["cheeks_ita"]).index) for t in tables.values())))
    out: dict = {"faces": len(stems)}
    for col, key in (("cheeks_ita", "ita"), ("cheeks_L", "L"), ("cheeks_b", "b")):
        out[f"icc21_{key}"] = round(icc_2_1(np.stack([tables[n].loc[stems, col].to_numpy(float) for n in names], 1)), 4)
    lab = {n: tables[n].loc[stems, ["cheeks_L", "cheeks_a", "cheeks_b"]].to_numpy(float) for n in names}
    ita = {n: tables[n].loc[stems, "cheeks_ita"].to_numpy(float) for n in names}
    others = names[1:]
    out["mean_abs_ita_diff"] = round(float(np.mean([np.abs(ita[n] - ita[names[0]]) for n in others])), 3)
    out["mean_dE2000"] = round(float(np.mean([delta_e_2000(lab[n], lab[names[0]]) for n in others])), 3)
    return out


def detectors(made: dict, photos_per_camera: int) -> dict:
    """OpenCV's mcc and colour-checker-detection's segmentation detector on the same rendered photos."""
    files = [(m["session"], "session") for m in made.values()]
    files += [(f, "held") for m in made.values() for f in sorted(m["held"].iterdir())[:photos_per_camera]]

    def count(found_in) -> dict:
        found, t0 = {"session": 0, "held": 0}, time.perf_counter()
        for f, kind in files:
            found[kind] += bool(found_in(read_image(f)))
        return {"session_found": found["session"], "held_found": found["held"],
                "seconds_per_photo": round((time.perf_counter() - t0) / len(files), 3)}

    out = {"mcc": count(lambda image: find_chart(image) is not None)}
    try:
        import colour_checker_detection as ccd
    except ImportError:
        out["colour_checker_detection"] = "not installed"
        return out
    out["colour_checker_detection"] = count(
        lambda image: len(ccd.detect_colour_checkers_segmentation(image.astype(np.float32) / 255)) > 0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models/main.pt")
    parser.add_argument("--london", type=Path, default=MIRROR / "london_faces")
    parser.add_argument("--canada", type=Path, default=MIRROR / "canada_faces")
    parser.add_argument("--cameras", type=int, default=6)
    parser.add_argument("--limit", type=int, default=0, help="the first N photos of each set (0: all)")
    parser.add_argument("--ways", nargs="+", default=list(WAYS), choices=list(WAYS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="keep the rendered photos and CSVs in this folder")
    args = parser.parse_args()
    cams = [ORIGINAL, *cameras(args.cameras, args.seed)]
    sets = {"london": list_images(args.london, recursive=True), "canada": list_images(args.canada)}
    results: dict = {"cameras": [{"name": c.name, "exposure": round(c.exposure, 3), "gains": [round(g, 3) for g in c.gains],
                                  "curve": round(c.curve, 3), "jpeg": c.jpeg} for c in cams]}
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        for name, photos in sets.items():
            photos = photos[:args.limit] if args.limit else photos
            t0 = time.perf_counter()
            made = render(photos, cams, work / name, args.seed)
            part: dict = {"photos": len(photos), "render_seconds": round(time.perf_counter() - t0, 1)}
            fits = {m: [] for m in METHODS}
            for m in made.values():
                reading = find_chart(read_image(m["session"]))
                for method in METHODS if reading is not None else ():
                    fits[method].append(fit_chart(reading, method).dE_mean)
            part["session_chart_loo_dE2000"] = {k: round(float(np.mean(v)), 3) for k, v in fits.items() if v}
            part["detectors"] = detectors(made, 10)
            for way in args.ways:
                t0 = time.perf_counter()
                tables = {}
                for cam, m in made.items():
                    extra = [a.format(session=m["session"]) for a in WAYS[way]]
                    tables[cam] = profile(args.model, m["held" if way == "auto" else "plain"], extra,
                                          work / name / cam / f"{way}.csv")
                result = agreement(tables)
                if way in ("chart", "auto"):
                    charts = pd.concat(tables.values())
                    result["charts_found"] = int((~charts["flags"].fillna("").str.contains("no_chart")).sum())
                    result["charts_of"] = int(len(charts))
                    result["fit_loo_dE2000_mean"] = round(float(charts["chart_dE_mean"].mean()), 3)
                result["seconds"] = round(time.perf_counter() - t0, 1)
                part[way] = result
                print(name, way, result, flush=True)
            results[name] = part
    record({"colour": results})


if __name__ == "__main__":
    main()
