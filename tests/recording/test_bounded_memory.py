"""Memory stays bounded however long a recording runs: the per-frame table and the datastreams
go to the store a checkpoint at a time instead of growing in memory (they once took about 100
bytes a frame: 25 GB an hour at 64x64's frame rate)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mmkernel_core import Kernel
from mmkernel_core.recording import open_recording
from mmkernel_sdk import Camera
from mmkernel_sdk.testing import SimStage

FRAMES = 1_000_000


class TinyCamera(Camera):
    """4 x 4 uint8 frames holding their frame number's low byte: as fast as a camera gets."""

    def __init__(self) -> None:
        self.made = 0

    def frame_shape(self) -> tuple[int, ...]:
        return (4, 4)

    def frame_dtype(self) -> np.dtype:
        return np.dtype(np.uint8)

    def start_sequence(self, count: int | None, interval_ms: float) -> None:
        self.made = 0

    def read_frame(self, out: np.ndarray) -> dict[str, Any]:
        out.fill(self.made & 0xFF)
        self.made += 1
        return {"Index": self.made}  # a changing tag: every row has text


def resident_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads the resident size from /proc")
@pytest.mark.timeout(300)
def test_a_million_frames_record_with_flat_memory(tmp_path: Path) -> None:
    with Kernel(timeout=30, buffer_mb=4) as k:  # frames held in the buffer cost ~250 bytes of objects each
        k.load_device("Cam", TinyCamera())
        k.load_device("Z", SimStage())
        k.initialize_all()
        recording = k.record("Cam", tmp_path / "long.ome.zarr", count=FRAMES, datastreams=[("Z", "Position")])
        samples: list[tuple[int, float]] = []
        while not recording.done():
            try:
                recording.wait(0.5)  # a sample every half second until it is done
            except TimeoutError:
                pass
            samples.append((recording.progress.written, resident_mb()))
        result = recording.wait(60)
    assert result.frames_written == {"Cam": FRAMES}
    settled = [mb for written, mb in samples if written >= FRAMES // 5]  # the buffer full, checkpoints going
    growth = max(settled) - min(settled)
    assert growth < 24, f"resident memory grew {growth:.0f} MB over {FRAMES * 3 // 4} frames: {samples}"
    data = open_recording(tmp_path / "long.ome.zarr")
    table = data.frames("Cam")
    assert data.finished and len(table["number"]) == FRAMES
    assert table["number"][-1] == FRAMES - 1 and table["changes"][-1] == {"Index": FRAMES}
    assert len(data.datastreams["Z-Position"]["frame"]) == FRAMES + 1  # a row per frame, and the start
