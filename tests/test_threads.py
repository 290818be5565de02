"""One setting sizes torch's and OpenCV's thread pools: `--threads`, else FACEPARSE_THREADS, else the
cores this process may use."""

from __future__ import annotations

import os
import subprocess
import sys

import cv2
import pytest
import torch

from faceparse import threads
from faceparse.errors import FaceparseConfigError


def test_the_default_is_the_cores_this_process_may_use(monkeypatch):
    monkeypatch.delenv(threads.ENV, raising=False)
    assert threads.resolve() == len(os.sched_getaffinity(0))


def test_the_option_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv(threads.ENV, "3")
    assert threads.resolve() == 3
    assert threads.resolve(1) == 1


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_a_bad_environment_value_is_named(monkeypatch, value):
    monkeypatch.setenv(threads.ENV, value)
    with pytest.raises(FaceparseConfigError, match=f"FACEPARSE_THREADS={value!r}"):
        threads.resolve()


def test_configure_sizes_torch_and_opencv_together():
    before = torch.get_num_threads(), cv2.getNumThreads()
    try:
        assert threads.configure(1) == 1
        assert (torch.get_num_threads(), cv2.getNumThreads()) == (1, 1)
    finally:
        torch.set_num_threads(before[0])
        cv2.setNumThreads(before[1])


def test_the_cli_takes_the_setting_and_names_a_bad_one(tmp_path):
    env = {**os.environ, threads.ENV: "many"}
    run = subprocess.run([sys.executable, "-m", "faceparse.cli", "profile", "--model", str(tmp_path / "m.pt"),
                          str(tmp_path), "--out", str(tmp_path / "p.csv")], capture_output=True, text=True, env=env,
                         timeout=120)
    assert run.returncode == 2 and "FACEPARSE_THREADS='many'" in run.stderr and "Traceback" not in run.stderr
    probe = ("import sys; from faceparse.cli import build_parser; "
             "a = build_parser().parse_args(sys.argv[1:]); print(a.threads)")
    for args, expected in ((["predict", "--model", "m.pt", "x.jpg", "--out", "o", "--threads", "1"], "1"),
                           (["--threads", "2", "predict", "--model", "m.pt", "x.jpg", "--out", "o"], "2")):
        out = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=60)
        assert out.stdout.strip() == expected, out.stderr
