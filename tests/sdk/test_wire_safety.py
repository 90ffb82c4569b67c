"""Nothing a user sets can inject commands on the wire: a value holding the terminator, a line
break, NUL or another control byte is refused before anything is written, naming the byte; the
same guard covers text an adapter formats into `port.write` / `query`; binary protocols opt out."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mmkernel_core import Kernel, PropertyError
from mmkernel_sdk import Generic, prop
from mmkernel_sdk.resources import SerialPort, VisaInstrument
from mmkernel_sdk.testing.sim import LineSimulator, command, publish, unpublish
from tests.support.paths import DATA

INJECTIONS = [
    ("x\rRESET", r"a carriage return \(\\r\), byte 0x0d, at index \d"),
    ("x\nRESET", r"a line feed \(\\n\), byte 0x0a"),
    ("a\x00b", r"NUL, byte 0x00"),
    ("a\x1bb", r"ESC, byte 0x1b"),
    ("a\x7f", r"DEL, byte 0x7f"),
]


class Recorder(LineSimulator):
    read_terminator = write_terminator = "\r"

    @command(r"NAME (.*)")
    def name(self, text: str) -> str:
        return "OK"

    @command(r"ESC\x1b")
    def escape(self) -> str:
        return "OK"


class Labelled(Generic):
    port = SerialPort(terminator="\r", answer_timeout_ms=300)
    Title = prop(str, write="NAME {}", doc="a command property: sent as NAME <value>")
    Note = prop(str, default="")

    @Note.setter
    def Note(self, value: str) -> None:  # an adapter formatting a value into its own command
        self.port.query(f"NAME {value}")

    Escape = prop(bool, default=False)

    @Escape.setter
    def Escape(self, value: bool) -> None:
        self.port.query("ESC\x1b", raw=True)  # a protocol that needs a control byte says so


@pytest.fixture
def recorded() -> Iterator[tuple[Kernel, Recorder]]:
    simulator = Recorder()
    url = publish(simulator)
    with Kernel(timeout=5) as kernel:
        kernel.load_device("Box", Labelled())
        kernel.set_property("Box", "Port", url)
        kernel.initialize("Box")
        yield kernel, simulator
    unpublish(url)


@pytest.mark.parametrize(("value", "named"), INJECTIONS, ids=["CR", "LF", "NUL", "ESC", "DEL"])
def test_a_command_property_refuses_a_value_that_would_end_the_command(
    recorded: tuple[Kernel, Recorder], value: str, named: str
) -> None:
    kernel, simulator = recorded
    with pytest.raises(PropertyError, match=rf"property 'Title': value .* holds {named}") as caught:
        kernel.set_property("Box", "Title", value)
    assert caught.value.property == "Title" and "without control characters" in str(caught.value)
    assert simulator.received == []  # nothing reached the wire
    kernel.set_property("Box", "Title", "plain text, even with spaces and ; = ,")
    assert simulator.received == ["NAME plain text, even with spaces and ; = ,"]


@pytest.mark.parametrize(("value", "named"), INJECTIONS, ids=["CR", "LF", "NUL", "ESC", "DEL"])
def test_text_an_adapter_formats_into_a_command_is_checked_too(
    recorded: tuple[Kernel, Recorder], value: str, named: str
) -> None:
    kernel, simulator = recorded
    with pytest.raises(PropertyError, match=rf"refusing to send 'NAME .*': it holds {named}"):
        kernel.set_property("Box", "Note", value)
    assert simulator.received == []


def test_a_protocol_that_needs_control_bytes_sends_them_raw(recorded: tuple[Kernel, Recorder]) -> None:
    kernel, simulator = recorded
    kernel.set_property("Box", "Escape", True)
    assert simulator.received == ["ESC\x1b"]


class VisaLabelled(Generic):
    visa = VisaInstrument(read_termination="\n", write_termination="\n", timeout_ms=300)
    Title = prop(str, write="NAME {}")
    Reading = prop(str, default="")

    @Reading.setter
    def Reading(self, value: str) -> None:
        self.visa.write(f"VOLT {value}")


def test_a_visa_command_property_refuses_control_bytes_before_writing() -> None:
    with Kernel(timeout=5) as kernel:
        kernel.load_device("Meter", VisaLabelled())
        kernel.set_property("Meter", "Resource", "ASRL1::INSTR")
        kernel.set_property("Meter", "Backend", f"{DATA / 'visa_meter.yaml'}@sim")
        kernel.initialize("Meter")
        with pytest.raises(PropertyError, match=r"carriage return"):
            kernel.set_property("Meter", "Title", "x\rRESET")
        with pytest.raises(PropertyError, match=r"refusing to send 'VOLT 1\\n\*RST'"):
            kernel.set_property("Meter", "Reading", "1\n*RST")
