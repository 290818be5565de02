"""Where a model's forward pass runs: PyTorch, or ONNX Runtime on the CPU.

ONNX Runtime runs the main model (MobileNetV2 U-Net, 256 px, flip TTA) in 5.6-6.2 s per 80 crops on
two cores where PyTorch takes 8.3-9.3 s, with probabilities equal to PyTorch's within 4e-6
(`benchmarks/profile_speed.py` measures both side by side). The graph holds the whole of
`inference.predict_probs`: the uint8 crops in, ImageNet normalisation, the model on the crops and
their mirrors, softmax, the mirror undone and left/right classes swapped, the mean out.

The graph is exported once per model file and kept in the user cache (`detect.cache_dir()/onnx`)
under the file's SHA-256, with the checkpoint's metadata beside it. A later run finds it by that hash
and needs neither torch nor the checkpoint's unpickler: a model file that was refused is never
exported, and an edited one has another hash.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from faceparse.checksums import sha256_of
from faceparse.errors import FaceparseConfigError, FaceparseDataError
from faceparse.ort import session

log = logging.getLogger(__name__)

RUNTIMES = ("auto", "onnx", "torch")
GRAPH_FORMAT = 1  # bump when the exported graph changes, so older cached graphs are not reused
ADAPTER_AS_MODEL = ("a label adapter, not a model: give the model whose softmax it reads as the model and this "
                    "file as the adapter (--adapter)")
META_KEYS = ("label_set", "input_size", "align", "extra_label_set", "spec")


def onnx_available() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def cuda_possible() -> bool:
    """Whether torch may see a GPU: False for a CPU build of torch, told without importing it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        if "+cpu" in version("torch"):
            return False
    except PackageNotFoundError:
        return False
    import torch

    return torch.cuda.is_available()


def choose(runtime: str, adapter: bool) -> str:
    """The runtime `auto` stands for: ONNX Runtime on a CPU for a model without label adapter,
    else torch (a GPU, an adapter, onnxruntime not installed)."""
    if runtime not in RUNTIMES:
        raise FaceparseConfigError(f"runtime {runtime!r}: expected one of {', '.join(RUNTIMES)}")
    if runtime == "onnx":
        if adapter:
            raise FaceparseConfigError("the ONNX runtime runs a model alone; a label adapter runs with --runtime torch")
        if not onnx_available():
            raise FaceparseConfigError("--runtime onnx needs onnxruntime (pip install onnxruntime)")
        return "onnx"
    if runtime == "torch" or adapter or not onnx_available():
        return "torch"
    return "torch" if cuda_possible() else "onnx"


def graph_path(model_path: Path, tta: bool) -> Path:
    from faceparse.detect import cache_dir

    digest = sha256_of(model_path)
    return cache_dir() / "onnx" / f"{digest[:32]}-tta{int(tta)}-v{GRAPH_FORMAT}.onnx"


@dataclass
class OnnxModel:
    """A checkpoint's probabilities through ONNX Runtime: `probs(crops)` as `predict_probs` gives them."""

    model_path: Path
    tta: bool
    threads: int

    def __post_init__(self) -> None:
        graph = graph_path(self.model_path, self.tta)
        meta_file = graph.with_suffix(".json")
        if not (graph.exists() and meta_file.exists()):
            export(self.model_path, self.tta, graph)
        self.meta = json.loads(meta_file.read_text())
        self.graph = graph
        self.session = session(graph, self.threads)

    def probs(self, crops: np.ndarray) -> np.ndarray:
        """`(N, S, S, 3) uint8` aligned crops -> `(N, K, S, S) float32` softmax (flip TTA inside)."""
        if len(crops) == 0:
            return np.zeros((0,), np.float32)
        return self.session.run(None, {"crops": np.ascontiguousarray(crops, dtype=np.uint8)})[0]


def export(model_path: Path, tta: bool, graph: Path) -> None:
    """Export the checkpoint's `predict_probs` to `graph` (ONNX) and its metadata beside it, atomically."""
    import torch
    from torch import nn

    from faceparse.labels import get_label_set
    from faceparse.models import IMAGENET_MEAN, IMAGENET_STD, load_checkpoint

    model, meta = load_checkpoint(model_path, "cpu")
    if meta.get("extra_label_set"):
        raise FaceparseDataError(model_path, ADAPTER_AS_MODEL)
    if meta["spec"].in_channels != 3:
        raise FaceparseConfigError(f"{model_path}: a model with extra input channels runs with --runtime torch")
    perm = get_label_set(meta["label_set"]).flip_permutation if tta else None

    class Probs(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model
            self.perm = None if perm is None else torch.as_tensor(perm)
            self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

        def forward(self, crops: torch.Tensor) -> torch.Tensor:
            # `inference.normalise` and `predict_probs`, traced: the same arithmetic, in the graph.
            x = (crops.permute(0, 3, 1, 2).float() / 255.0 - self.mean) / self.std
            if self.perm is None:
                return self.model(x).softmax(1)
            n = x.shape[0]
            p = self.model(torch.cat([x, x.flip(3)])).softmax(1)
            return (p[:n] + p[n:].flip(3)[:, self.perm]) / 2

    size = int(meta["input_size"])
    example = torch.zeros((2, size, size, 3), dtype=torch.uint8)
    graph.parent.mkdir(parents=True, exist_ok=True)
    tmp = graph.with_name(f".{graph.name}.{os.getpid()}.tmp")
    log.info("exporting %s to ONNX at %s (once per model file)", model_path, graph)
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        torch.onnx.export(Probs().eval(), (example,), str(tmp), input_names=["crops"], output_names=["probs"],
                          dynamic_axes={"crops": {0: "n"}, "probs": {0: "n"}}, opset_version=17, dynamo=False)
    plain = {k: meta[k] for k in META_KEYS if k in meta and k != "spec"}
    plain["spec"] = asdict(meta["spec"])
    meta_tmp = tmp.with_suffix(".json")
    meta_tmp.write_text(json.dumps(plain, indent=1))
    meta_tmp.replace(graph.with_suffix(".json"))
    tmp.replace(graph)
