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
from ._resource import Resource
from ._serial import _wire_key as _serial_wire_key

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


class VisaInstrument(Resource):
    def __init__(
        self,
        *,
        read_termination: str = "\n",
        write_termination: str = "\n",
        timeout_ms: float = 2000.0,
        encoding: str = "ascii",
        backend: str = "",
    ) -> None:
        self.read_termination = read_termination
        self.write_termination = write_termination
        self.encoding = encoding
        self._timeout_ms = timeout_ms
        self._backend = backend

    def properties(self) -> list[prop]:
        return [
            prop(str, default="", pre_init=True, name="Resource",
                 doc="VISA resource name, e.g. ASRL1::INSTR or TCPIP::192.168.1.5::INSTR."),
            prop(str, default=self._backend, pre_init=True, name="Backend",
                 doc='pyvisa library: "" (default), "@py" (pyvisa-py), "file.yaml@sim" (pyvisa-sim).'),
            prop(float, default=self._timeout_ms, limits=(0.0, 3_600_000.0), units="ms", name="AnswerTimeout",
                 before_init=True),
        ]  # fmt: skip

    def connect(self, device: DeviceLike) -> VisaConnection:
        return VisaConnection(self, device)

    def wire(self, device: DeviceLike) -> str | None:
        name = str(device._props.get("Resource"))
        return visa_wire(name, _resolve_backend(str(device._props.get("Backend")), device)) if name else None


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
    interface = _INTERFACE.match(parts[0])
    if interface is not None and not interface.group(2):
        parts[0] += "0"
    if parts[-1] not in _CLASSES:
        parts.append("INSTR")
    if parts[0].startswith("TCPIP") and len(parts) == 3 and parts[-1] == "INSTR":
        parts.insert(2, "INST0")  # TCPIP::host::INSTR is TCPIP0::host::inst0::INSTR
    key = "::".join(parts)
    return f"visa:{backend}:{key}" if simulated else f"visa:{key}"


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
        return str(self._device._props.get("Resource"))

    def open(self) -> None:
        if self.instrument is not None:
            return
        device, resource = self._device, self._resource
        name, backend = self.address, _resolve_backend(str(device._props.get("Backend")), device)
        if not name:
            message = f"device {device.label!r}: set its Resource property before initialize()"
            raise PortError(device.label, "open", message)
        key = f"handle:{visa_wire(name, backend)}"  # pyvisa's handle, not a SerialLine on the same port

        def opener() -> Any:
            instrument = _resource_manager(backend).open_resource(name)
            instrument.read_termination = resource.read_termination
            instrument.write_termination = resource.write_termination
            instrument.encoding = resource.encoding
            return instrument

        try:
            self.instrument = _shared.acquire(key, None, device.label, opener)
        except Exception as error:  # noqa: BLE001 - pyvisa raises many kinds; all mean "cannot open"
            raise PortError(
                device.label, "open", f"device {device.label!r}: cannot open VISA resource {name!r}: {error}", name
            ) from None
        self._key = key

    def close(self) -> None:
        instrument, self.instrument = self.instrument, None
        if instrument is not None:
            _shared.release(self._key, self._device.label)

    def write(self, command: str) -> None:
        instrument = self._live("write")
        self.last_sent = command
        try:
            instrument.write(command)
        except Exception as error:  # noqa: BLE001
            raise self._error(PortError, "write", f"writing {command!r} failed: {error}") from None

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
            if "timeout" in str(error).lower() or type(error).__name__ == "VisaIOError":
                self.clear()
                raise self._error(
                    PortTimeoutError, "read", f"no reply within {waited:.0f} ms after sending {self.last_sent!r}"
                ) from None
            raise self._error(PortError, "read", f"reading failed: {error}") from None

    def query(self, command: str, *, timeout_ms: float | None = None) -> str:
        self.write(command)
        return self.read(timeout_ms=timeout_ms)

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
