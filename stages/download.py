"""Stage `download`: each configured dataset into <raw>/<name>/ in its original layout, from the
FACEPARSE_MIRROR folder when it holds <name>/, else from its URL (sha256-verified). A FACEPARSE_MIRROR
that is not a folder stops the stage.

    python -m stages.download data/raw
"""

import json

from stages._common import ROOT, arguments, get, parse, setup

from faceparse.download import DownloadParams, fetch_dataset
from faceparse.locations import mirror_from_env


def main() -> None:
    args = arguments(__doc__, "raw_path")
    p = parse(DownloadParams, get(setup(), "download"), "download")
    # Raise on a mistyped mirror rather than download: offline the mirror is the only source, and
    # online a typo would silently cost a multi-GB download.
    mirror = mirror_from_env()
    records = {}
    for src in p.sources():
        record = fetch_dataset(src, args.raw_path / src.name, mirror, ROOT / "data/cache")
        # Machine-specific paths would change data/raw's hash from one machine to the next.
        records[src.name] = {k: v for k, v in record.items() if k not in ("path", "archive")}
    (args.raw_path / "SOURCES.json").write_text(json.dumps(records, indent=2) + "\n")


if __name__ == "__main__":
    main()
