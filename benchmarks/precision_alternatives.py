"""Ways to run the main model faster than fp32 on a CPU, side by side on the 80 London photos.

`--precision bf16` needs a CPU with bfloat16 instructions (AMX or AVX-512 BF16). On one without
(AVX2 alone), this says what the alternatives would give, each against the fp32 reference (the
exported graph in ONNX Runtime, `--precision fp32`):

- `fp32_openvino`: the same graph in OpenVINO, in fp32, its flips made plain as bf16's are
  (`runtime.plain_moves`);
- `bf16`: the model as `--precision bf16` runs it (only where the CPU has bf16; the faces are still
  found by OpenCV's YuNet, as in fp32, so the rows differ from fp32's by the model alone);
- `int8`: the graph's convolutions quantised to int8 (ONNX Runtime's static quantisation with its
  default MinMax calibration, weights int8 per channel, activations uint8, calibrated on the crops of
  the first 32 Canada photos, not the London ones), run in OpenVINO as `fp32_openvino` is;
- `int8_early_fp32`: the same, with the layers bf16 keeps in fp32 (`runtime.early_layers`) left in
  fp32;
- `model_free`: the reference's probabilities looked up, not computed: what the work around the
  model allows on this machine, whatever runs the model.

For each: the model floor (the 80 crops, batch 8, flip TTA, the best of `--rounds` rounds of two
passes, the variants taking turns), the largest probability difference and the argmax agreement with
the reference; `profile` of the 80 photos within this process (no start-up: the graphs are already
compiled), the best of `--rounds`; the rows' agreement with the reference's, as `profile_speed.py`
reads bf16's (the colour and fWHR columns' mean absolute difference, how many numeric columns differ
at all, the cheeks' ITA categories), and the London test-retest ICCs. The reference's passes also
hash each crop (for the looked-up row): under a hundredth of their time.
Into metrics/bench.json under `precision_alternatives`. Run it with nothing else on the machine.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from _bench import ROOT, machine, record  # noqa: E402
from profile_speed import MIRROR, agreement, crops_of, floor_seconds, london_iccs  # noqa: E402

from faceparse.datasets.base import list_images  # noqa: E402
from faceparse.openvino_setup import compile_config  # noqa: E402
from faceparse.predict import Predictor  # noqa: E402
from faceparse.profile.run import profile_rows  # noqa: E402
from faceparse.runtime import OnnxModel, bf16_problem, early_layers, plain_moves  # noqa: E402
from faceparse.threads import current as current_threads  # noqa: E402

Forward = Callable[[np.ndarray], np.ndarray]  # (N, S, S, 3) uint8 crops -> (N, K, S, S) probabilities
COLUMNS = ("cheeks_L", "cheeks_b", "cheeks_ita", "fwhr")  # the columns whose agreement is reported


def quantised(graph: Path, calibration: np.ndarray, out: Path, keep_fp32: set[str]) -> tuple[Path, int]:
    """`graph` with its convolutions in int8 (QDQ), except those writing one of the `keep_fp32` layers;
    how many convolutions were kept in fp32."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Crops(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{"crops": crop[None]} for crop in calibration])

        def get_next(self) -> dict | None:
            return next(self.batches, None)

    prepared = out.with_name(f"{out.stem}-prepared.onnx")
    quant_pre_process(str(graph), str(prepared), skip_symbolic_shape=True)
    convs = [node for node in onnx.load(str(prepared)).graph.node if node.op_type == "Conv"]
    kept = [node.name for node in convs if node.name in keep_fp32 or set(node.output) & keep_fp32]
    if keep_fp32 and not kept:
        raise RuntimeError(f"none of the {len(convs)} convolutions of {graph.name} writes a layer to keep in fp32")
    quantize_static(str(prepared), str(out), Crops(), quant_format=QuantFormat.QDQ, per_channel=True,
                    op_types_to_quantize=["Conv"], nodes_to_exclude=kept,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return out, len(kept)


def openvino_fp32(graph: Path) -> Forward:
    """`graph` compiled by OpenVINO for this CPU in fp32 (int8 where the graph says so), its data
    moves made plain as for bf16 (the same values, faster)."""
    import openvino as ov

    core = ov.Core()
    model = core.read_model(str(graph))
    plain_moves(model)
    compiled = core.compile_model(model, "CPU", compile_config("f32", current_threads()))
    return lambda crops: compiled(crops)[0]


@contextmanager
def forward_passes(predictor: Predictor, forward: Forward) -> Iterator[Predictor]:
    """`predictor` with its exported graph's forward passes replaced by `forward` while inside."""
    graph = predictor._onnx  # noqa: SLF001  (the one seam: OnnxModel.probs calls compiled())
    graph.compiled = lambda: forward
    try:
        yield predictor
    finally:
        del graph.compiled


class LookedUp:
    """A forward pass that records the reference's probabilities of each crop, then gives them back
    without computing them (the model's cost taken out)."""

    def __init__(self, reference: Forward) -> None:
        self.reference, self.probs = reference, {}

    @staticmethod
    def key(crop: np.ndarray) -> bytes:
        return hashlib.sha1(crop.tobytes()).digest()

    def recording(self, crops: np.ndarray) -> np.ndarray:
        out = self.reference(crops)
        self.probs.update((self.key(c), p) for c, p in zip(crops, out))
        return out

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        return np.stack([self.probs[self.key(c)] for c in crops])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models/main.pt")
    parser.add_argument("--london", type=Path, default=MIRROR / "london_faces")
    parser.add_argument("--calibration", type=Path, default=MIRROR / "canada_faces",
                        help="photos whose crops calibrate the int8 activations (the first 32)")
    parser.add_argument("--rounds", type=int, default=2, help="timed runs of each variant, the variants taking turns")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, found {args.rounds}")
    london = list_images(args.london, recursive=True)

    predictor = Predictor(args.model, tta=True, target_label_set="fasseg6", runtime="onnx")
    graph = predictor._onnx.graph  # noqa: SLF001
    crops = crops_of(predictor, london)
    calibration = crops_of(predictor, list_images(args.calibration, recursive=True)[:32])
    reference = predictor._onnx.compiled()  # noqa: SLF001
    looked_up = LookedUp(reference)
    import openvino as ov

    early = set(early_layers(ov.Core().read_model(str(graph))))
    with tempfile.TemporaryDirectory(prefix="faceparse-int8-") as tmp:  # the quantised graphs, until read
        int8, _ = quantised(graph, calibration, Path(tmp) / "int8.onnx", set())
        int8_early, kept_fp32 = quantised(graph, calibration, Path(tmp) / "int8e.onnx", early)
        variants: dict[str, Forward] = {
            "fp32": looked_up.recording,
            "fp32_openvino": openvino_fp32(graph),
            "int8": openvino_fp32(int8),
            "int8_early_fp32": openvino_fp32(int8_early),
        }
    if not bf16_problem():
        variants["bf16"] = OnnxModel(args.model, True, current_threads(), "bf16").compiled()
    variants["model_free"] = looked_up

    floors: dict[str, list[float]] = {name: [] for name in variants}
    faces_per_second: dict[str, list[float]] = {name: [] for name in variants}
    probs: dict[str, np.ndarray] = {}
    tables: dict[str, pd.DataFrame] = {}
    for _ in range(args.rounds):
        for name, forward in variants.items():
            with forward_passes(predictor, forward):
                if name != "model_free":
                    seconds, probs[name] = floor_seconds(predictor, crops)
                    floors[name].append(seconds)
                t0 = time.perf_counter()
                rows = profile_rows(predictor, london)
                faces_per_second[name].append(len(rows) / (time.perf_counter() - t0))
            if name not in tables:  # the rows are compared once, from the first round
                tables[name] = pd.DataFrame(rows)

    results: dict[str, dict] = {}
    for name in variants:
        figures = {"profile_faces_per_second_best": round(max(faces_per_second[name]), 2),
                   "profile_faces_per_second_all": [round(f, 2) for f in faces_per_second[name]]}
        if floors[name]:
            figures["model_floor_seconds"] = round(min(floors[name]), 2)
            figures["max_abs_prob_diff"] = float(f"{np.abs(probs[name] - probs['fp32']).max():.3g}")
            figures["argmax_agree"] = round(float((probs[name].argmax(1) == probs["fp32"].argmax(1)).mean()), 5)
        if name != "fp32":  # the looked-up rows too: they must be the reference's, 0 columns differing
            agree = agreement(tables["fp32"], tables[name])
            figures["rows_mean_abs_diff"] = {c: agree[c]["mean"] for c in COLUMNS if c in agree}
            compared = [v for v in agree.values() if isinstance(v, dict)]  # each numeric column's max and mean
            figures["rows_columns_differing"] = f"{sum(v['max'] > 0 for v in compared)} of {len(compared)}"
            figures["cheeks_ita_category_agree"] = agree.get("cheeks_ita_category_agree")
        figures["london_icc"] = {k: round(v, 4) for k, v in london_iccs(tables[name], args.london).items()
                                 if not k.endswith("_pairs")}
        results[name] = figures
    summary = {"precision_alternatives": results, "precision_alternatives_machine": machine(),
               "precision_alternatives_benchmark":
                   f"{len(crops)} London crops and photos, {current_threads()} threads, the best of {args.rounds} "
                   f"rounds taking turns, profile within the benchmark's process; int8 calibrated on "
                   f"{len(calibration)} Canada crops, int8_early_fp32 keeping {kept_fp32} convolutions in fp32"}
    record(summary)
    for name, figures in results.items():
        print(f"{name}: {figures}")


if __name__ == "__main__":
    main()
