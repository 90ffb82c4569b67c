"""Deadlines instead of hangs: timeouts, faulted health, isolation, recovery, slow-call logs."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from mmkernel_core import DeviceFaultedError, DeviceTimeoutError, Kernel, LogEntry
from mmkernel_sdk import Generic, prop
from mmkernel_sdk.testing import Gate, SimStage


class Stuck(Generic):
    """Its `Value` getter blocks on a gate: a hung serial read."""

    Value = prop(int)

    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self.stuck = False

    @Value.getter
    def Value(self) -> int:
        if self.stuck:
            self.gate.hold()
        return 1


@pytest.fixture
def hung(kernel: Kernel, gate: Gate) -> Stuck:
    device = Stuck(gate)
    kernel.load_device("Hung", device)
    kernel.load_device("Z", SimStage())
    kernel.initialize_all()
    device.stuck = True
    return device


def test_hung_call_times_out_naming_device_and_operation(kernel: Kernel, hung: Stuck) -> None:
    started = time.monotonic()
    with pytest.raises(DeviceTimeoutError, match=r"device 'Hung': 'get Value' timed out") as info:
        kernel.get_property("Hung", "Value", timeout=0.2)
    assert time.monotonic() - started < 4.0  # well before the kernel default of 5 s
    assert info.value.device == "Hung" and info.value.operation == "get Value"
    health = kernel.device_health("Hung")
    assert health.state == "faulted" and "get Value" in health.detail


def test_faulted_device_refuses_new_calls_and_others_are_untouched(kernel: Kernel, hung: Stuck, gate: Gate) -> None:
    with pytest.raises(DeviceTimeoutError):
        kernel.get_property("Hung", "Value", timeout=0.2)
    with pytest.raises(DeviceFaultedError, match="'Hung' is faulted: 'get Value' on 'Hung' overran"):
        kernel.get_property("Hung", "Value")
    # the other device answers normally (many round trips well inside one deadline)
    for position in range(50):
        kernel.set_position("Z", float(position), timeout=1.0)
    assert kernel.get_position("Z") == 49.0
    assert kernel.device_health("Z").ok
    # cached reads never hop, so they work even while the device is hung
    assert kernel.get_property("Hung", "Name", from_cache=True) == "Stuck"


def test_runner_recovers_when_the_hung_call_returns(kernel: Kernel, hung: Stuck, gate: Gate) -> None:
    recovered = []
    kernel.add_log_callback(recovered.append, level=logging.WARNING)
    with pytest.raises(DeviceTimeoutError):
        kernel.get_property("Hung", "Value", timeout=0.2)
    hung.stuck = False
    gate.release.set()
    kernel.wait_for("Hung", timeout=5)
    assert kernel.device_health("Hung").ok
    assert kernel.get_property("Hung", "Value") == 1
    kernel.events.flush()
    assert any("recovered" in e.message and e.device == "Hung" for e in recovered)


def test_queued_calls_behind_a_hung_call_time_out_and_never_run(kernel: Kernel, gate: Gate) -> None:
    class Recorder(Generic):
        Value = prop(int, default=0)

        def __init__(self) -> None:
            self.applied: list[int] = []

        @Value.setter
        def Value(self, value: int) -> None:
            if value == 0:
                gate.hold()
            self.applied.append(value)

    device = Recorder()
    kernel.load_device("R", device)
    kernel.initialize("R")
    blocker = kernel.submit.set_property("R", "Value", 0, timeout=30)
    gate.wait_entered()
    queued = kernel.submit.set_property("R", "Value", 5, timeout=0.2)
    with pytest.raises(DeviceTimeoutError, match="still queued behind 'set Value'"):
        queued.result(timeout=5)
    gate.release.set()
    blocker.result(timeout=5)
    kernel.wait_for("R")
    assert device.applied == [0]  # the expired request was skipped, not applied late


def test_futures_face_times_out_without_anyone_waiting(kernel: Kernel, hung: Stuck) -> None:
    future = kernel.submit.get_property("Hung", "Value", timeout=0.2)
    assert isinstance(future.exception(timeout=5), DeviceTimeoutError)


def test_asyncio_face_times_out(kernel: Kernel, hung: Stuck) -> None:
    async def read() -> int:
        return await kernel.aio.get_property("Hung", "Value", timeout=0.2)

    with pytest.raises(DeviceTimeoutError):
        asyncio.run(read())


def test_default_timeout_applies_and_is_configurable(gate: Gate) -> None:
    with Kernel(timeout=0.2) as kernel:
        device = Stuck(gate)
        kernel.load_device("Hung", device)
        kernel.initialize("Hung")
        device.stuck = True
        with pytest.raises(DeviceTimeoutError, match=r"after 0\.\d+ s"):
            kernel.get_property("Hung", "Value")
        kernel.default_timeout = 3.0
        assert kernel.default_timeout == 3.0
        with pytest.raises(ValueError, match="positive, finite"):
            kernel.default_timeout = 0


@pytest.mark.parametrize("bad", [0, -1, float("inf"), float("nan"), "1", True])
def test_invalid_timeouts_are_rejected(kernel: Kernel, bad: object) -> None:
    kernel.load_device("Z", SimStage())
    kernel.initialize("Z")
    with pytest.raises(ValueError, match="timeout must be a positive, finite number"):
        kernel.set_position("Z", 1.0, timeout=bad)  # type: ignore[arg-type]


def test_watchdog_logs_slow_calls(gate: Gate) -> None:
    entries: list[LogEntry] = []
    with Kernel(timeout=5, slow_call_s=0.01) as kernel:
        kernel.add_log_callback(entries.append, level=logging.WARNING)

        class Slowish(Generic):
            @prop(int)
            def Value(self) -> int:
                gate.hold(0.05)  # nobody releases it: models a 50 ms hardware reply
                return 1

        kernel.load_device("Slow", Slowish())
        kernel.initialize("Slow")
        kernel.get_property("Slow", "Value")
        kernel.events.flush()
    slow = [e for e in entries if "slow call: 'get Value'" in e.message]
    assert slow and slow[-1].device == "Slow" and "budget 0.010 s" in slow[-1].message


def test_a_call_the_adapter_expects_to_be_long_is_not_a_slow_call(gate: Gate) -> None:
    """`expect_duration` widens the slow-call budget of that one call (a homing run is not
    slow); the next call has the kernel's budget again."""
    entries: list[LogEntry] = []
    with Kernel(timeout=5, slow_call_s=0.01) as kernel:
        kernel.add_log_callback(entries.append, level=logging.WARNING)

        class Homing(Generic):
            expected = True

            @prop(int)
            def Value(self) -> int:
                if self.expected:
                    self.expect_duration(30.0)
                gate.hold(0.05)  # nobody releases it: models a 50 ms hardware reply
                return 1

        device = Homing()
        kernel.load_device("Slow", device)
        kernel.initialize("Slow")
        kernel.get_property("Slow", "Value")
        device.expected = False
        kernel.get_property("Slow", "Value")
        kernel.events.flush()
    slow = [e for e in entries if "slow call: 'get Value'" in e.message]
    assert len(slow) == 1 and "budget 0.010 s" in slow[0].message
