"""VisaInstrument: an instrument reached through VISA (pyvisa), declared on a device class.

    class Meter(Generic):
        visa = VisaInstrument(read_termination="\\n", write_termination="\\n", timeout_ms=2000)

adds the pre-initialization properties `Resource` (e.g. `ASRL1::INSTR`, `TCPIP::host::INSTR`,
`USB0::...::INSTR`) and `Backend` (pyvisa's library argument: "" for the default, "@py" for
pyvisa-py, "path/to/instrument.yaml@sim" for pyvisa-sim, which is how an adapter's own tests run
without hardware; a relative YAML path is also looked for beside the adapter's module), and
`AnswerTimeout` (ms). In adapter code `self.visa` has write, read, query
and clear, with the same errors as a SerialPort.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._prop import prop
from ..errors import PortError, PortTimeoutError, ReplyError
from . import _shared
from ._resource import PortTarget, Resource, resolve_port
from ._serial import UNDEFINED, SerialPort, check_command_text
from ._serial import _wire_key as _serial_wire_key
from ._serial_line import LineSettings

if TYPE_CHECKING:
    from .._owner import DeviceLike

_managers: dict[str, Any] = {}
_managers_lock = threading.Lock()


def _resource_manager(backend: str) -> Any:
    import pyvisa  # imported when an instrument opens: listing adapters never needs it

    with _managers_lock:
        manager = _managers.get(backend)
        if manager is None:
            manager = _managers[backend] = pyvisa.ResourceManager(backend) if backend else pyvisa.ResourceManager()
        return manager


def register_backend(name: str, manager: Any) -> None:
    """Make `Backend` = `name` open its resources through `manager` (anything with pyvisa's
    `open_resource(name, **options)`): a test's scripted instrument, without pyvisa."""
    with _managers_lock:
        _managers[name] = manager


def unregister_backend(name: str) -> None:
    with _managers_lock:
        _managers.pop(name, None)


class VisaInstrument(Resource):
    """An instrument reached through VISA. `serial=True` makes it reachable the way a serial
    device is in a Micro-Manager configuration: a `Port` property (a COM name, a device path or
    the label of a loaded port device, whose line settings then apply) and the line settings
    (BaudRate, DataBits, Parity, StopBits); `Resource`, when set, wins. An ASRL (serial)
    resource gets the line settings either way."""

    def __init__(
        self,
        *,
        read_termination: str = "\n",
        write_termination: str = "\n",
        timeout_ms: float = 2000.0,
        encoding: str = "ascii",
        backend: str = "",
        serial: bool = False,
        baudrate: int = 9600,
        data_bits: int = 8,
        parity: str = "None",
        stop_bits: str = "1",
        allow_control: bool = False,
    ) -> None:
        self.read_termination = read_termination
        self.write_termination = write_termination
        self.encoding = encoding
        self._timeout_ms = timeout_ms
        self._backend = backend
        self.serial = serial
        self.line = SerialPort(baudrate=baudrate, data_bits=data_bits, parity=parity, stop_bits=str(stop_bits))
        self.allow_control = allow_control

    def properties(self) -> list[prop]:
        items = [
            prop(str, default="", pre_init=True, name="Resource",
                 doc="VISA resource name, e.g. ASRL1::INSTR or TCPIP::192.168.1.5::INSTR."),
            prop(str, default=self._backend, pre_init=True, name="Backend",
                 doc='pyvisa library: "" (default), "@py" (pyvisa-py), "file.yaml@sim" (pyvisa-sim).'),
            prop(float, default=self._timeout_ms, limits=(0.0, 3_600_000.0), units="ms", name="AnswerTimeout",
                 before_init=True),
        ]  # fmt: skip
        if self.serial:
            line = [item for item in self.line.properties() if item.name in SERIAL_SETTINGS]
            items += line
        return items

    def connect(self, device: DeviceLike) -> VisaConnection:
        return VisaConnection(self, device)

    def resource_name(self, device: DeviceLike) -> tuple[str, PortTarget | None]:
        """The VISA resource to open, and the port it was found through (a `Port` naming a port
        device or a COM name: an ASRL resource of that port)."""
        name = str(device._props.get("Resource"))
        if name or not self.serial:
            return name, None
        address = str(device._props.get("Port"))
        if not address or address == UNDEFINED:
            return "", None
        target = resolve_port(device, address)
        return f"ASRL{target.url}::INSTR", target

    def wire(self, device: DeviceLike) -> str | None:
        name, _ = self.resource_name(device)
        return visa_wire(name, _resolve_backend(str(device._props.get("Backend")), device)) if name else None

    def settings(self, device: DeviceLike, target: PortTarget | None) -> LineSettings:
        """A serial resource's line settings: its port device's, else the device's own."""
        if target is not None and target.settings is not None:
            return target.settings  # type: ignore[no-any-return]
        if self.serial:
            return self.line.settings(device)
        return self.line.defaults


SERIAL_SETTINGS = ("Port", "BaudRate", "DataBits", "Parity", "StopBits")


_CLASSES = ("INSTR", "SOCKET", "INTFC", "BACKPLANE", "RAW", "SERVANT")
_INTERFACE = re.compile(r"(GPIB|TCPIP|USB|ASRL|VXI|PXI|GPIB-VXI|FIREWIRE)(\d*)$")


def visa_wire(name: str, backend: str) -> str:
    """The physical line behind a VISA resource name, whichever library opens it: names are
    case-insensitive, the board number defaults to 0 and the class to INSTR; an ASRL resource
    naming a port (ASRL/dev/ttyUSB0::INSTR, ASRLCOM3::INSTR) is that serial port's wire. A
    pyvisa-sim instrument is its own: the YAML file is part of it."""
    parts = [part.strip() for part in name.strip().split("::")]
    simulated = backend.endswith("@sim")
    port = parts[0][4:] if parts[0].upper().startswith("ASRL") else ""
    if port and not port.isdigit() and not simulated:
        return _serial_wire_key(port)
    parts = [part.upper() for part in parts]
    if parts[0].startswith("USB") and len(parts) >= 4:  # vendor and model IDs: 0x1AB1, 6833, 0x01ab1 are one
        parts[1:3] = [_usb_id(part) for part in parts[1:3]]
    interface = _INTERFACE.match(parts[0])
    if interface is not None and not interface.group(2):
        parts[0] += "0"
    if parts[-1] not in _CLASSES:
        parts.append("INSTR")
    if parts[0].startswith("TCPIP") and len(parts) == 3 and parts[-1] == "INSTR":
        parts.insert(2, "INST0")  # TCPIP::host::INSTR is TCPIP0::host::inst0::INSTR
    key = "::".join(parts)
    return f"visa:{backend}:{key}" if simulated else f"visa:{key}"


def _usb_id(text: str) -> str:
    """A USB vendor or model ID in one spelling (hex with 0x, or decimal, leading zeros or not)."""
    try:
        return f"0x{int(text, 16 if text.upper().startswith('0X') else 10):04X}"
    except ValueError:
        return text


def _resolve_backend(backend: str, device: DeviceLike) -> str:
    """A pyvisa-sim YAML named relative to nothing (`instrument.yaml@sim`) is looked for in the
    current directory, then beside the adapter's module: an adapter ships its simulated instrument."""
    path, at, library = backend.rpartition("@")
    if not at or not path or Path(path).is_absolute() or Path(path).exists():
        return backend
    module = sys.modules.get(type(device).__module__)
    beside = Path(getattr(module, "__file__", "") or ".").parent / path
    return f"{beside}@{library}" if beside.exists() else backend


class VisaConnection:
    """`self.visa` in adapter code."""

    def __init__(self, resource: VisaInstrument, device: DeviceLike) -> None:
        self._resource = resource
        self._device = device
        self.instrument: Any = None  # the pyvisa resource, for what this class does not wrap
        self._key = ""
        self.last_sent = ""

    @property
    def is_open(self) -> bool:
        return self.instrument is not None

    @property
    def address(self) -> str:
        return self._resource.resource_name(self._device)[0] or str(self._device._props.get("Resource"))

    def open(self) -> None:
        if self.instrument is not None:
            return
        device, resource = self._device, self._resource
        name, target = resource.resource_name(device)
        backend = _resolve_backend(str(device._props.get("Backend")), device)
        if not name:
            port = " (or its Port)" if resource.serial else ""
            message = f"device {device.label!r}: set its Resource property{port} before initialize()"
            raise PortError(device.label, "open", message)
        key = f"handle:{visa_wire(name, backend)}"  # pyvisa's handle, not a SerialLine on the same port
        serial_line = name.upper().startswith("ASRL")
        line = resource.settings(device, target) if serial_line else None
        # Devices sharing one handle must agree on how it is driven: the handle has one of each.
        agreed = (resource.read_termination, resource.write_termination, resource.encoding, line)

        def opener() -> Any:
            instrument = _resource_manager(backend).open_resource(name)
            instrument.read_termination = resource.read_termination
            instrument.write_termination = resource.write_termination
            instrument.encoding = resource.encoding
            if line is not None:
                _apply_line(instrument, line)
            return instrument

        try:
            if target is not None:  # through a port device: its line may be another stack's
                _shared.check_free(_serial_wire_key(target.url))
            self.instrument = _shared.acquire(key, agreed, device.label, opener)
        except _shared.LineTakenError as taken:
            message = f"device {device.label!r} cannot use VISA resource {name!r}: {taken}"
            raise PortError(device.label, "open", message, name) from None
        except ValueError as error:
            raise PortError(
                device.label, "open", f"device {device.label!r}: VISA resource {name!r} is shared, but {error}; "
                "devices on one instrument must use the same terminations, encoding and line settings", name,
            ) from None  # fmt: skip
        except Exception as error:  # noqa: BLE001 - pyvisa raises many kinds; all mean "cannot open"
            raise PortError(
                device.label, "open", f"device {device.label!r}: cannot open VISA resource {name!r}: "
                f"{_visa_reason(error)}", name,
            ) from None  # fmt: skip
        self._key = key

    def close(self) -> None:
        instrument, self.instrument = self.instrument, None
        if instrument is not None:
            _shared.release(self._key, self._device.label)

    def write(self, command: str, *, raw: bool = False) -> None:
        """Send `command` (the write termination is added). Text holding a control byte is
        refused before anything is written (see SerialConnection.write); `raw` lets it through."""
        instrument = self._live("write")
        if not (raw or self._resource.allow_control):
            check_command_text(self._device.label, self.address, command)
        self.last_sent = command
        try:
            instrument.write(command)
        except Exception as error:  # noqa: BLE001
            raise self._error(PortError, "write", f"writing {command!r} failed: {_visa_reason(error)}") from None

    def read(self, *, timeout_ms: float | None = None) -> str:
        instrument = self._live("read")
        instrument.timeout = self._timeout_ms(timeout_ms)
        started = time.monotonic()
        try:
            return str(instrument.read()).strip()
        except UnicodeDecodeError:
            self.clear()
            detail = f"the reply to {self.last_sent!r} is not {self._resource.encoding} text"
            raise self._error(ReplyError, "read", detail) from None
        except Exception as error:  # noqa: BLE001 - pyvisa's VisaIOError, or a backend's own
            waited = (time.monotonic() - started) * 1000
            if _is_timeout(error):
                self.clear()
                raise self._error(
                    PortTimeoutError, "read", f"no reply within {waited:.0f} ms after sending {self.last_sent!r}"
                ) from None
            raise self._error(PortError, "read", f"reading failed: {_visa_reason(error)}") from None

    def query(self, command: str, *, timeout_ms: float | None = None, raw: bool = False, retries: int = 0) -> str:
        """Send `command`, return the reply; `retries`: send it again when no reply comes."""
        for attempt in range(retries + 1):
            self.write(command, raw=raw)
            try:
                return self.read(timeout_ms=timeout_ms)
            except PortTimeoutError:
                if attempt == retries:
                    raise
        raise AssertionError("unreachable")

    def clear(self) -> None:
        """Drop pending input (pyvisa's clear, where the backend has one)."""
        instrument = self.instrument
        if instrument is None:
            return
        try:
            instrument.clear()
        except Exception:  # noqa: BLE001 - not every backend can clear; nothing to undo
            pass

    def _live(self, operation: str) -> Any:
        if self.instrument is None:
            raise PortError(
                self._device.label,
                operation,
                f"device {self._device.label!r}: VISA resource {self.address!r} is not open (the kernel opens it "
                "just before initialize())",
                self.address,
            )
        return self.instrument

    def _timeout_ms(self, timeout_ms: float | None) -> float:
        return float(self._device._props.get("AnswerTimeout")) if timeout_ms is None else float(timeout_ms)

    def _error(self, kind: type[PortError], operation: str, detail: str) -> PortError:
        device = self._device.label
        return kind(device, operation, f"device {device!r}, VISA resource {self.address!r}: {detail}", self.address)


TIMEOUT_CODE = -1073807339  # VI_ERROR_TMO


def _is_timeout(error: BaseException) -> bool:
    """A VISA timeout (VI_ERROR_TMO), not any VisaIOError: a lost connection or a busy
    resource is a different problem and says so."""
    code = getattr(error, "error_code", None)
    if code is not None:
        return int(code) == TIMEOUT_CODE
    return isinstance(error, TimeoutError) or "timeout" in str(error).lower()


def _visa_reason(error: BaseException) -> str:
    """What went wrong, in VISA's words when it is a VISA error ("VI_ERROR_CONN_LOST: the
    connection for the given session has been lost")."""
    abbreviation, description = getattr(error, "abbreviation", None), getattr(error, "description", None)
    if abbreviation and description:
        return f"{abbreviation}: {description}"
    return f"{type(error).__name__}: {error}"


def _apply_line(instrument: Any, line: LineSettings) -> None:
    """A serial VISA resource's line settings, as pyvisa spells them."""
    from pyvisa import constants

    instrument.baud_rate = line.baud_rate
    instrument.data_bits = line.data_bits
    instrument.parity = getattr(constants.Parity, line.parity.lower())
    instrument.stop_bits = {"1": constants.StopBits.one, "1.5": constants.StopBits.one_and_a_half,
                            "2": constants.StopBits.two}[line.stop_bits]  # fmt: skip
