"""ONNX Runtime sessions as faceparse runs them: on the CPU, sized by `faceparse.threads`.

A module of its own, importing nothing of faceparse, so that the face detector (`detect`) can use
ONNX Runtime without the model code that `runtime` exports from.
"""

from __future__ import annotations

from pathlib import Path


def session(path: Path | str | bytes, threads: int):
    """An ONNX Runtime CPU session with `threads` intra-op threads that sleep when idle (spinning
    threads would take the core that decodes and measures the next photos)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    model = path if isinstance(path, bytes) else str(path)
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
