"""Regressions found by a second reader trying to break the hardening change (issue 7)."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from mmkernel_core import DeviceStateError, DeviceTimeoutError, Kernel, MMKernelError, StreamEnded, UnloadError
from mmkernel_sdk import Camera, Generic, Hub, prop
from mmkernel_sdk.testing import Gate, SimShutter, SimStage


class Held(Generic):
    """`Value` reads hold on the gate while armed; shutdown is recorded."""

    Value = prop(float, default=0.0)

    def __init__(self, gate: Gate | None = None) -> None:
        self.gate = gate or Gate()
        self.armed = False
        self.shut = threading.Event()
        self.inits = 0

    def initialize(self) -> None:
        self.inits += 1

    @Value.getter
    def Value(self) -> float:
        if self.armed:
            self.gate.hold()
        return 1.0

    def shutdown(self) -> None:
        self.shut.set()


class Live(Camera):
    """Frames on demand (`permits`) or free-running; shape follows `roi`."""

    Slow = prop(float, default=0.0)

    def __init__(self, gate: Gate | None = None, stepped: bool = False) -> None:
        self.gate = gate or Gate()
        self.armed = False
        self.permits = threading.Semaphore(0) if stepped else None
        self.roi = (0, 0, 32, 16)
        self.mismatch: list[tuple[tuple[int, ...], tuple[int, ...]]] = []

    @Slow.getter
    def Slow(self) -> float:
        if self.armed:
            self.gate.hold()
        return 0.0

    def frame_shape(self) -> tuple[int, ...]:
        return (self.roi[3], self.roi[2])

    def frame_dtype(self) -> np.dtype:
        return np.dtype(np.uint8)

    def read_frame(self, out: np.ndarray) -> None:
        if self.permits is not None and not self.permits.acquire(timeout=10):
            raise TimeoutError("the test gave no permit")
        if out.shape != self.frame_shape():
            self.mismatch.append((out.shape, self.frame_shape()))
        out[...] = 1

    def set_roi(self, x: int, y: int, width: int, height: int) -> None:
        self.roi = (x, y, width, height)

    def clear_roi(self) -> None:
        self.roi = (0, 0, 32, 16)


def hold_runner(kernel: Kernel, label: str, device: Held | Live, prop_name: str = "Value", timeout: float = 30):
    """A call on `label` that stays running (within its deadline) until the gate opens."""
    device.armed = True
    call = kernel.submit.get_property(label, prop_name, timeout=timeout)
    device.gate.wait_entered()
    return call


# -- unloads that time out while queued --------------------------------------------------------
def test_an_unload_that_times_out_queued_still_shuts_the_device_down_later() -> None:
    with Kernel(timeout=5) as kernel:
        device = Held()
        kernel.load_device("D", device)
        kernel.initialize("D")
        running = hold_runner(kernel, "D", device)
        with pytest.raises(MMKernelError):
            kernel.unload("D", timeout=0.3)  # queued behind the running call, times out there
        assert "D" not in kernel.devices()
        device.gate.release.set()
        running.result(5)
        assert device.shut.wait(5), "shutdown() never ran: the hardware was never released"


def test_a_camera_unloaded_that_way_leaves_nothing_to_the_next_one_on_its_label() -> None:
    with Kernel(timeout=5, buffer_mb=1) as kernel:
        old = Live()
        kernel.load_device("Cam", old)
        kernel.initialize("Cam")
        kernel.set_buffer_size("Cam", 3)
        running = hold_runner(kernel, "Cam", old, "Slow")
        with pytest.raises(MMKernelError):
            kernel.unload("Cam", timeout=0.3)
        old.gate.release.set()
        running.result(5)
        kernel.load_device("Cam", Live())
        kernel.initialize("Cam")
        assert kernel.buffer_size("Cam") == 1


def test_a_peripheral_cannot_be_loaded_onto_a_hub_being_unloaded() -> None:
    with Kernel(timeout=5) as kernel:
        hub_gate = Gate()

        class SlowHub(Hub):
            Probe = prop(float, default=0.0)
            armed = False

            @Probe.getter
            def Probe(self) -> float:
                if self.armed:
                    hub_gate.hold()
                return 0.0

        hub = SlowHub()
        kernel.load_device("Hub", hub)
        kernel.initialize("Hub")
        hub.armed = True
        blocker = kernel.submit.get_property("Hub", "Probe")
        hub_gate.wait_entered()
        load = kernel.submit.load_device("P", Generic(), parent="Hub")
        with pytest.raises(DeviceStateError, match="is the hub of P"):
            kernel.unload("Hub")  # P is still loading onto it
        hub.armed = False
        hub_gate.release.set()
        blocker.result(5)
        load.result(5)
        kernel.unload_all()
        assert kernel.devices() == ["Core"]


def test_a_stuck_peripheral_is_named_when_its_hub_is_detached() -> None:
    gate = Gate()
    try:
        with Kernel(timeout=5) as kernel:
            kernel.load_device("H", Hub())
            peripheral = Held(gate)
            kernel.load_device("P", peripheral, parent="H")
            kernel.initialize_all()
            hold_runner(kernel, "P", peripheral, timeout=0.2)
            deadline = time.monotonic() + 5
            while kernel.device_health("H").state != "faulted":
                assert time.monotonic() < deadline
                kernel.events.flush()
            with pytest.raises(UnloadError) as info:
                kernel.unload_all()
            assert "'get Value' of 'P'" in str(info.value.failures["H"])
    finally:
        gate.release.set()


# -- close with a call stuck -------------------------------------------------------------------
def stuck_kernel() -> tuple[Kernel, Held, object]:
    kernel = Kernel(timeout=5)
    device = Held()
    kernel.load_device("D", device)
    kernel.initialize("D")
    hold_runner(kernel, "D", device, timeout=0.3)
    queued = kernel.submit.get_property("D", "Value", timeout=3.0)
    deadline = time.monotonic() + 5
    while kernel.device_health("D").state != "faulted":
        assert time.monotonic() < deadline
        kernel.events.flush()
    return kernel, device, queued


def test_calls_queued_behind_a_stuck_call_settle_when_the_kernel_closes() -> None:
    kernel, device, queued = stuck_kernel()
    try:
        kernel.close()
        assert isinstance(queued.exception(timeout=5), MMKernelError)  # type: ignore[attr-defined]
    finally:
        device.gate.release.set()


def test_done_callbacks_never_run_on_a_runner_after_close() -> None:
    kernel, device, queued = stuck_kernel()
    kernel.close()
    where: list[str] = []
    ran = threading.Event()
    queued.add_done_callback(lambda f: (where.append(threading.current_thread().name), ran.set()))  # type: ignore[attr-defined]
    device.gate.release.set()
    assert ran.wait(5)
    assert not where[0].startswith("mmkernel-runner"), where


# -- cancelling --------------------------------------------------------------------------------
def test_verbs_that_span_devices_or_act_at_once_cannot_be_cancelled(tmp_path: Path) -> None:
    with Kernel(timeout=5, buffer_mb=1) as kernel:
        device, camera = Held(), Live()
        kernel.load_device("D", device)
        kernel.load_device("Cam", camera)
        kernel.initialize_all()
        kernel.start_sequence("Cam", overflow="overwrite")
        running = hold_runner(kernel, "D", device)
        submit = kernel.submit
        for future in (submit.initialize_all(), submit.update_cache(), submit.stop_sequence("Cam")):
            assert future.cancel() is False and not future.cancelled()
        config = tmp_path / "x.cfg"
        config.write_text("Device,Z,Test,Stage\n")
        assert kernel.submit.load_config(config).cancel() is False
        device.gate.release.set()
        running.result(5)


# -- futures / asyncio pop_next ----------------------------------------------------------------
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


# -- auto-shutter ------------------------------------------------------------------------------
class RecordingShutter(SimShutter):
    def __init__(self) -> None:
        super().__init__()
        self.open_at_shutdown: bool | None = None

    def shutdown(self) -> None:
        self.open_at_shutdown = self._open


def test_closing_while_streaming_closes_the_shutter_first() -> None:
    for _ in range(10):
        shutter = RecordingShutter()
        kernel = Kernel(timeout=5, buffer_mb=1)
        kernel.load_device("Cam", Live())
        kernel.load_device("Shutter", shutter)
        kernel.initialize_all()
        kernel.set_role("Camera", "Cam")
        kernel.set_role("Shutter", "Shutter")
        kernel.start_sequence("Cam", overflow="overwrite")
        assert kernel.get_shutter_open("Shutter")
        kernel.close()
        assert shutter.open_at_shutdown is False


def test_two_cameras_share_the_auto_shutter() -> None:
    with Kernel(timeout=5, buffer_mb=1) as kernel:
        for label in ("Cam1", "Cam2"):
            kernel.load_device(label, Live())
        kernel.load_device("Shutter", SimShutter())
        kernel.initialize_all()
        kernel.set_role("Shutter", "Shutter")
        kernel.start_sequence("Cam1", overflow="overwrite")
        kernel.start_sequence("Cam2", overflow="overwrite")
        kernel.stop_sequence("Cam1")
        assert kernel.get_shutter_open("Shutter")  # Cam2 still holds it
        kernel.stop_sequence("Cam2")
        assert not kernel.get_shutter_open("Shutter")
        kernel.set_shutter_open("Shutter", True)  # opened by the user: left open
        kernel.snap("Cam1")
        assert kernel.get_shutter_open("Shutter")


# -- "not while streaming", decided on the runner ----------------------------------------------
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


# -- waits, logging, the CLI -------------------------------------------------------------------
class PreemptedLock:
    """A lock whose acquire on the main thread is first preempted for 20 ms."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        if threading.current_thread() is threading.main_thread():
            time.sleep(0.02)  # stands for the OS descheduling this thread right here
        self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


def test_a_wait_deadline_is_never_lost() -> None:
    with Kernel(timeout=5) as kernel:
        kernel.load_device("Z", SimStage(move_s=0.5))
        kernel.initialize("Z")
        kernel._devices["Z"].watch._lock = PreemptedLock()
        kernel.set_position("Z", 10.0)
        with pytest.raises(DeviceTimeoutError):
            kernel.wait_for("Z", timeout=0.001)


def test_kernel_log_records_are_never_handled_on_a_runner() -> None:
    threads: list[str] = []

    class Recorder(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            threads.append(threading.current_thread().name)

    handler = Recorder()
    logger = logging.getLogger("mmkernel")
    logger.addHandler(handler)
    try:
        with Kernel(timeout=5, buffer_mb=1) as kernel:
            kernel.load_device("Cam", Live())
            kernel.initialize("Cam")
            kernel.start_sequence("Cam", count=3)
            while kernel.is_sequence_running("Cam"):
                kernel.wait_for("Cam")
            kernel.start_sequence("Cam", count=3)  # warns: unread frames discarded
            kernel.stop_sequence("Cam")
            kernel.events.flush()
    finally:
        logger.removeHandler(handler)
    assert threads and not [t for t in threads if t.startswith("mmkernel-runner")]


@pytest.mark.parametrize(
    ("args", "shown"), [(("get", "Cam[/]", "Exposure"), "Cam[/]"), (("get", "Camera", "[bold]Expo"), "[bold]Expo")]
)
def test_cli_errors_show_what_the_user_typed(args: tuple[str, ...], shown: str) -> None:
    code = "import sys; from mmkernel_core.cli import main; sys.argv = ['mmkernel', *sys.argv[1:]]; main()"
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "COLUMNS": "200"})  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert shown in result.stderr
