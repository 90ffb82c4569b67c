"""The C++ DemoCamera of the demo configuration, recorded through the kernel's recording to
OME-Zarr and read back: the frames the camera gave, as many as asked for, at its size and dtype."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mmkernel_core import Kernel
from mmkernel_core.recording import open_recording
from mmkernel_sdk.recording import FrameInfo, Step


class Keep(Step):
    """Passes every frame on, and keeps a copy of it: what the recording was given."""

    name = "keep"

    def __init__(self) -> None:
        self.frames: list[np.ndarray] = []

    def process(self, frame: np.ndarray, info: FrameInfo) -> np.ndarray:
        self.frames.append(np.array(frame))
        return frame


def test_a_recording_of_the_cpp_camera_reads_back_the_frames_it_gave(mm_named: Path, tmp_path: Path) -> None:
    keep = Keep()
    with Kernel(timeout=20) as k:
        k.load_config(mm_named)
        k.set_property("Camera", "Exposure", 1.0)
        k.set_property("Camera", "PixelType", "16bit")
        snapped = k.snap("Camera")
        result = k.record("Camera", tmp_path / "run.ome.zarr", count=12, steps=[keep]).wait(60)
    assert result.frames_written == {"Camera": 12} and result.dropped == 0 and result.errors == []
    data = open_recording(tmp_path / "run.ome.zarr")
    image = np.asarray(data.images["Camera"])
    assert image.shape == (12, *snapped.shape) == (12, 512, 512)
    assert image.dtype == snapped.dtype == np.uint16
    assert len(keep.frames) == 12
    for index, frame in enumerate(keep.frames):
        np.testing.assert_array_equal(image[index], frame)
    assert all(frame.min() < frame.max() for frame in image)  # DemoCamera's waves, not a blank
    numbers = data.frames("Camera")["number"]
    assert len(set(numbers.tolist())) == 12 and list(numbers) == sorted(numbers)
