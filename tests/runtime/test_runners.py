"""Thread confinement: one runner per device, hubs share, re-entrancy inline, cycles refused."""

from __future__ import annotations

import threading

import pytest

from mmkernel_core import DeadlockError, DeviceError, Kernel
from mmkernel_sdk import Generic, Hub, prop
from mmkernel_sdk.testing import SimShutter, SimStage


class ThreadRecorder(Generic):
    """Records the thread of every call into adapter code."""

    Value = prop(int, default=0)

    def __init__(self) -> None:
        self.threads: list[str] = []

    def initialize(self) -> None:
        self.threads.append(threading.current_thread().name)

    @Value.setter
    def Value(self, value: int) -> None:
        self.threads.append(threading.current_thread().name)


def test_every_adapter_call_runs_on_the_devices_own_thread(kernel: Kernel) -> None:
    recorder = ThreadRecorder()
    kernel.load_device("A", recorder)
    kernel.initialize("A")
    callers = [threading.Thread(target=kernel.set_property, args=("A", "Value", i)) for i in range(8)]
    for t in callers:
        t.start()
    for t in callers:
        t.join()
    assert len(recorder.threads) == 9
    assert set(recorder.threads) == {"mmkernel-runner-A"}


def test_independent_devices_get_independent_threads(kernel: Kernel) -> None:
    a, b = ThreadRecorder(), ThreadRecorder()
    kernel.load_device("A", a)
    kernel.load_device("B", b)
    kernel.initialize_all()
    assert a.threads == ["mmkernel-runner-A"]
    assert b.threads == ["mmkernel-runner-B"]


class Controller(Hub):
    """A hub whose peripherals call it directly."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def command(self, text: str) -> str:
        self.calls.append(threading.current_thread().name)
        return text.upper()


class Peripheral(Generic):
    Reply = prop(str, default="")

    @Reply.setter
    def Reply(self, value: str) -> None:
        self._reply = self.hub.command(value)


def test_hub_peripherals_share_the_hub_runner(kernel: Kernel) -> None:
    hub = Controller()
    kernel.load_device("Hub", hub)
    kernel.load_device("P1", Peripheral(), parent="Hub")
    kernel.load_device("P2", Peripheral(), parent="Hub")
    kernel.initialize_all()
    kernel.set_property("P1", "Reply", "x")
    kernel.set_property("P2", "Reply", "y")
    assert hub.calls == ["mmkernel-runner-Hub", "mmkernel-runner-Hub"]
    assert kernel.parent_label("P1") == "Hub"


def test_parent_must_be_a_loaded_hub(kernel: Kernel) -> None:
    kernel.load_device("Z", SimStage())
    with pytest.raises(Exception, match="'Z' is a Stage device, not a Hub"):
        kernel.load_device("P", Peripheral(), parent="Z")
    assert "P" not in kernel.devices()


class SelfCaller(Generic):
    """Calls the kernel about itself from its own runner: must run inline, not deadlock."""

    Target = prop(int, default=0)
    Mirror = prop(int, default=0)

    @Target.setter
    def Target(self, value: int) -> None:
        self.kernel.set_property(self.label, "Mirror", value)


def test_reentrant_call_on_own_runner_runs_inline(kernel: Kernel) -> None:
    kernel.load_device("S", SelfCaller())
    kernel.initialize("S")
    kernel.set_property("S", "Target", 7, timeout=2)
    assert kernel.get_property("S", "Mirror") == 7


class Opener(Generic):
    """Drives another device through the kernel from its own runner (like Multi Shutter)."""

    Open = prop(int, default=0, allowed=(0, 1))
    Partner = prop(str, default="")

    @Open.setter
    def Open(self, value: int) -> None:
        self.kernel.set_shutter_open(self.Partner, bool(value))


def test_cross_device_call_from_a_runner(kernel: Kernel) -> None:
    kernel.load_device("Shutter", SimShutter())
    kernel.load_device("Opener", Opener())
    kernel.initialize_all()
    kernel.set_property("Opener", "Partner", "Shutter")
    kernel.set_property("Opener", "Open", 1)
    assert kernel.get_shutter_open("Shutter") is True


class PingPong(Generic):
    """Sets the partner's property, whose setter sets ours back: a two-device cycle."""

    Ping = prop(int, default=0)
    Partner = prop(str, default="")

    @Ping.setter
    def Ping(self, value: int) -> None:
        if value > 0:
            self.kernel.set_property(self.Partner, "Ping", value - 1)


def test_cross_device_cycle_fails_fast_with_deadlock_error() -> None:
    with Kernel(timeout=20.0) as kernel:
        kernel.load_device("A", PingPong())
        kernel.load_device("B", PingPong())
        kernel.initialize_all()
        kernel.set_property("A", "Partner", "B")
        kernel.set_property("B", "Partner", "A")
        with pytest.raises(DeadlockError, match=r"cycle: .*A.*B.*A|cycle: .*B.*A.*B") as info:
            kernel.set_property("A", "Ping", 3)
        # refused well before the 20 s deadline, and both devices still answer afterwards
        assert "refused" in str(info.value)
        kernel.set_property("A", "Ping", 0, timeout=1)
        kernel.set_property("B", "Ping", 0, timeout=1)
        assert kernel.device_health("A").ok and kernel.device_health("B").ok


def test_cycle_across_three_devices_is_detected() -> None:
    with Kernel(timeout=20.0) as kernel:
        for label, partner in (("A", "B"), ("B", "C"), ("C", "A")):
            kernel.load_device(label, PingPong())
            kernel.initialize(label)
            kernel.set_property(label, "Partner", partner)
        with pytest.raises(DeadlockError):
            kernel.set_property("A", "Ping", 5)


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


class Exploder(Generic):
    Value = prop(int, default=0)

    @Value.setter
    def Value(self, value: int) -> None:
        if value < 0:
            raise RuntimeError(f"hardware refused {value}")


def test_adapter_exception_reaches_caller_as_device_error_and_runner_survives(kernel: Kernel) -> None:
    kernel.load_device("X", Exploder())
    kernel.initialize("X")
    with pytest.raises(DeviceError, match="device 'X': set Value failed: RuntimeError: hardware refused -1") as info:
        kernel.set_property("X", "Value", -1)
    assert isinstance(info.value.__cause__, RuntimeError)
    assert info.value.device == "X"
    assert kernel.get_property("X", "Value") == 0  # nothing half-applied
    kernel.set_property("X", "Value", 4)
    assert kernel.get_property("X", "Value") == 4
