"""Streaming through per-camera buffers: sequences, overflow policies, metadata, errors, stopping,
frames popped through futures and asyncio, and deadlines that allow for slow frames."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from typing import Any

import numpy as np
import pytest

from mmkernel_core import BufferOverflowError, DeviceError, DeviceStateError, Kernel, PropertyError, StreamEnded
from mmkernel_sdk import Camera, prop
from mmkernel_sdk.testing import Gate, SimShutter
from tests.support.devices import Live


class CountingCamera(Camera):
    """Frame n is filled with n (mod 256): a reader can check every pixel came from frame n."""

    Width = prop(int, default=32, limits=(1, 4096))

    def __init__(self, height: int = 16, fail_at: int | None = None, gate: Gate | None = None) -> None:
        self.height = height
        self.fail_at = fail_at
        self.gate = gate
        self.frames = 0
        self.calls: list[str] = []

    def frame_shape(self) -> tuple[int, ...]:
        return (self.height, self.Width)

    def frame_dtype(self) -> np.dtype:
        return np.dtype(np.uint8)

    def read_frame(self, out: np.ndarray) -> dict[str, Any]:
        if self.fail_at is not None and self.frames == self.fail_at:
            raise OSError("USB transfer failed")
        if self.gate is not None:
            self.gate.hold()
        out[...] = self.frames % 256
        self.frames += 1
        return {"ElapsedTime-ms": float(self.frames)}

    def snap(self, out: np.ndarray) -> dict[str, Any]:
        self.calls.append(f"snap shutter={self.kernel.get_shutter_open('Shutter', from_cache=True)}")
        out[...] = 7
        return {}

    def start_sequence(self, count: int | None, interval_ms: float) -> None:
        self.calls.append(f"start {count} {interval_ms}")

    def stop_sequence(self) -> None:
        self.calls.append("stop")


@pytest.fixture
def kernel() -> Kernel:
    with Kernel(timeout=10, buffer_mb=4) as k:
        yield k


def camera(kernel: Kernel, label: str = "Cam", **kwargs: Any) -> CountingCamera:
    device = CountingCamera(**kwargs)
    kernel.load_device(label, device)
    kernel.initialize(label)
    return device


def drain(kernel: Kernel, label: str) -> list[int]:
    """Pop until the sequence ends; check every frame's pixels; return the frame numbers."""
    numbers = []
    while True:
        try:
            frame = kernel.pop_next(label)
        except StreamEnded:
            return numbers
        with frame:
            assert (frame.array == frame.meta.number % 256).all()
            numbers.append(frame.meta.number)


def test_stream_delivers_every_frame_in_order_zero_copy(kernel: Kernel) -> None:
    camera(kernel)
    with kernel.stream("Cam", count=500) as stream:
        numbers = []
        for frame in stream:
            assert not frame.array.flags.writeable
            assert frame.array.shape == (16, 32) and frame.meta.camera == "Cam"
            assert (frame.array == frame.meta.number % 256).all()
            numbers.append(frame.meta.number)
    assert numbers == list(range(500))
    stats = stream.stats
    assert (stats.produced, stats.delivered, stats.dropped, stats.pending) == (500, 500, 0, 0)


def test_cameras_with_different_sensor_sizes_stream_at_once(kernel: Kernel) -> None:
    sizes = {"A": (16, 32), "B": (64, 128), "C": (8, 1000)}
    for label, (height, width) in sizes.items():
        camera(kernel, label, height=height)
        kernel.set_property(label, "Width", width)
    results: dict[str, list[tuple[int, ...]]] = {}

    def consume(label: str) -> None:
        with kernel.stream(label, count=300) as stream:
            results[label] = [frame.array.shape for frame in stream]

    threads = [threading.Thread(target=consume, args=(label,)) for label in sizes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for label, shape in sizes.items():
        assert results[label] == [shape] * 300


def test_many_consumers_share_one_camera_without_duplicates(kernel: Kernel) -> None:
    camera(kernel)
    kernel.start_sequence("Cam", count=2000)
    seen: list[list[int]] = [[] for _ in range(4)]
    threads = [threading.Thread(target=lambda i=i: seen[i].extend(drain(kernel, "Cam"))) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = sorted(n for part in seen for n in part)
    assert everything == list(range(2000))


def test_overflow_stop_keeps_what_fit_then_reports(kernel: Kernel) -> None:
    camera(kernel, height=256)
    kernel.set_property("Cam", "Width", 1024)  # 256 KiB frames, 1 MiB buffer
    kernel.set_buffer_size("Cam", 1)
    kernel.start_sequence("Cam", count=100, overflow="stop")
    kernel.wait_for("Cam")
    while kernel.is_sequence_running("Cam"):
        kernel.wait_for("Cam")
    kept = kernel.remaining("Cam")
    assert 0 < kept < 100
    numbers = []
    with pytest.raises(BufferOverflowError, match=rf"stopped with {kept} frames kept in the 1 MB buffer"):
        while True:
            with kernel.pop_next("Cam") as frame:
                assert (frame.array == frame.meta.number % 256).all()
                numbers.append(frame.meta.number)
    assert numbers == list(range(kept))


def test_overflow_overwrite_drops_oldest_and_counts_them(kernel: Kernel) -> None:
    camera(kernel, height=256)
    kernel.set_property("Cam", "Width", 1024)
    kernel.set_buffer_size("Cam", 1)
    kernel.start_sequence("Cam", count=100, overflow="overwrite")
    numbers = []
    while kernel.is_sequence_running("Cam"):
        kernel.wait_for("Cam")
    numbers = drain(kernel, "Cam")
    stats = kernel.buffer_stats("Cam")
    assert stats.dropped > 0 and stats.delivered == len(numbers)
    assert stats.delivered + stats.dropped == 100
    assert numbers == list(range(100 - len(numbers), 100))  # the newest survived, in order


def test_overflow_block_loses_nothing(kernel: Kernel) -> None:
    camera(kernel, height=256)
    kernel.set_property("Cam", "Width", 1024)
    kernel.set_buffer_size("Cam", 1)
    kernel.start_sequence("Cam", count=60, overflow="block")
    assert drain(kernel, "Cam") == list(range(60))
    assert kernel.buffer_stats("Cam").dropped == 0


def test_each_frame_carries_only_what_changed(kernel: Kernel) -> None:
    gate = Gate()
    kernel.load_device("Shutter", SimShutter())
    kernel.initialize("Shutter")
    device = camera(kernel)
    device.gate = gate
    kernel.start_sequence("Cam", count=3)
    gate.wait_entered()  # frame 0 is being read
    kernel.set_shutter_open("Shutter", True)
    gate.release.set()
    frames = []
    for _ in range(3):
        with kernel.pop_next("Cam") as frame:
            frames.append(dict(frame.meta.metadata))
    kernel.set_property("Cam", "Width", 40)
    assert "Shutter-State" not in frames[0]
    assert frames[1]["Shutter-State"] == 1
    assert "Shutter-State" not in frames[2]
    assert all(f["ElapsedTime-ms"] > 0 for f in frames)  # camera tags on every frame
    summary = kernel.sequence_summary("Cam")
    assert summary["system_state"]["Shutter"]["State"] == 0 and summary["count"] == 3


def test_property_set_during_a_sequence_applies_between_frames(kernel: Kernel) -> None:
    camera(kernel)
    kernel.start_sequence("Cam", interval_ms=1)  # until stopped; paced, so its 4 MB cannot fill meanwhile
    first = kernel.pop_next("Cam")
    first.release()
    kernel.set_property("Cam", "Width", 48)  # served between two frames
    assert kernel.get_property("Cam", "Width") == 48
    frames = []
    while not frames or frames[-1][0] != (16, 48):  # the sequence goes on in the new format
        with kernel.pop_next("Cam") as frame:
            frames.append((frame.array.shape, dict(frame.meta.metadata)))
    kernel.stop_sequence("Cam")
    while True:
        try:
            with kernel.pop_next("Cam") as frame:
                frames.append((frame.array.shape, dict(frame.meta.metadata)))
        except StreamEnded:
            break
    changed = [i for i, (_, meta) in enumerate(frames) if meta.get("Cam-Width") == 48]
    assert len(changed) == 1  # announced once, on the first frame taken after the change
    assert all(shape == (16, 32) for shape, _ in frames[: changed[0]])
    assert all(shape == (16, 48) for shape, _ in frames[changed[0] :])


def test_per_frame_metadata_can_be_switched_off() -> None:
    with Kernel(buffer_mb=4, frame_metadata=False) as kernel:
        camera(kernel)
        with kernel.stream("Cam", count=5) as stream:
            metas = [dict(frame.meta.metadata) for frame in stream]
    assert metas == [{}] * 5


def test_stop_is_prompt_and_frames_already_taken_stay_readable(kernel: Kernel) -> None:
    gate = Gate()
    device = camera(kernel, gate=gate)
    kernel.start_sequence("Cam")
    gate.wait_entered()  # the camera is in the middle of a frame
    stopper = kernel.submit.stop_sequence("Cam")
    gate.release.set()
    stopper.result(timeout=5)
    assert not kernel.is_sequence_running("Cam")
    assert drain(kernel, "Cam") == list(range(device.frames))
    assert device.calls == ["start None 0.0", "stop"]


def test_camera_error_mid_sequence_ends_it_after_the_good_frames(kernel: Kernel) -> None:
    device = camera(kernel, fail_at=7)
    kernel.start_sequence("Cam", count=20)
    numbers = []
    with pytest.raises(
        DeviceError, match=r"camera 'Cam' failed during a sequence after 7 frames: OSError: USB"
    ) as info:
        while True:
            with kernel.pop_next("Cam") as frame:
                numbers.append(frame.meta.number)
    assert numbers == list(range(7))
    assert isinstance(info.value.__cause__, OSError)
    device.fail_at = None
    kernel.start_sequence("Cam", count=1)  # the runner survived
    with kernel.pop_next("Cam") as frame:
        assert frame.meta.number == 0


def test_latest_gives_the_newest_frame_for_live_view(kernel: Kernel) -> None:
    camera(kernel)
    kernel.start_sequence("Cam", count=50, overflow="overwrite")
    while kernel.is_sequence_running("Cam"):
        kernel.wait_for("Cam")
    with kernel.latest("Cam") as newest:
        assert newest.meta.number == 49
    assert kernel.remaining("Cam") == 50  # latest does not consume


def test_asyncio_stream(kernel: Kernel) -> None:
    camera(kernel)

    async def collect() -> list[int]:
        return [frame.meta.number async for frame in kernel.aio.stream("Cam", count=40)]

    assert asyncio.run(collect()) == list(range(40))


def test_frames_popped_through_futures_are_released_by_the_gc() -> None:
    with Kernel(timeout=5, buffer_mb=1) as kernel:
        camera = Live(stepped=True)
        camera.roi = (0, 0, 1024, 512)  # 512 KB frames: the buffer holds 2
        kernel.load_device("Cam", camera)
        kernel.initialize("Cam")
        kernel.start_sequence("Cam", count=6, overflow="stop")
        for _ in range(6):
            future = kernel.submit.pop_next("Cam", timeout=30)
            camera.permits.release()
            frame = future.result(5)
            assert frame.array[0, 0] == 1
            del frame, future
            gc.collect()
        live = [e for e in kernel._dispatch.watchdog._heap if not getattr(e[2], "cancelled", True)]
        assert len(live) < 5  # the pops' deadline timers were cancelled when they got their frames


def test_a_frame_handed_to_a_cancelled_aio_pop_is_counted_as_dropped() -> None:
    with Kernel(timeout=5, buffer_mb=4) as kernel:
        camera = Live(stepped=True)
        kernel.load_device("Cam", camera)
        kernel.initialize("Cam")
        kernel.start_sequence("Cam", count=3, overflow="stop")

        async def scenario() -> list[int]:
            pending = kernel.aio.pop_next("Cam", timeout=5)
            camera.permits.release()
            deadline = time.monotonic() + 5
            while kernel.buffer_stats("Cam").delivered < 1:  # handed over, not yet seen by the loop
                assert time.monotonic() < deadline
                time.sleep(0.001)
            pending.cancel()
            await asyncio.sleep(0)
            seen = []
            for _ in range(2):
                camera.permits.release()
                frame = await kernel.aio.pop_next("Cam", timeout=5)
                seen.append(frame.meta.number)
                frame.release()
            return seen

        assert asyncio.run(scenario()) == [1, 2]
        stats = kernel.buffer_stats("Cam")
        assert (stats.delivered, stats.dropped) == (2, 1)


def test_snap_opens_the_shutter_for_the_exposure_only(kernel: Kernel) -> None:
    device = camera(kernel)
    kernel.load_device("Shutter", SimShutter())
    kernel.initialize("Shutter")
    kernel.set_role("Camera", "Cam")
    kernel.set_role("Shutter", "Shutter")
    image = kernel.snap()
    assert (image == 7).all()
    assert device.calls == ["snap shutter=True"]
    assert kernel.get_shutter_open("Shutter") is False
    kernel.roles.auto_shutter = False
    kernel.snap()
    assert device.calls[-1] == "snap shutter=False"


def test_snap_while_streaming_is_refused(kernel: Kernel) -> None:
    camera(kernel)
    kernel.start_sequence("Cam")
    with pytest.raises(DeviceStateError, match=r"'Cam' is streaming; stop_sequence\(\) before snap\(\)"):
        kernel.snap("Cam")
    with pytest.raises(DeviceStateError, match="already streaming"):
        kernel.start_sequence("Cam")
    kernel.stop_sequence("Cam")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"overflow": "drop"}, "overflow 'drop' is not allowed; allowed: stop, overwrite, block"),
        ({"count": 0}, "count 0 is not allowed"),
        ({"interval_ms": -1}, "interval_ms -1 is not allowed"),
    ],
)
def test_bad_sequence_arguments(kernel: Kernel, kwargs: dict[str, Any], message: str) -> None:
    camera(kernel)
    with pytest.raises(PropertyError, match=message):
        kernel.start_sequence("Cam", **kwargs)
    assert not kernel.is_sequence_running("Cam")


def test_buffer_size_is_validated_and_used(kernel: Kernel) -> None:
    camera(kernel)
    with pytest.raises(PropertyError, match=r"buffer size 0 is not allowed; allowed: 1 \.\. 1048576 MB"):
        kernel.set_buffer_size("Cam", 0)
    kernel.set_buffer_size("Cam", 2)
    assert kernel.buffer_size("Cam") == 2
    kernel.start_sequence("Cam", count=1)
    kernel.pop_next("Cam").release()
    assert kernel.buffer_stats("Cam").capacity_bytes == 2 * 2**20


def test_resizing_a_buffer_with_unread_frames_says_so(caplog: pytest.LogCaptureFixture) -> None:
    with Kernel(timeout=5, buffer_mb=1) as kernel:
        kernel.load_device("Cam", Live())
        kernel.initialize("Cam")
        kernel.start_sequence("Cam", count=5)
        while kernel.is_sequence_running("Cam"):
            kernel.wait_for("Cam")
        with caplog.at_level(logging.WARNING, logger="mmkernel.camera"):
            kernel.set_buffer_size("Cam", 2)
            kernel.events.flush()
        assert "5 unread frames discarded by set_buffer_size" in caplog.text
        with pytest.raises(StreamEnded):
            kernel.pop_next("Cam", timeout=0.1)


def test_pop_without_a_sequence_and_unload_while_streaming(kernel: Kernel) -> None:
    camera(kernel)
    with pytest.raises(StreamEnded, match="no sequence has been started"):
        kernel.pop_next("Cam")
    kernel.start_sequence("Cam")
    kernel.unload("Cam")
    assert kernel.devices() == ["Core"]


def test_released_frames_cannot_be_read_but_copies_can(kernel: Kernel) -> None:
    from mmkernel_core import FrameReleasedError

    camera(kernel)
    kernel.start_sequence("Cam", count=2)
    frame = kernel.pop_next("Cam")
    kept = frame.copy()
    frame.release()
    with pytest.raises(FrameReleasedError, match="frame 0 of camera 'Cam' was released"):
        frame.array  # noqa: B018
    assert (kept.array == 0).all()


def test_stream_waits_longer_than_the_deadline_for_slow_frames() -> None:
    """A time-lapse whose interval exceeds the kernel's deadline still streams."""
    with Kernel(timeout=0.05, buffer_mb=4) as kernel:
        camera(kernel)
        with kernel.stream("Cam", count=3, interval_ms=100) as stream:
            assert [frame.meta.number for frame in stream] == [0, 1, 2]
        with pytest.raises(Exception, match="no frame within"):
            kernel.start_sequence("Cam", count=2, interval_ms=200)
            kernel.pop_next("Cam")
            kernel.pop_next("Cam")  # plain pop_next keeps the kernel deadline


class ExposingCamera(Camera):
    """Takes its exposure time for every frame, as a real sensor does."""

    def frame_shape(self) -> tuple[int, ...]:
        return (8, 8)

    def frame_dtype(self) -> np.dtype:
        return np.dtype(np.uint16)

    def read_frame(self, out: np.ndarray) -> None:
        time.sleep(self.Exposure / 1000.0)  # models the exposure
        out[...] = 3


def test_snap_allows_for_the_exposure_in_its_default_deadline() -> None:
    with Kernel(timeout=0.2) as kernel:
        kernel.load_device("C", ExposingCamera())
        kernel.initialize("C")
        kernel.set_property("C", "Exposure", 400.0)  # twice the kernel's whole deadline
        assert kernel.snap("C").mean() == 3
        assert kernel.device_health("C").ok


def test_a_call_stuck_behind_a_hung_frame_read_says_so() -> None:
    from mmkernel_core import DeviceFaultedError, DeviceTimeoutError

    gate = Gate()
    with Kernel(timeout=5, buffer_mb=4) as kernel:
        camera(kernel, gate=gate)
        kernel.start_sequence("Cam")
        gate.wait_entered()
        with pytest.raises(DeviceTimeoutError, match="queued behind 'frame read' on 'Cam'"):
            kernel.set_property("Cam", "Width", 40, timeout=0.1)
        # the frame read has now overrun a whole deadline: the camera is faulted, calls fail fast
        assert kernel.device_health("Cam").state == "faulted"
        with pytest.raises(DeviceFaultedError, match="'Cam' is faulted: 'frame read' on 'Cam' overran"):
            kernel.set_property("Cam", "Width", 40)
        kernel.stop_sequence("Cam")  # registered; takes effect when the read returns
        gate.release.set()
        assert drain(kernel, "Cam") == [0]  # the sequence ended after the read that hung
        assert kernel.device_health("Cam").ok
