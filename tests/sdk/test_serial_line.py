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


class _ScriptedTcp:
    """A TCP peer that answers each received line with scripted chunks (a reply split in
    pieces, or several replies in one packet), as a network serial server does."""

    def __init__(self, chunks: list[bytes], pause_s: float = 0.0) -> None:
        import socket
        import threading

        self._chunks, self._pause_s = chunks, pause_s
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"socket://127.0.0.1:{self._listener.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        import time

        connection, _ = self._listener.accept()
        with connection:
            while connection.recv(4096):
                for chunk in self._chunks:
                    connection.sendall(chunk)
                    time.sleep(self._pause_s)  # bytes on the wire take time; the reader must wait for them

    def close(self) -> None:
        self._listener.close()
        self._thread.join(5)


def socket_echo(server: _ScriptedTcp) -> DirectHarness:
    harness = DirectHarness(Echo())
    harness.set("Port", server.url)
    harness.set("AnswerTimeout", 2000.0)
    harness.initialize(refresh=False)
    return harness


def test_over_a_socket_a_reply_in_pieces_and_replies_in_one_packet_are_read_whole() -> None:
    split = _ScriptedTcp([b"12.", b"34", b"5\r"], pause_s=0.01)
    harness = socket_echo(split)
    try:
        assert [harness.device.port.query("V?") for _ in range(3)] == ["12.345"] * 3
    finally:
        harness.shutdown()
        split.close()
    joined = _ScriptedTcp([b"FIRST\rSECOND\r"])
    harness = socket_echo(joined)
    try:
        assert harness.device.port.query("V?") == "FIRST"
        assert harness.device.port.read_until() == "SECOND"  # kept from the same packet, not lost
    finally:
        harness.shutdown()
        joined.close()


def test_a_reply_over_a_socket_is_read_in_a_few_reads_not_one_per_byte(monkeypatch) -> None:
    """pyserial's socket handler reports only that something arrived (in_waiting is 1); reading
    that many bytes at a time made a 40-byte reply cost 41 reads."""
    server = _ScriptedTcp([b"X" * 40 + b"\r"])
    harness = socket_echo(server)
    try:
        serial_port = harness.device.port._line.serial
        reads: list[int] = []
        real = serial_port.read

        def counted(size: int = 1) -> bytes:
            reads.append(size)
            return real(size)

        monkeypatch.setattr(serial_port, "read", counted)
        assert harness.device.port.query("V?") == "X" * 40
        assert len(reads) <= 3, reads
    finally:
        harness.shutdown()
        server.close()
