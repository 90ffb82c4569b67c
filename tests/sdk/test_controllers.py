"""Controllers with several devices: one device's command can move the others (a home of every
axis, a controller reset), so a device can tell the kernel its siblings' properties changed, and
the devices of one controller share one state object."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest

from mmkernel_core import Kernel, LogEntry, PropertyError
from mmkernel_sdk import Generic, Hub, Stage, XYStage, prop
from mmkernel_sdk.resources import SerialPort, Shared, open_keys
from mmkernel_sdk.testing.sim import LineSimulator, command, publish, unpublish


class ThreeAxisSim(LineSimulator):
    """One controller with axes X, Y, Z: `M <axis> <um>`, `P <axis>?`, `HOME` (every axis to 0)."""

    read_terminator = write_terminator = "\r"

    def __init__(self) -> None:
        super().__init__()
        self.at = {"X": 0.0, "Y": 0.0, "Z": 0.0}

    @command(r"M ([XYZ]) (-?[\d.]+)")
    def move(self, axis: str, um: str) -> str:
        self.at[axis] = float(um)
        return "OK"

    @command(r"P ([XYZ])\?")
    def where(self, axis: str) -> str:
        return f"{self.at[axis]:.3f}"

    @command(r"HOME")
    def home(self) -> str:
        self.at = dict.fromkeys(self.at, 0.0)
        return "OK"


class Axes:
    """What one controller's devices share."""

    def __init__(self) -> None:
        self.homed = False
        self.closed = False

    def close(self) -> None:
        self.closed = True


class Focus(Stage):
    """The controller's Z axis"""

    port = SerialPort(terminator="\r")
    controller = Shared(Axes)

    def set_position(self, um: float) -> None:
        self.port.query(f"M Z {um}")

    def get_position(self) -> float:
        return float(self.port.query("P Z?"))


class Table(XYStage):
    """The controller's X and Y axes; its home homes every axis"""

    port = SerialPort(terminator="\r")
    controller = Shared(Axes)

    def set_xy_position(self, x_um: float, y_um: float) -> None:
        self.port.query(f"M X {x_um}")
        self.port.query(f"M Y {y_um}")

    def get_xy_position(self) -> tuple[float, float]:
        return float(self.port.query("P X?")), float(self.port.query("P Y?"))

    def home(self) -> None:
        self.port.query("HOME")
        self.controller.homed = True
        for other in self.siblings():
            other.invalidate("Position")


@pytest.fixture
def controller() -> Iterator[tuple[Kernel, ThreeAxisSim]]:
    simulator = ThreeAxisSim()
    url = publish(simulator)
    with Kernel(timeout=5) as kernel:
        for label, device in (("Table", Table()), ("Focus", Focus())):
            kernel.load_device(label, device)
            kernel.set_property(label, "Port", url)
        kernel.initialize_all()
        yield kernel, simulator
    unpublish(url)


def test_a_home_of_every_axis_keeps_the_other_devices_cache_and_events_right(
    controller: tuple[Kernel, ThreeAxisSim],
) -> None:
    kernel, simulator = controller
    kernel.set_position("Focus", 50.0)
    kernel.events.flush()
    seen: list[tuple[str, str, object]] = []
    kernel.events.property_changed.connect(lambda *event: seen.append(event))
    kernel.home("Table")
    kernel.wait_for("Focus")  # its runner has run the re-read queued after the home
    assert simulator.at["Z"] == 0.0
    assert kernel.get_property("Focus", "Position", from_cache=True) == 0.0
    kernel.events.flush()
    assert seen.count(("Focus", "Position", 0.0)) == 1


def test_the_devices_of_one_controller_share_one_state_until_the_last_one_goes(
    controller: tuple[Kernel, ThreeAxisSim],
) -> None:
    kernel, _ = controller
    table, focus = (kernel.internals.device_object(label) for label in ("Table", "Focus"))
    state = focus.controller  # type: ignore[attr-defined]
    assert table.controller is state  # type: ignore[attr-defined]
    kernel.home("Table")
    assert state.homed  # what the XY stage did, the focus drive knows
    kernel.unload("Table")
    assert not state.closed
    kernel.unload("Focus")
    assert state.closed and open_keys() == []


def test_devices_on_other_controllers_have_their_own_state() -> None:
    urls = [publish(ThreeAxisSim()) for _ in range(2)]
    with Kernel(timeout=5) as kernel:
        for index, url in enumerate(urls):
            kernel.load_device(f"Z{index}", Focus())
            kernel.set_property(f"Z{index}", "Port", url)
        kernel.initialize_all()
        first, second = (kernel.internals.device_object(f"Z{n}") for n in range(2))
        assert first.controller is not second.controller  # type: ignore[attr-defined]
        assert first.siblings() == [] and second.siblings() == []
    for url in urls:
        unpublish(url)


def test_shared_state_outside_initialize_to_shutdown_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match=r"device 'Focus': shared state 'controller' exists from just before"):
        _ = Focus().controller


class Lamp(Generic):
    """A peripheral of the hub"""

    Level = prop(int, default=0)


class Box(Hub):
    """A controller with peripherals"""


def test_a_hubs_peripherals_are_siblings_of_each_other_and_of_the_hub() -> None:
    with Kernel(timeout=5) as kernel:
        kernel.load_device("Box", Box())
        kernel.load_device("A", Lamp(), parent="Box")
        kernel.load_device("B", Lamp(), parent="Box")
        kernel.load_device("Alone", Lamp())
        kernel.initialize_all()
        found = {label: [d.label for d in kernel.internals.device_object(label).siblings()] for label in "AB"}
        assert found == {"A": ["Box", "B"], "B": ["Box", "A"]}
        assert [d.label for d in kernel.internals.device_object("Box").siblings()] == ["A", "B"]
        assert kernel.internals.device_object("Alone").siblings() == []


def test_invalidating_a_property_the_device_does_not_have_names_it() -> None:
    with pytest.raises(PropertyError, match=r"device 'Focus' has no property 'Positon'.*did you mean 'Position'"):
        Focus().invalidate("Positon")


class Drifting(Generic):
    """A sensor whose reading a vendor callback invalidates"""

    def __init__(self) -> None:
        self.reading = 1.0
        self.read_on: list[str] = []
        self.fault: BaseException | None = None

    @prop(float)
    def Reading(self) -> float:
        self.read_on.append(threading.current_thread().name)
        if self.fault is not None:
            fault, self.fault = self.fault, None
            raise fault
        return self.reading


def test_invalidate_from_a_vendor_thread_re_reads_on_the_devices_own_thread() -> None:
    with Kernel(timeout=5) as kernel:
        device = Drifting()
        kernel.load_device("Sensor", device)
        kernel.initialize("Sensor")
        device.reading, device.read_on = 2.5, []
        vendor = threading.Thread(target=device.invalidate, args=("Reading",), name="vendor-callback")
        vendor.start()
        vendor.join()
        kernel.wait_for("Sensor")
        assert kernel.get_property("Sensor", "Reading", from_cache=True) == 2.5
        assert device.read_on and "vendor-callback" not in device.read_on


@pytest.mark.parametrize("fault", [RuntimeError("lost"), KeyboardInterrupt(), SystemExit(3), GeneratorExit()])
def test_a_re_read_that_fails_is_logged_and_the_device_goes_on(fault: BaseException) -> None:
    entries: list[LogEntry] = []
    with Kernel(timeout=5) as kernel:
        kernel.add_log_callback(entries.append, level=logging.WARNING)
        device = Drifting()
        kernel.load_device("Sensor", device)
        kernel.initialize("Sensor")
        device.fault = fault
        device.invalidate()
        kernel.wait_for("Sensor")
        device.reading = 4.0
        assert kernel.get_property("Sensor", "Reading") == 4.0  # the runner survived
        kernel.events.flush()
    failed = [e for e in entries if "unreadable after invalidate()" in e.message]
    assert len(failed) == 1 and failed[0].device == "Sensor" and repr(fault) in failed[0].message


class ZReadout(Generic):
    """A command property on a device that also shares its controller's state"""

    port = SerialPort(terminator="\r")
    controller = Shared(Axes)
    Z = prop(float, query="P Z?")


def test_command_properties_of_a_device_with_shared_state_use_its_one_port() -> None:
    """Shared state is not a connection: ask() and tell() still find the device's one port."""
    simulator = ThreeAxisSim()
    simulator.at["Z"] = 12.5
    url = publish(simulator)
    with Kernel(timeout=5) as kernel:
        kernel.load_device("Readout", ZReadout())
        kernel.set_property("Readout", "Port", url)
        kernel.initialize("Readout")
        assert kernel.get_property("Readout", "Z") == 12.5
    unpublish(url)
