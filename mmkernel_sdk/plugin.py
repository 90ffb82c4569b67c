"""What an adapter plugin declares: pluggy hooks and the specs they return.

A plugin is a module named by an entry point in the group `mmkernel.adapters`:

    [project.entry-points."mmkernel.adapters"]
    xyz = "mmkernel_adapter_xyz.plugin"

and that module implements the hook:

    from mmkernel_sdk.plugin import AdapterSpec, DeviceSpec, hookimpl

    @hookimpl
    def mmkernel_adapters():
        return [AdapterSpec("XYZ", "XYZ controllers", [
            DeviceSpec("XYZ-Wheel", "State", "Filter wheel", "mmkernel_adapter_xyz.wheel:Wheel"),
        ])]

Devices are named by import path so listing adapters never imports device modules (or the vendor
SDKs they need); the class is imported when a device is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from ._device import Device

PROJECT = "mmkernel"
ENTRY_POINT_GROUP = "mmkernel.adapters"
DEVICE_TYPE_NAMES = (
    "Camera",
    "Stage",
    "XYStage",
    "Shutter",
    "State",
    "AutoFocus",
    "SignalIO",
    "Generic",
    "Hub",
    "Serial",
)

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@dataclass(frozen=True)
class DeviceSpec:
    """One device an adapter offers. `target` is the class or "package.module:ClassName"."""

    name: str
    device_type: str
    description: str
    target: type[Device] | str

    def __post_init__(self) -> None:
        problem = self.problem()
        if problem:
            raise ValueError(problem)

    def problem(self) -> str:
        """What is wrong with this spec ("" if nothing): checked here and again by the kernel."""
        if not isinstance(self.name, str) or not self.name.strip():
            return f"device name {self.name!r} must be a non-empty string"
        if self.device_type not in DEVICE_TYPE_NAMES:
            known = ", ".join(DEVICE_TYPE_NAMES)
            return f"device {self.name!r}: device_type {self.device_type!r} is not one of {known}"
        if not isinstance(self.description, str):
            return f"device {self.name!r}: description {self.description!r} must be a string"
        if isinstance(self.target, str):
            if ":" not in self.target:
                return f"device {self.name!r}: target {self.target!r} must look like 'package.module:Class'"
        elif not isinstance(self.target, type):
            return f"device {self.name!r}: target {self.target!r} must be a class or 'package.module:Class'"
        return ""


@dataclass(frozen=True)
class AdapterSpec:
    """An adapter (Micro-Manager's "module", e.g. DemoCamera) and the devices it offers."""

    name: str
    description: str
    devices: tuple[DeviceSpec, ...] | list[DeviceSpec]
    alias: str = ""
    """Another module name this adapter answers to: a configuration naming `alias` uses this
    adapter when no adapter is called `alias` (e.g. the Micro-Manager bridge's mm:DemoCamera
    answers DemoCamera)."""
    preferred: bool = False
    """With an `alias`: answer it even when an adapter of that name exists (the user asked for
    it, e.g. MMKERNEL_MM_PREFER)."""

    def problem(self) -> str:
        """What is wrong with this spec ("" if nothing); the kernel refuses malformed specs."""
        if not isinstance(self.name, str) or not self.name.strip():
            return f"adapter name {self.name!r} must be a non-empty string"
        if not isinstance(self.description, str):
            return f"adapter {self.name!r}: description {self.description!r} must be a string"
        if not isinstance(self.alias, str) or not isinstance(self.preferred, bool):
            return f"adapter {self.name!r}: alias must be a string and preferred a bool"
        if not isinstance(self.devices, (list, tuple)):
            return f"adapter {self.name!r}: devices must be a list of DeviceSpec, not {self.devices!r}"
        for device in self.devices:
            if not isinstance(device, DeviceSpec):
                return f"adapter {self.name!r}: {device!r} is not a DeviceSpec"
            problem = device.problem()
            if problem:
                return f"adapter {self.name!r}: {problem}"
        return ""


class AdapterHooks:
    """The hook specifications plugins implement."""

    @hookspec
    def mmkernel_adapters(self) -> list[AdapterSpec]:
        """Return the adapters this plugin offers. Must be cheap: import no device modules."""
        raise NotImplementedError

    @hookspec
    def mmkernel_example_configs(self) -> dict[str, str]:
        """Optional: example configuration files this plugin ships, {name: path}; the command
        line accepts the name wherever it takes `--config`."""
        raise NotImplementedError

    @hookspec
    def mmkernel_writers(self) -> dict[str, Any]:
        """Optional: recording formats, {name: factory}; `factory(**options)` returns a
        `mmkernel_sdk.recording.Writer`. `kernel.record(..., format=name)` uses it."""
        raise NotImplementedError

    @hookspec
    def mmkernel_steps(self) -> dict[str, Any]:
        """Optional: processing steps, {name: factory}; `factory(*args)` returns a
        `mmkernel_sdk.recording.Step`. `kernel.record(..., steps=["name:arg,arg"])` uses it."""
        raise NotImplementedError
