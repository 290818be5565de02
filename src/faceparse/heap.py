"""How a `faceparse` command's process keeps the memory it frees (glibc's malloc, on Linux).

Each face's arrays are a few megabytes (a photo, a face's six class probabilities over its window,
the masks the measures read), made and freed face after face. glibc hands a freed block of more than
its `M_MMAP_THRESHOLD` (which it raises on its own up to 32 MiB) back to the kernel at once, and
shrinks its heap when its free top passes `M_TRIM_THRESHOLD`; the next block of that size then
comes back as fresh pages, which the kernel zeroes one by one. `keep_freed_memory` keeps blocks up to
32 MiB in the heap and the heap's free top up to 1 GiB: on the 80 London photos, `profile` took
157,000 page faults against 340,000 to 500,000, and 0.6 s of system time against 1.0 to 1.7, its
largest resident size unchanged (0.76 GB). What is kept is what the heap held at its peak (each
thread's heap its own), not handed back between faces.

Only the command line calls it, once at start: a library that changes the allocator of the program
that imported it would surprise its user. Where `MALLOC_*` or `GLIBC_TUNABLES` in the environment
set the allocator already, or the C library is not glibc, nothing is changed.
"""

from __future__ import annotations

import ctypes
import os

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt's parameters (malloc.h)
MMAP_THRESHOLD = 32 * 2**20  # the largest glibc takes: blocks up to this size are kept in the heap
TRIM_THRESHOLD = 2**30  # the heap's free top is handed back once it passes this


def keep_freed_memory() -> bool:
    """Set glibc's malloc to keep freed blocks for reuse (see the module's docstring); whether it was set."""
    try:
        libc = os.confstr("CS_GNU_LIBC_VERSION")  # "glibc 2.36"; no such name off glibc
    except (AttributeError, ValueError, OSError):
        return False
    if not (libc or "").startswith("glibc"):
        return False
    if os.environ.get("GLIBC_TUNABLES") or any(k.startswith("MALLOC_") for k in os.environ):
        return False  # the user's own settings stand
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # The threshold first: setting either turns off glibc's own raising of it.
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
