"""Small property helpers shared by the demo devices.

Micro-Manager declares no limits on some properties whose setters still refuse bad values (a
state device's State, DStage's Position, a CCD size): `unlimited` removes the limits the SDK base
classes put there, and `refuse` builds the error such a setter raises, naming device, property,
value and what is allowed, like the kernel's own validation errors.
"""

from __future__ import annotations

from typing import Any

from mmkernel_sdk import Device, PropertyError


def unlimited(device: Device, name: str) -> None:
    """Declare `name` without limits, as Micro-Manager does (the SDK base classes set some)."""
    device.remove_limits(name)


def refuse(device: Device, name: str, value: Any, allowed: str, reason: str = "is out of range") -> PropertyError:
    """The error a setter raises for a value the hardware would not take."""
    label = device.label
    return PropertyError(
        f"device {label!r}, property {name!r}: value {value!r} {reason}; allowed: {allowed}",
        device=label,
        property=name,
        value=value,
        allowed=allowed,
    )
