"""The whole system, captured before a load, so a load that fails can put it back.

Captured: every device (the device object itself, its adapter, the name it was loaded by, its
device name, parent hub, whether it was initialized, its property values, its state labels,
delay, focus direction and a camera's buffer size), presets, pixel sizes, roles, the Core
settings and the configuration file. Restoring unloads whatever the failed load left, loads the
same device objects again under the same labels (hubs before the devices under them, whatever
order they were loaded in), initializes those that were, and sets every writable property back
(retrying those a later one makes valid, as MMCore's setSystemState does), then compares
property by property.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from mmkernel_sdk import Device
from mmkernel_sdk.errors import MMKernelError
from mmkernel_sdk.host import properties_of

from ._groups import PixelSizeConfig, Setting


@dataclass
class DeviceRecord:
    label: str
    device: Device
    adapter: str
    device_name: str
    parent: str | None
    initialized: bool
    delay_s: float
    values: dict[str, Any]  # every property as last known (initialized devices: the cache)
    writable: list[str]  # properties restored by setting them (not read-only, not pre-init)
    state_labels: list[str] | None
    buffer_mb: float | None = None  # a camera's buffer size, when set (set_buffer_size)
    requested: str = ""  # the adapter name it was loaded by (before resolve), which a saved file writes


@dataclass
class SystemSnapshot:
    devices: list[DeviceRecord] = field(default_factory=list)
    groups: dict[str, dict[str, list[Setting]]] = field(default_factory=dict)
    pixel_sizes: dict[str, PixelSizeConfig] = field(default_factory=dict)
    focus_directions: dict[str, int] = field(default_factory=dict)
    roles: dict[str, Any] = field(default_factory=dict)
    timeout: float = 10.0
    core_initialized: bool = False
    config_file: Path | None = None

    @property
    def labels(self) -> list[str]:
        return [record.label for record in self.devices]


def capture(kernel: Any) -> SystemSnapshot:
    internals = kernel.internals
    state = internals.cache.snapshot()
    records = []
    for loaded in internals.devices():
        props = loaded.props
        values = dict(state.get(loaded.label, {})) if loaded.initialized else {}
        for name in props.names():
            spec = props.spec(name)
            if name not in values and (spec.pre_init or spec.before_init or not loaded.initialized):
                try:
                    values[name] = props.get(name)
                except Exception:  # noqa: BLE001 - a getter that needs the hardware: nothing to keep
                    pass
        writable = [n for n in props.names() if not props.spec(n).read_only and not props.spec(n).pre_init]
        labels = list(loaded.device.labels) if loaded.device_type == "State" else None  # type: ignore[attr-defined]
        records.append(
            DeviceRecord(
                loaded.label,
                loaded.device,
                loaded.adapter,
                loaded.device_name,
                loaded.parent,
                loaded.initialized,
                loaded.delay_s,
                values,
                writable,
                labels,
                _buffer_mb(loaded),
                loaded.requested,
            )
        )
    return SystemSnapshot(
        devices=records,
        groups=internals.configuration.groups.copy(),
        pixel_sizes=copy.deepcopy(internals.configuration.pixel_sizes),
        focus_directions=dict(internals.configuration.focus_directions),
        roles={item.name: getattr(kernel.roles, item.name) for item in fields(kernel.roles)},
        timeout=kernel.default_timeout,
        core_initialized=internals.core.initialized,
        config_file=internals.configuration.file,
    )


def _buffer_mb(loaded: Any) -> float | None:
    return loaded.camera.buffer_mb if loaded.device_type == "Camera" else None  # type: ignore[no-any-return]


def restore(kernel: Any, snapshot: SystemSnapshot) -> list[str]:
    """Put the system back; returns what could not be (empty: all of it, property by property)."""
    problems: list[str] = []
    try:
        kernel.unload_all()
    except MMKernelError as error:
        problems.append(f"unloading what the failed load left: {error}")
    internals = kernel.internals
    internals.reset_configuration()
    loaded: list[DeviceRecord] = []
    for record in hubs_first(snapshot.devices):
        try:
            internals.load_object(
                record.label, record.device, record.adapter, record.device_name, record.parent, record.requested
            )
            loaded.append(record)
        except MMKernelError as error:
            problems.append(f"device {record.label!r} could not be loaded again: {error}")
    internals.keep_order(snapshot.labels)  # listed as before, although loaded hubs first
    for record in loaded:
        restored = internals.find(record.label)
        if record.buffer_mb is not None and restored is not None:
            restored.camera.buffer_mb = record.buffer_mb  # before initialize allocates
        if record.delay_s:
            kernel.set_device_delay(record.label, record.delay_s * 1000.0)
        for name, value in record.values.items():  # pre-init (and before-init) values first
            spec = properties_of(record.device).spec(name)
            if spec.pre_init or (spec.before_init and not spec.read_only):
                _quietly(problems, kernel.set_property, record.label, name, value)
    initialize = [record.label for record in loaded if record.initialized]
    for label in initialize:  # each with its own error: one device that cannot come back is named
        _quietly(problems, kernel.initialize, label)
    for record in loaded:
        restored = internals.find(record.label)
        if record.state_labels is not None and restored is not None and record.initialized:
            now = restored.device.labels  # type: ignore[attr-defined]
            for position, text in enumerate(record.state_labels):
                if position >= len(now) or now[position] != text:  # the adapter's own labels stay as they are
                    _quietly(problems, kernel.define_state_label, record.label, position, text)
    internals.configuration.groups.restore(snapshot.groups)
    internals.configuration.pixel_sizes.update(copy.deepcopy(snapshot.pixel_sizes))
    internals.configuration.focus_directions.update(snapshot.focus_directions)
    for name, value in snapshot.roles.items():
        setattr(kernel.roles, name, value)
    kernel.default_timeout = snapshot.timeout
    internals.core.initialized = snapshot.core_initialized
    internals.configuration.file = snapshot.config_file
    still_there = [r for r in loaded if r.initialized and internals.find(r.label) is not None]
    _set_values_back(kernel, still_there, problems)
    problems += differences(kernel, snapshot)
    return problems


def hubs_first(records: list[DeviceRecord]) -> list[DeviceRecord]:
    """The records in their order, except that a hub is pulled ahead of the first device under
    it (a file may load a peripheral first and name its hub in a later Parent line). Nothing
    else moves: a device that drives another (LED Shutter, LED) still comes after it."""
    by_label = {record.label: record for record in records}
    ordered: list[DeviceRecord] = []
    placed: set[str] = set()

    def place(record: DeviceRecord) -> None:
        if record.label in placed:
            return
        placed.add(record.label)  # before its hub: even a cycle ends
        hub = by_label.get(record.parent) if record.parent is not None else None
        if hub is not None:
            place(hub)
        ordered.append(record)

    for record in records:
        place(record)
    return ordered


def _set_values_back(kernel: Any, records: list[DeviceRecord], problems: list[str]) -> None:
    """Every writable property to its captured value, retried while that makes progress (a
    value may be refused until another property is set: PixelType after BitDepth)."""
    todo = [(r.label, name, r.values[name]) for r in records for name in r.writable if name in r.values]
    while todo:
        failed = []
        for label, name, value in todo:
            try:
                if kernel.get_property(label, name, from_cache=True) != value:
                    kernel.set_property(label, name, value)
            except MMKernelError as error:
                failed.append((label, name, value, error))
        if len(failed) == len(todo):
            problems += [f"device {label!r}, property {name!r}: not set back to {value!r}: {error}"
                         for label, name, value, error in failed]  # fmt: skip
            return
        todo = [(label, name, value) for label, name, value, _ in failed]


def differences(kernel: Any, snapshot: SystemSnapshot) -> list[str]:
    """What differs between the system now and `snapshot`, property by property."""
    now = capture(kernel)
    found: list[str] = []
    if now.labels != snapshot.labels:
        found.append(f"devices {now.labels} instead of {snapshot.labels}")
    before = {record.label: record for record in snapshot.devices}
    for record in now.devices:
        old = before.get(record.label)
        if old is None:
            continue
        kept = set(old.writable) | {n for n in old.values if properties_of(old.device).spec(n).pre_init}
        for name, value in old.values.items():
            if name in kept and name in record.values and record.values[name] != value:
                now_value = record.values[name]
                found.append(f"device {record.label!r}, property {name!r}: {now_value!r} instead of {value!r}")
        if old.initialized != record.initialized:
            found.append(f"device {record.label!r}: initialized {record.initialized} instead of {old.initialized}")
        if old.buffer_mb != record.buffer_mb:
            found.append(f"camera {record.label!r}: buffer {record.buffer_mb} MB instead of {old.buffer_mb} MB")
        if old.state_labels != record.state_labels:
            found.append(f"device {record.label!r}: state labels {record.state_labels} instead of {old.state_labels}")
    if now.roles != snapshot.roles:
        found.append(f"roles {now.roles} instead of {snapshot.roles}")
    if now.groups != snapshot.groups:
        found.append("presets differ")
    return found


def _quietly(problems: list[str], fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except MMKernelError as error:
        problems.append(f"{getattr(fn, '__name__', fn)}{args}: {error}")
