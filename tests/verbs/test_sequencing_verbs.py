"""Hardware sequences through the kernel: sequence_max_length, load/start/stop_property_sequence
(and "XYPosition" for XY stages) on all three faces. Every value is checked before the device
sees any; the device gets the whole list or nothing; a stop leaves the cache right; concurrent
callers never overlap in adapter code; an adapter's failure is a DeviceError and the runner lives."""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import Any

import pytest

from mmkernel_core import DeviceError, DeviceStateError, Kernel, PropertyError
from mmkernel_sdk import Generic, Stage, XYStage, prop
from mmkernel_sdk.testing import ConcurrencyProbe


class SeqStage(Stage):
    """A focus drive with a 4-point sequence; its Trigger steps it (as Micro-Manager's demo)."""

    position_sequence_max = 4
    Trigger = prop(str, default="-", allowed=("+", "-"))

    def __init__(self) -> None:
        self.z = 0.0
        self.calls: list[tuple[str, Any]] = []
        self.sequence: list[float] = []
        self.index = 0
        self.running = False
        self.probe = ConcurrencyProbe()

    def initialize(self) -> None:
        self.set_limits("Position", -100.0, 100.0)

    def set_position(self, um: float) -> None:
        with self.probe.enter():
            self.z = um

    def get_position(self) -> float:
        with self.probe.enter():
            return self.z

    def load_position_sequence(self, positions: list[float]) -> None:
        with self.probe.enter():
            self.calls.append(("load", list(positions)))
            self.sequence, self.index = list(positions), 0

    def start_position_sequence(self) -> None:
        with self.probe.enter():
            self.calls.append(("start", None))
            self.running, self.index = True, 0

    def stop_position_sequence(self) -> None:
        with self.probe.enter():
            self.calls.append(("stop", None))
            self.running = False

    @Trigger.setter
    def Trigger(self, value: str) -> None:
        """One trigger: the hardware moves on its own, the kernel is not told (until stop)."""
        with self.probe.enter():
            if value == "+" and self.running and self.sequence:
                self.z = self.sequence[self.index]
                self.index = (self.index + 1) % len(self.sequence)


class SeqXY(XYStage):
    xy_sequence_max = 3

    def __init__(self) -> None:
        self.xy = (0.0, 0.0)
        self.calls: list[tuple[str, Any]] = []

    def set_xy_position(self, x_um: float, y_um: float) -> None:
        self.xy = (x_um, y_um)

    def get_xy_position(self) -> tuple[float, float]:
        return self.xy

    def load_xy_sequence(self, points: list[tuple[float, float]]) -> None:
        self.calls.append(("load", list(points)))

    def start_xy_sequence(self) -> None:
        self.calls.append(("start", None))

    def stop_xy_sequence(self) -> None:
        self.calls.append(("stop", None))
        self.xy = (7.0, 8.0)  # where the sequence left it


class PlainXY(SeqXY):
    xy_sequence_max = 0


class Lamp(Generic):
    """Voltage and Color are sequenceable; Gain is not."""

    Voltage = prop(float, default=0.0, limits=(0.0, 10.0), units="V", sequence_max=5)
    Color = prop(str, default="red", allowed=("red", "green", "blue"), sequence_max=3)
    Gain = prop(int, default=1)

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []

    def load_property_sequence(self, name: str, values: list[Any]) -> None:
        self.calls.append(("load", name, list(values)))

    def start_property_sequence(self, name: str) -> None:
        self.calls.append(("start", name, None))

    def stop_property_sequence(self, name: str) -> None:
        self.calls.append(("stop", name, None))


class Interrupt(BaseException):
    """Not an Exception: a KeyboardInterrupt-like escape from adapter code."""


class Faulty(Generic):
    Voltage = prop(float, default=0.0, sequence_max=8)

    def __init__(self) -> None:
        self.raise_: BaseException | None = None

    def load_property_sequence(self, name: str, values: list[Any]) -> None:
        if self.raise_ is not None:
            raise self.raise_

    def start_property_sequence(self, name: str) -> None:
        if self.raise_ is not None:
            raise self.raise_

    def stop_property_sequence(self, name: str) -> None:
        if self.raise_ is not None:
            raise self.raise_


@pytest.fixture
def lamp(kernel: Kernel) -> Lamp:
    device = Lamp()
    kernel.load_device("Lamp", device)
    kernel.initialize("Lamp")
    return device


@pytest.fixture
def stage(kernel: Kernel) -> SeqStage:
    device = SeqStage()
    kernel.load_device("Z", device)
    kernel.initialize("Z")
    return device


def test_sequence_max_length_says_what_can_sequence(kernel: Kernel, lamp: Lamp, stage: SeqStage) -> None:
    kernel.load_device("XY", SeqXY())
    kernel.load_device("Plain", PlainXY())
    assert kernel.sequence_max_length("Lamp", "Voltage") == 5
    assert kernel.sequence_max_length("Lamp", "Color") == 3
    assert kernel.sequence_max_length("Lamp", "Gain") == 0
    assert kernel.sequence_max_length("Z", "Position") == 4
    assert kernel.sequence_max_length("XY", "XYPosition") == 3
    assert kernel.sequence_max_length("Plain", "XYPosition") == 0
    assert kernel.property_info("Z", "Position").sequence_max == 4
    with pytest.raises(PropertyError, match=r"no property 'Voltag'.*did you mean 'Voltage'"):
        kernel.sequence_max_length("Lamp", "Voltag")


def test_a_sequence_loads_typed_starts_and_stops(kernel: Kernel, lamp: Lamp) -> None:
    kernel.load_property_sequence("Lamp", "Voltage", ["1.5", 2, 3.25])
    kernel.start_property_sequence("Lamp", "Voltage")
    kernel.stop_property_sequence("Lamp", "Voltage")
    kernel.load_property_sequence("Lamp", "Color", ("blue", "red"))
    assert lamp.calls == [
        ("load", "Voltage", [1.5, 2.0, 3.25]),
        ("start", "Voltage", None),
        ("stop", "Voltage", None),
        ("load", "Color", ["blue", "red"]),
    ]


def test_the_submit_and_aio_faces_run_the_same_verbs(kernel: Kernel, lamp: Lamp) -> None:
    assert kernel.submit.load_property_sequence("Lamp", "Voltage", [1, 2]).result(5) is None
    assert kernel.submit.sequence_max_length("Lamp", "Voltage").result(5) == 5

    async def scenario() -> int:
        await kernel.aio.start_property_sequence("Lamp", "Voltage")
        await kernel.aio.stop_property_sequence("Lamp", "Voltage")
        return await kernel.aio.sequence_max_length("Lamp", "Color")  # type: ignore[no-any-return]

    assert asyncio.run(scenario()) == 3
    assert [call[0] for call in lamp.calls] == ["load", "start", "stop"]
    with pytest.raises(PropertyError, match="index 1"):
        kernel.submit.load_property_sequence("Lamp", "Voltage", [1, 11]).result(5)


@pytest.mark.parametrize(
    ("name", "values", "message"),
    [
        ("Voltage", [1, 2, 11, 3], r"value 11 is out of range; allowed: number within \[0, 10\] V.*index 2 of 4"),
        ("Voltage", [1, "high"], r"value 'high' is not a valid number.*index 1 of 2"),
        ("Voltage", [1, float("nan")], r"index 1 of 2"),
        ("Color", ["red", "pink"], r"value 'pink' is not one of the allowed values; allowed: one of \['red', "),
        ("Voltage", [1, 2, 3, 4, 5, 6], r"a sequence of 6 values is not allowed; allowed: 1 to 5 values"),
        ("Voltage", [], r"a sequence of 0 values is not allowed"),
        ("Voltage", "1,2", r"a sequence must be a list of values"),
        ("Voltage", 3.0, r"a sequence must be a list of values"),
        ("Gain", [1, 2], r"property 'Gain': cannot run a hardware sequence.*sequenceable: Color, Voltage"),
    ],
)
def test_bad_sequences_are_refused_before_the_device_sees_them(
    kernel: Kernel, lamp: Lamp, name: str, values: Any, message: str
) -> None:
    with pytest.raises(PropertyError, match=message) as caught:
        kernel.load_property_sequence("Lamp", name, values)
    assert caught.value.device == "Lamp" and caught.value.property == name
    assert lamp.calls == []  # nothing half-applied: the device was sent nothing


def test_start_and_stop_of_what_cannot_sequence_are_refused(kernel: Kernel, lamp: Lamp) -> None:
    for verb in (kernel.start_property_sequence, kernel.stop_property_sequence):
        with pytest.raises(PropertyError, match="'Gain': cannot run a hardware sequence"):
            verb("Lamp", "Gain")
    assert lamp.calls == []


def test_a_device_not_initialized_is_refused(kernel: Kernel) -> None:
    lamp = Lamp()
    kernel.load_device("Lamp", lamp)
    for call in (
        lambda: kernel.load_property_sequence("Lamp", "Voltage", [1]),
        lambda: kernel.start_property_sequence("Lamp", "Voltage"),
        lambda: kernel.stop_property_sequence("Lamp", "Voltage"),
    ):
        with pytest.raises(DeviceStateError, match="'Lamp' is not initialized"):
            call()
    assert lamp.calls == []


def test_a_stage_sequence_runs_and_its_stop_leaves_the_cache_right(kernel: Kernel, stage: SeqStage) -> None:
    seen: list[float] = []
    kernel.events.property_changed.connect(
        lambda label, name, value: seen.append(value) if name == "Position" else None
    )
    with pytest.raises(PropertyError, match=r"value 150 is out of range.*index 1 of 2"):
        kernel.load_property_sequence("Z", "Position", [10, 150])
    kernel.load_property_sequence("Z", "Position", [10, 20, 30])
    kernel.start_property_sequence("Z", "Position")
    for _ in range(2):
        kernel.set_property("Z", "Trigger", "+")  # the hardware steps; the kernel is not told
    assert kernel.get_position("Z", from_cache=True) == 0.0  # stale while the sequence runs
    kernel.stop_property_sequence("Z", "Position")  # mid-way: stopped at 20
    assert kernel.get_position("Z", from_cache=True) == 20.0
    kernel.events.flush(timeout=2)
    assert seen == [20.0]
    assert [call[0] for call in stage.calls] == ["load", "start", "stop"]


def test_xy_sequences_take_checked_pairs(kernel: Kernel) -> None:
    xy = SeqXY()
    xy.set_xy_limits(-50, 50, -50, 50)
    kernel.load_device("XY", xy)
    kernel.initialize("XY")
    for bad, message in (
        ([(1, 2), (3,)], r"value \(3,\) is not an \(x, y\) pair.*index 1 of 2"),
        ([(1, 2), (3, 4), (60, 0)], r"'X position': value 60.0 is out of range.*index 2 of 3"),
        ([(1, "y")], r"'Y position': value 'y' is not a valid number.*index 0 of 1"),
        ([(0, 0)] * 4, r"a sequence of 4 values is not allowed; allowed: 1 to 3 values"),
    ):
        with pytest.raises(PropertyError, match=message):
            kernel.load_property_sequence("XY", "XYPosition", bad)
    assert xy.calls == []
    kernel.load_property_sequence("XY", "XYPosition", [(1, 2), ["3", 4.5]])
    kernel.start_property_sequence("XY", "XYPosition")
    kernel.stop_property_sequence("XY", "XYPosition")
    assert xy.calls == [("load", [(1.0, 2.0), (3.0, 4.5)]), ("start", None), ("stop", None)]
    assert kernel.get_xy_position("XY", from_cache=True) == (7.0, 8.0)
    kernel.load_device("Plain", PlainXY())
    kernel.initialize("Plain")
    with pytest.raises(PropertyError, match="'XYPosition': cannot run a hardware sequence"):
        kernel.load_property_sequence("Plain", "XYPosition", [(0, 0)])


@pytest.mark.parametrize("error", [RuntimeError("controller said no"), Interrupt("pulled the plug")])
def test_an_adapter_failing_is_a_device_error_and_the_runner_lives(kernel: Kernel, error: BaseException) -> None:
    device = Faulty()
    kernel.load_device("F", device)
    kernel.initialize("F")
    device.raise_ = error
    for op, call in (
        ("load sequence Voltage", lambda: kernel.load_property_sequence("F", "Voltage", [1, 2])),
        ("start sequence Voltage", lambda: kernel.start_property_sequence("F", "Voltage")),
        ("stop sequence Voltage", lambda: kernel.stop_property_sequence("F", "Voltage")),
    ):
        with pytest.raises(DeviceError, match=f"device 'F': {op} failed: {type(error).__name__}: ") as caught:
            call()
        assert caught.value.__cause__ is error
    device.raise_ = None
    kernel.load_property_sequence("F", "Voltage", [1, 2])  # the same runner still serves
    kernel.set_property("F", "Voltage", 3)
    assert kernel.get_property("F", "Voltage") == 3.0
    assert kernel.device_health("F").state == "ok"


def test_an_adapter_without_the_methods_gets_a_clear_error(kernel: Kernel) -> None:
    class Forgetful(Stage):
        position_sequence_max = 10

        def set_position(self, um: float) -> None:
            pass

        def get_position(self) -> float:
            return 0.0

    kernel.load_device("Z", Forgetful())
    kernel.initialize("Z")
    with pytest.raises(DeviceError, match=r"Forgetful \(Stage\) must implement load_position_sequence\(\)") as caught:
        kernel.load_property_sequence("Z", "Position", [1.0])
    assert isinstance(caught.value.__cause__, NotImplementedError)


def test_concurrent_callers_never_overlap_in_adapter_code(kernel: Kernel, stage: SeqStage) -> None:
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    errors: list[BaseException] = []
    stop = threading.Event()
    kernel.load_property_sequence("Z", "Position", [1, 2, 3, 4])
    kernel.start_property_sequence("Z", "Position")

    def trigger() -> None:  # the "camera": one trigger after another while the sequence runs
        while not stop.is_set():
            kernel.set_property("Z", "Trigger", "+")

    def caller(index: int) -> None:
        try:
            for n in range(40):
                kernel.load_property_sequence("Z", "Position", [index, n % 50, -index])
                kernel.start_property_sequence("Z", "Position")
                kernel.get_position("Z")
                if n % 3 == 0:
                    kernel.stop_property_sequence("Z", "Position")
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    try:
        triggering = threading.Thread(target=trigger)
        triggering.start()
        callers = [threading.Thread(target=caller, args=(i,)) for i in range(4)]
        for thread in callers:
            thread.start()
        for thread in callers:
            thread.join(30)
        stop.set()
        triggering.join(10)
    finally:
        sys.setswitchinterval(old)
    assert errors == []
    assert stage.probe.violations == 0 and len(stage.probe.threads) == 1
    assert stage.probe.entries > 4 * 40 * 3
    kernel.stop_property_sequence("Z", "Position")
    assert kernel.get_position("Z", from_cache=True) == stage.z
