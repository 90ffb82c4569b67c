"""Unloading while other things happen: calls queued behind an unload fail without reaching the
device, an unload that times out in the queue still shuts the device down (and leaves nothing to
the next device on its label), a hub cannot go while a peripheral is loading onto it and names a
stuck one, unload_all returns when a shutdown overruns, and verbs spanning devices, or submitted
from other threads, settle while devices come and go."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from mmkernel_core import (
    DeviceStateError,
    DeviceTimeoutError,
    Kernel,
    KernelClosedError,
    MMKernelError,
    PropertyError,
    UnknownDeviceError,
    UnloadError,
)
from mmkernel_sdk import Generic, Hub, prop
from mmkernel_sdk.testing import Gate, SimShutter, SimStage
from tests.support.devices import Held, Holdable, Live, hold_runner


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


def test_a_camera_whose_unload_timed_out_in_the_queue_leaves_nothing_to_the_next_one_on_its_label() -> None:
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


class StuckShutdown(SimShutter):
    def __init__(self, gate: Gate) -> None:
        super().__init__()
        self.gate = gate

    def shutdown(self) -> None:
        self.gate.hold()


def test_unload_all_returns_when_a_hub_peripheral_shutdown_overruns(gate: Gate) -> None:
    with Kernel(timeout=0.3) as kernel:
        kernel.load_device("Hub", Hub())
        kernel.load_device("P", StuckShutdown(gate), parent="Hub")
        kernel.load_device("Z", SimStage())
        kernel.initialize_all()
        with pytest.raises(UnloadError) as info:
            kernel.unload_all()
        assert "P" in info.value.failures and "timed out" in str(info.value.failures["P"])
        assert kernel.devices() == ["Core"]
        # deadlines still fire afterwards
        held = Holdable()
        kernel.load_device("H", held)
        kernel.initialize("H")
        held.hold = True
        with pytest.raises(DeviceTimeoutError):
            kernel.get_property("H", "Value", timeout=0.1)
        held.gate.release.set()
        gate.release.set()


def test_verbs_spanning_devices_treat_a_device_unloaded_meanwhile_as_gone(kernel: Kernel, gate: Gate) -> None:
    held = Holdable(gate)
    kernel.load_device("Hub", Hub())
    kernel.load_device("A", held, parent="Hub")
    kernel.load_device("B", SimStage(), parent="Hub")
    kernel.initialize("Hub")
    kernel.initialize("A")
    held.hold = True
    blocker = kernel.submit.get_property("A", "Value")  # holds the shared runner
    gate.wait_entered()
    unload = kernel.submit.unload("B")  # queued, runs before everything below
    init = kernel.submit.initialize_all()  # snapshot still holds B (not initialized)
    refresh = kernel.submit.update_cache()
    waiting = kernel.submit.wait_for_system(timeout=5)
    held.hold = False
    gate.release.set()
    assert blocker.result(5) == 1 and unload.result(5) is None
    assert init.result(5) is None  # B vanished: not an initialization failure
    assert refresh.result(5) is None
    assert waiting.result(5) is None  # and no false timeout for it


def test_spanning_verbs_survive_devices_coming_and_going() -> None:
    with Kernel(timeout=5) as kernel:
        stop = threading.Event()
        errors: list[BaseException] = []

        def churn() -> None:
            n = 0
            while not stop.is_set():
                label = f"S{n % 7}"
                try:
                    kernel.load_device(label, SimStage())
                    kernel.initialize(label)
                    kernel.unload(label)
                except (DeviceStateError, KernelClosedError, PropertyError, LookupError):
                    pass  # racing our own other verbs: refused cleanly is fine
                except BaseException as error:  # noqa: BLE001
                    errors.append(error)
                n += 1

        worker = threading.Thread(target=churn, daemon=True)
        worker.start()
        try:
            for _ in range(150):
                for action in (kernel.wait_for_system, kernel.update_cache, kernel.initialize_all):
                    try:
                        action()
                    except (DeviceStateError, LookupError):
                        pass
        finally:
            stop.set()
            worker.join(10)
        assert not errors, errors


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
