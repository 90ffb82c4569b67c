"""The cache: every get/set updates it, from_cache never hops, the refresh is parallel."""

from __future__ import annotations

import threading

import pytest

from mmkernel_core import Kernel, PropertyError, RefreshError
from mmkernel_sdk import Generic, prop
from mmkernel_sdk.testing import Gate, SimStage, SimXYStage
from tests.support.devices import SerialWheel


class Rendezvous(Generic):
    """All instances' getters meet at one barrier: only a parallel refresh can pass it."""

    def __init__(self, barrier: threading.Barrier, reads: list[str]) -> None:
        self.barrier = barrier
        self.reads = reads
        self.meet = False

    @prop(int)
    def Value(self) -> int:
        self.reads.append(self.label)
        if self.meet:
            self.barrier.wait(5)
        return 1


def test_update_cache_asks_every_runner_at_once(kernel: Kernel) -> None:
    barrier = threading.Barrier(6)
    reads: list[str] = []
    devices = [Rendezvous(barrier, reads) for _ in range(6)]
    for index, device in enumerate(devices):
        kernel.load_device(f"D{index}", device)
    kernel.initialize_all()
    reads.clear()
    for device in devices:
        device.meet = True
    kernel.update_cache(timeout=10)  # sequential reads would break the barrier
    assert sorted(reads) == [f"D{i}" for i in range(6)]
    assert not barrier.broken


def test_get_and_set_update_the_cache(kernel: Kernel) -> None:
    kernel.load_device("Z", SimStage())
    kernel.load_device("XY", SimXYStage())
    kernel.initialize_all()
    kernel.set_position("Z", 3)
    assert kernel.get_property("Z", "Position", from_cache=True) == 3.0
    assert kernel.get_position("Z", from_cache=True) == 3.0
    kernel.set_xy_position("XY", 4, 5)
    assert kernel.get_xy_position("XY", from_cache=True) == (4.0, 5.0)
    state = kernel.system_state()
    assert state["Z"]["Position"] == 3.0 and state["Z"]["Name"] == "SimStage"
    state["Z"]["Position"] = 99  # a snapshot, not a live view
    assert kernel.system_state()["Z"]["Position"] == 3.0


def test_from_cache_never_hops_even_while_the_device_is_stuck(kernel: Kernel, gate: Gate) -> None:
    class Stuck(Generic):
        Value = prop(int, default=4)
        Hold = prop(int, default=0)

        @Hold.setter
        def Hold(self, value: int) -> None:
            gate.hold()

    kernel.load_device("S", Stuck())
    kernel.initialize("S")
    future = kernel.submit.set_property("S", "Hold", 1)
    gate.wait_entered()
    assert kernel.get_property("S", "Value", from_cache=True) == 4
    assert kernel.submit.get_property("S", "Value", from_cache=True).result(timeout=1) == 4
    gate.release.set()
    future.result(timeout=5)


def test_update_cache_picks_up_hardware_changes(kernel: Kernel) -> None:
    stage = SimStage()
    kernel.load_device("Z", stage)
    kernel.initialize("Z")
    stage._z = 42.0  # moved by hand, behind the kernel's back
    assert kernel.get_position("Z", from_cache=True) == 0.0
    kernel.update_cache()
    assert kernel.get_position("Z", from_cache=True) == 42.0


def test_update_cache_reads_a_state_devices_position_once(kernel: Kernel) -> None:
    wheel = SerialWheel()
    kernel.load_device("W", wheel)
    kernel.initialize("W")
    wheel.position_reads = 0
    kernel.update_cache()
    assert wheel.position_reads == 1


def test_update_cache_reports_unreadable_values_and_refreshes_the_rest(kernel: Kernel) -> None:
    class Flaky(Generic):
        @prop(int)
        def Broken(self) -> int:
            if self.label == "F" and getattr(self, "fail", False):
                raise OSError("serial timeout")
            return 0

    flaky = Flaky()
    stage = SimStage()
    kernel.load_device("F", flaky)
    kernel.load_device("Z", stage)
    kernel.initialize_all()
    flaky.fail = True
    stage._z = 7.0
    with pytest.raises(RefreshError, match=r"F\.Broken: serial timeout") as info:
        kernel.update_cache()
    assert [(label, name) for label, name, _ in info.value.failures] == [("F", "Broken")]
    assert kernel.get_position("Z", from_cache=True) == 7.0


def test_missing_cache_entry_is_a_clear_error(kernel: Kernel) -> None:
    with pytest.raises(PropertyError, match="device 'Nope', property 'X': no cached value"):
        kernel.get_property("Nope", "X", from_cache=True)


def test_unload_forgets_cached_values(kernel: Kernel) -> None:
    kernel.load_device("Z", SimStage())
    kernel.initialize("Z")
    kernel.unload("Z")
    assert "Z" not in kernel.system_state()
