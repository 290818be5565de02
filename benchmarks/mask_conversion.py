"""Colour mask -> label map: faceparse's vectorised `colours_to_labels` against a per-pixel Python loop.

Every FASSEG mask under $FACEPARSE_MIRROR/fasseg (default: ../shared/data beside the repository)
goes through the vectorised path. The loop takes about a quarter of a second per mask, so it runs
on a fixed subset (`--loop-masks`, spread evenly over the sorted mask list); the speed-up compares
the two paths per mask on that same subset, and the loop's label maps must equal the vectorised
ones there. Results are merged into metrics/bench.json. Exit status: 1 if any label map differs,
2 if the speed-up is below `--min-speedup`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from _bench import machine, record

from faceparse.datasets import colours_to_labels, get_reader
from faceparse.datasets.base import read_rgb_mask
from faceparse.labels import get_label_set

log = logging.getLogger("mask_conversion")
REPO = Path(__file__).resolve().parents[1]


def loop_labels(rgb: np.ndarray, palette: list[tuple[int, int, int]]) -> np.ndarray:
    """The per-pixel baseline: for each pixel, the nearest palette colour by a Python loop.

    Ties go to the first palette colour, as in `colours_to_labels`.
    """
    out = []
    for row in rgb.tolist():
        labels_row = []
        for r, g, b in row:
            best, best_d = 0, None
            for k, (pr, pg, pb) in enumerate(palette):
                d = (r - pr) * (r - pr) + (g - pg) * (g - pg) + (b - pb) * (b - pb)
                if best_d is None or d < best_d:
                    best, best_d = k, d
            labels_row.append(best)
        out.append(labels_row)
    return np.array(out, dtype=np.uint8)


def vectorised_seconds(rgb: np.ndarray, palette: np.ndarray, repeats: int) -> tuple[np.ndarray, float]:
    """Label map and the best of `repeats` timings (the machine is shared; the minimum is the least noisy)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        labels, _ = colours_to_labels(rgb, palette)
        best = min(best, time.perf_counter() - t0)
    return labels, best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path,
                        default=Path(os.environ.get("FACEPARSE_MIRROR") or REPO.parent / "shared" / "data"))
    parser.add_argument("--loop-masks", type=int, default=10, help="masks the per-pixel loop converts")
    parser.add_argument("--repeats", type=int, default=3, help="timings per mask for the vectorised path")
    parser.add_argument("--min-speedup", type=float, default=100.0)
    parser.add_argument("--metrics", type=Path, default=REPO / "metrics" / "bench.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    samples = [s for s in get_reader("fasseg").samples(args.mirror / "fasseg") if s.mask is not None]
    palette = get_label_set("fasseg6").palette()
    masks = [read_rgb_mask(s.mask) for s in tqdm(samples, desc="reading masks", leave=False)]
    log.info("%d FASSEG masks under %s", len(masks), args.mirror / "fasseg")

    vec_labels, vec_times = [], []
    for rgb in masks:
        labels, seconds = vectorised_seconds(rgb, palette, args.repeats)
        vec_labels.append(labels)
        vec_times.append(seconds)

    n_loop = min(args.loop_masks, len(masks))
    subset = np.unique(np.linspace(0, len(masks) - 1, n_loop).round().astype(int)).tolist()
    palette_list = [tuple(int(v) for v in c) for c in palette]
    loop_times, mismatched = [], []
    for i in tqdm(subset, desc="per-pixel loop"):
        t0 = time.perf_counter()
        labels = loop_labels(masks[i], palette_list)
        loop_times.append(time.perf_counter() - t0)
        if not np.array_equal(labels, vec_labels[i]):
            mismatched.append(samples[i].mask)

    vec_subset = float(np.mean([vec_times[i] for i in subset]))
    loop_mean = float(np.mean(loop_times))
    speedup = loop_mean / vec_subset
    pixels = int(np.mean([masks[i].shape[0] * masks[i].shape[1] for i in subset]))
    log.info("vectorised: %d masks in %.3f s (%.2f ms per mask)", len(masks), sum(vec_times),
             1000 * float(np.mean(vec_times)))
    log.info("on the same %d masks (%d pixels on average): vectorised %.2f ms per mask, per-pixel loop %.0f ms "
             "per mask", len(subset), pixels, 1000 * vec_subset, 1000 * loop_mean)
    log.info("speed-up: %.1fx (target at least %.0fx)", speedup, args.min_speedup)

    record(path=args.metrics, results={
        "mask_conversion_speedup": round(speedup, 1),
        "mask_conversion_vectorised_s_per_mask": round(vec_subset, 5),
        "mask_conversion_loop_s_per_mask": round(loop_mean, 4),
        "mask_conversion_vectorised_all_masks_s": round(sum(vec_times), 3),
        "mask_conversion_masks": len(masks),
        "mask_conversion_loop_masks": len(subset),
        "mask_conversion_machine": machine(),
    })
    if mismatched:
        log.error("label maps differ between the two paths for %d masks, first %s", len(mismatched), mismatched[0])
        return 1
    if speedup < args.min_speedup:
        log.error("speed-up %.1fx is below the required %.0fx", speedup, args.min_speedup)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
