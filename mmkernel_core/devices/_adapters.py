"""AdapterRegistry: which adapter (module) offers which device names, and from which plugin.

Micro-Manager calls an adapter a "module" (e.g. DemoCamera) and its devices by name (e.g. DCam).
Device classes may be given as import paths; they are imported only when a device is loaded.
An adapter may also answer another module name (`AdapterSpec.alias`): the Micro-Manager bridge's
`mm:DemoCamera` answers `DemoCamera` when no Python adapter has that name, or first when the
user prefers it (`preferred`). `resolve()` is the one place that choice is made.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass, field
from typing import Any

from mmkernel_sdk import Device
from mmkernel_sdk.errors import PluginError, UnknownDeviceError
from mmkernel_sdk.plugin import AdapterSpec, DeviceSpec

DIRECT = "(registered directly)"
BUILT_IN = "(built in)"
ANY_NAME = "*"  # a DeviceSpec named "*" accepts any device name (SerialManager: the port's name)
SERIAL_MANAGER = AdapterSpec(
    "SerialManager",
    "Serial ports as devices (Micro-Manager's SerialManager): the device name is the port",
    [DeviceSpec(ANY_NAME, "Serial", "Serial port", "mmkernel_sdk.resources:SerialManagerPort")],
)


@dataclass(frozen=True)
class DeviceOffer:
    """A plugin's DeviceSpec, with the adapter it belongs to and the plugin it came from."""

    spec: DeviceSpec
    adapter: str
    source: str

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def device_type(self) -> str:
        return self.spec.device_type

    @property
    def description(self) -> str:
        return self.spec.description

    def load_class(self) -> type[Device]:
        """The device class, importing it now if it was declared by path."""
        target = self.spec.target
        if isinstance(target, str):
            module_name, _, attribute = target.partition(":")
            try:
                target = getattr(importlib.import_module(module_name), attribute)
            except Exception as error:  # any import failure is the plugin's
                raise PluginError(
                    f"adapter {self.adapter!r}, device {self.name!r} (plugin {self.source!r}): "
                    f"cannot import {self.spec.target!r}: {type(error).__name__}: {error}"
                ) from error
        if not (isinstance(target, type) and issubclass(target, Device)):
            raise PluginError(
                f"adapter {self.adapter!r}, device {self.name!r} (plugin {self.source!r}): "
                f"{self.spec.target!r} is not a Device subclass"
            )
        if target.device_type != self.device_type:
            raise PluginError(
                f"adapter {self.adapter!r}, device {self.name!r} (plugin {self.source!r}): declared "
                f"as {self.device_type} but {target.__qualname__} is a {target.device_type}"
            )
        return target

    def create(self) -> Device:
        return self.load_class()()


@dataclass
class AdapterInfo:
    name: str
    description: str = ""
    source: str = DIRECT
    devices: dict[str, DeviceOffer] = field(default_factory=dict)


class AdapterRegistry:
    def __init__(self, built_in: bool = True) -> None:
        self._adapters: dict[str, AdapterInfo] = {}
        self._conflicts: dict[str, list[str]] = {}
        self._aliases: dict[str, tuple[str, bool]] = {}  # plain name -> (adapter, preferred)
        self.examples: dict[str, str] = {}  # example configuration name -> path
        # Offered by plugins (the kernel's own formats and steps come with mmkernel_core.recording):
        self.writers: dict[str, Any] = {}  # recording format name -> Writer factory
        self.steps: dict[str, Any] = {}  # processing step name -> Step factory
        if built_in:
            self.add(SERIAL_MANAGER, BUILT_IN)

    def register(
        self,
        adapter: str,
        device_class: type[Device],
        device_name: str | None = None,
        description: str | None = None,
    ) -> None:
        """Offer `device_class` as `adapter`/`device_name` (default: the class name)."""
        doc = (device_class.__doc__ or "").strip().splitlines()
        text = description if description is not None else (doc[0] if doc else "")
        spec = DeviceSpec(device_name or device_class.__name__, device_class.device_type, text, device_class)
        info = self._adapters.setdefault(adapter, AdapterInfo(adapter))
        info.devices[spec.name] = DeviceOffer(spec, adapter, info.source)

    def add_device(self, adapter: str, spec: DeviceSpec) -> None:
        """Offer one DeviceSpec under `adapter` (tests, scripts: without a plugin)."""
        info = self._adapters.setdefault(adapter, AdapterInfo(adapter))
        info.devices[spec.name] = DeviceOffer(spec, adapter, info.source)

    def add(self, spec: AdapterSpec, source: str) -> PluginError | None:
        """Add a plugin's adapter; a name another plugin already claimed becomes a conflict."""
        existing = self._adapters.get(spec.name)
        if existing is not None and existing.source != source:
            sources = self._conflicts.setdefault(spec.name, [existing.source])
            sources.append(source)
            return PluginError(
                f"adapter {spec.name!r} is offered by several plugins ({', '.join(sources)}); "
                "it is unusable until only one of them is installed"
            )
        if spec.alias and (spec.preferred or spec.alias not in self._aliases):
            self._aliases[spec.alias] = (spec.name, spec.preferred)
        info = existing or AdapterInfo(spec.name, spec.description, source)
        for device in spec.devices:
            info.devices[device.name] = DeviceOffer(device, spec.name, source)
        self._adapters[spec.name] = info
        return None

    def adapters(self) -> list[AdapterInfo]:
        """Usable adapters, sorted by name (conflicting ones are left out)."""
        return [self._adapters[n] for n in sorted(self._adapters) if n not in self._conflicts]

    def resolve(self, adapter: str) -> str:
        """The adapter a module name means: itself, or the adapter that takes it as its alias
        (when no adapter has that name, or the alias is preferred). `offer` resolves first;
        the chosen name is what device_info shows."""
        alias = self._aliases.get(adapter)
        if alias is not None and (alias[1] or adapter not in self._adapters) and alias[0] in self._adapters:
            return alias[0]
        return adapter

    def offer(self, adapter: str, device_name: str) -> DeviceOffer:
        adapter = self.resolve(adapter)
        if adapter in self._conflicts:
            raise PluginError(
                f"adapter {adapter!r} is offered by several plugins "
                f"({', '.join(self._conflicts[adapter])}); uninstall all but one"
            )
        info = self._adapters.get(adapter)
        if info is None:
            usable = [a.name for a in self.adapters()]
            raise UnknownDeviceError(
                f"no adapter named {adapter!r}{_suggest(adapter, usable)}; "
                f"available adapters: {', '.join(usable) or '(none)'}"
            )
        offer = info.devices.get(device_name)
        if offer is None and ANY_NAME in info.devices and isinstance(device_name, str) and device_name:
            template = info.devices[ANY_NAME]
            spec = DeviceSpec(device_name, template.spec.device_type, template.spec.description, template.spec.target)
            return DeviceOffer(spec, adapter, template.source)
        if offer is None:
            raise UnknownDeviceError(
                f"adapter {adapter!r} has no device named {device_name!r}"
                f"{_suggest(device_name, list(info.devices))}; its devices: "
                f"{', '.join(sorted(info.devices)) or '(none)'}"
            )
        return offer


def _suggest(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=3)
    return f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
