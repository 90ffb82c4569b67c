"""The `Core` pseudo-device, as in MMCore: the system's roles and settings as properties.

`get_property("Core", "Shutter")`, `set_property("Core", "Camera", "Cam2")` and presets with
`Core` settings (`ConfigGroup,Channel,FITC,Core,Shutter,White Light Shutter`) work as they do in
Micro-Manager. A role's allowed values are "" and the loaded devices of its type, in load order;
ChannelGroup's are "" and the config groups; AutoShutter and Initialize are 0 or 1; TimeoutMs
is a whole number of milliseconds > 0.
"""

from __future__ import annotations

import math
from typing import Any

from mmkernel_sdk import PropertySpec
from mmkernel_sdk.errors import PropertyError

from ..devices import (
    CORE_ROLES,  # Core property -> (Roles attribute, device type its value must be)
    with_article,
)

CORE = "Core"

FLAGS = ("AutoShutter", "Initialize")
NAMES = tuple(sorted((*CORE_ROLES, *FLAGS, "ChannelGroup", "TimeoutMs")))
DEFAULT_ROLE_TYPES = ("Camera", "Shutter", "XYStage", "AutoFocus")  # assigned at initialize_all, as MMCore does


class CoreDevice:
    """Reads and writes the Core properties of one kernel (`kernel` is the Kernel)."""

    def __init__(self, kernel: Any) -> None:
        self.kernel = kernel
        self.initialized = False  # "Initialize": 1 once initialize_all ran (MMCore's flag)

    def names(self) -> list[str]:
        return list(NAMES)

    def spec(self, name: str) -> PropertySpec:
        self._check_name(name)
        if name in FLAGS:
            return PropertySpec(name=name, kind=int, default=1 if name == "AutoShutter" else 0, allowed=(0, 1))
        if name == "TimeoutMs":
            return PropertySpec(name=name, kind=int, default=5000, doc="The default deadline of every call, in ms.")
        return PropertySpec(name=name, kind=str, default="", allowed=tuple(self.allowed(name)))

    def allowed(self, name: str) -> list[str]:
        if name == "ChannelGroup":
            return ["", *self.kernel.config_groups()]
        _, kind = CORE_ROLES[name]
        devices = self.kernel.internals.devices()
        return ["", *(d.label for d in devices if kind is not None and d.device_type == kind)]

    def get(self, name: str) -> Any:
        self._check_name(name)
        k = self.kernel
        if name in CORE_ROLES:
            return getattr(k.roles, CORE_ROLES[name][0])
        if name == "AutoShutter":
            return int(k.roles.auto_shutter)
        if name == "ChannelGroup":
            return k.roles.channel_group
        if name == "TimeoutMs":
            return round(k.default_timeout * 1000)
        return int(self.initialized)

    def check(self, name: str, value: Any) -> Any:
        """The value as it would be set, or a PropertyError naming Core, the property, the value
        and what is allowed; nothing is changed."""
        spec = self.spec(name)
        if name == "TimeoutMs":
            try:
                number = float(value)
            except (TypeError, ValueError, OverflowError):
                number = -1.0
            if not math.isfinite(number) or number <= 0 or number != int(number):
                allowed = "a whole number of milliseconds > 0"
                raise PropertyError(
                    f"device 'Core', property 'TimeoutMs': value {value!r} is not allowed; allowed: {allowed}",
                    device=CORE, property="TimeoutMs", value=value, allowed=allowed,
                )  # fmt: skip
            return int(number)
        if name in CORE_ROLES and isinstance(value, str) and value not in (spec.allowed or ()):
            loaded = self.kernel._devices.get(value)
            kind = CORE_ROLES[name][1]
            if loaded is not None:
                needs = f"{with_article(kind)} device" if kind else "a kind of device this kernel does not have"
                why = f"is not allowed: {value!r} is {with_article(loaded.device_type)} device; {name} needs {needs}"
                raise spec.error(CORE, value, why)
        if spec.kind is int and isinstance(value, str) and value.strip() in ("true", "True", "false", "False"):
            value = value.strip() in ("true", "True")  # configurations written by other tools
        return spec.coerce(value, CORE)

    def set(self, name: str, value: Any) -> None:
        typed = self.check(name, value)
        k = self.kernel
        if name == "Shutter":  # as MMCore: an open shutter's light goes through the new one instead
            k._shutter_holds.change_role(
                typed,
                swap=self._swap_shutter,
                cached_open=lambda label: _is_open(k, label),
                set_open=lambda label, open_: type(k).set_shutter_open.fn(k, label, open_),
                wait_s=k.default_timeout,
            )
            return
        if name in CORE_ROLES:
            k.set_role(name, typed)
            return
        if name == "AutoShutter":
            k.roles.auto_shutter = bool(typed)
        elif name == "ChannelGroup":
            k.roles.channel_group = typed
        elif name == "TimeoutMs":
            k.default_timeout = typed / 1000.0
        elif typed == 1:
            k.initialize_all()
        else:
            k.unload_all()
        k.internals.cache.store_core(name, self.get(name))

    def _swap_shutter(self, label: str) -> str:
        """Make `label` the Shutter role; the label it replaces."""
        old = self.get("Shutter")
        self.kernel.set_role("Shutter", label)
        return str(old)

    def assign_default_roles(self) -> None:
        """After initialize_all: each role of DEFAULT_ROLE_TYPES still empty gets the first
        initialized device of its type (load order); a configuration's role lines come later."""
        k = self.kernel
        for name in DEFAULT_ROLE_TYPES:
            attribute, kind = CORE_ROLES[name]
            if getattr(k.roles, attribute):
                continue
            first = next((d.label for d in k.internals.devices() if d.device_type == kind and d.initialized), "")
            if first:
                setattr(k.roles, attribute, first)
                k.internals.cache.store_core(name, first)

    def _check_name(self, name: str) -> None:
        if name not in NAMES:
            raise PropertyError(
                f"device 'Core' has no property {name!r}; properties: {', '.join(NAMES)}",
                device=CORE,
                property=name,
                allowed=", ".join(NAMES),
            )


def _is_open(kernel: Any, label: str) -> bool:
    try:
        return bool(kernel.get_shutter_open(label, from_cache=True))
    except Exception:  # noqa: BLE001 - not known: leave it as it is
        return False
