"""What the OpenVINO networks faceparse compiles (the model in bf16, `runtime.openvino_model`; YuNet,
`detect`) share: how each is compiled (`compile_config`), where OpenVINO keeps them compiled between
runs, and threads left free to move between cores."""

from __future__ import annotations

import os
from pathlib import Path

# OpenVINO pins the threads that run a compiled network to a core each by default (the calling
# thread too, for good), made for a process that leaves it the machine. A faceparse command reads,
# measures and writes in other threads at the same time, and a pinned thread cannot move off a core
# another thread holds, so the network's share waited on the slower core: with one busy thread
# beside it, the model took 248 and 320 ms a batch of four crops pinned, 223 and 250 not, and the
# other thread got as much done. Every network faceparse compiles runs unpinned.
CPU_PINNING = False  # OpenVINO's ENABLE_CPU_PINNING


def compile_config(precision: str, threads: int) -> dict:
    """OpenVINO's settings for a network run in `precision` ("bf16", "f32") on `threads` threads, one
    stream (latency: one batch at a time, as the photo stream sends them), its threads unpinned."""
    return {"INFERENCE_PRECISION_HINT": precision, "INFERENCE_NUM_THREADS": int(threads), "NUM_STREAMS": 1,
            "PERFORMANCE_HINT": "LATENCY", "ENABLE_CPU_PINNING": CPU_PINNING}


def writable_folder(folder: Path) -> bool:
    """Whether `folder` can be written (made if need be): where OpenVINO may keep what it compiles."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return os.access(folder, os.W_OK)
    except OSError:
        return False
