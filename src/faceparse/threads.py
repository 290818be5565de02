"""One setting sizes every pool of threads faceparse starts, so that two faceparse processes on one
machine share its cores instead of each taking all of them (and both running several times slower).

`--threads N` on the command line, else `FACEPARSE_THREADS`, else the cores this process may run on
(its CPU affinity, which a container or `taskset` narrows). It sets torch's intra-op threads,
OpenCV's pool and ONNX Runtime's (`current()`); each DataLoader worker runs single-threaded, being
one of the parallel parts itself.
"""

from __future__ import annotations

import os
import sys

from faceparse.errors import FaceparseConfigError

ENV = "FACEPARSE_THREADS"
_configured: int | None = None


def available_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def resolve(threads: int | None = None) -> int:
    """`threads` when given (> 0), else `FACEPARSE_THREADS`, else `available_cores()`."""
    if threads is not None and threads != 0:
        if threads < 0:
            raise FaceparseConfigError(f"--threads must be a positive number of threads, found {threads}")
        return int(threads)
    value = os.environ.get(ENV, "").strip()
    if not value:
        return available_cores()
    if not value.isdigit() or int(value) < 1:
        raise FaceparseConfigError(f"{ENV}={value!r}: expected a positive number of threads")
    return int(value)


def configure(threads: int | None = None) -> int:
    """Size torch's, OpenCV's and (through `current()`) ONNX Runtime's thread pools in this process;
    returns the number used. torch is not imported for this: when it is not loaded yet, it reads
    the number from OMP_NUM_THREADS when it is."""
    global _configured
    import cv2

    n = resolve(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    else:
        os.environ["OMP_NUM_THREADS"] = str(n)
    cv2.setNumThreads(n)
    _configured = n
    return n


def current() -> int:
    """The number `configure` set, else what it would set (`resolve()`)."""
    return _configured if _configured is not None else resolve()


def worker_process_init() -> None:
    """In a worker process (a DataLoader's, say), which is itself one of the parallel parts: one thread."""
    import cv2
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
