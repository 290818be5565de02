"""Where a model's forward pass runs: PyTorch, or its exported graph on the CPU (ONNX Runtime in
fp32, OpenVINO in bf16 with its first layers in fp32).

ONNX Runtime runs the main model (MobileNetV2 U-Net, 256 px, flip TTA) in 5.6-6.2 s per 80 crops on
two cores where PyTorch takes 8.3-9.3 s, with probabilities equal to PyTorch's within 4e-6
(`benchmarks/profile_speed.py` measures both side by side). The graph holds the whole of
`inference.predict_probs`: the uint8 crops in, ImageNet normalisation, the model on the crops and
their mirrors, softmax, the mirror undone and left/right classes swapped, the mean out.

The graph is exported once per model file and kept in the user cache (`locations.cache_dir()/onnx`)
under the file's SHA-256, with the checkpoint's metadata beside it. A later run finds it by that hash
and needs neither torch nor the checkpoint's unpickler: a model file that was refused is never
exported, and an edited one has another hash.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import os
import warnings
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from faceparse.checksums import sha256_of
from faceparse.errors import FaceparseConfigError, FaceparseDataError
from faceparse.labels import get_label_set
from faceparse.openvino_setup import compile_config, writable_folder

log = logging.getLogger(__name__)

RUNTIMES = ("auto", "onnx", "torch")
PRECISIONS = ("fp32", "bf16", "auto")
GRAPH_FORMAT = 1  # bump when the exported graph changes, so older cached graphs are not reused
ADAPTER_AS_MODEL = ("a label adapter, not a model: give the model whose softmax it reads as the model and this "
                    "file as the adapter (--adapter)")
META_KEYS = ("label_set", "input_size", "align", "extra_label_set", "spec")


def onnx_available() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def cuda_possible() -> bool:
    """Whether torch may see a GPU. A machine with no NVIDIA driver, or a CPU build of torch, is
    told without importing torch (a second and a half)."""
    import ctypes.util
    from importlib.metadata import PackageNotFoundError, version

    try:
        if "+cpu" in version("torch"):
            return False
    except PackageNotFoundError:
        return False
    if ctypes.util.find_library("cuda") is None and not Path("/dev/nvidiactl").exists():
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


def graph_path(model_path: Path, tta: bool, digest: str | None = None) -> Path:
    """Where the graph of `model_path` is cached: named by the file's SHA-256 (`digest`, when already
    computed), the TTA setting and the versions of what made it (faceparse, torch)."""
    from importlib.metadata import PackageNotFoundError, version

    from faceparse import __version__
    from faceparse.locations import cache_dir

    try:
        made_by = f"{__version__}-torch{version('torch')}"
    except PackageNotFoundError:
        made_by = __version__
    digest = digest or sha256_of(model_path)
    return cache_dir() / "onnx" / f"{digest[:32]}-tta{int(tta)}-v{GRAPH_FORMAT}-{made_by}.onnx"


def cached_graph(model_path: Path, tta: bool, digest: str | None = None) -> tuple[Path, dict]:
    """The exported graph of a checkpoint and its metadata, exported first when not cached (or when
    the cached copy cannot be read). `digest`: the file's sha256, when already known."""
    digest = digest or sha256_of(model_path)
    graph = graph_path(model_path, tta, digest)
    meta_file = graph.with_suffix(".json")
    if not (graph.exists() and meta_file.exists()):
        export_in_child(model_path, tta, graph, digest)
    try:
        return graph, json.loads(meta_file.read_text())
    except (OSError, ValueError) as err:  # a metadata file cut short: made again
        log.warning("cached graph %s unreadable (%s); exporting it again", graph, err)
        export_in_child(model_path, tta, graph, digest)
        return graph, json.loads(meta_file.read_text())


@dataclass
class OnnxModel:
    """A checkpoint's probabilities through its exported graph: `probs(crops)` as `predict_probs` gives
    them. `precision` fp32 runs the graph in ONNX Runtime; bf16 runs the same graph in OpenVINO with
    bfloat16 inference on a CPU that has it (AMX or AVX-512 BF16), its `early_layers` in fp32: 1.5 to
    3 times as fast on the London crops (three runs of the benchmark, in slower and quieter hours),
    its probabilities within 0.05 of fp32's at region edges (docs/speed.md)."""

    model_path: Path
    tta: bool
    threads: int
    precision: str = "fp32"

    def __post_init__(self) -> None:
        self.digest = sha256_of(self.model_path)
        self.graph, self.meta = cached_graph(self.model_path, self.tta, self.digest)
        k, size = len(get_label_set(self.meta["label_set"]).classes), int(self.meta["input_size"])
        self._empty = np.zeros((0, k, size, size), np.float32)
        # With more than one thread, compiled in a thread of its own (0.1 to 0.2 s, OpenVINO from its
        # cache or ONNX Runtime) while the caller prepares the rest (the Predictor loads YuNet);
        # `compiled()` waits for it and raises what compiling raised.
        if self.threads > 1:
            pool = ThreadPoolExecutor(1, thread_name_prefix="compile")
            self._compiling = pool.submit(self._load)
            pool.shutdown(wait=False)  # the thread ends with its one job
        else:
            self._compiling = Future()
            self._compiling.set_result(self._load())

    def compiled(self) -> Callable[[np.ndarray], np.ndarray]:
        """The compiled graph as a function of a batch of crops, once compiling is done (raising what
        it raised: a graph the runtime cannot run, after one export anew)."""
        return self._compiling.result()

    def _load(self):
        try:
            return self._compile()
        except Exception as err:  # noqa: BLE001  (a cached graph cut short: made again, and compiled once more)
            log.warning("cached graph %s could not be loaded (%s); exporting it again", self.graph, err)
            export_in_child(self.model_path, self.tta, self.graph, self.digest)
            try:
                return self._compile()
            except Exception as again:  # noqa: BLE001  (the runtime itself refuses it: say which)
                runtime = "OpenVINO (bf16)" if self.precision == "bf16" else "ONNX Runtime"
                raise FaceparseConfigError(f"{self.model_path}: {runtime} cannot run its exported graph "
                                           f"({again}); try --precision fp32") from again

    def _compile(self):
        if self.precision == "bf16":
            compiled = openvino_model(self.graph, self.threads)
            return lambda crops: compiled(crops)[0]
        ort_session = session(self.graph, self.threads)
        return lambda crops: ort_session.run(None, {"crops": crops})[0]

    def probs(self, crops: np.ndarray) -> np.ndarray:
        """`(N, S, S, 3) uint8` aligned crops -> `(N, K, S, S) float32` softmax (flip TTA inside)."""
        if len(crops) == 0:
            return self._empty
        return np.asarray(self.compiled()(np.ascontiguousarray(crops, dtype=np.uint8)), dtype=np.float32)


# bf16 keeps fp32 for the layers the crop passes through before it is first cut below a quarter of
# its side: the input's fine detail (a pixel's shade, the edge of an ear) lives there, and bfloat16's
# 8 bits of mantissa blur it. With every layer in bf16, three of the 80 London faces moved a cheek
# patch or fWHR's ends (the map changed where an ear meets the cheek), and the rows' mean |cheek L*|
# and |fWHR| differences from fp32 were 0.109 and 0.0070; with these layers in fp32 (MobileNetV2's
# first four blocks and the fifth's expansion), 0.023 and 0.0017, no patch moving, for about an
# eighth more of the model's time (the 80 London crops on one core, batches of 8, the two graphs
# taking turns: 3.6 s against 3.2).
FP32_DOWN_TO = 4
IR_FORMAT = 2  # bump when `write_mixed_graph` writes another IR, so that one kept from before is not reused


def early_layers(model, down_to: int = FP32_DOWN_TO) -> list[str]:
    """The names of the layers of an OpenVINO `model` of the exported graph that the crop passes
    through, in graph order, before the first that holds it at less than 1/`down_to` of its side (below
    1/(1.5 `down_to`): the next halving, whichever way a layer rounds an odd side): every activation
    (a 4-D output, batch first) up to there, the input's normalisation included. The decoder's layers
    at those sides come after it and are not among them."""
    side = model.input(0).get_partial_shape()[1].get_length()  # crops: (N, S, S, 3)
    names = []
    for op in model.get_ordered_ops():
        shape = op.get_output_partial_shape(0)
        if op.get_type_name() == "Constant" or shape.rank.is_dynamic or shape.rank.get_length() != 4 \
                or shape[0].is_static:
            continue
        if shape[2].is_static and shape[2].get_length() * 1.5 * down_to < side:
            break
        names.append(op.get_friendly_name())
    return names


def plain_moves(model) -> int:
    """Rewrite the data moves of an OpenVINO `model` of the exported graph that its CPU plugin runs by
    its slow reference code into ones it runs fast, leaving every value as it was; how many. The flip
    of the test-time augmentation (ONNX's Slice with step -1, on the crops and on the flipped crops'
    probabilities) becomes a Gather of the reversed positions: 1.5 ms against 20 for a batch of four
    crops' probabilities on one core. A Gather of every index in order (the flip's class permutation,
    where no class has a mirror twin) is dropped."""
    try:
        import openvino.opset13 as ops
    except ImportError:  # OpenVINO before 2024.1
        import openvino.runtime.opset13 as ops

    def constant(port) -> np.ndarray | None:
        node = port.get_source_output().get_node()
        return node.get_data() if node.get_type_name() == "Constant" else None

    changed = 0
    for op in model.get_ordered_ops():
        kind = op.get_type_name()
        if kind not in ("Slice", "Gather"):
            continue
        data = op.input(0).get_partial_shape()
        if kind == "Slice" and op.get_input_size() == 5:
            start, stop, step, axes = (constant(op.input(i)) for i in range(1, 5))
            if any(v is None or v.size != 1 for v in (start, stop, step, axes)) or data.rank.is_dynamic:
                continue
            axis = int(axes.item()) % data.rank.get_length()
            if not data[axis].is_static:
                continue
            n = data[axis].get_length()
            if int(step.item()) == -1 and int(start.item()) in (-1, n - 1) and int(stop.item()) <= -n - 1:
                reversed_ = ops.gather(op.input_value(0), ops.constant(np.arange(n - 1, -1, -1, dtype=np.int64)),
                                       ops.constant(np.int64(axis)))
                reversed_.set_friendly_name(op.get_friendly_name())
                op.output(0).replace(reversed_.output(0))
                changed += 1
        elif kind == "Gather" and op.get_input_size() == 3 and not data.rank.is_dynamic:
            indices, axis = constant(op.input(1)), constant(op.input(2))
            if indices is None or axis is None or axis.size != 1 or op.get_attributes().get("batch_dims", 0):
                continue
            axis = int(axis.item()) % data.rank.get_length()
            if data[axis].is_static and np.array_equal(indices.reshape(-1), np.arange(data[axis].get_length())) \
                    and indices.ndim == 1:
                op.output(0).replace(op.input_value(0))
                changed += 1
    return changed


def write_mixed_graph(graph: Path, xml: Path) -> None:
    """The exported graph as OpenVINO IR at `xml` (its weights beside it, `.bin`), its data moves made
    plain (`plain_moves`), the `early_layers` marked to run in their own precision (fp32) when the
    rest runs in bf16. OpenVINO's Python API cannot set that mark (the runtime attribute "precise"),
    its IR file can: it is written into each of those layers. Written under temporary names and
    moved into place, the `.xml` last."""
    import html
    import re
    import tempfile

    import openvino as ov

    model = ov.Core().read_model(str(graph))
    plain_moves(model)
    names = set(early_layers(model))
    with tempfile.TemporaryDirectory(dir=xml.parent, prefix=".ir-") as tmp:
        plain = Path(tmp) / "plain.xml"
        ov.save_model(model, str(plain), compress_to_fp16=False)
        marked = 0

        def mark(layer: re.Match) -> str:
            nonlocal marked
            if html.unescape(layer.group(1)) not in names:
                return layer.group(0)
            marked += 1
            return layer.group(0) + '<rt_info><attribute name="precise" version="0" /></rt_info>'

        text = re.sub(r'<layer id="\d+" name="([^"]*)" type="[^"]*" version="[^"]*">', mark, plain.read_text())
        if marked != len(names):
            raise RuntimeError(f"marked {marked} of the {len(names)} early layers in OpenVINO's IR of {graph.name}")
        plain.write_text(text)
        os.replace(plain.with_suffix(".bin"), xml.with_suffix(".bin"))
        os.replace(plain, xml)


def openvino_model(graph: Path, threads: int):
    """The graph compiled by OpenVINO for this CPU with bfloat16 inference (its `early_layers` in
    fp32), `threads` threads, one stream (latency: one batch at a time, as the photo stream sends
    them). OpenVINO keeps the compiled graph beside the exported one (`openvino/` there, with the IR
    it was compiled from) and loads it in later runs in 0.04 s, where writing the IR and compiling it
    take 0.5 s (it compiles anew when the graph or the settings change). Where that folder cannot be
    written (a read-only cache), or what is kept there cannot be used (then removed), the graph is
    compiled without it."""
    import tempfile

    import openvino as ov

    config = compile_config("bf16", threads)
    compiled_dir = graph.parent / "openvino"
    if writable_folder(compiled_dir):
        core = ov.Core()
        core.set_property({"CACHE_DIR": str(compiled_dir)})
        xml = compiled_dir / f"{graph.stem}-fp32x{FP32_DOWN_TO}-ir{IR_FORMAT}.xml"
        try:
            if not xml.exists():
                write_mixed_graph(graph, xml)
                for older in compiled_dir.glob(f"{graph.stem}-fp32x*"):  # IRs an earlier version wrote
                    if older.stem != xml.stem:
                        older.unlink(missing_ok=True)
            return core.compile_model(str(xml), "CPU", config)
        except Exception as err:  # noqa: BLE001  (a full disk, a kept graph cut short: compiled without it)
            log.info("compiling %s without OpenVINO's cache in %s (%s)", graph.name, compiled_dir, err)
            for kept in (xml, xml.with_suffix(".bin")):  # written again by the next run that can
                kept.unlink(missing_ok=True)
    else:
        log.info("not keeping OpenVINO's compiled graph: %s cannot be written", compiled_dir)
    core = ov.Core()
    core.set_property({"ENABLE_MMAP": False})  # the IR's folder goes once it is read
    with tempfile.TemporaryDirectory(prefix="faceparse-ir-") as tmp:
        xml = Path(tmp) / "graph.xml"
        write_mixed_graph(graph, xml)
        return core.compile_model(core.read_model(str(xml)), "CPU", config)


@functools.cache
def bf16_problem() -> str | None:
    """Why bf16 inference cannot run here (OpenVINO not installed or not working, a CPU without
    bfloat16), or None; asked of OpenVINO once per process."""
    if importlib.util.find_spec("openvino") is None:
        return "bf16 runs the model in OpenVINO, which is not installed (pip install openvino)"
    try:
        import openvino as ov

        capabilities = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception as err:  # noqa: BLE001  (a broken install is a reason, not a crash)
        return f"OpenVINO could not start ({err})"
    if "BF16" not in capabilities:
        return "this CPU has no bfloat16 instructions (AMX or AVX-512 BF16)"
    return None


def choose_precision(precision: str, runtime: str) -> str:
    """The precision `auto` stands for, once the runtime is chosen: bf16 for the exported graph on a
    CPU that has it, else fp32. bf16 asked for where it cannot run is an error saying why."""
    if precision not in PRECISIONS:
        raise FaceparseConfigError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return "fp32"
    problem = ("bf16 runs the exported graph on a CPU, and this model runs in PyTorch (--runtime torch, a label "
               "adapter, a GPU, or onnxruntime not installed)" if runtime != "onnx" else bf16_problem())
    if precision == "bf16" and problem:
        raise FaceparseConfigError(f"--precision bf16: {problem}")
    return "fp32" if problem else "bf16"


def export_in_child(model_path: Path, tta: bool, graph: Path, digest: str) -> None:
    """`export`, run in a child process. torch, once it has run a model in a process, leaves ONNX
    Runtime there at half speed (8.6 s against 17.7 s for the London floor, measured side by side),
    so the process that runs the graph never loads torch. A refused or damaged model file is
    raised here as the child found it."""
    import subprocess
    import sys

    code = ("import json, sys; from pathlib import Path; from faceparse.errors import FaceparseDataError; "
            "from faceparse.runtime import export\n"
            "try:\n    export(Path(sys.argv[1]), sys.argv[2] == '1', Path(sys.argv[3]), sys.argv[4])\n"
            "except FaceparseDataError as err:\n    print(json.dumps(err.problem), file=sys.stderr); sys.exit(3)")
    src = str(Path(__file__).resolve().parents[1])  # this faceparse, installed or not
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-c", code, str(model_path), str(int(tta)), str(graph), digest],
                          capture_output=True, text=True, env=env)
    if proc.returncode == 3:
        raise FaceparseDataError(model_path, json.loads(proc.stderr.strip().splitlines()[-1]))
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise FaceparseDataError(model_path, f"could not be exported to ONNX ({last})")


def export(model_path: Path, tta: bool, graph: Path, digest: str) -> None:
    """Export the checkpoint's `predict_probs` to `graph` (ONNX) and its metadata beside it, atomically;
    `digest`: the SHA-256 `graph` is named by, checked again after the export so that a model file
    rewritten meanwhile (by a running `dvc repro`, say) does not leave its graph under the old name."""
    import torch
    from torch import nn

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
    meta_tmp = tmp.with_suffix(".json")
    log.info("exporting %s to ONNX at %s (once per model file)", model_path, graph)
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")
            torch.onnx.export(Probs().eval(), (example,), str(tmp), input_names=["crops"], output_names=["probs"],
                              dynamic_axes={"crops": {0: "n"}, "probs": {0: "n"}}, opset_version=17, dynamo=False)
        if sha256_of(model_path) != digest:
            raise FaceparseDataError(model_path, "changed while it was being exported to ONNX; run again")
        plain = {k: meta[k] for k in META_KEYS if k in meta and k != "spec"}
        plain["spec"] = asdict(meta["spec"])
        meta_tmp.write_text(json.dumps(plain, indent=1))
        for done in (meta_tmp, tmp):
            with open(done, "rb") as f:
                os.fsync(f.fileno())
        meta_tmp.replace(graph.with_suffix(".json"))
        tmp.replace(graph)
    finally:
        tmp.unlink(missing_ok=True)
        meta_tmp.unlink(missing_ok=True)
