"""Events: exactly once per real change (while subscribers keep up), in order, on the
notification thread, isolated. Backpressure (coalescing) is in test_event_backpressure.py."""

from __future__ import annotations

import logging
import threading

import pytest

from mmkernel_core import Kernel
from mmkernel_sdk import Generic, prop
from mmkernel_sdk.testing import SimShutter, SimStage, SimWheel, SimXYStage
from tests.support.devices import Holdable, hang


class Sensor(Generic):
    """Reports values on its own (hardware changes) and notifies inside its setter, like MM
    adapters calling OnPropertyChanged from their action handler."""

    Level = prop(int, default=0)

    @Level.setter
    def Level(self, value: int) -> None:
        self.notify("Level", value)  # the kernel's own post-set update must not duplicate this


def _record(kernel: Kernel) -> list[tuple]:
    seen: list[tuple] = []
    kernel.events.property_changed.connect(lambda *e: seen.append((*e, threading.current_thread().name)))
    return seen


def test_each_real_change_is_announced_exactly_once(kernel: Kernel) -> None:
    kernel.load_device("S", Sensor())
    kernel.initialize("S")
    seen = _record(kernel)
    kernel.set_property("S", "Level", 1)
    kernel.set_property("S", "Level", 1)  # no change: no event
    kernel.set_property("S", "Level", 2)
    kernel.get_property("S", "Level")  # a read that finds nothing new: no event
    kernel.update_cache()
    kernel.events.flush()
    assert [(label, name, value) for label, name, value, _ in seen] == [("S", "Level", 1), ("S", "Level", 2)]


def test_notify_from_a_foreign_thread_is_announced_once(kernel: Kernel) -> None:
    class Thermometer(Generic):
        def __init__(self) -> None:
            self.reading = 0

        @prop(int)
        def Level(self) -> int:
            return self.reading

        def on_hardware_report(self, value: int) -> None:  # runs on a vendor SDK's thread
            self.reading = value
            self.notify("Level", value)

    sensor = Thermometer()
    kernel.load_device("S", sensor)
    kernel.initialize("S")
    seen = _record(kernel)
    vendor_callback = threading.Thread(target=sensor.on_hardware_report, args=(7,))
    vendor_callback.start()
    vendor_callback.join()
    kernel.wait_for("S")
    kernel.update_cache()  # finds 7 already cached: no second event
    kernel.events.flush()
    assert [(e[1], e[2], e[3]) for e in seen] == [("Level", 7, "mmkernel-events")]
    assert kernel.get_property("S", "Level", from_cache=True) == 7


def test_notify_from_a_vendor_thread_never_raises_into_it(caplog: pytest.LogCaptureFixture) -> None:
    kernel = Kernel(timeout=5)
    held = Holdable()
    kernel.load_device("H", held)
    kernel.initialize("H")
    hang(kernel, "H", held)
    errors: list[BaseException] = []

    def vendor_thread() -> None:
        try:
            for value in range(5):
                held.notify("Value", value)
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    with caplog.at_level(logging.WARNING, logger="mmkernel.devices"):
        for _ in range(2):  # faulted, then closed
            thread = threading.Thread(target=vendor_thread, name="vendor-sdk")
            thread.start()
            thread.join(5)
            kernel.close()
    assert errors == []
    dropped = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert len(dropped) == 1 and "vendor-sdk" in dropped[0].getMessage()
    held.gate.release.set()


def test_adapter_assignment_in_its_own_code_is_announced_once(kernel: Kernel) -> None:
    class Counter(Generic):
        Count = prop(int, default=0)
        Bump = prop(int, default=0)

        @Bump.setter
        def Bump(self, value: int) -> None:
            self.Count = self.Count + value  # adapter-side assignment notifies the kernel

    kernel.load_device("C", Counter())
    kernel.initialize("C")
    seen = _record(kernel)
    kernel.set_property("C", "Bump", 3)
    kernel.events.flush()
    assert sorted((e[1], e[2]) for e in seen) == [("Bump", 3), ("Count", 3)]


def test_events_arrive_in_order_on_the_notification_thread(kernel: Kernel) -> None:
    kernel.load_device("S", Sensor())
    kernel.initialize("S")
    seen = _record(kernel)
    burst = kernel.events.bus.coalesce_after  # fewer changes than that are never coalesced
    for value in range(1, burst):
        kernel.submit.set_property("S", "Level", value)
    kernel.wait_for("S")
    kernel.events.flush()
    assert [e[2] for e in seen] == list(range(1, burst))
    assert {e[3] for e in seen} == {"mmkernel-events"}


def test_typed_events(kernel: Kernel) -> None:
    kernel.load_device("Z", SimStage())
    kernel.load_device("XY", SimXYStage())
    kernel.load_device("Shutter", SimShutter())
    kernel.load_device("Wheel", SimWheel())
    kernel.initialize_all()
    got: list[tuple] = []
    events = kernel.events
    events.stage_position_changed.connect(lambda *a: got.append(("z", *a)))
    events.xy_stage_position_changed.connect(lambda *a: got.append(("xy", *a)))
    events.shutter_changed.connect(lambda *a: got.append(("shutter", *a)))
    events.state_changed.connect(lambda *a: got.append(("state", *a)))
    kernel.set_position("Z", 5)
    kernel.set_relative_position("Z", 1.5)
    kernel.set_xy_position("XY", 1, 2)
    kernel.set_xy_position("XY", 1, 2)
    kernel.set_shutter_open("Shutter", True)
    kernel.set_state_label("Wheel", "State-2")
    kernel.events.flush()
    assert got == [
        ("z", "Z", 5.0),
        ("z", "Z", 6.5),
        ("xy", "XY", 1.0, 2.0),
        ("shutter", "Shutter", True),
        ("state", "Wheel", 2),
    ]


def test_state_and_label_both_announced(kernel: Kernel) -> None:
    kernel.load_device("Wheel", SimWheel())
    kernel.initialize("Wheel")
    seen = _record(kernel)
    kernel.set_state("Wheel", 4)
    kernel.events.flush()
    assert sorted((e[1], e[2]) for e in seen) == [("Label", "State-4"), ("State", 4)]


def test_a_failing_or_slow_callback_does_not_affect_devices_or_others(kernel: Kernel) -> None:
    kernel.load_device("Z", SimStage())
    kernel.initialize("Z")
    release = threading.Event()
    good: list[float] = []

    def broken(label: str, um: float) -> None:
        raise RuntimeError("subscriber bug")

    def slow(label: str, um: float) -> None:
        release.wait(10)

    kernel.events.stage_position_changed.connect(slow)
    kernel.events.stage_position_changed.connect(broken)
    kernel.events.stage_position_changed.connect(lambda label, um: good.append(um))
    for position in range(20):  # devices keep working while the callback is stuck
        kernel.set_position("Z", float(position), timeout=1.0)
    release.set()
    kernel.events.flush()
    assert good == [float(p) for p in range(1, 20)]


def test_disconnect_stops_delivery(kernel: Kernel) -> None:
    kernel.load_device("Z", SimStage())
    kernel.initialize("Z")
    seen: list[float] = []
    callback = kernel.events.stage_position_changed.connect(lambda label, um: seen.append(um))
    kernel.set_position("Z", 1)
    kernel.events.flush()
    kernel.events.stage_position_changed.disconnect(callback)
    kernel.set_position("Z", 2)
    kernel.events.flush()
    assert seen == [1.0]


def test_lifecycle_events(kernel: Kernel) -> None:
    got: list[tuple[str, str]] = []
    kernel.events.device_loaded.connect(lambda label: got.append(("loaded", label)))
    kernel.events.device_initialized.connect(lambda label: got.append(("initialized", label)))
    kernel.events.device_unloaded.connect(lambda label: got.append(("unloaded", label)))
    kernel.load_device("Z", SimStage())
    kernel.initialize("Z")
    kernel.unload("Z")
    kernel.events.flush()
    assert got == [("loaded", "Z"), ("initialized", "Z"), ("unloaded", "Z")]
