"""metrics/bench.json holds one run's figures per benchmark: a run replaces its own keys and says
which CPU it ran on."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _bench import machine, record  # noqa: E402
from profile_speed import bf16_figure  # noqa: E402


def test_a_run_without_bf16_leaves_no_bf16_figure_of_an_earlier_machine(tmp_path):
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"train_samples_per_second_plain": 3.5, "profile_faces_per_second": 9.0,
                                 "profile_faces_per_second_bf16": 8.4, "london_icc_bf16": {"icc_L": 0.98},
                                 "bf16_vs_fp32_argmax_agree": 0.999, "bf16_vs_fp32_profile_rows": {"rows": 80}}))
    data = record({"profile_faces_per_second": 2.1, "cpu_bf16": "no bfloat16"}, bench, drop=bf16_figure)
    assert data == json.loads(bench.read_text())
    assert data == {"train_samples_per_second_plain": 3.5, "profile_faces_per_second": 2.1, "cpu_bf16": "no bfloat16"}
    assert list(json.loads(bench.read_text())) == sorted(data)  # written in key order


def test_the_machine_names_its_cpu_and_vector_instructions():
    info = machine()
    assert isinstance(info["cpu"], str) and info["cpu"]
    assert 1 <= info["cores"] <= 4096
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        lines = cpuinfo.read_text().splitlines()
        flags = next((line for line in lines if line.startswith("flags")), "").split()  # none on ARM
        assert set(info["vector"]) == {"avx2", "avx512f", "avx512_bf16", "amx_bf16"} & set(flags)
