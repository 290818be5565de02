"""`faceparse.heap`: the command line's process keeps the blocks it frees for the next face's arrays."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

REUSE = """
import resource, sys
import numpy as np
from faceparse.heap import keep_freed_memory
print(keep_freed_memory() if sys.argv[1] == "keep" else False)
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
sizes = [24, 30, 18, 28, 22, 31]  # MiB: a face's arrays, one after another
for mb in sizes:
    a = np.ones(mb * 2**20 // 8); del a
before = faults()
for mb in sizes:
    a = np.ones(mb * 2**20 // 8); del a
print(faults() - before)
"""


def _run(mode: str, **env: str) -> tuple[bool, int]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    out = subprocess.run([sys.executable, "-c", REUSE, mode], capture_output=True, text=True, check=True,
                         env={**clean, **env}).stdout.split()
    return out[0] == "True", int(out[1])


def _glibc() -> bool:
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (AttributeError, ValueError, OSError):  # no such name off glibc (macOS, musl)
        return False


@pytest.mark.skipif(not _glibc(), reason="glibc's malloc only")
def test_freed_blocks_are_reused_without_new_pages_and_the_users_settings_stand():
    kept, kept_faults = _run("keep")
    plain, plain_faults = _run("plain")
    assert kept and not plain
    assert _run("keep", MALLOC_ARENA_MAX="2")[0] is False  # the user's MALLOC_* settings: left alone
    assert kept_faults < 50  # the blocks freed are taken again: no fresh pages
    if plain_faults < 200:
        pytest.skip(f"this glibc reuses these blocks by itself ({plain_faults} page faults): nothing to compare")
    assert kept_faults < plain_faults / 10  # glibc's own settings hand them back: fresh pages (768 here)
