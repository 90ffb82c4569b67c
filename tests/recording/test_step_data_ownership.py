"""Data handed to a recording belongs to the recording: a step that returns the same output array
every call (numpy's `out=` idiom) and a step that keeps its input frame for the next call both
record exactly what they computed, although the camera's buffer reuses its memory meanwhile."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mmkernel_core import Kernel, RecordingError
from mmkernel_core.recording import open_recording
from mmkernel_sdk.recording import FrameInfo, Step
from tests.support.recording import PatternCamera, pattern

FRAMES, SHAPE = 2000, (48, 64)


class Invert(Step):
    """The usual numpy idiom: one output buffer, filled in place and returned every time."""

    name = "invert"

    def __init__(self) -> None:
        self.buf = np.empty(SHAPE, np.uint16)

    def process(self, frame: np.ndarray, info: FrameInfo) -> np.ndarray:
        np.subtract(65535, frame, out=self.buf)
        return self.buf


class Difference(Step):
    """Keeps its input (a view into the camera's buffer) to subtract it from the next frame."""

    name = "difference"

    def __init__(self) -> None:
        self.previous: np.ndarray | None = None

    def process(self, frame: np.ndarray, info: FrameInfo) -> np.ndarray:
        previous = frame if self.previous is None else self.previous
        self.previous = frame[...]  # a view: the pixels stay the camera buffer's
        return frame.astype(np.int32) - previous.astype(np.int32)


class OddRows(Step):
    """Returns a view of an array of its own (it keeps the base)."""

    name = "odd-rows"

    def __init__(self) -> None:
        self.work = np.empty((SHAPE[0] * 2, SHAPE[1]), np.uint16)

    def process(self, frame: np.ndarray, info: FrameInfo) -> np.ndarray:
        self.work[1::2] = frame
        return self.work[1::2]


@pytest.fixture
def small() -> Iterator[Kernel]:
    """A 1 MB buffer: about 170 frames, so its memory is reused a dozen times in a recording."""
    with Kernel(timeout=10, buffer_mb=1) as k:
        k.load_device("Cam", PatternCamera())
        k.initialize("Cam")
        yield k


@pytest.mark.parametrize("fmt", ["ome-zarr", "ome-tiff"])
def test_a_step_that_reuses_its_output_array_records_every_frame(small: Kernel, tmp_path: Path, fmt: str) -> None:
    path = tmp_path / ("inv.ome.zarr" if fmt == "ome-zarr" else "inv.ome.tif")
    small.record("Cam", path, count=FRAMES, format=fmt, steps=[Invert()]).wait(60)
    frames = np.asarray(open_recording(path).images["Cam"][:])
    assert len(frames) == FRAMES
    for n in range(FRAMES):
        assert np.array_equal(frames[n], 65535 - pattern(n, SHAPE)), f"frame {n}"


def test_a_step_that_keeps_its_input_frame_sees_it_unchanged(small: Kernel, tmp_path: Path) -> None:
    path = tmp_path / "diff.ome.zarr"
    small.record("Cam", path, count=FRAMES, steps=[Difference()]).wait(60)
    frames = np.asarray(open_recording(path).images["Cam"][:])
    assert len(frames) == FRAMES and not frames[0].any()
    for n in range(1, FRAMES):
        expected = pattern(n, SHAPE).astype(np.int32) - pattern(n - 1, SHAPE).astype(np.int32)
        assert np.array_equal(frames[n], expected), f"frame {n}"


def test_a_step_returning_a_view_of_its_own_array_records_every_frame(small: Kernel, tmp_path: Path) -> None:
    path = tmp_path / "rows.ome.zarr"
    small.record("Cam", path, count=FRAMES, steps=[OddRows()]).wait(60)
    frames = np.asarray(open_recording(path).images["Cam"][:])
    assert all(np.array_equal(frames[n], pattern(n, SHAPE)) for n in range(FRAMES))


def test_a_frame_a_step_still_keeps_goes_back_to_the_camera_when_the_recording_ends(
    small: Kernel, tmp_path: Path
) -> None:
    """The step holds the last frame when the recording is over; its slot is given back then (a
    held slot would stop the ring: memory is reclaimed oldest first), so a new sequence goes
    round the buffer many times."""
    step = Difference()
    small.record("Cam", tmp_path / "d.ome.zarr", count=FRAMES, steps=[step]).wait(60)
    assert step.previous is not None
    small.start_sequence("Cam", count=FRAMES, overflow="block")
    for _ in range(FRAMES):
        small.pop_next("Cam").release()
    assert small.buffer_stats("Cam").produced == FRAMES


class KeepFirst(Step):
    """Background subtraction with the first frame as background, kept as it was given (a view
    of the camera's buffer) unless `copy`."""

    name = "keep-first"

    def __init__(self, copy: bool = False) -> None:
        self.copy = copy
        self.background: np.ndarray | None = None

    def process(self, frame: np.ndarray, info: FrameInfo) -> np.ndarray:
        if self.background is None:
            self.background = np.array(frame) if self.copy else frame
        return frame.astype(np.int32) - self.background


@pytest.mark.parametrize("overflow", ["block", "drop"])
def test_a_step_keeping_a_frame_beyond_its_next_call_ends_the_recording_saying_what_to_do(
    small: Kernel, tmp_path: Path, overflow: str
) -> None:
    """The buffer reuses memory oldest first: once it has gone round, the kept first frame is in
    the camera's way. The recording ends (never waits forever) naming the step and the frame,
    with the frames before readable; the camera works afterwards."""
    path = tmp_path / "keep.ome.zarr"
    recording = small.record("Cam", path, count=FRAMES, steps=[KeepFirst()], overflow=overflow)
    with pytest.raises(RecordingError) as caught:
        recording.wait(30)
    message = str(caught.value)
    assert "step 'keep-first' keeps frame 0" in message and "copy what a step keeps longer (np.array(frame))" in message
    assert caught.value.camera == "Cam" and caught.value.frame == 0
    written = recording.result.frames_written["Cam"]  # type: ignore[union-attr]
    data = open_recording(path)
    frames, numbers = np.asarray(data.images["Cam"][:]), data.frames("Cam")["number"]
    assert 0 < written < FRAMES and len(frames) == written and numbers[0] == 0
    background = pattern(0, SHAPE)
    assert all(
        np.array_equal(frame, pattern(int(n), SHAPE).astype(np.int32) - background)
        for frame, n in zip(frames, numbers[:written], strict=True)
    )
    assert small.record("Cam", tmp_path / "after.ome.zarr", count=FRAMES).wait(60).frames_written == {"Cam": FRAMES}


def test_a_step_copying_what_it_keeps_records_every_frame(small: Kernel, tmp_path: Path) -> None:
    path = tmp_path / "copy.ome.zarr"
    small.record("Cam", path, count=FRAMES, steps=[KeepFirst(copy=True)]).wait(60)
    frames = np.asarray(open_recording(path).images["Cam"][:])
    assert len(frames) == FRAMES
    assert np.array_equal(frames[-1], pattern(FRAMES - 1, SHAPE).astype(np.int32) - pattern(0, SHAPE))
