"""How well each face detector does on photos of known faces (the detector stage): faces found per
group of photos, milliseconds a photo, landmark error against a dataset's own points, and how much
of each true head the crop holds."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faceparse.detect import YuNetFaceFinder
from faceparse.geometry import AlignParams


def detector_report(finders: dict, groups: dict[str, list[Path]]) -> tuple[dict, dict]:
    """For each named finder and each named group of photos that each hold one face: photos, faces
    found (at least one face), photos with several, the mean YuNet score; and the milliseconds a photo."""
    import time

    from tqdm import tqdm

    from faceparse.datasets import read_image

    found: dict = {name: {} for name in finders}
    spent = dict.fromkeys(finders, 0.0)
    total = sum(len(p) for p in groups.values())
    for group, photos in groups.items():
        counts = {name: {"photos": len(photos), "found": 0, "several": 0, "scores": []} for name in finders}
        for photo in tqdm(photos, desc=f"detect {group}", unit="photo", dynamic_ncols=True, leave=False):
            image = read_image(photo)
            for name, finder in finders.items():
                t0 = time.perf_counter()
                faces = finder.find(image)
                spent[name] += time.perf_counter() - t0
                c = counts[name]
                c["found"] += bool(faces)
                c["several"] += len(faces) > 1
                if faces and not np.isnan(faces[0].score):
                    c["scores"].append(faces[0].score)
        for name, c in counts.items():
            scores = c.pop("scores")
            c["not_found"] = c["photos"] - c["found"]
            if scores:
                c["mean_score"] = round(float(np.mean(scores)), 4)
            found[name][group] = c
    seconds = {name: {"ms_per_photo": round(1000 * s / max(total, 1), 1)} for name, s in spent.items()}
    return found, seconds


def landmark_error(finder: YuNetFaceFinder, rows, repo_root: Path) -> dict:
    """Mean distance of the finder's five points from a dataset's own landmarks, over the
    inter-ocular distance (the distance between the true eye centres): mean, median and per point,
    over the manifest `rows` that have landmarks (FaceSynthetics' iBUG-68 files)."""
    from faceparse.geometry import POINT_NAMES, five_points_from_ibug68
    from faceparse.datasets import read_image

    errors = []
    missed = 0
    for _, r in rows.iterrows():
        faces = finder.find(read_image(repo_root / r["image"]))
        if not faces:
            missed += 1
            continue
        truth = five_points_from_ibug68(np.loadtxt(repo_root / r["landmarks"], ndmin=2))
        iod = np.linalg.norm(truth[0] - truth[1])
        errors.append(np.linalg.norm(np.asarray(faces[0].points) - truth, axis=1) / iod)
    e = np.asarray(errors).reshape(-1, len(POINT_NAMES))
    per_photo = e.mean(1)
    return {"photos": len(rows), "not_found": missed,
            "mean_nme": round(float(per_photo.mean()), 4), "median_nme": round(float(np.median(per_photo)), 4),
            "share_under_0.1": round(float((per_photo < 0.1).mean()), 4),
            "per_point": {n: round(float(v), 4) for n, v in zip(POINT_NAMES, e.mean(0))}}


def head_coverage(finder, rows, repo_root: Path, params: AlignParams) -> dict:
    """Per pose (`V2` for FASSEG V2's frontal photos), the mean and the worst share of a photo's true
    head pixels (every class but background and 255) that its crop holds, the crop taken as the align
    stage takes it from `finder` (the whole photo when no face is found)."""
    from faceparse.geometry import align_sample, crop_coverage
    from faceparse.datasets import read_image, read_index_mask

    shares: dict[str, list[float]] = {}
    for _, r in rows.iterrows():
        image, truth = read_image(repo_root / r["image"]), read_index_mask(repo_root / r["label"])
        a = align_sample(image, None, finder, params)
        head = (truth != 0) & (truth != 255)
        if head.any():
            inside = crop_coverage(a.matrix, params.size, image.shape)[head] > 0.5
            shares.setdefault(str(r["pose"]) or "V2", []).append(float(inside.mean()))
    return {pose: {"photos": len(v), "mean": round(float(np.mean(v)), 4), "worst": round(float(np.min(v)), 4)}
            for pose, v in sorted(shares.items(), key=lambda kv: (kv[0] != "V2", float(kv[0]) if kv[0] != "V2" else 0))}
