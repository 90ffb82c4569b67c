"""The kernel's record of devices: what is loaded, what could be, and what is known of them.

- `_loaded`: LoadedDevice (one device under its label: adapter object, runner, flags, a
  camera's streaming state), DeviceInfo, DeviceHealth.
- `_adapters`: AdapterRegistry (which adapter offers which device names, from which plugin);
  `_plugins`: plugin discovery over entry points and pluggy hooks.
- `_cache`: StateCache, the last known value of every property and exactly-once change events.
- `_roles`: Roles (the Camera, Shutter, Focus... of the system) and Core's role table.
- `_busy`: BusyWatch, every pending `wait_for` on one device served by one polling cycle.

May import: `runtime`, `mmkernel_sdk`. Not frames, verbs, config, recording or the CLI.
"""

from ._adapters import ANY_NAME, BUILT_IN, DIRECT, AdapterInfo, AdapterRegistry, DeviceOffer
from ._busy import BusyWatch, still_busy
from ._cache import StateCache
from ._loaded import CameraState, DeviceHealth, DeviceInfo, LoadedDevice, with_article
from ._plugins import PluginFailure, discover, installed_entry_points
from ._roles import CORE_ROLES, Roles

__all__ = [
    "ANY_NAME",
    "BUILT_IN",
    "CORE_ROLES",
    "DIRECT",
    "AdapterInfo",
    "AdapterRegistry",
    "BusyWatch",
    "CameraState",
    "DeviceHealth",
    "DeviceInfo",
    "DeviceOffer",
    "LoadedDevice",
    "PluginFailure",
    "Roles",
    "StateCache",
    "discover",
    "installed_entry_points",
    "still_busy",
    "with_article",
]
