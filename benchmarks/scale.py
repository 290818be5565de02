"""How align and training grow with the dataset: 1,000, 3,000 and 10,000 photos.

    python benchmarks/scale.py                 # after `make repro` (it reads data/prepared)
    python benchmarks/scale.py --sizes 1000 3000 --steps 20 --work /big/disk

Each dataset is the study's prepared FASSEG and FaceSynthetics photos (their label maps and landmarks
too) repeated under new names, as links to the real files: real pixels, no filler. For each size, in
fresh processes, with nothing else running:
- align (`faceparse.align.align_manifest`, as the stage runs it, FACEPARSE_THREADS workers) writes
  the shards; at the smallest size it runs once more with one worker, for the speed-up. Its rate
  leaves out the start-up: (N - 16) / (seconds for N - seconds for the first 16 photos alone);
- training (`faceparse.train.train`, train.main's params) runs the same number of steps at every
  size (so start-up and the one validation weigh the same) on the result, reading its crops from
  the shards, with the study's DataLoader worker.
Peak memory is the largest sum of proportional set size (PSS: shared pages split between the
processes that share them) over the process and all its children (pool workers, DataLoader
workers), sampled every 50 ms. Results go to metrics/bench.json under "scale".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Only the standard library at the top: align's pool workers import this file again, and must not
# load torch (stages.align's workers do not).
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "src"))
WARMUP = 16


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                todo += [int(c) for c in Path(f"/proc/{p}/task/{task}/children").read_text().split()]
        except OSError:
            pass
    return out


def _pss_mb(pids: list[int]) -> float:
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:  # gone since it was listed
            pass
    return total / 1024


def measured(args: list[str]) -> tuple[dict, float]:
    """Run `python benchmarks/scale.py <args>` (one phase), sampling the tree's memory; returns the
    phase's JSON result and the peak in MB."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        proc = subprocess.Popen([sys.executable, __file__, *args, str(result)])
        peak = 0.0
        while proc.poll() is None:
            peak = max(peak, _pss_mb(_tree(proc.pid)))
            time.sleep(0.05)
        if proc.returncode:
            raise SystemExit(f"{args[0]} failed (exit {proc.returncode})")
        return json.loads(result.read_text()), peak


def build(size: int, work: Path) -> Path:
    """A prepared manifest of `size` photos under `work`: the study's ok rows, cycled, each copy's
    photo, label maps and landmarks linked under a new name."""
    import pandas as pd

    prepared = pd.read_csv(ROOT / "data/prepared/manifest.csv", keep_default_na=False)
    ok = prepared[prepared["status"] == "ok"].reset_index(drop=True)
    rows = []
    for i in range(size):
        r = ok.iloc[i % len(ok)].to_dict()
        new = f"{r['id']}_copy{i // len(ok):03d}"
        folder = work / "photos" / r["dataset"]
        folder.mkdir(parents=True, exist_ok=True)
        for col in ("image", "label", "native_label", "landmarks"):
            if not r[col]:
                continue
            src = ROOT / r[col]
            link = folder / f"{new}.{col}{src.suffix}"
            if not link.exists():
                link.symlink_to(src)
            r[col] = str(link)
        rows.append({**r, "id": new, "subject": new, "split": "train"})
    path = work / "manifest.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def phase_align(manifest: Path, out: Path, workers: int) -> dict:
    import pandas as pd

    from faceparse.align import align_manifest
    from faceparse.geometry import AlignParams
    from faceparse.detect import FaceFinder
    from faceparse.params import load_params, parse
    from faceparse.prepare import PrepareParams

    params = load_params(ROOT / "params.yaml")
    p = parse(AlignParams, params["align"], "align")
    formats = {n: d.format for n, d in parse(PrepareParams, params["prepare"], "prepare").datasets.items()}
    m = pd.read_csv(manifest, keep_default_na=False)
    t = time.perf_counter()
    aligned = align_manifest(m, p, FaceFinder, ROOT, out, formats, workers=workers)
    seconds = time.perf_counter() - t
    aligned.to_csv(out / "manifest.csv", index=False)
    return {"photos": len(m), "seconds": seconds}


def phase_train(aligned: Path, steps: int) -> dict:
    import dataclasses

    import pandas as pd

    from _bench import main_model_params
    from faceparse.train import TrainData, train, training_data

    _, p = main_model_params()
    p = dataclasses.replace(p, epochs=10**6, max_steps=steps, warmup_epochs=0)
    manifest = pd.read_csv(aligned / "manifest.csv", keep_default_na=False)
    data, _ = training_data(p, aligned, manifest)
    val = TrainData(data.images[:16], data.masks[:16])  # the same small validation at every size
    with tempfile.TemporaryDirectory() as tmp:
        result = train(p, p.label_set, data, val, Path(tmp) / "model.pt")
    return {"crops": len(data.images), "steps": result["steps"], "seconds": result["seconds"],
            "samples_per_second": result["steps"] * p.batch_size / result["seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 3000, 10000])
    parser.add_argument("--steps", type=int, default=40, help="training steps at each size (batch of train.main)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()), help="where the datasets are built "
                        "(10,000 crops take 3.3 GB; each size is deleted after it is measured)")
    args = parser.parse_args()
    if not (ROOT / "data/prepared/manifest.csv").exists():
        raise SystemExit("data/prepared/manifest.csv is missing: run `make repro` (or `dvc repro prepare`) first")
    from _bench import machine, record
    from faceparse import threads

    workers = threads.current()
    out = {"images": [], "align_peak_mb": [], "train_peak_mb": [], "align_photos_per_second": [],
           "train_samples_per_second": [], "align_seconds": [], "align_workers": workers, "train_steps": args.steps,
           "machine": machine()}
    work = Path(tempfile.mkdtemp(prefix="faceparse-scale-warmup-", dir=args.work))
    try:  # the first WARMUP photos alone: start-up and a little work, for each number of workers
        warm = build(WARMUP, work)
        startup = {n: measured(["align", str(warm), str(work / f"aligned{n}"), str(n)])[0]["seconds"]
                   for n in sorted({workers, 1})}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out["align_warmup_seconds"] = {str(n): round(t, 2) for n, t in startup.items()}

    def rate(photos: int, seconds: float, n: int) -> float:
        return round((photos - WARMUP) / (seconds - startup[n]), 2)

    for i, size in enumerate(sorted(args.sizes)):
        work = Path(tempfile.mkdtemp(prefix=f"faceparse-scale-{size}-", dir=args.work))
        try:
            manifest = build(size, work)
            done, peak = measured(["align", str(manifest), str(work / "aligned"), str(workers)])
            if i == 0:  # after the pool's run, so both read the photos from a warm page cache
                one, _ = measured(["align", str(manifest), str(work / "aligned1"), "1"])
                out["align_photos_per_second_1_worker"] = rate(one["photos"], one["seconds"], 1)
                out["align_1_worker_images"] = size
                shutil.rmtree(work / "aligned1")
            trained, train_peak = measured(["train", str(work / "aligned"), str(args.steps)])
        finally:
            shutil.rmtree(work, ignore_errors=True)
        out["images"].append(size)
        out["align_peak_mb"].append(round(peak))
        out["align_seconds"].append(round(done["seconds"], 1))
        out["align_photos_per_second"].append(rate(done["photos"], done["seconds"], workers))
        out["train_peak_mb"].append(round(train_peak))
        out["train_samples_per_second"].append(round(trained["samples_per_second"], 2))
        print(f"{size} photos: align {out['align_photos_per_second'][-1]} photos/s, peak {out['align_peak_mb'][-1]} MB; "
              f"train {out['train_samples_per_second'][-1]} samples/s, peak {out['train_peak_mb'][-1]} MB", flush=True)
    first, last = 0, len(out["images"]) - 1
    out["align_peak_ratio"] = round(out["align_peak_mb"][last] / out["align_peak_mb"][first], 3)
    out["train_peak_ratio"] = round(out["train_peak_mb"][last] / out["train_peak_mb"][first], 3)
    out["align_speed_ratio"] = round(out["align_photos_per_second"][last] / out["align_photos_per_second"][first], 3)
    out["train_speed_ratio"] = round(out["train_samples_per_second"][last] / out["train_samples_per_second"][first], 3)
    out["align_speedup_over_1_worker"] = round(out["align_photos_per_second"][first]
                                               / out["align_photos_per_second_1_worker"], 3)
    record({"scale": out})
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("align", "train"):
        os.environ.setdefault("FACEPARSE_MIRROR", str(ROOT.parent / "shared" / "data"))
        from faceparse.threads import configure

        configure()
        phase, rest = sys.argv[1], sys.argv[2:]
        result = (phase_align(Path(rest[0]), Path(rest[1]), int(rest[2])) if phase == "align"
                  else phase_train(Path(rest[0]), int(rest[1])))
        Path(rest[-1]).write_text(json.dumps(result))
    else:
        main()
