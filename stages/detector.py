"""Stage `detector`: how well the face detectors find faces and their five points on the study's photos.

    python -m stages.detector data/prepared data/raw/london_faces

Runs YuNet and the Haar cascades on every prepared photo (FASSEG V2 and V3, FaceSynthetics) and on
the London photos, compares YuNet's five points with FaceSynthetics' own landmarks (eye centres
from the iBUG-68 eye contours, nose tip, mouth corners) as mean error over the inter-ocular distance,
and measures per FASSEG pose how much of the true head each detector's crop holds.
Writes metrics/detector.json, and the seconds per photo to metrics/timings/detector.json.
"""

from dataclasses import replace

import pandas as pd

from stages._common import ROOT, arguments, get, parse, setup, write_json

from faceparse.datasets.base import list_images
from faceparse.detect import FaceFinder, HaarFaceFinder, YuNetFaceFinder
from faceparse.detector_report import detector_report, head_coverage, landmark_error
from faceparse.geometry import AlignParams


def main() -> None:
    args = arguments(__doc__, "prepared_path", "london_path")
    params = parse(AlignParams, get(setup(), "align"), "align")
    manifest = pd.read_csv(args.prepared_path / "manifest.csv", keep_default_na=False)
    manifest = manifest[manifest["status"] == "ok"]
    groups = {}
    for (dataset, version), rows in manifest.groupby([manifest["dataset"], manifest["id"].str.extract(r"^(V\d)_")[0]
                                                     .fillna("")], sort=True):
        groups[f"{dataset}/{version}" if version else dataset] = [ROOT / p for p in rows["image"]]
    groups["london_faces"] = list_images(args.london_path, recursive=True)
    yunet, haar = YuNetFaceFinder(params), HaarFaceFinder(params)
    found, seconds = detector_report({"yunet": yunet, "haar": haar}, groups)
    with_landmarks = manifest[manifest["landmarks"] != ""]
    found["yunet_landmark_error"] = landmark_error(yunet, with_landmarks, ROOT)
    # Crops must hold the whole head at every pose: FASSEG's truth says where the head is.
    fasseg = manifest[manifest["dataset"] == "fasseg"]
    found["head_in_crop"] = {"yunet": head_coverage(FaceFinder(replace(params, detector="yunet")), fasseg, ROOT, params),
                             "haar": head_coverage(haar, fasseg, ROOT, params)}
    write_json("metrics/detector.json", found)
    write_json("metrics/timings/detector.json", seconds)
    for name in ("yunet", "haar"):
        print(name, {g: f"{v['found']}/{v['photos']}" for g, v in found[name].items()},
              f"{seconds[name]['ms_per_photo']:.0f} ms a photo")
    print("YuNet five points vs FaceSynthetics landmarks:", found["yunet_landmark_error"])


if __name__ == "__main__":
    main()
