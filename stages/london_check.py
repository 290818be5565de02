"""Stage `london_check`: a labelled check set from the London photos' hand-placed templates.

    python -m stages.london_check data/raw/london_faces data/london_check

Fills each London photo's WebMorph template (FRL 189 points, `.tem` beside the photo) into a
fasseg6 label map, 255 where the template cannot say (outside the face outline, above the brows,
the lip opening, a band along every boundary), and writes `images/` + `masks/` for the `folder`
dataset reader (`vocabulary: fasseg6`).
"""

import shutil

from stages._common import arguments, setup

from faceparse.london_check import build_london_check


def main() -> None:
    args = arguments(__doc__, "london_path", "out_path")
    setup()
    shutil.rmtree(args.out_path, ignore_errors=True)
    count = build_london_check(args.london_path, args.out_path)
    print(f"{count} London photos labelled from their templates into {args.out_path}")


if __name__ == "__main__":
    main()
