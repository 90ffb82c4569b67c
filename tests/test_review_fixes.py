"""Regressions found in review: unload ordering, streaming teardown, cycles through wait_for,
failing sequence steps, phantom sequences, and rollback of a failed configuration."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mmkernel_core import (
    BufferOverflowError,
    ConfigError,
    DeadlockError,
    DeviceError,
    DeviceTimeoutError,
    Kernel,
    StreamEnded,
    UnknownDeviceError,
)
from mmkernel_sdk import Camera, Generic, Hub, prop
from mmkernel_sdk.plugin import AdapterSpec, DeviceSpec, hookimpl
from mmkernel_sdk.testing import Gate, SimStage


class Recording(SimStage):
    def __init__(self, gate: Gate) -> None:
        super().__init__()
        self.gate = gate
        self.shut = False
        self.calls_after_shutdown = 0

    def set_position(self, um: float) -> None:
        if self.shut:
            self.calls_after_shutdown += 1
        if um == 1:
            self.gate.hold()
        super().set_position(um)

    def shutdown(self) -> None:
        self.shut = True


def test_requests_queued_behind_an_unload_fail_and_never_reach_the_device() -> None:
    gate = Gate()
    with Kernel(timeout=5) as kernel:
        stage = Recording(gate)
        kernel.load_device("Z", stage)
        kernel.initialize("Z")
        blocker = kernel.submit.set_position("Z", 1)
        gate.wait_entered()
        unload = kernel.submit.unload("Z")
        late = kernel.submit.set_position("Z", 42)  # validated while Z was still loaded
        gate.release.set()
        blocker.result(timeout=5)
        unload.result(timeout=5)
        with pytest.raises(UnknownDeviceError, match="'Z' was unloaded before 'set_position' could run"):
            late.result(timeout=5)
        assert stage.calls_after_shutdown == 0
        assert "Z" not in kernel.system_state()


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


class Waiter(Generic):
    """Its setter waits for the partner device, whose setter calls back into this one."""

    Go = prop(int, default=0)
    Partner = prop(str, default="")

    @Go.setter
    def Go(self, value: int) -> None:
        if value == 1:
            self.kernel.set_property(self.Partner, "Go", 2)
        elif value == 2:
            self.kernel.wait_for(self.Partner)


def test_wait_for_across_a_cycle_is_refused_at_once() -> None:
    with Kernel(timeout=20) as kernel:
        for label, partner in (("A", "B"), ("B", "A")):
            kernel.load_device(label, Waiter())
            kernel.initialize(label)
            kernel.set_property(label, "Partner", partner)
        with pytest.raises(DeadlockError, match="cycle"):
            kernel.set_property("A", "Go", 1, timeout=15)
        assert kernel.device_health("A").ok and kernel.device_health("B").ok


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


class StagePlugin:
    @hookimpl
    def mmkernel_adapters(self) -> list[AdapterSpec]:
        return [AdapterSpec("Sim", "", [DeviceSpec("Stage", "Stage", "", SimStage)])]


def test_a_failing_startup_preset_rolls_everything_back(tmp_path: Path) -> None:
    config = tmp_path / "system.cfg"
    config.write_text(
        "Device,Z,Sim,Stage\nProperty,Core,Initialize,1\nProperty,Core,Focus,Z\nProperty,Core,TimeoutMs,250\n"
        "ConfigGroup,System,Startup,Z,Position,99999\n"
    )
    with Kernel(plugins=[StagePlugin()], discover=False, timeout=3) as kernel:
        with pytest.raises(ConfigError, match=r"after the last line: .*'Z', property 'Position': value '99999'"):
            kernel.load_config(config)
        assert kernel.devices() == ["Core"] and kernel.roles.focus == ""
        assert kernel.default_timeout == 3


def test_a_failing_unload_during_rollback_does_not_hide_the_config_error(tmp_path: Path) -> None:
    class Stubborn(SimStage):
        def shutdown(self) -> None:
            raise RuntimeError("port already gone")

    class Plugin:
        @hookimpl
        def mmkernel_adapters(self) -> list[AdapterSpec]:
            return [AdapterSpec("Sim", "", [DeviceSpec("Stage", "Stage", "", Stubborn)])]

    config = tmp_path / "system.cfg"
    config.write_text("Device,Z,Sim,Stage\nProperty,Core,Initialize,1\nProperty,Z,Position,5000\n")
    with Kernel(plugins=[Plugin()], discover=False) as kernel:
        with pytest.raises(ConfigError, match="line 3") as info:
            kernel.load_config(config)
        assert "could not be restored completely" in str(info.value) and "port already gone" in str(info.value)
        assert kernel.devices() == ["Core"]


def test_submissions_racing_an_unload_all_settle() -> None:
    """Every future settles (result or error) even when submitted while the device goes away."""
    with Kernel(timeout=5) as kernel:
        futures: list[Any] = []
        for _ in range(20):
            kernel.load_device("Z", SimStage())
            kernel.initialize("Z")
            stop = threading.Event()

            def submit(stop: threading.Event = stop) -> None:
                while not stop.is_set():
                    try:
                        futures.append(kernel.submit.get_position("Z"))
                    except Exception:  # noqa: BLE001 - refusals at submit time are fine
                        return

            thread = threading.Thread(target=submit)
            thread.start()
            kernel.unload("Z")
            stop.set()
            thread.join()
        for future in futures:
            future.exception(timeout=10)  # raises TimeoutError if any never settles
