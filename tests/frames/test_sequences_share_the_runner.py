"""A sequence runs on its camera's runner between other calls: it keeps serving requests while it
is blocked, two cameras on one hub stream at once, and a snap, ROI change or buffer resize queued
around a start is decided on the runner, in queue order."""

from __future__ import annotations

import numpy as np
import pytest

from mmkernel_core import DeviceStateError, Kernel, StreamEnded
from mmkernel_core.frames import aligned
from mmkernel_sdk import Hub
from mmkernel_sdk.testing import Gate
from tests.support.devices import Holdable, Live, OddCamera, hold_runner


def test_a_blocked_sequence_keeps_serving_requests_and_stays_healthy() -> None:
    with Kernel(timeout=0.3, buffer_mb=1) as kernel:
        camera = OddCamera((256, 256), np.uint8)
        camera.add_property("Gain", int, default=0)
        kernel.load_device("C", camera)
        kernel.initialize("C")
        kernel.start_sequence("C", overflow="block")  # nobody reads: the buffer fills, the camera waits
        while kernel.buffer_stats("C").pending < (1024 * 1024) // aligned(256 * 256):
            kernel.wait_for("C", timeout=5)  # not a sleep: waits for the runner to be idle
        for gain in range(10):  # each well inside the 0.3 s deadline although the camera "waits"
            kernel.set_property("C", "Gain", gain)
        assert kernel.device_health("C").ok and kernel.is_sequence_running("C")
        with kernel.pop_next("C"):
            pass  # space: the camera goes on
        kernel.stop_sequence("C")
        assert kernel.buffer_stats("C").dropped == 0


def test_two_cameras_on_one_hub_stream_at_once() -> None:
    with Kernel(timeout=2, buffer_mb=1) as kernel:
        kernel.load_device("H", Hub())
        for label in ("C1", "C2"):
            kernel.load_device(label, Live(), parent="H")
        kernel.initialize_all()
        kernel.start_sequence("C1", count=3000, overflow="block")
        kernel.start_sequence("C2", count=5)
        counts = {}
        for label in ("C2", "C1"):
            frames = 0
            with pytest.raises(StreamEnded):
                while True:
                    kernel.pop_next(label, timeout=2).release()
                    frames += 1
            counts[label] = frames
        assert counts == {"C1": 3000, "C2": 5}  # the first sequence was not orphaned by the second


@pytest.mark.parametrize("verb_name", ["snap", "set_roi", "clear_roi"])
def test_camera_calls_queued_behind_a_start_are_refused(verb_name: str) -> None:
    with Kernel(timeout=5, buffer_mb=1) as kernel:
        camera = Live()
        kernel.load_device("Cam", camera)
        kernel.initialize("Cam")
        running = hold_runner(kernel, "Cam", camera, "Slow")
        start = kernel.submit.start_sequence("Cam", overflow="overwrite")
        args = {"snap": ("Cam",), "set_roi": ("Cam", 0, 0, 8, 8), "clear_roi": ("Cam",)}[verb_name]
        second = getattr(kernel.submit, verb_name)(*args)
        camera.armed = False
        camera.gate.release.set()
        running.result(5)
        start.result(5)
        with pytest.raises(DeviceStateError, match="is streaming"):
            second.result(5)
        for _ in range(3):
            kernel.pop_next("Cam", timeout=2).release()
        kernel.stop_sequence("Cam")
        assert camera.mismatch == []


def test_set_buffer_size_and_a_queued_start_cannot_interleave(kernel: Kernel, gate: Gate) -> None:
    held = Holdable(gate)
    kernel.load_device("Hub", Hub())
    kernel.load_device("H", held, parent="Hub")
    kernel.load_device("C", OddCamera((16, 16), np.uint8), parent="Hub")
    kernel.initialize_all()
    held.hold = True
    blocker = kernel.submit.get_property("H", "Value")
    gate.wait_entered()
    resize = kernel.submit.set_buffer_size("C", 2)
    start = kernel.submit.start_sequence("C", 3)
    held.hold = False
    gate.release.set()
    blocker.result(5), resize.result(5), start.result(5)
    frames = []
    while True:
        try:
            with kernel.pop_next("C") as frame:
                frames.append(frame.meta.number)
        except StreamEnded:
            break
    assert frames == [0, 1, 2] and kernel.buffer_size("C") == 2
    # the other order: a resize queued behind a start is refused, the sequence is intact
    start = kernel.submit.start_sequence("C")
    resize = kernel.submit.set_buffer_size("C", 4)
    start.result(5)
    with pytest.raises(DeviceStateError, match="streaming"):
        resize.result(5)
    kernel.stop_sequence("C")
