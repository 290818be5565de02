"""Stage `download`: each configured dataset into data/raw/<name>/ in its original layout, from the
FACEPARSE_MIRROR folder when it holds <name>/, else from its URL (sha256-verified)."""

import json
import logging
import os
from pathlib import Path

from _common import ROOT, get, setup

from faceparse.download import DatasetSource, fetch_dataset


def main() -> None:
    params = setup()
    mirror = os.environ.get("FACEPARSE_MIRROR")
    mirror_path = Path(mirror).expanduser().resolve() if mirror else None
    if mirror_path is not None and not mirror_path.is_dir():
        logging.warning("FACEPARSE_MIRROR=%s is not a folder; downloading instead", mirror)
        mirror_path = None
    records = {}
    for name, d in get(params, "download.datasets").items():
        src = DatasetSource(name=name, url=d["url"], sha256=d.get("sha256"), format=d["format"], strip=d.get("strip"))
        record = fetch_dataset(src, ROOT / "data/raw" / name, mirror_path, ROOT / "data/cache")
        # Machine-specific paths would change data/raw's hash from one machine to the next.
        records[name] = {k: v for k, v in record.items() if k not in ("path", "archive")}
    (ROOT / "data/raw/SOURCES.json").write_text(json.dumps(records, indent=2) + "\n")


if __name__ == "__main__":
    main()
