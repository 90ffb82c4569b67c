"""A recording whose process is killed (SIGKILL, SIGTERM) at any moment leaves a dataset that
shows only frames that were written, says it is unfinished, and has the per-frame table and the
datastreams up to its last checkpoint; `mmkernel record` finalizes on SIGTERM as on Ctrl-C.

Each test runs a real recording in a child process and kills it at a chosen moment: before its
first checkpoint, and after its first and third (a checkpoint happens at least every second).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

from mmkernel_core.recording import open_recording
from tests.support.paths import ROOT
from tests.support.recording import checksum, pattern

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX signals")

RECORDER = """
import sys, time
from mmkernel_core import Kernel
from mmkernel_sdk.testing import SimStage
from tests.support.recording import PatternCamera

path, fmt = sys.argv[1], sys.argv[2]
k = Kernel(timeout=10, buffer_mb=16)
k.load_device("Cam", PatternCamera())
k.load_device("Z", SimStage())
k.initialize_all()
recording = k.record("Cam", path, count=100_000, format=fmt, datastreams=[("Z", "Position")], interval_ms=2)
print("recording", flush=True)
step = 0
while True:  # the stage moves while the camera records: datastream rows between frames
    k.set_position("Z", float(step % 50))
    step += 1
    time.sleep(0.005)  # a user's pace, not synchronisation
"""
FRAME = (48, 64)


def strict(text: str) -> object:
    """RFC 8259 JSON: NaN and infinities are refused."""

    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def checkpoints(path: Path, fmt: str) -> int:
    """Frames the dataset shows so far (read while the recording runs)."""
    try:
        if fmt == "ome-zarr":
            return int(zarr.open_group(path, mode="r")["0"].shape[0])
        return open_recording(path).frames_valid.get("Cam", 0)
    except (FileNotFoundError, KeyError, ValueError, OSError, IndexError, TypeError):
        return 0


def start(tmp_path: Path, fmt: str) -> tuple[subprocess.Popen[str], Path]:
    path = tmp_path / ("run.ome.zarr" if fmt == "ome-zarr" else "run.ome.tif")
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", RECORDER, str(path), fmt], stdout=subprocess.PIPE, text=True, env=environment
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "recording"
    return child, path


def wait_for_checkpoints(path: Path, fmt: str, seen: int, deadline_s: float = 30.0) -> None:
    """Until `seen` checkpoints have passed: OME-Zarr's stored shape grows only at checkpoints;
    an OME-TIFF's pages are readable as they are written, so there it is until it holds more
    than `seen` seconds of frames (500 a second)."""
    deadline = time.monotonic() + deadline_s
    shown, times = 0, 0
    while (times < seen) if fmt == "ome-zarr" else (shown < seen * 600):
        assert time.monotonic() < deadline, f"{times} checkpoints ({shown} frames) of {seen} in {deadline_s} s"
        now = checkpoints(path, fmt)
        if now > shown:
            shown, times = now, times + 1
        time.sleep(0.05)  # polling another process's file


def check_killed_dataset(path: Path, fmt: str, at_least: int) -> None:
    data = open_recording(path)
    assert not data.finished
    valid = data.frames_valid.get("Cam", 0)  # a TIFF killed before its first page has no camera yet
    assert valid >= min(at_least, 1)
    if not valid and fmt == "ome-tiff":
        return
    images = np.asarray(data.images["Cam"][:valid])
    table = data.frames("Cam")
    assert len(images) == valid and (valid == 0 or images.shape == (valid, *FRAME))
    assert [int(n) for n in table["number"][:valid]] == list(range(valid))
    for index in range(valid):  # every frame a reader sees was written: none is a zero-filled stand-in
        assert np.array_equal(images[index], pattern(index, FRAME)), f"frame {index}"
        assert table["changes"][index]["Checksum"] == checksum(images[index])
    if at_least and (fmt == "ome-zarr" or at_least >= 3):  # OME-TIFF's ride on the next pages: a checkpoint later
        stream = data.datastreams["Z-Position"]
        assert len(stream["time"]) > 0 and max(stream["frame"]) <= valid
    if fmt == "ome-zarr":
        root = zarr.open_group(path, mode="r")
        if valid:  # a plain zarr reader sees the same frames
            assert root["0"].shape[0] == valid and np.array_equal(root["0"][valid - 1], pattern(valid - 1, FRAME))
        for document in path.rglob("zarr.json"):
            strict(document.read_text())
        progress = zarr.open_group(path, mode="r").attrs["mmkernel"]["progress"]
        assert progress["state"] == "recording"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("fmt", ["ome-zarr", "ome-tiff"])
@pytest.mark.parametrize("moment", [0, 1, 3], ids=["before-a-checkpoint", "after-one", "after-three"])
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_killed_recording_shows_only_frames_that_were_written(
    tmp_path: Path, fmt: str, moment: int, how: signal.Signals
) -> None:
    child, path = start(tmp_path, fmt)
    try:
        wait_for_checkpoints(path, fmt, moment)
    finally:
        child.send_signal(how)
        child.wait(30)
    check_killed_dataset(path, fmt, at_least=moment)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_the_record_command_finalizes_the_dataset_on_sigterm_as_on_ctrl_c(tmp_path: Path, how: int) -> None:
    path = tmp_path / "cli.ome.zarr"
    command = [str(Path(sys.executable).parent / "mmkernel"), "record", "-o", str(path), "--interval-ms", "2"]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        wait_for_checkpoints(path, "ome-zarr", 1)
    finally:
        child.send_signal(how)
        stdout, stderr = child.communicate(timeout=60)
    assert child.returncode == 0, stderr
    data = open_recording(path)
    assert data.finished and data.frames_valid["Camera"] > 0
    assert f"wrote {data.frames_valid['Camera']} frames" in stdout
