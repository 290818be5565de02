"""Long runs keep every finished photo and continue where they stopped: `faceparse profile` and
`predict` killed part-way (SIGKILL, SIGTERM, Ctrl-C) leave a valid CSV of the photos done, and the
same command run again gives, row for row, the file of a run never stopped."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from faceparse.errors import FaceparseError
from faceparse.profile.run import rows_complete
from faceparse.resume import ResultsFile

N_PROFILE = 24   # three batches of eight
N_PREDICT = 24   # three batches: files are written in threads while the model segments the next


@pytest.fixture(scope="module")
def london(mirror) -> list[str]:
    photos = sorted((mirror / "london_faces/neutral_front").glob("*.jpg"))
    return [str(p) for p in photos]


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "faceparse.cli", *args]


def _photos_in(csv: Path) -> int:
    if not csv.exists():
        return 0
    table = pd.read_csv(csv)
    return table["photo"].nunique() if len(table) else 0


def _stop_part_way(cmd: list[str], csv: Path, how: signal.Signals) -> tuple[int, str]:
    """Start `cmd`, send `how` as soon as its CSV holds a photo; its exit status and stderr."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while proc.poll() is None and _photos_in(csv) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(how)
    _, stderr = proc.communicate(timeout=120)
    return proc.returncode, stderr


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    return run


@pytest.fixture(scope="module")
def profile_uninterrupted(model, london, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("whole") / "profile.csv"
    _run(_cmd("profile", "--model", str(model), *london[:N_PROFILE], "--out", str(out)))
    return out


def test_profile_killed_part_way_keeps_its_photos_and_resumes_to_the_same_rows(model, london, profile_uninterrupted,
                                                                              tmp_path):
    out = tmp_path / "profile.csv"
    cmd = _cmd("profile", "--model", str(model), *london[:N_PROFILE], "--out", str(out))
    status, _ = _stop_part_way(cmd, out, signal.SIGKILL)
    assert status == -signal.SIGKILL
    kept = pd.read_csv(out)
    done = kept["photo"].nunique()
    assert 0 < done < N_PROFILE, "the kill came after the run had finished: nothing was tested"
    assert list(kept["photo"].unique()) == london[:done]  # the first photos, each with all its rows
    assert all(rows_complete(g.to_dict("records")) for _, g in kept.groupby("photo"))
    rerun = _run(cmd)
    assert f"{done}/{N_PROFILE}" in rerun.stderr  # the progress bar counts the photos already done
    assert out.read_text() == profile_uninterrupted.read_text()


def test_predict_killed_part_way_resumes_to_the_same_rows_and_files(model, london, tmp_path):
    whole, part = tmp_path / "whole", tmp_path / "part"
    _run(_cmd("predict", "--model", str(model), *london[:N_PREDICT], "--out", str(whole)))
    cmd = _cmd("predict", "--model", str(model), *london[:N_PREDICT], "--out", str(part))
    status, _ = _stop_part_way(cmd, part / "predictions.csv", signal.SIGKILL)
    assert status == -signal.SIGKILL
    done = _photos_in(part / "predictions.csv")
    assert 0 < done < N_PREDICT
    _run(cmd)
    assert (part / "predictions.csv").read_text() == (whole / "predictions.csv").read_text()
    names = sorted(p.name for p in whole.glob("*_labels.png"))
    assert len(names) == N_PREDICT
    assert all((part / n).read_bytes() == (whole / n).read_bytes() for n in names)


@pytest.mark.parametrize("how, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stop_signal_says_how_many_photos_are_done_and_how_to_resume(model, london, tmp_path, how, status):
    out = tmp_path / "pred"
    returned, stderr = _stop_part_way(_cmd("predict", "--model", str(model), *london[:N_PREDICT], "--out", str(out)),
                                      out / "predictions.csv", how)
    assert returned == status
    done = _photos_in(out / "predictions.csv")
    assert 0 < done < N_PREDICT
    message = stderr.strip().splitlines()[-1]
    assert f"interrupted by {how.name}: {done} of {N_PREDICT} photos done" in message
    assert "Run the same command again to continue" in message and "Traceback" not in stderr


def test_a_changed_option_or_model_is_refused_unless_restarted(model, london, profile_uninterrupted, tmp_path):
    out = tmp_path / "profile.csv"
    out.write_text(profile_uninterrupted.read_text())
    record = profile_uninterrupted.with_name("profile.csv.run.json")
    out.with_name("profile.csv.run.json").write_text(record.read_text())
    base = _cmd("profile", "--model", str(model), *london[:2], "--out", str(out))
    changed = subprocess.run(base + ["--patch-fraction", "0.3"], capture_output=True, text=True, timeout=300)
    assert changed.returncode == 2 and "another run (different patch_fraction)" in changed.stderr
    other = tmp_path / "other.pt"
    other.write_bytes(model.read_bytes()[:-1] + bytes([model.read_bytes()[-1] ^ 1]))  # a different file
    changed = subprocess.run(_cmd("profile", "--model", str(other), *london[:2], "--out", str(out)),
                             capture_output=True, text=True, timeout=300)
    assert changed.returncode == 2 and "model_sha256" in changed.stderr
    _run(base + ["--patch-fraction", "0.3", "--restart"])
    assert pd.read_csv(out)["photo"].nunique() == 2


def test_a_csv_from_elsewhere_is_not_overwritten(tmp_path):
    out = tmp_path / "profile.csv"
    out.write_text("photo,mine\na.jpg,1\n")
    with pytest.raises(FaceparseError, match="not written by a run that can be continued.*--restart"):
        ResultsFile(out, {"command": "profile"})
    assert out.read_text() == "photo,mine\na.jpg,1\n"


def test_what_a_kill_cut_short_is_done_again(tmp_path):
    """A last line without its end, or a photo short of its faces' rows, is dropped on reopening."""
    out = tmp_path / "profile.csv"
    results = ResultsFile(out, {"command": "profile"}, complete=rows_complete)
    results.add([[{"photo": "a.jpg", "face_index": 0, "n_faces": 1, "L": 61.25}],
                 [{"photo": "b.jpg", "face_index": 0, "n_faces": 2, "L": 50.5},
                  {"photo": "b.jpg", "face_index": 1, "n_faces": 2, "L": 40.0}]])
    with open(out, "a") as f:
        f.write("c.jpg,0,2,33.0\nd.jpg,0,1,3")  # c lacks its second face, d its line end
    reopened = ResultsFile(out, {"command": "profile"}, complete=rows_complete)
    assert list(reopened.done) == ["a.jpg", "b.jpg"]
    assert out.read_text() == "photo,face_index,n_faces,L\na.jpg,0,1,61.25\nb.jpg,0,2,50.5\nb.jpg,1,2,40.0\n"


def test_rows_keep_their_types_and_a_new_column_widens_the_header(tmp_path):
    out = tmp_path / "predictions.csv"
    results = ResultsFile(out, {"command": "predict"})
    results.add([[{"photo": "x.jpg", "status": "unreadable: not an image"}]])
    results.add([[{"photo": "y.jpg", "status": "ok", "width": 1350, "height": 1350, "mean_confidence": 0.125}]])
    assert out.read_text() == ("photo,status,width,height,mean_confidence\n"
                               "x.jpg,unreadable: not an image,,,\n"
                               "y.jpg,ok,1350,1350,0.125\n")  # sizes stay integers beside an unreadable row
