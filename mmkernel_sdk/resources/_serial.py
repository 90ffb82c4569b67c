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
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import serial

from .._prop import prop
from .._wire_text import control_byte
from ..errors import PortError, PortTimeoutError, PropertyError, ReplyError
from . import _shared
from ._resource import PortTarget, Resource, resolve_port
from ._serial_line import PARITY, QUIET_S, STOP_BITS, LineSettings, SerialLine

if TYPE_CHECKING:
    from .._owner import DeviceLike

BAUD_RATES = (110, 300, 600, 1200, 2400, 4800, 9600, 14400, 19200, 38400, 57600, 115200, 128000, 230400,
              256000, 460800, 500000, 921600)  # fmt: skip
HANDSHAKING = ("Off", "Hardware", "Software")
UNDEFINED = "Undefined"  # Micro-Manager's value for "no port chosen"
SIM_HANDLERS = "mmkernel_sdk.testing.sim"  # sim://NAME: protocol simulators (imported on first use)
if SIM_HANDLERS not in serial.protocol_handler_packages:
    serial.protocol_handler_packages.append(SIM_HANDLERS)


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
        allow_control: bool = False,
    ) -> None:
        self.read_terminator = terminator if read_terminator is None else read_terminator
        self.write_terminator = terminator if write_terminator is None else write_terminator
        self.encoding = encoding
        self.address_from_name = address_from_name  # a port device: its device name is the port
        self.allow_control = allow_control  # text with control bytes may be written (a protocol that needs ESC)
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

    def open(self, device: DeviceLike) -> None:
        """A port device holds settings, not the line: the devices naming it open the line (with
        its settings) when they initialize, so a VISA instrument reached through it can open the
        port itself and an unused port is never held open."""
        if not self.address_from_name:
            super().open(device)

    def _refuse_while_open(self, name: str) -> Callable[[DeviceLike, object], None]:
        """A setter for a port device's line setting: while a device has its line open, a new
        value would be reported but never applied, so it is refused."""

        def check(device: DeviceLike, value: object) -> None:
            wire = self.wire(device)
            users = _shared.users_of(wire) if wire is not None else []
            holder = _shared.reserved_by(wire) if wire is not None else None
            users += [holder] if holder is not None else []  # a C++ port drives it (the bridge)
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


def check_command_text(device: str, port: str, text: str) -> None:
    """Refuse text holding a control byte (see mmkernel_sdk._wire_text), naming the byte."""
    found = control_byte(text)
    if found:
        raise PropertyError(
            f"device {device!r}, port {port!r}: refusing to send {text!r}: it holds {found}, which would end the "
            "command there and start another; pass raw=True (or SerialPort(allow_control=True)) for a protocol "
            "that needs control bytes",
            device=device,
            value=text,
            allowed="text without control characters",
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
        shown = address if target.url == address else f"{address} ({target.url})"
        try:
            line = _shared.acquire(key, settings, device.label, lambda: SerialLine(target.url, settings))
        except _shared.LineTakenError as taken:
            message = f"device {device.label!r} cannot use port {shown!r}: {taken}"
            raise PortError(device.label, "open port", message, address) from None
        except (serial.SerialException, OSError, ValueError) as error:
            raise PortError(
                device.label, "open port", f"device {device.label!r}: cannot open port {shown!r}: {error}", address
            ) from None
        self._line, self._key, self.target = line, key, target

    def close(self) -> None:
        if self._line is None:
            return
        try:  # still readable while it closes: a test's port takes what was never read (unread())
            _shared.release(self._key, self._device.label)
        finally:
            self._line = None

    # -- what adapter code calls ------------------------------------------------------------
    def write(self, data: str | bytes, *, terminator: bool = True, raw: bool = False) -> None:
        """Send text (the write terminator is added) or bytes (sent exactly as given). Text
        holding a control byte (a line break, the terminator, NUL...) is refused before anything
        is written, so a value formatted into a command cannot add a command of its own; `raw`
        (or `SerialPort(allow_control=True)`) lets a protocol that needs them send them."""
        line = self._live("write")
        if isinstance(data, str) and not (raw or self._resource.allow_control):
            check_command_text(self._device.label, self.address, data)
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

    def query(
        self,
        command: str,
        *,
        terminator: str | bytes | None = None,
        timeout_ms: float | None = None,
        raw: bool = False,
        retries: int = 0,
    ) -> str:
        """Send `command`, return the reply line decoded and stripped. `retries`: send it again
        this many times when no reply comes (a reply lost on a noisy line; only for commands
        that are safe to repeat, such as status queries)."""
        line = self._live("query")
        with line.lock:  # one exchange at a time on a shared line
            for attempt in range(retries + 1):
                self.write(command, raw=raw)
                try:
                    return self.read_until(terminator, timeout_ms=timeout_ms).strip()
                except PortTimeoutError:
                    if attempt == retries:
                        raise
            raise AssertionError("unreachable")

    def unread(self) -> bytes:
        """What has been read from the port and not used yet (a read takes whatever has
        arrived, so a reply's extra bytes wait here); nothing is consumed. b"" while closed.
        For protocol tests: bytes left here would answer the next query."""
        line = self._line
        return bytes(line.buffer) if line is not None else b""

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
