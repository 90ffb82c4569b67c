"""SerialPort: a serial line declared on a device class, on pyserial.

    class Wheel(StateDevice):
        port = SerialPort(baudrate=115200, terminator="\\r", answer_timeout_ms=500)

adds Micro-Manager's port properties (Port, BaudRate, DataBits, Parity, StopBits, Handshaking,
AnswerTimeout, DelayBetweenCharsMs); `Port` takes a device path or COM name, any pyserial URL
(`loop://`, `socket://host:port`, `sim://NAME` for a protocol simulator), or the label of a
loaded port device (`SerialManager`), whose settings then apply. In adapter code `self.port`
is a SerialConnection: write, read_until, query, purge.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import serial

from .._prop import prop
from ..errors import PortError, PortTimeoutError, PropertyError, ReplyError
from . import _shared
from ._resource import PortTarget, Resource, resolve_port

if TYPE_CHECKING:
    from .._owner import DeviceLike

BAUD_RATES = (110, 300, 600, 1200, 2400, 4800, 9600, 14400, 19200, 38400, 57600, 115200, 128000, 230400,
              256000, 460800, 500000, 921600)  # fmt: skip
PARITY = {"None": serial.PARITY_NONE, "Odd": serial.PARITY_ODD, "Even": serial.PARITY_EVEN,
          "Mark": serial.PARITY_MARK, "Space": serial.PARITY_SPACE}  # fmt: skip
STOP_BITS = {"1": serial.STOPBITS_ONE, "1.5": serial.STOPBITS_ONE_POINT_FIVE, "2": serial.STOPBITS_TWO}
HANDSHAKING = ("Off", "Hardware", "Software")
UNDEFINED = "Undefined"  # Micro-Manager's value for "no port chosen"
SIM_HANDLERS = "mmkernel_sdk.testing.sim"  # sim://NAME: protocol simulators (imported on first use)
if SIM_HANDLERS not in serial.protocol_handler_packages:
    serial.protocol_handler_packages.append(SIM_HANDLERS)


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

    def _set_timeout(self, seconds: float) -> None:
        if seconds != self._timeout:  # pyserial reconfigures the port on every change
            self.serial.timeout = self._timeout = seconds

    def _take_waiting(self) -> bool:
        """Move what has already arrived into the buffer, without waiting. True if anything came."""
        waiting = self.serial.in_waiting
        if waiting:
            self._set_timeout(0.0)
            self.buffer += self.serial.read(waiting)
        return bool(waiting)

    def _read_some(self, remaining: float) -> None:
        """Wait up to `remaining` (polling in POLL_S steps) for more bytes."""
        port = self.serial
        self._set_timeout(POLL_S if remaining >= POLL_S else max(remaining, 0.0))
        self.buffer += port.read(port.in_waiting or 1)

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


class SerialPort(Resource):
    """A serial line; see the module docstring. `terminator` applies both ways unless
    `read_terminator` / `write_terminator` say otherwise."""

    def __init__(
        self,
        *,
        baudrate: int = 9600,
        terminator: str = "\r",
        read_terminator: str | None = None,
        write_terminator: str | None = None,
        answer_timeout_ms: float = 500.0,
        data_bits: int = 8,
        parity: str = "None",
        stop_bits: str = "1",
        handshaking: str = "Off",
        delay_between_chars_ms: float = 0.0,
        encoding: str = "ascii",
        address_from_name: bool = False,
    ) -> None:
        self.read_terminator = terminator if read_terminator is None else read_terminator
        self.write_terminator = terminator if write_terminator is None else write_terminator
        self.encoding = encoding
        self.address_from_name = address_from_name  # a port device: its device name is the port
        self.defaults = LineSettings(baudrate, data_bits, parity, str(stop_bits), handshaking)
        for what, value, allowed in (
            ("parity", parity, tuple(PARITY)),
            ("stop_bits", str(stop_bits), tuple(STOP_BITS)),
            ("handshaking", handshaking, HANDSHAKING),
            ("data_bits", data_bits, (5, 6, 7, 8)),
        ):
            if value not in allowed:
                raise ValueError(f"SerialPort({what}={value!r}): allowed: {', '.join(map(repr, allowed))}")
        self._answer_timeout_ms = answer_timeout_ms
        self._delay_ms = delay_between_chars_ms
        rates = BAUD_RATES if baudrate in BAUD_RATES else tuple(sorted((*BAUD_RATES, baudrate)))
        self._rates = rates

    def properties(self) -> list[prop]:
        items = [
            prop(int, default=self.defaults.baud_rate, allowed=self._rates, pre_init=True, name="BaudRate",
                 doc="Line speed (bits per second)."),
            prop(int, default=self.defaults.data_bits, allowed=(5, 6, 7, 8), pre_init=True, name="DataBits"),
            prop(str, default=self.defaults.parity, allowed=tuple(PARITY), pre_init=True, name="Parity"),
            prop(str, default=self.defaults.stop_bits, allowed=tuple(STOP_BITS), pre_init=True, name="StopBits"),
            prop(str, default=self.defaults.handshaking, allowed=HANDSHAKING, pre_init=True, name="Handshaking"),
            prop(float, default=self._answer_timeout_ms, limits=(0.0, 3_600_000.0), units="ms", name="AnswerTimeout",
                 before_init=True, doc="How long to wait for a reply."),
            prop(float, default=self._delay_ms, limits=(0.0, 10_000.0), units="ms", name="DelayBetweenCharsMs",
                 before_init=True, doc="Pause after each character sent (for slow instruments)."),
        ]  # fmt: skip
        if self.address_from_name:  # a port device: its line may be open through the devices using it
            line_props = {"BaudRate", "DataBits", "Parity", "StopBits", "Handshaking"}
            items = [item.setter(self._refuse_while_open(item.name)) if item.name in line_props else item
                     for item in items]  # fmt: skip
        else:
            items.insert(
                0,
                prop(str, default=UNDEFINED, pre_init=True, name="Port",
                     doc="Serial port: a device path or COM name, a pyserial URL (loop://, socket://host:port, "
                     "sim://NAME) or the label of a loaded port device."),
            )  # fmt: skip
        return items

    def connect(self, device: DeviceLike) -> SerialConnection:
        return SerialConnection(self, device)

    def _refuse_while_open(self, name: str) -> Callable[[DeviceLike, object], None]:
        """A setter for a port device's line setting: while a device has its line open, a new
        value would be reported but never applied, so it is refused."""

        def check(device: DeviceLike, value: object) -> None:
            wire = self.wire(device)
            users = _shared.users_of(wire) if wire is not None else []
            if users and value != device._props.get(name):
                label = device.label
                raise PropertyError(
                    f"device {label!r}, property {name!r}: value {value!r} cannot be set while the port is open "
                    f"(used by {', '.join(map(repr, users))}, at {device._props.get(name)!r}); unload those "
                    "devices first",
                    device=label,
                    property=name,
                    value=value,
                )

        return check

    def wire(self, device: DeviceLike) -> str | None:
        address = self.address(device)
        if not address or address == UNDEFINED:
            return None
        return _wire_key(resolve_port(device, address).url)

    def address(self, device: DeviceLike) -> str:
        return device.device_name if self.address_from_name else str(device._props.get("Port"))

    def settings(self, device: DeviceLike) -> LineSettings:
        props = device._props
        return LineSettings(
            int(props.get("BaudRate")),
            int(props.get("DataBits")),
            str(props.get("Parity")),
            str(props.get("StopBits")),
            str(props.get("Handshaking")),
        )


def _wire_key(url: str) -> str:
    if "://" not in url and os.path.exists(url):
        url = os.path.realpath(url)  # /dev/serial/by-id/... and /dev/ttyUSB0 are one wire
    return f"serial:{url}"


class SerialConnection:
    """`self.port` in adapter code: one device's use of a (possibly shared) serial line."""

    def __init__(self, resource: SerialPort, device: DeviceLike) -> None:
        self._resource = resource
        self._device = device
        self._line: SerialLine | None = None
        self._key = ""
        self.target: PortTarget | None = None
        self.last_sent = ""  # for error messages: what was sent before a reply went wrong

    # -- state ------------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self._line is not None

    @property
    def address(self) -> str:
        return self._resource.address(self._device)

    @property
    def url(self) -> str:
        return self.target.url if self.target is not None else self.address

    def open(self) -> None:
        if self._line is not None:
            return
        device, resource = self._device, self._resource
        address = self.address
        if not address or address == UNDEFINED:
            raise PortError(
                device.label,
                "open port",
                f"device {device.label!r}: set its Port property before initialize(): a serial port "
                "(COM1, /dev/ttyUSB0), a pyserial URL (loop://, socket://host:port, sim://NAME) or the "
                "label of a loaded port device",
            )
        target = resolve_port(device, address)
        settings = target.settings if target.settings is not None else resource.settings(device)
        key = _wire_key(target.url)
        try:
            line = _shared.acquire(key, settings, device.label, lambda: SerialLine(target.url, settings))
        except (serial.SerialException, OSError, ValueError) as error:
            shown = address if target.url == address else f"{address} ({target.url})"
            raise PortError(
                device.label, "open port", f"device {device.label!r}: cannot open port {shown!r}: {error}", address
            ) from None
        self._line, self._key, self.target = line, key, target

    def close(self) -> None:
        line, self._line = self._line, None
        if line is not None:
            _shared.release(self._key, self._device.label)

    # -- what adapter code calls ------------------------------------------------------------
    def write(self, data: str | bytes, *, terminator: bool = True) -> None:
        """Send text (the write terminator is added) or bytes (sent exactly as given)."""
        line = self._live("write")
        ending = self._resource.write_terminator if terminator else ""
        raw = data if isinstance(data, bytes) else self._encode(data + ending)
        self.last_sent = data if isinstance(data, str) else data.decode(self._resource.encoding, "backslashreplace")
        delay = self._setting_ms("DelayBetweenCharsMs") / 1000.0
        with line.lock:
            try:
                line.write(raw, delay)
            except (serial.SerialException, OSError) as error:
                raise self._error(PortError, "write", f"writing {raw!r} failed: {error}") from None

    def read_until(self, terminator: str | bytes | None = None, *, timeout_ms: float | None = None) -> str:
        """The reply up to `terminator` (default: the read terminator), decoded, terminator
        removed; PortTimeoutError if it does not come within the answer timeout."""
        line = self._live("read")
        end = terminator if terminator is not None else self._resource.read_terminator
        end_bytes = end if isinstance(end, bytes) else self._encode(end)
        timeout = self._timeout_s(timeout_ms)
        started = time.monotonic()
        with line.lock:
            with self._wire_errors("read"):
                raw, complete = line.read_until(end_bytes, timeout)
            if not complete:
                self._abandon(line, timeout)  # whatever arrives late must not answer the next command
                waited = (time.monotonic() - started) * 1000
                got = f"; got {raw!r} so far" if raw else "; nothing came"
                raise self._error(
                    PortTimeoutError,
                    "read",
                    f"no reply ending in {end_bytes!r} within {waited:.0f} ms after sending {self.last_sent!r}{got}",
                )
        return self._decode(raw, line)

    def read_bytes(self, count: int, *, timeout_ms: float | None = None) -> bytes:
        """Exactly `count` bytes, or PortTimeoutError."""
        line = self._live("read")
        with line.lock:
            with self._wire_errors("read"):
                data = line.read_bytes(count, self._timeout_s(timeout_ms))
            if len(data) < count:
                self._abandon(line, self._timeout_s(timeout_ms))
                raise self._error(
                    PortTimeoutError, "read", f"expected {count} bytes after sending {self.last_sent!r}, got {data!r}"
                )
        return data

    def read_available(self) -> bytes:
        """Whatever has arrived, without waiting (for polling a busy instrument)."""
        line = self._live("read")
        with line.lock, self._wire_errors("read"):
            return line.read_available()

    def query(self, command: str, *, terminator: str | bytes | None = None, timeout_ms: float | None = None) -> str:
        """Send `command`, return the reply line decoded and stripped."""
        line = self._live("query")
        with line.lock:  # one exchange at a time on a shared line
            self.write(command)
            return self.read_until(terminator, timeout_ms=timeout_ms).strip()

    def purge(self) -> None:
        """Drop everything received and not yet read (and anything not yet sent)."""
        line = self._live("purge")
        with line.lock, self._wire_errors("purge"):
            line.purge()

    # -- helpers ----------------------------------------------------------------------------
    def _live(self, operation: str) -> SerialLine:
        line = self._line
        if line is None:
            raise PortError(
                self._device.label,
                operation,
                f"device {self._device.label!r}: port {self.address!r} is not open (the kernel opens it just "
                "before initialize() and closes it after shutdown())",
                self.address,
            )
        return line

    def _timeout_s(self, timeout_ms: float | None) -> float:
        ms = self._setting_ms("AnswerTimeout") if timeout_ms is None else timeout_ms
        return max(0.0, ms) / 1000.0

    def _setting_ms(self, name: str) -> float:
        """AnswerTimeout / DelayBetweenCharsMs: the device's own, or its port device's if that is
        longer (Micro-Manager configurations set them on the port; both are minimums someone
        needed, so the longer one is always safe)."""
        own = float(self._device._props.get(name))
        port_device = self.target.device if self.target is not None else None
        if port_device is None:
            return own
        return max(own, float(port_device._props.get(name)))

    def _abandon(self, line: SerialLine, waited_s: float) -> None:
        """An exchange timed out: drop what came, and let the next write wait out a late reply."""
        line.buffer.clear()
        line.dirty = max(line.dirty, waited_s)
        with contextlib.suppress(serial.SerialException, OSError):
            line.serial.reset_input_buffer()

    @contextlib.contextmanager
    def _wire_errors(self, operation: str) -> Iterator[None]:
        """pyserial's and the OS's errors (a USB adapter unplugged) as PortError naming the device."""
        try:
            yield
        except (serial.SerialException, OSError) as error:
            raise self._error(PortError, operation, f"{operation} failed: {error}") from None

    def _encode(self, text: str) -> bytes:
        try:
            return text.encode(self._resource.encoding)
        except UnicodeEncodeError as error:
            detail = f"cannot send {text!r} as {self._resource.encoding}: {error}"
            raise self._error(ReplyError, "write", detail) from None

    def _decode(self, raw: bytes, line: SerialLine) -> str:
        try:
            return raw.decode(self._resource.encoding)
        except UnicodeDecodeError:
            self._abandon(line, QUIET_S)
            raise self._error(
                ReplyError, "read", f"reply {raw!r} to {self.last_sent!r} is not {self._resource.encoding} text"
            ) from None

    def _error(self, kind: type[PortError], operation: str, detail: str) -> PortError:
        device = self._device.label
        return kind(device, operation, f"device {device!r}, port {self.address!r}: {detail}", self.address)

    def __repr__(self) -> str:
        state = "open" if self.is_open else "closed"
        return f"<SerialConnection {self._device.label}:{self.address} {state}>"
