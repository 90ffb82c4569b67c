"""MMDevice: what every bridged C++ device shares — its core, its properties, its errors.

Properties are read from MMCore as they are (type, limits, allowed values, read-only, pre-init)
and added at run time; the SDK base classes' own properties (Exposure, Position, State...)
take MM's limits and allowed values. Every C++ call goes through `mm()`, which turns MMCore's
RuntimeError/ValueError into a DeviceError naming the device, the call and MM's own text.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any, ClassVar

from mmkernel_sdk import Device, prop
from mmkernel_sdk.errors import DeviceError, MMKernelError
from mmkernel_sdk.host import properties_of
from mmkernel_sdk.resources import Resource

from .cores import CoreGroup, core_groups, default_group
from .discovery import device_folders
from .ports import PortLink, attach_port, detach_port

_KINDS: dict[int, type] = {1: str, 2: float, 3: int}  # MM String, Float, Integer (0 Undef -> str)
CORE_PROPERTY = "MMCore"
_MM_ERRORS = (RuntimeError, ValueError, IndexError, MemoryError)  # what pymmcore raises for MMCore's errors


def _typed(kind: type, text: Any) -> Any:
    """MM's string as `kind` (MM shows floats with 4 decimals; integers may come as '3.0')."""
    if kind is str:
        return str(text)
    if kind is int:
        return int(float(text))
    return float(text)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return repr(value)
    return str(value)


_outside: weakref.WeakSet[Any] = weakref.WeakSet()  # bridged devices not in a core (yet, or again)
_outside_lock = threading.Lock()


def _others_outside(device: Any) -> bool:
    """Whether another device of `device`'s kernel is not in a core: only then can a sibling
    still need loading into it (the first initialize of a load loads them all)."""
    with _outside_lock:
        return any(other is not device and other.kernel is device.kernel for other in _outside)


def _set_outside(device: Any, outside: bool) -> None:
    with _outside_lock:
        if outside:
            _outside.add(device)
        else:
            _outside.discard(device)


class CoreLink(Resource):
    """The device's wire is its core: devices of one core share one runner."""

    def wire(self, device: Any) -> str | None:
        return f"mmcore:{device.core_name()}"

    def open(self, device: Any) -> None:
        """Nothing to open: the core is made on the runner at initialize."""

    def close(self, device: Any) -> None:
        """The device leaves its core in shutdown()."""


class MMDevice(Device):
    """A device of a C++ module (`mm_module`/`mm_device` are set on the generated class)."""

    mm_module: ClassVar[str] = ""
    mm_device: ClassVar[str] = ""
    mm_type: ClassVar[str] = "Generic"
    name_check: ClassVar[bool] = False  # the names are Micro-Manager's adapters' own
    core_link = CoreLink()
    port_link = PortLink()  # a Port naming a port device: its C++ SerialManager port joins the core (ports.py)
    MMCore = prop(str, default="", pre_init=True, kernel_setting=True,
                  doc="The core (and runner) this device joins; '' = the default (not saved).")  # fmt: skip

    def __init__(self) -> None:
        self.mm_group: CoreGroup | None = None
        self.mm_in_core = False
        self._mm_kinds: dict[str, type] = {}
        self._mm_folders = [str(f) for f in device_folders()]
        _set_outside(self, True)
        rows = core_groups().preinit(self.mm_module, self.mm_device, self._mm_folders)
        for name, mm_kind, default, allowed, limits in rows:
            kind = self._kind_for(name, mm_kind, default, allowed)
            self.add_property(name, kind, setter=self._preinit_setter(name), pre_init=True, name_check=False,
                              default=_typed(kind, default) if default != "" or kind is str else None,
                              **self._constraints(kind, allowed, limits))  # fmt: skip

    # -- placement ---------------------------------------------------------------------------
    def core_name(self) -> str:
        """The MMCore property if set, else the hub's core, else the default group (once in a
        core, that core: the kernel asks for the device's wire often)."""
        if self.mm_group is not None and self.mm_in_core:
            return self.mm_group.name
        chosen = str(properties_of(self).get(CORE_PROPERTY) or "")
        if chosen:
            return chosen
        hub = self.hub
        if isinstance(hub, MMDevice):
            return hub.core_name()
        return default_group(self.mm_module)

    @property
    def core(self) -> Any:
        if self.mm_group is None:
            raise DeviceError(self.label, "call", f"device {self.label!r} is not in a Micro-Manager core yet")
        return self.mm_group.core

    def mm(self, op: str, call: Callable[..., Any], *args: Any) -> Any:
        """Run one C++ call; MMCore's errors become a DeviceError with MM's text."""
        try:
            return call(*args)
        except _MM_ERRORS as error:
            raise self.mm_error(op, error) from error

    def mm_error(self, op: str, error: BaseException) -> DeviceError:
        return DeviceError(self.label, op, f"device {self.label!r}: {op}: {error}")

    def mm_load(self) -> None:
        """Load the C++ device into its core (not initialize it): referencing devices of the
        same core (Utilities) list only labels loaded before their own initialize."""
        if self.mm_in_core:
            return
        group = core_groups().group(self.core_name(), self._mm_folders, self.kernel)  # per kernel
        self.mm_group = group
        core, label = group.core, self.label
        try:
            attach_port(self, group)  # its C++ SerialManager port first, if its Port names a port device
            try:
                self.mm("loadDevice", core.loadDevice, label, self.mm_module, self.mm_device)
            except BaseException:
                detach_port(self, group)
                raise
        except BaseException:
            core_groups().release(group)  # a core made for this device alone goes again
            raise
        group.devices[label] = self
        self.mm_in_core = True
        _set_outside(self, False)
        if isinstance(self.hub, MMDevice):
            self.mm("setParentLabel", core.setParentLabel, label, self.hub.label)
        table = properties_of(self)
        for name in self._mm_kinds:
            if table.spec(name).pre_init:
                value = table.get(name)
                if value is not None:
                    self.mm(f"set {name}", core.setProperty, label, name, _text(value))

    # -- lifecycle ---------------------------------------------------------------------------
    def initialize(self) -> None:
        if _others_outside(self):  # asking the kernel for the siblings costs a wire check of each device
            for other in self.siblings():  # they share this runner, so this thread may call them
                if isinstance(other, MMDevice):
                    other.mm_load()
        self.mm_load()
        core, label = self.core, self.label
        self.mm("initializeDevice", core.initializeDevice, label)
        self.description = str(self.mm("getDeviceDescription", core.getDeviceDescription, label))
        self._mm_settable: tuple[str, ...] | None = None  # the writable properties, once mapped
        self._mm_sequence_max: dict[str, int] = {}
        self.mm_map_properties()
        self.mm_refresh_sequencing()

    def shutdown(self) -> None:
        group = self.mm_group
        if group is None or not self.mm_in_core:
            return
        group.devices.pop(self.label, None)
        self.mm_in_core = False
        _set_outside(self, True)  # a failed load's restore may load this very object again
        try:
            self.mm("unloadDevice", group.core.unloadDevice, self.label)
        finally:
            try:
                detach_port(self, group)
            finally:
                core_groups().release(group)

    def busy(self) -> bool:
        if not self.mm_in_core:
            return False
        return bool(self.mm("deviceBusy", self.core.deviceBusy, self.label))

    # -- properties --------------------------------------------------------------------------
    def _kind_for(self, name: str, mm_kind: int, current: str, allowed: tuple[str, ...]) -> type:
        kind = _KINDS.get(mm_kind, str)
        if kind is not str:
            try:
                for text in (*allowed, *((current,) if current != "" else ())):
                    _typed(kind, text)
            except ValueError:
                kind = str
            if kind is float and allowed:
                kind = str  # MM compares allowed values as strings: keep them exact
        self._mm_kinds[name] = kind
        return kind

    @staticmethod
    def _constraints(kind: type, allowed: tuple[str, ...], limits: Any) -> dict[str, Any]:
        spec: dict[str, Any] = {}
        if allowed:
            spec["allowed"] = tuple(_typed(kind, a) for a in allowed)
        elif limits is not None and kind in (int, float) and limits[0] <= limits[1]:
            spec["limits"] = (float(limits[0]), float(limits[1]))
        return spec

    def _preinit_setter(self, name: str) -> Callable[[Any], None]:
        def setter(value: Any) -> None:
            if self.mm_in_core:
                self.mm(f"set {name}", self.core.setProperty, self.label, name, _text(value))

        return setter

    def mm_map_properties(self) -> None:
        """Add every post-init property MM shows (again after a change of what exists)."""
        core, label = self.core, self.label
        table = properties_of(self)
        for name in self.mm("getDevicePropertyNames", core.getDevicePropertyNames, label):
            if name in self._mm_kinds and table.spec(name).pre_init:
                continue
            mm_kind = int(core.getPropertyType(label, name))
            allowed = tuple(core.getAllowedPropertyValues(label, name))
            limits = None
            if core.hasPropertyLimits(label, name):
                limits = (core.getPropertyLowerLimit(label, name), core.getPropertyUpperLimit(label, name))
            if name in table:  # declared by the SDK base (Exposure, Binning, Position, State, Label...)
                kind = table.spec(name).kind
                self._mm_kinds[name] = kind
                constraints = self._constraints(kind, allowed, limits) if kind is not str or allowed else {}
                if "allowed" in constraints:
                    self.set_allowed(name, constraints["allowed"])
                elif "limits" in constraints:
                    self.set_limits(name, *constraints["limits"])
                continue
            kind = self._kind_for(name, mm_kind, core.getProperty(label, name), allowed)
            read_only = bool(core.isPropertyReadOnly(label, name))
            setter = None if read_only else self._setter(name)
            self.add_property(name, kind, getter=self._getter(name), setter=setter, read_only=read_only,
                              name_check=False, **self._constraints(kind, allowed, limits))  # fmt: skip

    def _getter(self, name: str) -> Callable[[], Any]:
        kinds = self._mm_kinds

        def getter() -> Any:  # mm() inlined: a load reads every property once, a refresh again
            try:
                text = self.core.getProperty(self.label, name)
            except _MM_ERRORS as error:
                raise self.mm_error(f"get {name}", error) from error
            return _typed(kinds[name], text)

        return getter

    def _setter(self, name: str) -> Callable[[Any], None]:
        def setter(value: Any) -> None:
            self.mm_set(name, value)

        return setter

    def mm_get(self, name: str) -> str:
        return str(self.mm(f"get {name}", self.core.getProperty, self.label, name))

    def mm_set(self, name: str, value: Any) -> None:
        self.mm(f"set {name}", self.core.setProperty, self.label, name, _text(value))
        self.mm_refresh_sequencing()

    # -- hardware sequences ------------------------------------------------------------------
    mm_own_sequence: ClassVar[str] = ""
    """The property MMCore sequences through the device type's own calls (a stage's Position:
    loadStageSequence; a camera's Exposure: loadExposureSequence), not loadPropertySequence."""

    def mm_refresh_sequencing(self) -> None:
        """Ask MMCore again how long a sequence each writable property (and the type's own
        sequence) may be. A C++ device decides at initialize and may change it with a setting
        (DemoCamera's DStage `UseSequences`, DCam `UseExposureSequences`, DStateDevice
        `Sequence`), announcing nothing; so this runs after initialize and after every set of a
        property through MMCore's setProperty (a C++ flag read per writable property, about
        0.5 us each, and the maximum of a sequenceable one). The calls that set a device's value
        itself (setPosition, setExposure, setState, setShutterOpen: the hot paths of
        software-timed runs) re-ask only the type's own sequence (one call), as no DemoCamera
        device switches sequencing with a value."""
        self.mm("isPropertySequenceable", self._mm_scan_sequences)
        self.mm_refresh_own_sequence()

    def _mm_scan_sequences(self) -> None:
        core, label, lengths = self.core, self.label, self._mm_sequence_max
        if self._mm_settable is None:
            table = properties_of(self)
            specs = [table.spec(name) for name in self._mm_kinds if name in table and name != self.mm_own_sequence]
            self._mm_settable = tuple(spec.name for spec in specs if not (spec.read_only or spec.pre_init))
        for name in self._mm_settable:
            sequenceable = core.isPropertySequenceable(label, name)
            length = int(core.getPropertySequenceMaxLength(label, name)) if sequenceable else 0
            if lengths.get(name, 0) != length:
                self.set_sequence_max(name, length)
                lengths[name] = length

    def mm_refresh_own_sequence(self) -> None:
        """The type's own sequence length (stages, XY stages, cameras override this)."""

    def mm_sequence_length(self, kind: str) -> int:
        """How many values MMCore's own sequence calls of `kind` ("Exposure", "Stage", "XYStage":
        `is<kind>Sequenceable`, `get<kind>SequenceMaxLength`) take for this device; 0: none."""
        core, label = self.core, self.label
        asked = f"is{kind}Sequenceable"
        if not self.mm(asked, getattr(core, asked), label):
            return 0
        longest = f"get{kind}SequenceMaxLength"
        return int(self.mm(longest, getattr(core, longest), label))

    def mm_set_own_sequence_max(self, length: int) -> None:
        if properties_of(self).spec(self.mm_own_sequence).sequence_max != length:
            self.set_sequence_max(self.mm_own_sequence, length)

    def load_property_sequence(self, name: str, values: list[Any]) -> None:
        """MMCore's loadPropertySequence with MM's strings (the type's own sequence: its call)."""
        if name == self.mm_own_sequence:
            return super().load_property_sequence(name, values)
        texts = [_text(value) for value in values]
        self.mm(f"loadPropertySequence {name}", self.core.loadPropertySequence, self.label, name, texts)
        return None

    def start_property_sequence(self, name: str) -> None:
        if name == self.mm_own_sequence:
            return super().start_property_sequence(name)
        self.mm(f"startPropertySequence {name}", self.core.startPropertySequence, self.label, name)
        return None

    def stop_property_sequence(self, name: str) -> None:
        if name == self.mm_own_sequence:
            return super().stop_property_sequence(name)
        self.mm(f"stopPropertySequence {name}", self.core.stopPropertySequence, self.label, name)
        return None

    def mm_announced(self, name: str, value: Any) -> None:
        """From the core's callback thread: MM announced a change. Unless `value` is what the
        kernel's cache holds already, the property is read again on the runner (invalidate())
        rather than taking `value`: MM's callbacks arrive late, so the echo of a set may come
        after a newer one, and storing it would step the cache (and the events) back. The read
        finds what the device holds now; the kernel's cache makes that one event per real
        change. An adapter that announces what it was asked for starts no loop of reads."""
        kind = self._mm_kinds.get(name)
        if kind is None or name not in properties_of(self):
            return
        kernel = self.kernel
        if kernel is not None:
            try:
                if kernel.get_property(self.label, name, from_cache=True) == _typed(kind, value):
                    return
            except (MMKernelError, TypeError, ValueError):
                pass  # no cached value yet, or MM's text is not of the kind: read it
        self.invalidate(name)
