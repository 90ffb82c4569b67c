"""Memory a user can predict: loading a configuration makes no camera memory resident (a GUI
beside the kernel keeps its RAM); a camera's buffer (512 MB by default) becomes resident when
it first streams; and a buffer of tiny frames holds at most MAX_FRAMES of them, so their
bookkeeping stays bounded too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mmkernel_core import BufferOverflowError
from mmkernel_core.frames import MAX_FRAMES, FrameBuffer, FrameHeader
from tests.support.paths import ROOT

FOOTPRINT = """
import os
from mmkernel_core import Kernel

def resident_mb():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

with Kernel() as k:
    k.load_config("demo")
    before = resident_mb()
    k.snap()
    after_load = resident_mb()
    k.set_property("Camera", "Exposure", 0.0)
    with k.stream("Camera", count=20) as frames:
        for frame in frames:
            pass
    k.internals.device("Camera").camera.buffer.memory.populated.wait(60)
    print(k.buffer_size("Camera"), round(before), round(after_load), round(resident_mb()))
"""


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads the resident size from /proc")
def test_a_loaded_configuration_costs_no_camera_memory_until_the_camera_streams() -> None:
    environment = {k: v for k, v in os.environ.items() if k != "MMKERNEL_BUFFER_MB"}  # the default size
    environment["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, "-c", FOOTPRINT], capture_output=True, text=True, env=environment,
                          timeout=120, check=True)  # fmt: skip
    size_mb, loaded, snapped, streamed = (float(v) for v in done.stdout.split())
    assert size_mb == 512  # the documented default
    assert snapped - loaded < 64 and loaded < 400  # the demo loaded and snapped: no camera buffer resident
    assert streamed - snapped > 0.8 * size_mb  # streaming made the camera's buffer resident


def test_a_buffer_of_tiny_frames_holds_at_most_max_frames() -> None:
    """64 MB holds a million 64-byte slots; the buffer stops at MAX_FRAMES all the same."""
    buffer = FrameBuffer("Cam", 64 << 20)
    buffer.start("stop")
    shape, dtype = (2, 2), np.dtype(np.uint8)
    with pytest.raises(BufferOverflowError, match=f"holds {MAX_FRAMES} frames at most"):
        for number in range(MAX_FRAMES + 1):
            slot, _ = buffer.acquire(shape, dtype, 4)
            buffer.commit(slot, FrameHeader(number, "Cam", shape, dtype, 1, 0.0))
    assert buffer.stats().pending == MAX_FRAMES
    buffer.close()
