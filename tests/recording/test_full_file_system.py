"""An OME-TIFF whose disk fills mid-recording (here a file-size limit, RLIMIT_FSIZE, in a child
process): the error says how many frames were written, and that is what a reader finds, with
their rows. A message about data must be true. (OME-Zarr writes a file per chunk, so a file
limit cannot fill it mid-run; its full disk is a store failing writes, in test_faults.)"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from mmkernel_core.recording import open_recording
from tests.support.recording import pattern

CHILD = textwrap.dedent("""
    import json, resource, signal, sys
    from mmkernel_core import Kernel, RecordingError
    from tests.support.recording import PatternCamera

    path, fmt, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG), as on a full disk
    with Kernel(timeout=10, buffer_mb=16) as k:
        k.load_device("Cam", PatternCamera(height=256))
        k.initialize("Cam")
        k.set_property("Cam", "Width", 256)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        options = {"frames_per_chunk": 1} if fmt == "ome-zarr" else None
        recording = k.record("Cam", path, count=400, format=fmt, writer_options=options)
        try:
            recording.wait(60)
            print(json.dumps({"error": None}))
        except RecordingError as error:
            print(json.dumps({"error": str(error), "written": recording.result.frames_written["Cam"]}))
""")


@pytest.mark.parametrize("frames_that_fit", [0.5, 3, 40])
def test_a_disk_filling_mid_recording_leaves_exactly_the_frames_the_error_names(
    tmp_path: Path, frames_that_fit: float
) -> None:
    path, fmt = tmp_path / "full.ome.tif", "ome-tiff"
    limit = int(frames_that_fit * 256 * 256 * 2)
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), fmt, str(limit)],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert child.returncode == 0, child.stderr[-2000:]
    said = json.loads(child.stdout.strip().splitlines()[-1])
    assert said["error"] is not None, "400 frames cannot fit"
    written = said["written"]
    assert f"{written} frames were written" in said["error"], said
    data = open_recording(path)
    if written == 0:  # not even one page: the error must not promise a readable dataset
        assert "no frame of it was written" in said["error"] and "readable" not in said["error"], said
        assert "Cam" not in data.images or data.images["Cam"].shape[0] == 0
        return
    assert f"the {written} frames written are readable" in said["error"], said
    images = np.asarray(data.images["Cam"][...])
    readable = data.frames_valid.get("Cam", images.shape[0]) if not data.finished else images.shape[0]
    assert readable == written == images.shape[0], (said["error"], images.shape, data.frames_valid)
    assert all(np.array_equal(images[n], pattern(n, (256, 256))) for n in range(written))
    assert data.frames("Cam")["number"].tolist() == list(range(written))
