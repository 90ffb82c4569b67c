"""Serial ports of C++ devices: Micro-Manager's C++ SerialManager port, in the device's core.

A C++ device (an ASI stage, a Lumencor light) names its port in its pre-init `Port` property,
and MMCore finds that port by label in the device's own core. When `Port` names an MMKernel
port device (`Device,COM1,SerialManager,COM1`), the bridge loads Micro-Manager's SerialManager
port of that label into the core before the C++ device (once per core), copies the port
device's line settings to it and initializes it. The port device's line is then handed over
to that core: MMKernel's own devices are refused it (and a C++ device is refused a line that
MMKernel's devices have open), so one side owns each serial line. The C++ port leaves the core
with the last C++ device using it. A device path is one C++ port in the process (SerialManager
shares one port object per path), so a second core or kernel reaching it is refused.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

from mmkernel_sdk.errors import DeviceError
from mmkernel_sdk.host import properties_of
from mmkernel_sdk.resources import Resource, SerialManagerPort, resolve_port, wires_of

from .cores import CoreGroup
from .discovery import modules

SERIAL_MODULE = "SerialManager"
PORT_PROPERTY = "Port"
LINE_SETTINGS = ("BaudRate", "DataBits", "Parity", "StopBits", "Handshaking", "AnswerTimeout", "DelayBetweenCharsMs")
"""What the C++ port gets from the port device (all pre-init in Micro-Manager's SerialManager)."""


@dataclass
class CppPort:
    """One C++ SerialManager port in a core, and the C++ devices using it."""

    label: str
    port: SerialManagerPort
    path: str = ""
    users: list[str] = field(default_factory=list)


_ports: weakref.WeakKeyDictionary[CoreGroup, dict[str, CppPort]] = weakref.WeakKeyDictionary()
_paths: dict[str, tuple[weakref.ref[CoreGroup], str]] = {}
"""{device path: (core, port label)} of every C++ port open in the process: Micro-Manager's
SerialManager keeps one port object per path (a second load of the path is the same object,
and unloading either shuts it down), so a path is one C++ port, in one core, under one label
(a core that is gone holds none)."""
_lock = threading.Lock()


def holder(group_name: str) -> str:
    """The name a core holds a port's line under."""
    return f"mmcore:{group_name}"


def port_device(device: Any) -> SerialManagerPort | None:
    """The MMKernel port device the C++ device's pre-init Port names (None: it names none)."""
    table = properties_of(device)
    if PORT_PROPERTY not in table:
        return None
    address = str(table.get(PORT_PROPERTY) or "")
    if not address or address == "Undefined":
        return None
    target = resolve_port(device, address)
    found = target.device if target.via is not None else None
    return found if isinstance(found, SerialManagerPort) else None


class PortLink(Resource):
    """The C++ device's second wire: its port device's line, so the port device and the C++
    devices on it share one runner. Left out while the line belongs to someone else (MMKernel's
    own devices, or another core): initialize then says so, instead of merging runners."""

    carries_commands = False

    def wire(self, device: Any) -> str | None:
        port = port_device(device)
        if port is None:
            return None
        taken = port.line_holder()
        if taken == holder(device.core_name()) or (taken is None and not port.line_users()):
            wires = wires_of(port)
            return wires[0] if wires else None
        return None

    def open(self, device: Any) -> None:
        """Nothing to open here: the C++ port is loaded with the device (attach_port())."""

    def close(self, device: Any) -> None:
        """The C++ port leaves with the device (detach_port())."""


def _names(labels: list[str]) -> str:
    return ", ".join(repr(label) for label in labels)


def attach_port(device: Any, group: CoreGroup) -> None:
    """Before the C++ device is loaded into `group`'s core (on its runner): if its Port names an
    MMKernel port device, that port's C++ SerialManager port is in the core (loaded, line
    settings copied, initialized) and the port's line is handed over to the core."""
    port = port_device(device)
    if port is None:
        return
    label, mine = port.label, holder(group.name)
    what = f"device {device.label!r} (C++ {device.mm_module}/{device.mm_device})"
    users = port.line_users()
    if users:
        raise DeviceError(
            device.label, "initialize",
            f"{what} cannot use port {label!r}: MMKernel's device(s) {_names(users)} have its line open, and a C++ "
            f"device reaches it through Micro-Manager's own SerialManager port; one side must own the serial line: "
            f"give {device.label!r} another port, or unload {_names(users)} first (or load {device.label!r} from a "
            "Python adapter)",
        )  # fmt: skip
    taken = port.line_holder()
    if taken is not None and taken != mine:
        raise DeviceError(
            device.label, "initialize",
            f"{what} cannot use port {label!r}: its line is the C++ SerialManager port of core "
            f"{taken.removeprefix('mmcore:')!r} already, and {device.label!r} is in core {group.name!r}; C++ devices "
            f"on one port must share a core (set the MMCore property of {device.label!r} to "
            f"{taken.removeprefix('mmcore:')!r})",
        )  # fmt: skip
    with _lock:
        table = _ports.setdefault(group, {})
        known = table.get(label)
    if known is None:
        known = CppPort(label, port, _load_cpp_port(device, group, port))
        with _lock:
            table[label] = known
    if device.label not in known.users:
        known.users.append(device.label)
    port.hand_over(mine, _reason(known, group))


def _reason(known: CppPort, group: CoreGroup) -> str:
    users = _names(known.users)
    return (
        f"its line is driven by Micro-Manager's C++ SerialManager port {known.label!r} in core {group.name!r}, for "
        f"the C++ device(s) {users}; one side must own the serial line: give this device another port, or unload "
        f"{users} first"
    )


def _load_cpp_port(device: Any, group: CoreGroup, port: SerialManagerPort) -> str:
    """Load, set up and initialize the C++ port; returns its device path."""
    core, label = group.core, port.label
    if SERIAL_MODULE not in modules():
        raise DeviceError(
            device.label, "initialize",
            f"device {device.label!r} (C++ {device.mm_module}/{device.mm_device}) names the port {label!r}, which a "
            f"C++ device reaches through Micro-Manager's C++ SerialManager module, but no SerialManager adapter "
            f"library (libmmgr_dal_SerialManager) is in the Micro-Manager adapter folders; add it "
            f"(MMKERNEL_MM_ADAPTER_PATH), or load {device.label!r} from a Python adapter",
        )  # fmt: skip
    url = resolve_port(port, port.device_name).url  # the port device's name, through the kernel's port map
    if "://" in url:
        raise DeviceError(
            device.label, "initialize",
            f"device {device.label!r}: port {label!r} leads to {url!r}, which Micro-Manager's SerialManager cannot "
            "open (it opens the computer's serial ports: COM1, /dev/ttyUSB0)",
        )  # fmt: skip
    where = f"port {label!r}" if url == label else f"port {label!r} ({url})"  # MM's "open: No such file" names none
    with _lock:
        ref, other_label = _paths.get(url, (None, ""))
        other = ref() if ref is not None else None
        if other is None:
            _paths[url] = (weakref.ref(group), label)
    if other is not None:
        raise DeviceError(device.label, "initialize", _path_taken(device, where, group, other, other_label))
    try:
        device.mm(f"load {where}", core.loadDevice, label, SERIAL_MODULE, url)
    except BaseException:
        _forget_path(url, group)
        raise
    try:
        table = properties_of(port)
        for name in LINE_SETTINGS:
            value = table.get(name)
            device.mm(f"set {name} of {where}", core.setProperty, label, name, _text(value))
        device.mm(f"initialize {where}", core.initializeDevice, label)
    except BaseException:
        try:
            _unload_quietly(core, label)
        finally:
            _forget_path(url, group)
        raise
    return url


def _path_taken(device: Any, where: str, group: CoreGroup, other: CoreGroup, other_label: str) -> str:
    users = _names(cpp_ports(other).get(other_label, []))
    place = f"core {other.name!r}" + ("" if other.owner == group.owner else " of another kernel")
    return (
        f"device {device.label!r}: {where} is open already in Micro-Manager's C++ SerialManager as port "
        f"{other_label!r} in {place}, for the C++ device(s) {users}; SerialManager keeps one port per path in a "
        f"process (unloading either would close both): reach it through that port device and core, or unload "
        f"{users} first"
    )


def _forget_path(path: str, group: CoreGroup) -> None:
    with _lock:
        if path in _paths and _paths[path][0]() is group:
            del _paths[path]


def detach_port(device: Any, group: CoreGroup) -> None:
    """The C++ device left `group`'s core: a C++ port nobody there uses any more leaves too, and
    its line goes back to MMKernel's devices."""
    with _lock:
        table = _ports.get(group, {})
        found = [known for known in table.values() if device.label in known.users]
        for known in found:
            known.users.remove(device.label)
            if not known.users:
                del table[known.label]
    for known in found:
        if known.users:
            known.port.hand_over(holder(group.name), _reason(known, group))
            continue
        try:
            _unload_quietly(group.core, known.label)
        finally:
            _forget_path(known.path, group)
            known.port.take_back(holder(group.name))


def cpp_ports(group: CoreGroup) -> dict[str, list[str]]:
    """{port label: the C++ devices using it} in `group`'s core."""
    with _lock:
        return {label: list(known.users) for label, known in _ports.get(group, {}).items()}


def _unload_quietly(core: Any, label: str) -> None:
    try:
        core.unloadDevice(label)
    except (RuntimeError, ValueError):
        pass  # gone already (the core was emptied)


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else repr(value)
    return str(value)
