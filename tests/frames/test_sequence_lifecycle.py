"""A sequence from start to end when things go wrong: a frame format or size that cannot work is
refused at the start, a start that timed out in the queue leaves no phantom sequence, a failing
step ends the sequence, tells the consumer and gives its slot back, polling after the end stays
cheap, and unloading a streaming (or blocked) camera stops reading it."""

from __future__ import annotations

import traceback
from typing import Any

import numpy as np
import pytest

from mmkernel_core import BufferOverflowError, DeviceError, DeviceTimeoutError, Kernel, StreamEnded
from mmkernel_core.frames import aligned
from mmkernel_sdk import Camera, Hub, prop
from mmkernel_sdk.testing import Gate
from tests.support.devices import OddCamera


class Endless(Camera):
    def __init__(self) -> None:
        self.reads_after_shutdown = 0
        self.shut = False

    def frame_shape(self) -> tuple[int, ...]:
        return (8, 8)

    def frame_dtype(self) -> np.dtype:
        return np.dtype(np.uint8)

    def read_frame(self, out: np.ndarray) -> None:
        if self.shut:
            self.reads_after_shutdown += 1
        out[...] = 1

    def shutdown(self) -> None:
        self.shut = True


class Huge(Endless):
    def frame_shape(self) -> tuple[int, ...]:
        return (2048, 2048)


def test_a_frame_larger_than_the_buffer_is_refused_at_start() -> None:
    with Kernel(timeout=5, buffer_mb=1) as kernel:
        kernel.load_device("Cam", Huge())
        kernel.initialize("Cam")
        with pytest.raises(BufferOverflowError, match=r"\(4 MB\) does not fit its 1 MB buffer"):
            kernel.start_sequence("Cam")
        assert not kernel.is_sequence_running("Cam")
        kernel.snap("Cam")  # not stuck in a phantom "streaming" state


@pytest.mark.parametrize(
    ("shape", "dtype", "what"),
    [
        ((8, 8), object, "frame_dtype"),
        ((8, 8), [("a", "u1"), ("b", "u2")], "frame_dtype"),
        ((8, 8), "U4", "frame_dtype"),
        ((8.5, 8), np.uint8, "frame_shape"),
        ((8, 0), np.uint8, "frame_shape"),
        ((8,), np.uint8, "frame_shape"),
        ((8, 8, 9), np.uint8, "frame_shape"),
        ("8x8", np.uint8, "frame_shape"),
    ],
)
def test_bad_frame_formats_are_refused_before_memory_is_used(kernel: Kernel, shape: Any, dtype: Any, what: str) -> None:
    kernel.load_device("C", OddCamera(shape, dtype))
    kernel.initialize("C")
    with pytest.raises(DeviceError, match=rf"camera 'C': {what}\(\) returned .*; allowed: "):
        kernel.snap("C")
    with pytest.raises(DeviceError, match=rf"camera 'C': {what}\(\) returned"):
        kernel.start_sequence("C", count=2)
    assert not kernel.is_sequence_running("C")


def test_a_start_that_times_out_in_the_queue_leaves_no_phantom_sequence() -> None:
    gate = Gate()

    class Slow(Endless):
        Hold = prop(int, default=0)

        @Hold.setter
        def Hold(self, value: int) -> None:
            gate.hold()

    with Kernel(timeout=5, buffer_mb=1) as kernel:
        kernel.load_device("Cam", Slow())
        kernel.initialize("Cam")
        blocker = kernel.submit.set_property("Cam", "Hold", 1)
        gate.wait_entered()
        with pytest.raises(DeviceTimeoutError):
            kernel.start_sequence("Cam", timeout=0.1)
        gate.release.set()
        blocker.result(timeout=5)
        assert not kernel.is_sequence_running("Cam")
        with pytest.raises(StreamEnded):
            kernel.pop_next("Cam", timeout=0.1)


class ShapeShifter(Endless):
    Width = prop(int, default=8)

    def frame_shape(self) -> tuple[int, ...]:
        if self.Width == 13:
            raise RuntimeError("sensor lost")
        return (8, self.Width)


def test_a_failing_step_ends_the_sequence_and_tells_the_consumer() -> None:
    with Kernel(timeout=5, buffer_mb=1) as kernel:
        kernel.load_device("Cam", ShapeShifter())
        kernel.initialize("Cam")
        kernel.start_sequence("Cam", count=None, overflow="overwrite")
        kernel.set_property("Cam", "Width", 13)
        with pytest.raises(DeviceError, match=r"the sequence failed after .* RuntimeError: sensor lost"):
            while True:
                kernel.pop_next("Cam").release()
        assert not kernel.is_sequence_running("Cam")


def test_a_failing_step_after_a_slot_was_reserved_gives_the_slot_back() -> None:
    with Kernel(timeout=5, buffer_mb=1) as kernel:
        camera = OddCamera((64, 64), np.uint8, tags=12345)  # tags must be a dict or None
        kernel.load_device("C", camera)
        kernel.initialize("C")
        kernel.start_sequence("C", count=5)
        with pytest.raises(DeviceError, match="read_frame\\(\\) returned 12345"):
            kernel.pop_next("C")
        camera.tags = None
        kernel.start_sequence("C", overflow="stop")  # nobody reads: runs until the buffer is full
        held = []
        with pytest.raises(BufferOverflowError, match="buffer full"):
            while True:
                held.append(kernel.pop_next("C", timeout=5))  # popped, kept: every slot stays taken
        assert len(held) == (1024 * 1024) // aligned(64 * 64)  # the whole buffer, not one slot less


def test_polling_after_the_end_does_not_grow_the_traceback(kernel: Kernel) -> None:
    kernel.load_device("C", OddCamera())
    kernel.initialize("C")
    kernel.start_sequence("C", count=1)
    kernel.pop_next("C").release()
    depths = []
    for _ in range(2000):
        try:
            kernel.pop_next("C", timeout=1)
        except StreamEnded as error:
            depths.append(len(traceback.extract_tb(error.__traceback__)))
    for _ in range(200):
        error = kernel.submit.pop_next("C").exception(5)
        assert isinstance(error, StreamEnded)
    assert max(depths) == min(depths) < 10


@pytest.mark.parametrize("under_hub", [False, True])
def test_unloading_a_streaming_camera_stops_reading_it(under_hub: bool) -> None:
    with Kernel(timeout=5, buffer_mb=1) as kernel:
        if under_hub:
            kernel.load_device("Hub", Hub())
        camera = Endless()
        kernel.load_device("Cam", camera, parent="Hub" if under_hub else None)
        kernel.initialize_all()
        kernel.start_sequence("Cam", overflow="overwrite")
        kernel.unload("Cam")
        if under_hub:
            kernel.wait_for("Hub")  # the hub's runner lives on: it must have dropped the sequence
            assert kernel._loaded("Hub").runner.tasks == []
        assert camera.reads_after_shutdown == 0


def test_blocked_sequence_lets_unload_reach_the_camera() -> None:
    with Kernel(timeout=5, buffer_mb=1) as kernel:
        camera = Endless()
        kernel.load_device("Cam", camera)
        kernel.initialize("Cam")
        kernel.start_sequence("Cam", overflow="block")  # nobody reads: the camera soon waits for space
        kernel.unload("Cam")
        assert camera.shut and kernel.devices() == ["Core"]
