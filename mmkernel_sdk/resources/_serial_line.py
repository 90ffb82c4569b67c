"""SerialLine: one open serial port, shared by the devices on it (pyserial plus a read-ahead
buffer), and the timing rules of its exchanges: a late reply after a timeout is waited out
before the next command, so it can never answer that command."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import serial

PARITY = {"None": serial.PARITY_NONE, "Odd": serial.PARITY_ODD, "Even": serial.PARITY_EVEN,
          "Mark": serial.PARITY_MARK, "Space": serial.PARITY_SPACE}  # fmt: skip
STOP_BITS = {"1": serial.STOPBITS_ONE, "1.5": serial.STOPBITS_ONE_POINT_FIVE, "2": serial.STOPBITS_TWO}


@dataclass(frozen=True)
class LineSettings:
    """How a serial line is driven; devices sharing a line must agree on it."""

    baud_rate: int = 9600
    data_bits: int = 8
    parity: str = "None"
    stop_bits: str = "1"
    handshaking: str = "Off"

    def __str__(self) -> str:
        frame = f"{self.data_bits}{self.parity[0]}{self.stop_bits}"
        return f"{self.baud_rate} baud, {frame}, handshaking {self.handshaking}"


POLL_S = 0.05  # one pyserial read waits at most this long: the timeout is set once, not per chunk
QUIET_S = 0.05  # after a timed-out exchange: silence this long means a late reply is not coming
SETTLE_MAX_S = 2.0
CHUNK = 4096
# pyserial handlers whose in_waiting says only "something has arrived" (1), not how much: after
# the first byte the rest is taken without waiting, instead of one read per byte
_FLAG_IN_WAITING = ("serial.urlhandler.protocol_socket",)


class SerialLine:
    """One open serial port, shared by the devices on it: pyserial plus a read-ahead buffer."""

    def __init__(self, url: str, settings: LineSettings) -> None:
        self.url = url
        self.lock = threading.RLock()
        self.buffer = bytearray()
        self.dirty = 0.0  # an exchange timed out: its reply may still come within this many s
        self._timeout: float | None = POLL_S
        self.serial = serial.serial_for_url(
            url,
            baudrate=settings.baud_rate,
            bytesize=settings.data_bits,
            parity=PARITY[settings.parity],
            stopbits=STOP_BITS[settings.stop_bits],
            rtscts=settings.handshaking == "Hardware",
            xonxoff=settings.handshaking == "Software",
            timeout=self._timeout,
            write_timeout=5.0,
        )
        self._counts_waiting = type(self.serial).__module__ not in _FLAG_IN_WAITING

    def _set_timeout(self, seconds: float) -> None:
        if seconds != self._timeout:  # pyserial reconfigures the port on every change
            self.serial.timeout = self._timeout = seconds

    def _take_waiting(self) -> bool:
        """Move what has already arrived into the buffer, without waiting. True if anything came."""
        waiting = self.serial.in_waiting
        if waiting:
            self.buffer += self.serial.read(waiting) if self._counts_waiting else self._rest()
        return bool(waiting)

    def _read_some(self, remaining: float) -> None:
        """Wait up to `remaining` (polling in POLL_S steps) for more bytes."""
        port = self.serial
        self._set_timeout(POLL_S if remaining >= POLL_S else max(remaining, 0.0))
        if self._counts_waiting:
            self.buffer += port.read(port.in_waiting or 1)
            return
        first = port.read(1)
        if first:
            self.buffer += first + self._rest()

    def _rest(self) -> bytes:
        """What has arrived, from a handler that cannot say how much (a non-blocking read)."""
        self._set_timeout(0.0)
        return bytes(self.serial.read(CHUNK))

    def read_until(self, terminator: bytes, timeout_s: float) -> tuple[bytes, bool]:
        """Bytes up to (not including) `terminator`, and whether it came within the time.
        Bytes that have already arrived always count, even with no time left."""
        buffer = self.buffer
        self._take_waiting()
        found = buffer.find(terminator)
        deadline = time.monotonic() + timeout_s
        while found < 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._take_waiting()
                found = buffer.find(terminator)
                if found < 0:
                    return bytes(buffer), False
                break
            start = max(0, len(buffer) - len(terminator) + 1)
            self._read_some(remaining)
            found = buffer.find(terminator, start)
        line = bytes(buffer[:found])
        del buffer[: found + len(terminator)]
        return line, True

    def read_bytes(self, count: int, timeout_s: float) -> bytes:
        self._take_waiting()
        deadline = time.monotonic() + timeout_s
        while len(self.buffer) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._take_waiting()
                break
            self._read_some(remaining)
        out = bytes(self.buffer[:count])
        del self.buffer[:count]
        return out

    def read_available(self) -> bytes:
        self._take_waiting()
        out = bytes(self.buffer)
        self.buffer.clear()
        return out

    def settle(self) -> None:
        """Before a new command on a line whose last exchange timed out: drop what arrives
        until it has been quiet as long as that exchange waited (at least QUIET_S), so a late
        reply cannot answer the next command. Costs time only after a timeout."""
        if not self.dirty:
            return
        quiet, self.dirty = max(QUIET_S, min(self.dirty, SETTLE_MAX_S)), 0.0
        self._set_timeout(quiet)
        give_up = time.monotonic() + SETTLE_MAX_S  # an instrument that never stops talking
        while self.serial.read(self.serial.in_waiting or 1) and time.monotonic() < give_up:
            pass
        self.buffer.clear()

    def write(self, data: bytes, char_delay_s: float) -> None:
        self.settle()
        if char_delay_s <= 0:
            self.serial.write(data)
            return
        for index in range(len(data)):
            self.serial.write(data[index : index + 1])
            time.sleep(char_delay_s)  # the instrument needs time between characters

    def purge(self) -> None:
        self.buffer.clear()
        self.serial.reset_input_buffer()
        self.serial.reset_output_buffer()

    def close(self) -> None:
        self.serial.close()
