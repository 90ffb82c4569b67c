"""Helpers adapter authors would otherwise write by hand: step conversion declared once for
stages, channel families (one set of properties per channel), declared as PyMeasure's are, and a
query that asks once more when one reply is lost (serial and VISA alike)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mmkernel_core import DeviceError, Kernel, PropertyError
from mmkernel_sdk import Channel, Generic, Stage, XYStage, channels, prop
from mmkernel_sdk.resources import SerialPort, VisaInstrument
from mmkernel_sdk.testing import DirectHarness
from mmkernel_sdk.testing.sim import LineSimulator, command, publish, serve_tcp, unpublish


@pytest.fixture
def kernel() -> Iterator[Kernel]:
    with Kernel(timeout=5) as k:
        yield k


# -- steps_per_um ------------------------------------------------------------------------------
class Stepper(Stage):
    """A focus drive with 0.1 um steps"""

    steps_per_um = 10

    def __init__(self) -> None:
        self.steps = 0
        self.sent: list[int] = []

    def set_position_steps(self, steps: int) -> None:
        self.sent.append(steps)
        self.steps = steps

    def get_position_steps(self) -> int:
        return self.steps


class SteppingTable(XYStage):
    """An XY table with 0.5 um steps in x and 0.2 um steps in y"""

    steps_per_um = (2.0, 5.0)

    def __init__(self) -> None:
        self.steps = (0, 0)

    def set_xy_position_steps(self, x_steps: int, y_steps: int) -> None:
        self.steps = (x_steps, y_steps)

    def get_xy_position_steps(self) -> tuple[int, int]:
        return self.steps


def test_a_stage_declaring_steps_per_um_moves_in_steps_and_reports_micrometres(kernel: Kernel) -> None:
    device = Stepper()
    kernel.load_device("Z", device)
    kernel.initialize("Z")
    kernel.set_position("Z", 12.34)
    assert device.sent == [123]  # rounded to the nearest step
    assert kernel.get_position("Z") == pytest.approx(12.3)
    kernel.set_relative_position("Z", -0.26)
    assert device.steps == 120 and kernel.get_property("Z", "Position") == pytest.approx(12.0)


def test_an_xy_stage_converts_each_axis_with_its_own_steps(kernel: Kernel) -> None:
    device = SteppingTable()
    kernel.load_device("XY", device)
    kernel.initialize("XY")
    kernel.set_xy_position("XY", 10.0, -3.1)
    assert device.steps == (20, -16)  # -3.1 um * 5 steps/um = -15.5 -> -16 (nearest, half to even)
    assert kernel.get_xy_position("XY") == pytest.approx((10.0, -3.2))


@pytest.mark.parametrize("value", [0, -2.0, float("nan"), float("inf"), True, "10", (1.0, 2.0)])
def test_a_bad_steps_per_um_declaration_is_refused_where_the_class_is_made(value: object) -> None:
    with pytest.raises(ValueError, match=r"BadStage.steps_per_um = .*: it must be a finite number > 0"):
        type("BadStage", (Stage,), {"steps_per_um": value})


def test_a_stage_with_neither_steps_nor_positions_names_what_it_must_implement(kernel: Kernel) -> None:
    kernel.load_device("Z", type("Bare", (Stage,), {"__doc__": "A stage"})())
    kernel.initialize("Z")
    with pytest.raises(Exception, match=r"must implement set_position\(\)"):
        kernel.set_position("Z", 1.0)


# -- channels ----------------------------------------------------------------------------------
class LedSim(LineSimulator):
    """A three-LED source: `I<ch> <n>`, `I<ch>?`, `E<ch> <0|1>`, `E<ch>?`, `T<ch>?` (sets are not answered)."""

    read_terminator = write_terminator = "\r"

    def __init__(self) -> None:
        super().__init__()
        self.intensity = {"A": 0.0, "B": 0.0, "C": 0.0}
        self.enabled = {"A": 0, "B": 0, "C": 0}

    @command(r"I([ABC]) ([\d.]+)")
    def set_intensity(self, ch: str, value: str) -> None:
        self.intensity[ch] = float(value)

    @command(r"I([ABC])\?")
    def get_intensity(self, ch: str) -> str:
        return f"{self.intensity[ch]:.1f}"

    @command(r"E([ABC]) ([01])")
    def set_enabled(self, ch: str, value: str) -> None:
        self.enabled[ch] = int(value)

    @command(r"E([ABC])\?")
    def get_enabled(self, ch: str) -> str:
        return str(self.enabled[ch])

    @command(r"T([ABC])\?")
    def temperature(self, ch: str) -> str:
        return {"A": "30.5", "B": "31.0", "C": "29.5"}[ch]


class Led(Channel):
    """One LED of the source"""

    Intensity = prop(float, query="I{ch}?", write="I{ch} {}", limits=(0, 100), units="%")
    Enabled = prop(bool, query="E{ch}?", write="E{ch} {}")

    @prop(float, units="degC")
    def Temperature(self) -> float:
        return float(self.device.ask(f"T{self.id}?"))


class Source(Generic):
    """A light source with three LEDs"""

    port = SerialPort(terminator="\r")
    leds = channels(Led, ["A", "B", "C"])

    @prop(float, units="%")
    def Brightest(self) -> float:
        return max(led.Intensity for led in self.leds.values())

    @Brightest.setter
    def Brightest(self, value: float) -> None:
        for led in self.leds.values():
            led.Intensity = value  # adapter code sets each channel's property


@pytest.fixture
def source(kernel: Kernel) -> Iterator[tuple[Kernel, LedSim]]:
    simulator = LedSim()
    url = publish(simulator)
    kernel.load_device("Light", Source())
    kernel.set_property("Light", "Port", url)
    kernel.initialize("Light")
    yield kernel, simulator
    unpublish(url)


def test_a_channel_family_gives_each_channel_its_properties(source: tuple[Kernel, LedSim]) -> None:
    kernel, simulator = source
    names = set(kernel.property_names("Light"))
    assert {f"{p} {ch}" for p in ("Intensity", "Enabled", "Temperature") for ch in "ABC"} <= names
    kernel.set_property("Light", "Intensity B", 42.5)
    kernel.set_property("Light", "Enabled C", True)
    assert simulator.intensity == {"A": 0.0, "B": 42.5, "C": 0.0} and simulator.enabled["C"] == 1
    assert kernel.get_property("Light", "Temperature C") == 29.5  # a getter method sees its channel
    info = kernel.property_info("Light", "Intensity A")
    assert (info.limits, info.units) == ((0, 100), "%")
    with pytest.raises(PropertyError, match=r"device 'Light', property 'Intensity A'.*out of range"):
        kernel.set_property("Light", "Intensity A", 120)
    assert simulator.intensity["A"] == 0.0


def test_adapter_code_reads_and_sets_one_channel_and_the_kernel_hears_of_it(source: tuple[Kernel, LedSim]) -> None:
    kernel, simulator = source
    seen: list[tuple[str, str, object]] = []
    kernel.events.property_changed.connect(lambda *event: seen.append(event))
    kernel.set_property("Light", "Brightest", 20.0)
    assert simulator.intensity == dict.fromkeys("ABC", 20.0)
    kernel.events.flush()
    assert {("Light", f"Intensity {ch}", 20.0) for ch in "ABC"} <= set(seen)


def test_channel_names_follow_the_pattern_given_and_clashes_are_refused() -> None:
    class Named(Generic):
        port = SerialPort()
        leds = channels(Led, [1, 2], name="LED{ch} {name}")

    assert {"LED1 Intensity", "LED2 Temperature"} <= set(DirectHarness(Named()).names())
    with pytest.raises((ValueError, RuntimeError)) as clash:  # Python 3.11 wraps __set_name__ errors
        type("Clash", (Generic,), {"Intensity A": prop(float), "leds": channels(Led, ["A"])})
    cause = clash.value if isinstance(clash.value, ValueError) else clash.value.__cause__
    assert "channel 'A' property 'Intensity A' is already a property" in str(cause)
    with pytest.raises(ValueError, match=r"must hold both \{name\} and \{ch\}"):
        channels(Led, ["A"], name="LED {ch}")
    with pytest.raises(ValueError, match="distinct"):
        channels(Led, ["A", "A"])


# -- one lost reply ------------------------------------------------------------------------------
class MoverSim(LineSimulator):
    """A stage controller: `M <um>` starts a move (answers OK), `BUSY?` answers 1 until it ends."""

    read_terminator = write_terminator = "\r"

    def __init__(self) -> None:
        super().__init__()
        self.moving = False

    @command(r"M ([\d.]+)")
    def move(self, _um: str) -> str:
        self.moving = True
        return "OK"

    @command(r"BUSY\?")
    def busy(self) -> str:
        return "1" if self.moving else "0"


class Mover(Stage):
    """A stage whose busy poll survives one lost reply; `line` is its serial port or VISA instrument"""

    @property
    def line(self) -> Any:
        raise NotImplementedError

    def set_position(self, um: float) -> None:
        self.line.query(f"M {um}")

    def get_position(self) -> float:
        return 0.0

    def busy(self) -> bool:
        return self.line.query("BUSY?", retries=1) == "1"


class SerialMover(Mover):
    port = SerialPort(terminator="\r", answer_timeout_ms=150)
    line = property(lambda self: self.port)


class VisaMover(Mover):
    visa = VisaInstrument(read_termination="\r", write_termination="\r", timeout_ms=150)
    line = property(lambda self: self.visa)


@pytest.fixture(params=["serial", "visa"])
def mover(request: pytest.FixtureRequest, kernel: Kernel) -> Iterator[tuple[Kernel, MoverSim]]:
    if request.param == "serial":
        simulator = MoverSim()
        url = publish(simulator)
        kernel.load_device("Stage", SerialMover())
        kernel.set_property("Stage", "Port", url)
        kernel.initialize("Stage")
        yield kernel, simulator
        unpublish(url)
        return
    pytest.importorskip("pyvisa_py")
    with serve_tcp(MoverSim) as server:
        kernel.load_device("Stage", VisaMover())
        kernel.set_property("Stage", "Resource", server.visa_resource)
        kernel.set_property("Stage", "Backend", "@py")
        kernel.initialize("Stage")
        assert kernel.busy("Stage") is False  # answered: the server has made its simulator
        (simulator,) = server.simulators
        yield kernel, simulator
        kernel.unload("Stage")


def test_a_busy_poll_asks_again_when_one_reply_is_lost(mover: tuple[Kernel, MoverSim]) -> None:
    kernel, simulator = mover
    kernel.set_position("Stage", 5.0)
    asked = simulator.received.count("BUSY?")
    simulator.fail_next("silent")
    assert kernel.busy("Stage") is True  # the second ask was answered
    assert simulator.received.count("BUSY?") == asked + 2
    simulator.moving = False
    kernel.wait_for("Stage")  # the poll the kernel runs while someone waits uses it too
    assert kernel.busy("Stage") is False


def test_two_lost_replies_in_a_row_are_a_clear_timeout(mover: tuple[Kernel, MoverSim]) -> None:
    kernel, simulator = mover
    simulator.fail_next("silent", count=2)
    with pytest.raises(DeviceError, match=r"device 'Stage'.*no reply.*within.*'BUSY\?'"):
        kernel.busy("Stage")
    assert kernel.busy("Stage") is False  # the line is usable again
