"""The serial line under every SerialPort: what has arrived is read even with no time left, a
late reply never answers the next command, a vanished port is a PortError naming the device,
and a Micro-Manager port device's settings apply to the devices using it (and cannot change
under them)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mmkernel_core import Kernel, PortError, PortTimeoutError, PropertyError
from mmkernel_sdk import Generic, prop
from mmkernel_sdk.resources import SerialPort, _serial
from mmkernel_sdk.testing import DirectHarness
from mmkernel_sdk.testing.sim import LineSimulator, Reply, command, open_simulator, publish, unpublish


class Echo(Generic):
    """Talks to itself over loop://"""

    port = SerialPort(terminator="\r", answer_timeout_ms=200)


@pytest.fixture
def echo() -> Iterator[DirectHarness]:
    h = DirectHarness(Echo())
    h.set("Port", "loop://")
    h.initialize(refresh=False)
    try:
        yield h
    finally:
        h.shutdown()


def test_a_reply_that_has_arrived_is_read_with_no_time_left(echo: DirectHarness) -> None:
    port = echo.device.port
    port.write("OK")
    assert port.read_until(timeout_ms=0) == "OK"
    echo.set("AnswerTimeout", 0.0)
    port.write("AGAIN")
    assert port.read_until() == "AGAIN"
    port.write("AB", terminator=False)
    assert port.read_bytes(2, timeout_ms=0) == b"AB"


def test_a_partial_reply_with_no_time_left_is_a_timeout_showing_what_came(echo: DirectHarness) -> None:
    port = echo.device.port
    port.write("HALF", terminator=False)
    expected = r"no reply ending in b'\\r' within \d+ ms after sending 'HALF'; got b'HALF'"
    with pytest.raises(PortTimeoutError, match=expected):
        port.read_until(timeout_ms=0)


def test_the_read_timeout_is_not_reconfigured_for_every_chunk(echo: DirectHarness, monkeypatch) -> None:
    """pyserial reconfigures the port on every timeout change; a long read polls at one
    fixed timeout instead of setting a new remaining time before each chunk."""
    line = echo.device.port._line
    changes: list[float] = []
    real = type(line)._set_timeout

    def counting(self: Any, seconds: float) -> None:
        if seconds != self._timeout:
            changes.append(seconds)
        real(self, seconds)

    monkeypatch.setattr(type(line), "_set_timeout", counting)
    with pytest.raises(PortTimeoutError):
        echo.device.port.read_until(timeout_ms=400)  # 8 polls of 50 ms
    assert len(changes) <= 2, changes  # the poll interval, then at most the short last one


class Controller(LineSimulator):
    read_terminator = write_terminator = "\r"
    late = False

    @command(r"TEMP\?")
    def temperature(self) -> object:
        if self.late:
            self.late = False
            return Reply("85", delay_s=0.35)  # after the 200 ms answer timeout
        return "21"

    @command(r"GAIN\?")
    def gain(self) -> str:
        return "3"


class Box(Generic):
    """A controller"""

    port = SerialPort(terminator="\r", answer_timeout_ms=200)
    Temperature = prop(int, query="TEMP?")
    Gain = prop(int, query="GAIN?")


def test_a_late_reply_does_not_answer_the_next_command() -> None:
    simulator = Controller()
    url = publish(simulator)
    try:
        with Kernel(timeout=5) as k:
            k.load_device("Box", Box())
            k.set_property("Box", "Port", url)
            k.initialize("Box")
            simulator.late = True
            with pytest.raises(PortTimeoutError, match="TEMP"):
                k.get_property("Box", "Temperature")
            assert k.get_property("Box", "Gain") == 3  # not "85", the temperature's late reply
            assert k.get_property("Box", "Temperature") == 21
    finally:
        unpublish(url)


@pytest.mark.parametrize("call", ["read_available", "read_bytes", "purge", "read_until", "write", "query"])
def test_a_vanished_port_is_a_port_error_naming_the_device(call: str) -> None:
    h = DirectHarness(Box(), label="Box7")
    h.set("Port", "sim://fw102c")
    h.initialize(refresh=False)
    try:
        h.device.port._line.serial.close()  # the USB adapter was unplugged
        arguments = {"read_bytes": [3], "write": ["X"], "query": ["X?"]}.get(call, [])
        with pytest.raises(PortError, match=r"device 'Box7', port 'sim://fw102c'"):
            getattr(h.device.port, call)(*arguments)
    finally:
        h.shutdown()


class SlowSim(LineSimulator):
    read_terminator = write_terminator = "\r"
    slow = False

    @command(r"SLOW\?")
    def slow_reply(self) -> object:
        return Reply("42", delay_s=0.8) if self.slow else "42"


class Meter(Generic):
    """A meter (its own AnswerTimeout defaults to 500 ms)"""

    port = SerialPort(terminator="\r")
    Slow = prop(str, query="SLOW?")


@pytest.fixture
def com1() -> Iterator[tuple[Kernel, SlowSim]]:
    simulator = SlowSim()
    url = publish(simulator)
    try:
        with Kernel(timeout=5, port_map={"COM1": url}) as k:
            k.load_device("COM1", "SerialManager", "COM1")
            k.load_device("Meter", Meter())
            k.set_property("Meter", "Port", "COM1")
            yield k, simulator
    finally:
        unpublish(url)


def test_the_port_devices_answer_timeout_applies_when_it_is_longer(com1: tuple[Kernel, SlowSim]) -> None:
    k, simulator = com1
    k.set_property("COM1", "AnswerTimeout", 3000.0)  # Property,COM1,AnswerTimeout,3000 in a .cfg
    k.initialize_all()
    simulator.slow = True
    assert k.get_property("Meter", "Slow") == "42"  # 0.8 s: beyond the meter's 500 ms, within COM1's
    k.set_property("COM1", "AnswerTimeout", 100.0)  # shorter than the meter's own: the meter's applies
    with pytest.raises(PortTimeoutError, match=r"within \d+ ms"):
        k.get_property("Meter", "Slow")


def test_the_port_devices_delay_between_chars_applies(com1: tuple[Kernel, SlowSim], monkeypatch) -> None:
    k, _ = com1
    delays: list[float] = []
    real = _serial.SerialLine.write

    def recording(self: Any, data: bytes, char_delay_s: float) -> None:
        delays.append(char_delay_s)
        real(self, data, char_delay_s)

    monkeypatch.setattr(_serial.SerialLine, "write", recording)
    k.set_property("COM1", "DelayBetweenCharsMs", 2.0)
    k.initialize_all()
    delays.clear()
    k.get_property("Meter", "Slow")
    assert delays == [0.002]


def test_a_port_devices_line_settings_cannot_change_while_a_device_has_it_open(com1: tuple[Kernel, SlowSim]) -> None:
    k, _ = com1
    k.set_property("COM1", "BaudRate", 115200)
    k.initialize("Meter")  # opens COM1 with COM1's settings; COM1 itself is not initialized
    line = k._loaded("Meter").device.port._line.serial
    with pytest.raises(PropertyError, match=r"'COM1', property 'BaudRate': value 9600 cannot be set while the port"):
        k.set_property("COM1", "BaudRate", 9600)
    assert k.get_property("COM1", "BaudRate") == line.baudrate == 115200
    k.set_property("COM1", "BaudRate", 115200)  # the same value is no change
    k.unload("Meter")
    k.set_property("COM1", "BaudRate", 9600)  # nobody has it open now


def test_simulator_url_options_read_booleans_and_numbers() -> None:
    assert open_simulator("sim://fw102c?noisy=false").greeting == b""
    assert open_simulator("sim://fw102c?noisy=true").greeting != b""
    assert open_simulator("sim://fw102c?time_scale=0.5").time_scale == 0.5
