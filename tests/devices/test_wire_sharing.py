"""One wire, one runner: devices whose ports name the same wire (directly, through a Micro-Manager
port device, or as a hub and its peripherals) end up on one worker thread, however many there
are, in whatever order they are initialized, and whatever other threads do meanwhile."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from mmkernel_core import Kernel
from mmkernel_core.runtime import _dispatch
from mmkernel_core.verbs._wires import WireSharing
from mmkernel_sdk import Generic, Hub, prop
from mmkernel_sdk.errors import KernelClosedError
from mmkernel_sdk.resources import Resource, SerialPort
from mmkernel_sdk.testing import Gate

WIRE = "loop://"


class Probe:
    """Counts adapter code running at once on the wire, and where it ran."""

    def __init__(self) -> None:
        self.inside = 0
        self.overlap = 0
        self.threads: dict[str, set[str]] = {}
        self.gates: dict[int, Gate] = {}

    def enter(self, label: str, value: int = 0) -> None:
        self.inside += 1
        if self.inside > 1:
            self.overlap += 1
        self.threads.setdefault(label, set()).add(threading.current_thread().name)
        try:
            gate = self.gates.get(value)
            if gate is not None:
                gate.hold(5)
        finally:
            self.inside -= 1


def box_class(probe: Probe) -> type[Generic]:
    class Box(Generic):
        """A box on a shared serial line"""

        port = SerialPort(terminator="\n", answer_timeout_ms=200)

        @prop(int, before_init=True)
        def Level(self) -> int:
            probe.enter(self.label)
            return 0

        @Level.setter
        def Level(self, value: int) -> None:
            probe.enter(self.label, value)

        def initialize(self) -> None:
            probe.enter(self.label)

    return Box


def load_boxes(k: Kernel, probe: Probe, labels: str) -> None:
    box = box_class(probe)
    for label in labels:
        k.load_device(label, box())
        k.set_property(label, "Port", WIRE)


def runner_of(k: Kernel, label: str) -> Any:
    return k._loaded(label).runner


@pytest.mark.parametrize("one_by_one", [False, True], ids=["initialize_all", "one_by_one"])
def test_three_devices_on_one_wire_end_up_on_one_runner(one_by_one: bool) -> None:
    probe = Probe()
    with Kernel(timeout=5) as k:
        load_boxes(k, probe, "ABC")
        probe.threads.clear()  # before initialize the wire is not open: each may use its own thread
        if one_by_one:
            for label in "ABC":
                k.initialize(label)
        else:
            k.initialize_all()
        assert runner_of(k, "A") is runner_of(k, "B") is runner_of(k, "C")
        assert len(set().union(*probe.threads.values())) == 1


def test_a_call_on_one_device_waits_for_a_call_on_another_on_the_same_wire() -> None:
    probe = Probe()
    probe.gates[7] = gate = Gate()
    with Kernel(timeout=5) as k:
        load_boxes(k, probe, "ABC")
        k.initialize_all()
        held = k.submit.set_property("A", "Level", 7)
        gate.wait_entered()
        others = [k.submit.set_property(label, "Level", 1) for label in "BC"]
        assert not any(f.done() for f in others)  # queued behind A: one thread owns the wire
        gate.release.set()
        held.result(5)
        for future in others:
            future.result(5)
        assert probe.overlap == 0


class WireHub(Hub):
    """A hub on a serial line"""

    port = SerialPort(terminator="\n", answer_timeout_ms=200)


class Child(Generic):
    """A hub peripheral (it calls its hub directly: it must live on the hub's thread)"""


def test_a_hub_that_moves_takes_its_peripherals_along() -> None:
    with Kernel(timeout=5) as k:
        load_boxes(k, Probe(), "O")
        k.initialize("O")
        k.load_device("Hub", WireHub())
        k.set_property("Hub", "Port", WIRE)
        k.load_device("Child", Child(), parent="Hub")
        k.initialize("Hub")
        assert runner_of(k, "Hub") is runner_of(k, "O") is runner_of(k, "Child")
        k.initialize("Child")


def test_a_hub_behind_a_port_device_keeps_its_peripherals() -> None:
    with Kernel(timeout=5, port_map={"COM1": WIRE}) as k:
        k.load_device("Hub", WireHub())
        k.load_device("COM1", "SerialManager", "COM1")
        k.set_property("Hub", "Port", "COM1")
        k.load_device("Child", Child())
        k.set_parent("Child", "Hub")
        k.initialize_all()
        assert runner_of(k, "COM1") is runner_of(k, "Hub") is runner_of(k, "Child")


def test_calls_queued_before_the_move_run_first_and_calls_during_it_follow_the_device(monkeypatch) -> None:
    """A pre-initialize set still queued on the old runner runs there first; a call another
    thread submits while the move is under way is forwarded to the new runner and runs after
    initialize, never beside it."""
    probe = Probe()
    probe.gates[1] = first = Gate()
    with Kernel(timeout=5) as k:
        load_boxes(k, probe, "A")
        k.initialize("A")
        load_boxes(k, probe, "B")
        old = runner_of(k, "B")
        queued_before = k.submit.set_property("B", "Level", 1)
        first.wait_entered()
        late: list[Any] = []
        real_move = WireSharing._move_runner

        def move_with_a_call_arriving(self: Any, movers: Any, source: Any, target: Any) -> None:
            caller = threading.Thread(target=lambda: late.append(k.submit.set_property("B", "Level", 2)))
            caller.start()
            caller.join(5)  # queued on the old runner, behind this move
            real_move(self, movers, source, target)

        monkeypatch.setattr(WireSharing, "_move_runner", move_with_a_call_arriving)
        initializing = threading.Thread(target=k.initialize, args=("B",))
        initializing.start()
        first.release.set()
        initializing.join(10)
        queued_before.result(5)
        late[0].result(5)
        assert k.device_info("B").initialized
        assert runner_of(k, "B") is runner_of(k, "A") and old.closed
        assert probe.overlap == 0
        assert probe.threads["B"] >= {old.thread_name, runner_of(k, "A").thread_name}


GATE = Gate()


class SlowWire(Resource):
    """A resource whose wire() is slow on one thread: the device table changes meanwhile."""

    def properties(self) -> list[Any]:
        return []

    def connect(self, device: Any) -> Any:
        return _Nothing()

    def wire(self, device: Any) -> str:
        if threading.current_thread().name == "initializer":
            GATE.hold(5)
        return f"slow:{device.label}"


class _Nothing:
    def open(self) -> None:
        pass

    def close(self) -> None:
        pass


class Slow(Generic):
    """Looked at while the other device on the wire is unloaded"""

    link = SlowWire()


def test_the_device_on_the_same_wire_unloaded_meanwhile_does_not_take_the_runner_down() -> None:
    probe = Probe()
    with Kernel(timeout=5) as k:
        k.load_device("S", Slow())
        load_boxes(k, probe, "A")
        k.initialize("A")
        load_boxes(k, probe, "B")
        errors: list[BaseException] = []

        def initialize_b() -> None:
            try:
                k.initialize("B")
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)

        worker = threading.Thread(target=initialize_b, name="initializer")
        worker.start()
        GATE.wait_entered()  # looking at the wires of the other devices, no lock held
        k.unload("A")
        GATE.release.set()
        worker.join(10)
        assert errors == [] and not runner_of(k, "B").closed
        k.set_property("B", "Level", 3)


def test_a_call_racing_the_close_of_the_old_runner_is_sent_to_the_new_one(monkeypatch) -> None:
    """A caller that read the old runner just before the move submits after it closed: the
    kernel sends the call where the device now lives instead of refusing it."""
    probe = Probe()
    with Kernel(timeout=5) as k:
        load_boxes(k, probe, "A")
        k.initialize("A")
        load_boxes(k, probe, "B")
        loaded = k._loaded("B")
        old = loaded.runner
        k.initialize("B")
        assert old.closed
        real_unpack = _dispatch._unpack

        def as_seen_before_the_move(target: Any) -> Any:
            return (target, old, target.label) if target is loaded else real_unpack(target)

        monkeypatch.setattr(_dispatch, "_unpack", as_seen_before_the_move)
        k.set_property("B", "Level", 3)
        assert probe.threads["B"] >= {runner_of(k, "A").thread_name}
        with pytest.raises(KernelClosedError, match="moved to runner"):
            k._dispatch.queue((old, "B"), "probe", lambda: None)  # no device to follow: refused
