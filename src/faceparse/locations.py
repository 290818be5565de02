"""Where faceparse finds the files it did not make: the offline data mirror (FACEPARSE_MIRROR) and
the user cache of downloaded model files and exported graphs."""

from __future__ import annotations

import os
from pathlib import Path

from faceparse.errors import FaceparseConfigError

MIRROR_ENV = "FACEPARSE_MIRROR"


def mirror_from_env() -> Path | None:
    """The mirror folder named by FACEPARSE_MIRROR, or None when the variable is unset or empty.

    A value that is not a folder raises `FaceparseConfigError` rather than falling back to the
    network: a mistyped mirror path would otherwise turn into a silent multi-GB download.
    """
    value = os.environ.get(MIRROR_ENV, "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        found = "a file" if path.exists() else "nothing there"
        raise FaceparseConfigError(f"{MIRROR_ENV}={value!r}: expected a folder holding one <dataset name>/ "
                                   f"folder per dataset, found {found} (unset it to download instead)")
    return path


def cache_dir() -> Path:
    """Where downloaded model files and exported graphs are kept: `$FACEPARSE_CACHE_DIR`, else
    `$XDG_CACHE_HOME/faceparse` (default ~/.cache/faceparse)."""
    own = os.environ.get("FACEPARSE_CACHE_DIR", "").strip()
    if own:
        return Path(own)
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or Path.home() / ".cache"
    return Path(base) / "faceparse"
