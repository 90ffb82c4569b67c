"""The standard busy query, wait_for, wait_for_system and post-set delays: every wait keeps its own
deadline, and how often busy is polled is a per-device setting."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from mmkernel_core import DeviceTimeoutError, Kernel, PropertyError
from mmkernel_sdk import Generic, prop
from mmkernel_sdk.testing import Gate, SimShutter, SimStage, SimXYStage
from tests.support.devices import SerialWheel


class Blocking(Generic):
    """A blocking adapter (no busy() override) whose setter waits on a gate."""

    Value = prop(int, default=0)

    def __init__(self, gate: Gate) -> None:
        self.gate = gate

    @Value.setter
    def Value(self, value: int) -> None:
        if value:
            self.gate.hold()


def test_busy_while_a_call_is_executing_or_queued(kernel: Kernel, gate: Gate) -> None:
    kernel.load_device("B", Blocking(gate))
    kernel.initialize("B")
    assert kernel.busy("B") is False
    first = kernel.submit.set_property("B", "Value", 1)
    gate.wait_entered()
    queued = kernel.submit.set_property("B", "Value", 0)
    assert kernel.busy("B") is True
    gate.release.set()
    first.result(timeout=5)
    queued.result(timeout=5)
    kernel.wait_for("B")
    assert kernel.busy("B") is False


def test_adapter_busy_is_polled_by_wait_for() -> None:
    # move_s is simulated hardware motion; wait_for must return only once the stage has arrived
    with Kernel(timeout=5, busy_poll_s=0.001) as kernel:
        stage = SimStage(move_s=0.05)
        kernel.load_device("Z", stage)
        kernel.initialize("Z")
        kernel.set_position("Z", 10)
        assert kernel.busy("Z") is True
        kernel.wait_for("Z")
        assert stage.busy() is False
        assert kernel.busy("Z") is False


def test_busy_poll_interval_is_a_per_device_setting(kernel: Kernel) -> None:
    wheel = SerialWheel()
    kernel.load_device("W", wheel)
    kernel.initialize("W")
    assert kernel.busy_poll_interval("W") == 0.1  # the adapter class's setting
    kernel.set_state("W", 3)
    kernel.wait_for("W")
    assert wheel.queries <= 6  # 0.3 s at one query per 0.1 s (the kernel default would be ~60)
    kernel.set_busy_poll_interval("W", 0.05)
    assert kernel.busy_poll_interval("W") == 0.05
    with pytest.raises(PropertyError, match="busy poll interval must be a finite number of seconds > 0"):
        kernel.set_busy_poll_interval("W", 0)


def test_xy_stage_busy_while_moving(kernel: Kernel) -> None:
    kernel.load_device("XY", SimXYStage(move_s=0.05))
    kernel.initialize("XY")
    kernel.set_xy_position("XY", 1, 2)
    assert kernel.busy("XY")
    kernel.wait_for("XY")
    assert kernel.get_xy_position("XY") == (1.0, 2.0)
    assert not kernel.busy("XY")


def test_wait_for_times_out_naming_the_device(kernel: Kernel) -> None:
    kernel.load_device("Z", SimStage(move_s=30))
    kernel.initialize("Z")
    kernel.set_position("Z", 1)
    with pytest.raises(DeviceTimeoutError, match="device 'Z': wait_for timed out"):
        kernel.wait_for("Z", timeout=0.1)


def test_wait_for_times_out_with_the_reason_and_others_are_unaffected(kernel: Kernel) -> None:
    kernel.load_device("Moving", SimStage(move_s=60.0))
    kernel.initialize("Moving")
    kernel.set_position("Moving", 5.0)
    with pytest.raises(DeviceTimeoutError, match="'Moving': wait_for timed out \\(the device still reports busy\\)"):
        kernel.wait_for("Moving", timeout=0.1)


def test_a_thousand_pending_waits_do_not_delay_a_wait_on_an_idle_device() -> None:
    kernel = Kernel(timeout=30)
    moving = SimStage(move_s=60.0)
    calls = {"busy": 0}
    original = moving.busy

    def counted() -> bool:
        calls["busy"] += 1
        return original()

    moving.busy = counted  # type: ignore[method-assign]
    kernel.load_device("Moving", moving)
    kernel.load_device("Idle", SimStage())
    kernel.initialize_all()
    kernel.set_busy_poll_interval("Moving", 60.0)
    kernel.set_position("Moving", 10.0)
    threads_before = threading.active_count()
    waits = [kernel.submit.wait_for("Moving", timeout=30) for _ in range(1000)]
    kernel.wait_for("Idle", timeout=0.5)  # returns at once, no false "still reports busy"
    assert threading.active_count() <= threads_before + 2  # no thread per wait
    assert not any(w.done() for w in waits)
    assert calls["busy"] <= 3  # one poll serves every waiter
    kernel.close()  # the stage goes away: its waits are over, none is left hanging
    for w in waits:
        assert w.result(timeout=5) is None


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


def test_wait_for_system_waits_in_parallel_and_names_the_busy_device(kernel: Kernel) -> None:
    kernel.load_device("Slow", SimStage(move_s=30))
    kernel.load_device("Fast", SimStage(move_s=0.02))
    kernel.load_device("Shutter", SimShutter())
    kernel.initialize_all()
    kernel.set_position("Fast", 1)
    kernel.wait_for_system()
    kernel.set_position("Slow", 1)
    kernel.set_position("Fast", 2)
    with pytest.raises(DeviceTimeoutError, match="still busy: Slow") as info:
        kernel.wait_for_system(timeout=0.2)
    assert "Fast" not in str(info.value).split("(")[0]


def test_post_set_delay_reads_busy_for_that_long(kernel: Kernel) -> None:
    kernel.load_device("Shutter", SimShutter())
    kernel.initialize("Shutter")
    kernel.set_device_delay("Shutter", 50)
    assert kernel.get_device_delay("Shutter") == 50
    started = time.monotonic()
    kernel.set_shutter_open("Shutter", True)
    assert kernel.busy("Shutter") is True
    kernel.wait_for("Shutter")
    assert time.monotonic() - started >= 0.05
    assert kernel.busy("Shutter") is False


def test_negative_delay_is_rejected(kernel: Kernel) -> None:
    kernel.load_device("Shutter", SimShutter())
    with pytest.raises(PropertyError, match="'Shutter': delay must be a finite number of ms >= 0, not -1"):
        kernel.set_device_delay("Shutter", -1)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1, "5"])
def test_delays_must_be_finite(kernel: Kernel, bad: Any) -> None:
    kernel.load_device("S", SimShutter())
    with pytest.raises(PropertyError, match="delay must be a finite number of ms >= 0"):
        kernel.set_device_delay("S", bad)
    assert kernel.get_device_delay("S") == 0.0


def test_wait_for_from_the_devices_own_thread_waits_inline_for_its_busy() -> None:
    """Adapter code (or a hub sibling) on the device's own runner can wait for the device: the
    runner is busy with the caller itself, so only the adapter's busy() and the delay count."""

    class SelfWaiting(SimStage):
        def set_position(self, um: float) -> None:
            super().set_position(um)
            self.kernel.wait_for(self.label)  # blocks until the simulated move is over

    with Kernel(timeout=5, busy_poll_s=0.001) as kernel:
        stage = SelfWaiting(move_s=0.03)
        kernel.load_device("Z", stage)
        kernel.initialize("Z")
        kernel.set_position("Z", 5)
        assert stage.busy() is False
