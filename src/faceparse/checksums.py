"""File sha256 digests: the one implementation behind archive checks, tree digests and model hashes."""

from __future__ import annotations

import hashlib
from pathlib import Path

BLOCK = 1 << 20  # read size: large enough that hashing a multi-GB archive is not syscall-bound


def sha256_hasher(path: Path) -> tuple[hashlib._Hash, int]:
    """A sha256 object fed with the bytes of `path`, and their count.

    The object, not its hex digest, so that a resumed download can go on feeding it the rest.
    """
    h, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while block := f.read(BLOCK):
            h.update(block)
            size += len(block)
    return h, size


def sha256_of(path: Path) -> str:
    """Hex sha256 of the file at `path`."""
    return sha256_hasher(path)[0].hexdigest()
