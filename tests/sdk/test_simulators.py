"""Protocol simulators that behave like instruments: each command's reply has its own due time,
messages come unasked (at a time, or when something happens in the simulator), binary protocols
are framed, and the TCP server releases everything a connection held and frees its port on close.
No sleep synchronises anything here: tests wait on conditions with deadlines."""

from __future__ import annotations

import gc
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import serial

from mmkernel_core import Kernel
from mmkernel_sdk import Generic, prop
from mmkernel_sdk.resources import SerialPort, VisaInstrument
from mmkernel_sdk.testing import DirectHarness
from mmkernel_sdk.testing import conformance as kit
from mmkernel_sdk.testing.sim import (
    Fixed,
    LengthPrefixed,
    LineSimulator,
    Raw,
    Reply,
    command,
    publish,
    serve_tcp,
    unpublish,
)

LONG_S = 30.0  # a delay no test waits for: only the order of what arrives is checked


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll `condition` until it holds or the deadline passes."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return condition()
        time.sleep(0.005)
    return True


@contextmanager
def opened(simulator: LineSimulator) -> Iterator[serial.SerialBase]:
    url = publish(simulator)
    port = serial.serial_for_url(url, timeout=5)
    try:
        yield port
    finally:
        port.close()
        unpublish(url)


class StageController(LineSimulator):
    """A stage controller: a move answers `R` when it ends, `$` answers the status at once."""

    read_terminator = write_terminator = "\r"

    def __init__(self, move_s: float = LONG_S) -> None:
        super().__init__()
        self.move_s = move_s
        self.moves = 0

    @command(r"M (-?\d+)")
    def move(self, _: str) -> Reply:
        self.moves += 1
        return Reply("R", delay_s=self.move_s)

    @command(r"\$")
    def status(self) -> str:
        return f"S{self.moves}"

    @command(r"GO")
    def go(self) -> str:  # answers at once, and says when it has arrived
        self.emit("ARRIVED", after_s=self.move_s)
        return "OK"

    @command(r"PING")
    def ping(self) -> str:
        self.emit("EVENT")  # due at once, like the reply: the reply comes first
        return "PONG"

    def alarm(self) -> None:  # something happens in the instrument (a limit switch)
        self.emit("ALARM")


# -- replies scheduled per command ---------------------------------------------------------------
def test_a_slow_reply_does_not_hold_back_a_later_command_answered_at_once() -> None:
    with opened(StageController(move_s=LONG_S)) as port:
        port.write(b"M 100\r$\r")
        assert port.read_until(b"\r") == b"S1\r"  # the status, while the move's R is still to come


def test_a_delayed_reply_arrives_after_the_immediate_ones_sent_later() -> None:
    with opened(StageController(move_s=0.05)) as port:
        port.write(b"M 5\r$\r")
        assert port.read_until(b"\r") == b"S1\r"
        assert port.read_until(b"\r") == b"R\r"  # when the move ends


def test_a_reply_and_what_its_command_caused_keep_command_order() -> None:
    with opened(StageController()) as port:
        port.write(b"PING\rPING\r")
        assert [port.read_until(b"\r") for _ in range(4)] == [b"PONG\r", b"EVENT\r", b"PONG\r", b"EVENT\r"]


# -- unsolicited messages -----------------------------------------------------------------------
def test_a_handler_can_announce_an_event_later_while_other_commands_are_answered() -> None:
    with opened(StageController(move_s=0.05)) as port:
        port.write(b"GO\r$\r")
        assert [port.read_until(b"\r") for _ in range(3)] == [b"OK\r", b"S0\r", b"ARRIVED\r"]


def test_messages_emitted_from_outside_arrive_in_due_time_order() -> None:
    simulator = StageController()
    with opened(simulator) as port:
        simulator.emit("LATER", after_s=0.05)
        simulator.alarm()
        simulator.emit(Raw(b"\x02raw\x03"))  # as given: no terminator
        assert port.read_until(b"\r") == b"ALARM\r"
        assert port.read(5) == b"\x02raw\x03"
        assert port.read_until(b"\r") == b"LATER\r"


def test_a_message_emitted_before_the_line_opens_waits_for_it() -> None:
    simulator = StageController()
    simulator.emit("POWER ON")
    with opened(simulator) as port:
        assert port.read_until(b"\r") == b"POWER ON\r"


def test_a_stuck_instrument_emits_nothing() -> None:
    simulator = StageController()
    with opened(simulator) as port:
        simulator.fail_next("stuck")
        port.write(b"$\r")
        simulator.alarm()
        simulator.unstick()
        port.write(b"$\r")
        assert port.read_until(b"\r") == b"S0\r"  # no ALARM before it


# -- binary framing ------------------------------------------------------------------------------
class FixedFrames(LineSimulator):
    """4-byte commands: 0x01 <axis> <int16 big-endian> sets, 0x02 <axis> 0 0 reads."""

    framing = Fixed(4)

    def __init__(self) -> None:
        super().__init__()
        self.values = {0: 0, 1: 0}

    @command(rb"\x01(.)(..)")
    def set_value(self, axis: bytes, value: bytes) -> bytes:
        self.values[axis[0]] = int.from_bytes(value, "big", signed=True)
        return b"\x06"

    @command(rb"\x02(.)\x00\x00")
    def get_value(self, axis: bytes) -> bytes:
        return self.values[axis[0]].to_bytes(2, "big", signed=True)


def test_fixed_frames_reach_handlers_as_bytes_whatever_they_hold() -> None:
    simulator = FixedFrames()
    with opened(simulator) as port:
        port.write(b"\x01\x01\x0d\x0a")  # 3338: the bytes of CR LF, no line end here
        assert port.read(1) == b"\x06"
        port.write(b"\x02\x01")
        port.write(b"\x00\x00")  # a frame written in two parts
        assert port.read(2) == b"\x0d\x0a"
        assert simulator.values[1] == 3338
        assert simulator.received == [b"\x01\x01\x0d\x0a", b"\x02\x01\x00\x00"]


class Prefixed(LineSimulator):
    framing = LengthPrefixed(size_bytes=2, byteorder="little")
    echo = True
    unknown = Raw(b"\x15")

    @command(rb"ECHO (.*)")
    def echo_back(self, data: bytes) -> list[bytes]:
        return [data, b""]

    @command(r"VERSION")
    def version(self) -> str:
        return "v1.2"


def test_length_prefixed_frames_are_cut_by_their_length_and_replies_get_one() -> None:
    with opened(Prefixed()) as port:
        payload = b"ECHO \r\n\x00"
        port.write(len(payload).to_bytes(2, "little")[:1])  # the length prefix itself split
        port.write(len(payload).to_bytes(2, "little")[1:] + payload)
        assert port.read(2 + len(payload)) == b"\x08\x00" + payload  # the echo, framed
        assert port.read(5) == b"\x03\x00\r\n\x00"
        assert port.read(2) == b"\x00\x00"  # an empty frame
        port.write(b"\x07\x00VERSION\x02\x00??")
        assert port.read(9 + 6) == b"\x07\x00VERSION" + b"\x04\x00v1.2"
        assert port.read(4 + 1) == b"\x02\x00??" + b"\x15"  # unknown: Raw, sent as given


def test_framing_options_are_checked() -> None:
    with pytest.raises(ValueError, match="1, 2 or 4"):
        LengthPrefixed(size_bytes=3)
    with pytest.raises(ValueError, match="'big' or 'little'"):
        LengthPrefixed(byteorder="middle")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one byte"):
        Fixed(0)
    with pytest.raises(ValueError, match="does not fit a 1-byte length prefix"):
        LengthPrefixed().wrap(bytes(300))


class Positioner(Generic):
    """A binary device: fixed 4-byte commands"""

    port = SerialPort(answer_timeout_ms=2000)

    @prop(int, limits=(-30000, 30000))
    def Target(self) -> int:
        self.port.write(b"\x02\x00\x00\x00")
        return int.from_bytes(self.port.read_bytes(2), "big", signed=True)

    @Target.setter
    def Target(self, value: int) -> None:
        self.port.write(b"\x01\x00" + value.to_bytes(2, "big", signed=True))
        if self.port.read_bytes(1) != b"\x06":
            raise RuntimeError("not acknowledged")


def test_a_binary_device_runs_against_a_framed_simulator() -> None:
    url = publish(FixedFrames())
    h = DirectHarness(Positioner())
    try:
        h.set("Port", url)
        h.initialize()
        h.set("Target", -1234)
        assert h.get("Target") == -1234
    finally:
        h.close()
        unpublish(url)


# -- the TCP server ------------------------------------------------------------------------------
def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def recv_line(client: socket.socket) -> bytes:
    received = b""
    while not received.endswith(b"\r"):
        chunk = client.recv(1)
        if not chunk:
            break
        received += chunk
    return received


def exchange(address: tuple[str, int], data: bytes) -> bytes:
    with socket.create_connection(address, timeout=5) as client:
        client.sendall(data)
        return recv_line(client)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts open handles in /proc/self/fd")
def test_connections_leave_no_handle_behind_without_the_garbage_collector() -> None:
    server = serve_tcp(StageController)
    gc.collect()
    gc.disable()  # handles must be closed, not merely collectable
    try:
        before = open_fds()
        for _ in range(20):
            assert exchange((server.host, server.port), b"$\r") == b"S0\r"
        assert wait_until(lambda: open_fds() <= before), f"left open: {open_fds() - before}"
    finally:
        gc.enable()
        server.close()


def test_a_correct_device_on_serve_tcp_passes_the_lifecycle_check() -> None:
    class Controller(Generic):
        """A stage controller over TCP"""

        port = SerialPort(terminator="\r", answer_timeout_ms=2000)
        Status = prop(str, query="$")

    with serve_tcp(StageController) as server:

        def make() -> DirectHarness:
            h = DirectHarness(Controller())
            h.set("Port", server.url)
            return h

        for _ in range(3):
            kit.check_lifecycle(make)


def test_close_stops_listening_so_the_port_can_be_served_again_at_once() -> None:
    server = serve_tcp(StageController)
    address = (server.host, server.port)
    assert exchange(address, b"$\r") == b"S0\r"
    client = socket.create_connection(address, timeout=5)  # still connected when the server closes
    client.sendall(b"$\r")
    assert recv_line(client) == b"S0\r"
    server.close()
    assert client.recv(100) == b""  # the connection was ended
    client.close()
    assert not any(t.name.startswith(f"mmkernel-sim-tcp-{server.port}") for t in threading.enumerate())
    with pytest.raises(OSError):
        socket.create_connection(address, timeout=5).close()  # nobody listens any more
    with serve_tcp(StageController, port=address[1]) as again:
        assert exchange((again.host, again.port), b"$\r") == b"S0\r"


def test_a_served_simulator_can_emit_to_its_client() -> None:
    with serve_tcp(StageController) as server, socket.create_connection((server.host, server.port), 5) as client:
        client.sendall(b"$\r")
        assert recv_line(client) == b"S0\r"
        server.simulators[0].alarm()
        assert recv_line(client) == b"ALARM\r"


# -- a VISA device on an SDK simulator, through pyvisa-py ----------------------------------------
class Lamp(LineSimulator):
    read_terminator = write_terminator = "\n"
    level = 10

    @command(r"\*IDN\?")
    def identify(self) -> str:
        return "ACME,Lamp,1"

    @command(r"LEVEL\?")
    def get_level(self) -> str:
        return str(self.level)

    @command(r"LEVEL (\d+)")
    def set_level(self, value: str) -> None:
        self.level = int(value)


class VisaLamp(Generic):
    """A lamp over VISA"""

    visa = VisaInstrument(read_termination="\n", write_termination="\n", timeout_ms=2000)
    Identity = prop(str, query="*IDN?")
    Level = prop(int, query="LEVEL?", write="LEVEL {}", limits=(0, 100))


def test_a_visa_device_talks_to_a_line_simulator_served_over_tcp() -> None:
    pytest.importorskip("pyvisa_py")
    with serve_tcp(Lamp) as server, Kernel(timeout=5) as kernel:
        assert server.visa_resource == f"TCPIP0::127.0.0.1::{server.port}::SOCKET"
        kernel.load_device("Lamp", VisaLamp())
        kernel.set_property("Lamp", "Resource", server.visa_resource)
        kernel.set_property("Lamp", "Backend", "@py")
        kernel.initialize("Lamp")
        assert kernel.get_property("Lamp", "Identity") == "ACME,Lamp,1"
        kernel.set_property("Lamp", "Level", 42)
        assert kernel.get_property("Lamp", "Level") == 42
        assert server.simulators[0].level == 42 and "LEVEL 42" in server.simulators[0].received
        kernel.unload("Lamp")
        assert server.wait_idle(5)
