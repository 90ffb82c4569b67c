"""AdapterRegistry: which adapter (module) offers which device names.

Micro-Manager calls an adapter a "module" (e.g. DemoCamera) and its devices by name (e.g. DCam).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field

from mmkernel_sdk import Device
from mmkernel_sdk.errors import UnknownDeviceError

DeviceFactory = Callable[[], Device]


@dataclass(frozen=True)
class DeviceOffer:
    name: str
    device_type: str
    description: str
    factory: DeviceFactory


@dataclass
class AdapterInfo:
    name: str
    description: str = ""
    devices: dict[str, DeviceOffer] = field(default_factory=dict)


class AdapterRegistry:
    def __init__(self) -> None:
        self._adapters: dict[str, AdapterInfo] = {}

    def register(
        self,
        adapter: str,
        device_class: type[Device],
        device_name: str | None = None,
        description: str | None = None,
    ) -> None:
        """Offer `device_class` as `adapter`/`device_name` (default: the class name)."""
        info = self._adapters.setdefault(adapter, AdapterInfo(adapter))
        name = device_name or device_class.__name__
        doc = (device_class.__doc__ or "").strip().splitlines()
        text = description if description is not None else (doc[0] if doc else "")
        info.devices[name] = DeviceOffer(name, device_class.device_type, text, device_class)

    def adapters(self) -> list[AdapterInfo]:
        return [self._adapters[name] for name in sorted(self._adapters)]

    def offer(self, adapter: str, device_name: str) -> DeviceOffer:
        info = self._adapters.get(adapter)
        if info is None:
            raise UnknownDeviceError(
                f"no adapter named {adapter!r}{_suggest(adapter, self._adapters)}; "
                f"available adapters: {', '.join(sorted(self._adapters)) or '(none)'}"
            )
        offer = info.devices.get(device_name)
        if offer is None:
            raise UnknownDeviceError(
                f"adapter {adapter!r} has no device named {device_name!r}"
                f"{_suggest(device_name, info.devices)}; its devices: "
                f"{', '.join(sorted(info.devices)) or '(none)'}"
            )
        return offer


def _suggest(name: str, choices: object) -> str:
    close = difflib.get_close_matches(name, list(choices), n=3)  # type: ignore[call-overload]
    return f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
