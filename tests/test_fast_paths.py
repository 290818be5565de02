"""The fast paths of profile, predict and evaluate give what the plain ones give.

The plain path: probabilities over the whole photo, `np.argmax`, one photo after another. The fast
one: the photo stream, the face's window only (`predict.face_map`), and threads that read, segment
and measure at once. Both on either runtime; ONNX Runtime itself is checked against PyTorch (probabilities within
1e-4)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from faceparse import threads
from faceparse.geometry import warp_image
from faceparse.datasets import read_image
from faceparse.datasets.base import list_images
from faceparse.errors import FaceparseConfigError
from faceparse.facemap import FaceMap
from faceparse.predict import Predictor, argmax_max, face_map
from faceparse.profile import ProfileParams, profile_face
from faceparse.profile.run import iter_profile
from faceparse.stream import overlapped, prefetch

from conftest import whole_photo_probs


@pytest.fixture(scope="module")
def london(mirror):
    return list_images(mirror / "london_faces", recursive=True)[:5]


@pytest.fixture
def two_threads():
    before = threads.current()
    threads.configure(2)
    yield
    threads.configure(before)


def slow_rows(predictor: Predictor, photos) -> list[dict]:
    """Profile rows the plain way: whole-photo probabilities, `np.argmax`, one face at a time."""
    rows = []
    for photo in photos:
        image = read_image(photo)
        for face in predictor.find_faces(image):
            crop = predictor.crop_probs(warp_image(image, face.matrix, predictor.size)[None])[0]
            probs = whole_photo_probs(crop, face.matrix, image.shape)
            rows.append(profile_face(image, probs.argmax(0).astype(np.uint8), probs.max(0), None, MEASURE_ALL,
                                     points=face.points))
    return rows


STUDY_MODEL = Path(__file__).resolve().parents[1] / "models" / "main.pt"
# The tests' tiny model paints no nose, so the not_a_face gate would leave its rows empty: these
# tests compare two ways of computing the same rows, so the gate (tests/test_no_person.py) is off.
MEASURE_ALL = ProfileParams(min_nose_share=0.0)


@pytest.fixture(params=["tiny", "study"])
def profiled_model(request, model):
    """The tests' tiny model, and the study's main model where `make repro` has built it (its
    patches and fWHR are measured; the tiny model's are mostly NaN)."""
    if request.param == "tiny":
        return model
    if not STUDY_MODEL.exists():
        pytest.skip("models/main.pt not built (make repro)")
    return STUDY_MODEL


@pytest.mark.parametrize("runtime", ["onnx", "torch"])
def test_the_fast_profile_rows_equal_the_plain_ones(profiled_model, runtime, london, two_threads):
    model = profiled_model
    predictor = Predictor(model, tta=True, target_label_set="fasseg6", runtime=runtime)
    slow = slow_rows(predictor, london)
    fast = [row for batch in iter_profile(predictor, london, MEASURE_ALL, batch_size=2)
            for group in batch for row in group]
    assert len(fast) == len(slow) == len(london)
    compared, off = 0, []
    for a, b in zip(slow, fast):
        assert a.keys() <= b.keys()
        for key, value in a.items():
            if isinstance(value, str):
                ok = b[key] == value
            elif isinstance(value, float) and math.isnan(value):
                ok = math.isnan(b[key])
            elif key in MEASURES or key.endswith(MEASURE_ENDINGS):
                ok = abs(b[key] - value) <= 1e-3
                compared += 1
            else:  # counts, positions, angles
                ok = abs(b[key] - value) <= 1e-9 * max(1.0, abs(value))
            if not ok:
                off.append((key, value, b[key]))
    assert not off
    if model == STUDY_MODEL:  # the tiny model paints no eyes: its colours are NaN on both paths
        assert compared >= 4 * len(london)  # real numbers were compared, not NaN against NaN
        assert all(math.isfinite(r["skin_median_L"]) for r in fast)
    if model == STUDY_MODEL:
        assert all(math.isfinite(r["fwhr"]) and math.isfinite(r["cheeks_L"]) for r in fast)


MEASURES = {"fwhr", "skin_ita", "cheeks_ita"}
MEASURE_ENDINGS = ("_L", "_a", "_b", "_ita")


def test_onnx_runtime_gives_torchs_probabilities(model, london):
    onnx = Predictor(model, tta=True, runtime="onnx")
    torch_ = Predictor(model, tta=True, runtime="torch")
    image = read_image(london[0])
    crops = np.stack([warp_image(image, f.matrix, onnx.size) for f in onnx.find_faces(image)] * 3)
    a, b = onnx.crop_probs(crops), torch_.crop_probs(crops)
    assert a.shape == b.shape == (3, 6, onnx.size, onnx.size)
    assert np.abs(a - b).max() < 1e-4
    assert np.allclose(a.sum(1), 1.0, atol=1e-5)


def test_a_cached_graph_runs_without_importing_torch(model):
    Predictor(model, runtime="onnx")  # exports the graph once
    code = ("import sys; from faceparse.predict import Predictor; "
            f"p = Predictor({str(model)!r}, runtime='onnx'); print('torch' in sys.modules, p.label_set)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "fasseg6"]


@pytest.mark.parametrize("n_threads", [1, 2])
def test_a_graph_the_runtime_refuses_is_refused_when_the_predictor_is_made(model, monkeypatch, n_threads):
    """The graph compiles in a thread of its own beside YuNet's (with more than one thread), but a
    graph the runtime cannot run, even exported anew, is refused by `Predictor(...)` itself, before a
    command writes anything, saying which runtime and what to try."""
    from faceparse import runtime

    Predictor(model, runtime="onnx")  # the graph exported and kept first, as a later run finds it
    exports = []

    def refuse(self):
        raise RuntimeError("unsupported operator")

    monkeypatch.setattr(runtime.OnnxModel, "_compile", refuse)
    monkeypatch.setattr(runtime, "export_in_child", lambda *args: exports.append(args))
    before = threads.current()
    threads.configure(n_threads)
    try:
        with pytest.raises(FaceparseConfigError, match=r"ONNX Runtime cannot run its exported graph .*unsupported"):
            Predictor(model, runtime="onnx")
    finally:
        threads.configure(before)
    assert len(exports) == 1  # exported anew once, then refused


def test_an_edited_model_file_gets_a_graph_of_its_own(model, tmp_path):
    from faceparse.runtime import graph_path

    copy = tmp_path / "copy.pt"
    copy.write_bytes(model.read_bytes() + b"\0")
    assert graph_path(copy, True) != graph_path(model, True)
    assert graph_path(model, True) != graph_path(model, False)


def test_face_map_is_the_whole_photo_argmax_on_the_face_window(model, london):
    predictor = Predictor(model, runtime="onnx")
    image = read_image(london[1])
    face = predictor.find_faces(image)[0]
    probs = predictor.crop_probs(warp_image(image, face.matrix, predictor.size)[None])[0]
    whole = whole_photo_probs(probs, face.matrix, image.shape)
    fast = face_map(image.shape, face, probs)
    labels, _ = fast.full()
    assert np.array_equal(labels, whole.argmax(0))
    assert np.array_equal(fast.confidence, whole.max(0)[fast.photo_slices()])
    assert fast.shape[0] < image.shape[0] and fast.shape[1] < image.shape[1]
    reference = FaceMap.from_photo(whole.argmax(0).astype(np.uint8), whole.max(0))
    assert (fast.x0, fast.y0, fast.shape) == (reference.x0, reference.y0, reference.shape)
    assert fast.x0 % 2 == 0 and fast.y0 % 2 == 0


def test_face_map_windows_hold_every_face_pixel_and_a_background_margin():
    labels = np.zeros((40, 50), np.uint8)
    labels[11:20, 7:30] = 1
    labels[25, 33] = 4
    face = FaceMap.from_photo(labels)
    assert (face.x0, face.y0) == (4, 8)  # 7 - 2 and 11 - 2, down to even
    assert face.labels.shape == (25 - 8 + 3, 33 - 4 + 3)
    whole, _ = face.full()
    assert np.array_equal(whole, labels)
    edge = np.zeros((10, 10), np.uint8)
    edge[0:3, 8:10] = 2  # the face touches the photo's edge: the window stops there
    assert FaceMap.from_photo(edge).photo_slices() == (slice(0, 5), slice(6, 10))


def test_argmax_max_breaks_ties_as_argmax():
    rng = np.random.default_rng(0)
    probs = rng.integers(0, 3, (20, 30, 6)).astype(np.float32)  # many ties
    labels, best = argmax_max(probs)
    assert np.array_equal(labels, probs.argmax(-1))
    assert np.array_equal(best, probs.max(-1))
    chw = np.ascontiguousarray(np.moveaxis(probs, -1, 0))
    assert np.array_equal(argmax_max(np.moveaxis(chw, 0, -1))[0], probs.argmax(-1))
    # Windows of one pixel, one row or one column (OpenCV reads a 1x1 array as a scalar).
    for shape in ((1, 1), (1, 5), (5, 1)):
        few = rng.random(shape + (6,)).astype(np.float32)
        labels, best = argmax_max(few)
        assert np.array_equal(labels, few.argmax(-1)) and np.array_equal(best, few.max(-1)), shape


def test_the_face_box_reads_where_background_loses_the_argmax_as_argmax_breaks_ties():
    from faceparse.geometry import _not_argmax

    rng = np.random.default_rng(1)
    probs = rng.integers(0, 3, (6, 40, 50)).astype(np.float32)  # many ties
    for k in range(6):
        assert np.array_equal(_not_argmax(probs, k), probs.argmax(0) != k), k


def test_prefetch_keeps_the_order_and_raises_where_the_producer_failed():
    def items():
        yield from range(5)
        raise ValueError("photo 5 is damaged")

    got = []
    with pytest.raises(ValueError, match="photo 5"):
        for item in prefetch(items(), depth=2):
            got.append(item)
    assert got == [0, 1, 2, 3, 4]
    assert list(prefetch(iter(range(100)), depth=3)) == list(range(100))


def test_overlapped_work_keeps_the_order_runs_beside_the_producer_and_raises_at_its_item(two_threads):
    """What a command does with each batch (`stream.overlapped`) runs in threads of its own while
    the producer makes the next batches; results come in the items' order however long each took."""
    import threading
    import time

    made, seen = [], set()

    def items():
        for i in range(12):
            made.append(i)
            yield i

    def work(i):
        seen.add(threading.current_thread().name)
        time.sleep(0.02 * (i % 3 == 0))  # some items take longer: their results must still come in order
        return i * i

    got = []
    for result in overlapped(work, items(), workers=2):
        got.append((result, len(made)))
    assert [r for r, _ in got] == [i * i for i in range(12)]
    assert got[0][1] > 1  # the producer had made more items before the first result came
    assert seen and all(name.startswith("work") for name in seen)

    def failing(i):
        if i == 4:
            raise ValueError("photo 4 could not be written")
        return i

    done = []
    with pytest.raises(ValueError, match="photo 4"):
        for result in overlapped(failing, iter(range(12)), workers=2):
            done.append(result)
    assert done == [0, 1, 2, 3]

    # `depth`: the producer runs up to that many items ahead of the results handed on (7 items made
    # while the first is worked on, which waits for the seventh), with the same two workers.
    made.clear()
    seventh = threading.Event()

    def counted():
        for i in items():
            if i == 6:
                seventh.set()
            yield i

    ahead = overlapped(lambda i: (seventh.wait(5), i)[1], counted(), workers=2, depth=6)
    assert next(ahead) == 0 and seventh.is_set() and len(made) == 7
    ahead.close()

    threads.configure(1)  # one thread: the work runs in the caller's, one item after another
    assert list(overlapped(lambda i: (i, threading.current_thread().name), iter(range(3)))) == \
        [(i, threading.current_thread().name) for i in range(3)]


@pytest.mark.parametrize("runtime", ["onnx", "torch"])
def test_the_stream_gives_the_same_maps_batched_across_photos_as_one_at_a_time(profiled_model, runtime, london):
    """`predict`, `profile` and `evaluate` send several photos' faces through the model together: the
    maps are those of one photo at a time."""
    from faceparse.stream import segment

    predictor = Predictor(profiled_model, tta=True, target_label_set="fasseg6", runtime=runtime)
    one = [photo.label_map() for batch in segment(predictor, london, batch_size=1) for photo in batch]
    many = [photo.label_map() for batch in segment(predictor, london, batch_size=4) for photo in batch]
    assert len(one) == len(many) == len(london)
    for (labels_1, conf_1), (labels_4, conf_4) in zip(one, many):
        assert (labels_1 != 0).sum() > 1000
        assert np.array_equal(labels_1, labels_4)
        assert np.abs(conf_1 - conf_4).max() < 1e-5


def test_bf16_gives_fp32s_maps_and_rows_within_the_stated_bounds(profiled_model, london, two_threads):
    """OpenVINO in bf16 against ONNX Runtime in fp32 on the same crops and photos: probabilities
    within 0.1 (bfloat16 keeps 8 bits of mantissa; edges move most; the study model's differ by
    0.024 on these crops, 0.044 on the 80 London ones), the argmax the same on 99.9% of crop pixels,
    and the skin median's L*a*b* and the cheeks' L* and b* within 0.1 on average (the bar bf16 is
    held to; with every layer in bf16 the 80 London faces' cheek L* moved 0.109 on average)."""
    from faceparse.runtime import bf16_problem

    problem = bf16_problem()
    if problem:
        pytest.skip(f"no bf16 here: {problem}")
    fp32 = Predictor(profiled_model, tta=True, target_label_set="fasseg6", precision="fp32")
    bf16 = Predictor(profiled_model, tta=True, target_label_set="fasseg6", precision="bf16")
    assert (fp32.precision, bf16.precision) == ("fp32", "bf16")
    crops = []
    for photo in london:
        image = read_image(photo)
        crops += [warp_image(image, f.matrix, fp32.size) for f in fp32.find_faces(image)]
    a, b = fp32.crop_probs(np.stack(crops)), bf16.crop_probs(np.stack(crops))
    assert a.shape == b.shape and b.dtype == np.float32
    assert np.abs(a - b).max() < 0.1
    assert (a.argmax(1) == b.argmax(1)).mean() > 0.999
    rows = {name: [row for batch in iter_profile(p, london, MEASURE_ALL) for group in batch for row in group]
            for name, p in (("fp32", fp32), ("bf16", bf16))}
    compared = 0
    for key in ("skin_median_L", "skin_median_a", "skin_median_b", "cheeks_L", "cheeks_b"):
        pairs = [(x[key], y[key]) for x, y in zip(rows["fp32"], rows["bf16"])
                 if math.isfinite(x.get(key, math.nan)) and math.isfinite(y.get(key, math.nan))]
        if pairs:
            compared += len(pairs)
            assert np.mean([abs(x - y) for x, y in pairs]) < 0.1, key
    if profiled_model == STUDY_MODEL:  # the tiny model paints no eyes: no colour to compare
        assert compared >= len(london)


# Run in a process of its own: a graph loaded from OpenVINO's cache leaves this pytest process to crash
# (SIGSEGV) in a later test's DataLoader training (test_train's two seeded runs).
_CACHE_CHECK = """
import json, os, sys
from pathlib import Path
import numpy as np
from faceparse import runtime
graph, _ = runtime.cached_graph(Path(sys.argv[1]), tta=True)
kept = graph.parent / "openvino"
crops = np.random.default_rng(0).integers(0, 256, (2, int(sys.argv[2]), int(sys.argv[2]), 3), dtype=np.uint8)
first = runtime.openvino_model(graph, 1)
blobs = len(list(kept.glob("*.blob")))
again = runtime.openvino_model(graph, 1)
convolutions = []  # in graph order: the side of what each convolution gives, and its precision
for op in again.get_runtime_model().get_ordered_ops():
    info = op.get_rt_info()
    if info["layerType"].astype(str) in ("Convolution", "GroupConvolution"):
        convolutions.append([op.get_output_partial_shape(0)[2].get_length(), info["runtimePrecision"].astype(str)])
runtime.os.access = lambda path, mode: False  # as a folder that cannot be written reads
kept.rename(graph.parent / "kept")
fresh = runtime.openvino_model(graph, 1)
print(json.dumps({"blobs": blobs, "first": bool(first.get_property("LOADED_FROM_CACHE")),
                  "again": bool(again.get_property("LOADED_FROM_CACHE")),
                  "fresh": bool(fresh.get_property("LOADED_FROM_CACHE")), "left": len(list(kept.iterdir())),
                  "equal": bool(np.array_equal(again(crops)[0], fresh(crops)[0])), "convolutions": convolutions}))
"""


def test_the_ir_flips_by_gathers_and_drops_gathers_in_order_with_every_value_the_same():
    """`runtime.plain_moves` on a graph with the export's flips (Slice, step -1, from the last element
    to the first: on the crops, on the probabilities, the axis counted from the end) and a class
    Gather in order (dropped) or not (kept): the flips become Gathers, every other Slice (a part, a
    reversal of part of the axis) stays, and each output is the original graph's, element for element."""
    ov = pytest.importorskip("openvino")
    from faceparse.runtime import plain_moves

    try:
        import openvino.opset13 as ops
    except ImportError:
        import openvino.runtime.opset13 as ops

    end = np.array([-2**63 + 1])

    def graph():
        x = ops.parameter([-1, 4, 6, 10], np.float32, name="x")
        flip = ops.slice(x, np.array([-1]), end, np.array([-1]), np.array([3]))
        back = ops.slice(ops.multiply(flip, np.float32(2)), np.array([9]), end, np.array([-1]), np.array([-1]))
        same = ops.gather(back, np.arange(4, dtype=np.int64), np.int64(1))            # every class in order
        mirrored = ops.gather(back, np.array([1, 0, 2, 3], dtype=np.int64), np.int64(1))  # two classes swapped
        part = ops.slice(x, np.array([0]), np.array([5]), np.array([1]), np.array([3]))  # not a flip
        short = ops.slice(x, np.array([-2]), end, np.array([-1]), np.array([3]))         # all but the last, reversed
        stops = ops.slice(x, np.array([-1]), np.array([-10]), np.array([-1]), np.array([3]))  # all but the first
        return ov.Model([flip, same, mirrored, part, short, stops], [x])

    before, after = graph(), graph()
    assert plain_moves(after) == 3
    slices = [op for op in after.get_ordered_ops() if op.get_type_name() == "Slice"]
    assert sorted(op.get_output_partial_shape(0)[3].get_length() for op in slices) == [5, 9, 9]
    x = np.random.default_rng(0).random((3, 4, 6, 10)).astype(np.float32)
    core = ov.Core()
    want = core.compile_model(before, "CPU")(x)
    got = core.compile_model(after, "CPU")(x)
    for i in range(6):
        assert np.array_equal(want[i], got[i]), i
    assert np.array_equal(got[0], x[..., ::-1]) and np.array_equal(got[1], 2 * x)
    assert np.array_equal(got[4], x[..., -2::-1]) and np.array_equal(got[5], x[..., :0:-1])


def test_bf16_leaves_the_threads_free_to_move_between_cores(model, london, two_threads):
    """OpenVINO would pin the threads that run its networks to a core each; faceparse's run unpinned
    (`openvino_setup.CPU_PINNING`): after YuNet and the model have run in bf16, every thread of the process
    may still run on every core the process may use."""
    import os
    from pathlib import Path

    from faceparse.datasets import read_image
    from faceparse.runtime import bf16_problem

    if bf16_problem():
        pytest.skip(f"no bf16 here: {bf16_problem()}")
    cores = os.sched_getaffinity(0)
    if len(cores) < 2 or not Path("/proc/self/task").is_dir():
        pytest.skip("one core, or no /proc to read each thread's cores from")
    predictor = Predictor(model, tta=True, precision="bf16")
    image = read_image(london[0])
    faces = predictor.find_faces(image)
    predictor.crop_probs(np.stack([warp_image(image, f.matrix, predictor.size) for f in faces]))
    threads_cores = {task.name: os.sched_getaffinity(int(task.name)) for task in Path("/proc/self/task").iterdir()}
    assert all(allowed == cores for allowed in threads_cores.values()), threads_cores


def test_bf16_keeps_its_compiled_graph_and_loads_it_and_compiles_without_where_it_cannot_keep_it(model, tmp_path):
    """The first bf16 compile leaves OpenVINO's compiled graph beside the exported one; the next
    loads it (OpenVINO says so), with the probabilities of a fresh compile; where that folder cannot
    be written, the graph is compiled without it and nothing is kept. Either way its early layers
    (`runtime.early_layers`) run in fp32 and the rest in bf16, as OpenVINO reports them."""
    import json
    import os
    import subprocess
    import sys

    from faceparse.runtime import bf16_problem

    problem = bf16_problem()
    if problem:
        pytest.skip(f"no bf16 here: {problem}")
    size = Predictor(model, tta=True, runtime="onnx").size
    env = dict(os.environ, FACEPARSE_CACHE_DIR=str(tmp_path / "cache"), FACEPARSE_THREADS="1")
    done = subprocess.run([sys.executable, "-c", _CACHE_CHECK, str(model), str(size)], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    convolutions = seen.pop("convolutions")
    assert seen == {"blobs": 1, "first": False, "again": True, "fresh": False, "left": 0, "equal": True}
    # The convolutions before the first that cuts the crop below a quarter of its side run in fp32,
    # every one from there on (the encoder's deeper ones, the whole decoder) in bf16.
    first_small = next(i for i, (side, _) in enumerate(convolutions) if 4 * side < size)
    assert first_small >= 2
    assert {p for _, p in convolutions[:first_small]} == {"f32"}
    assert {p for _, p in convolutions[first_small:]} == {"bf16"}


def test_predicts_maps_are_the_whole_photo_argmax_and_max(model, london):
    """`predict` composes each face over its crop's whole box: its label map and confidence are the
    argmax and max of the whole photo's probabilities, pixel for pixel."""
    from faceparse.stream import Photo

    predictor = Predictor(model, runtime="onnx")
    image = read_image(london[1])
    face = predictor.find_faces(image)[0]
    probs = predictor.crop_probs(warp_image(image, face.matrix, predictor.size)[None])[0]
    whole = whole_photo_probs(probs, face.matrix, image.shape)
    photo = Photo(london[1], image=image, faces=[face], probs=[probs])
    labels, confidence = photo.label_map(whole_crop=True)
    assert np.array_equal(labels, whole.argmax(0))
    assert np.array_equal(confidence, whole.max(0))
    assert (confidence < 0.999).sum() > 1000  # the background around the face keeps its own confidence
    assert np.array_equal(photo.label_map()[0], labels)  # the face windows alone give the same labels
