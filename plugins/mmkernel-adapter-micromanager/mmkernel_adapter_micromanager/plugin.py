"""The bridge's plugin hooks: every C++ module found is offered as the adapter mm:<Module>,
which also answers the plain module name when no Python adapter has it (or first, when named
in MMKERNEL_MM_PREFER)."""

from __future__ import annotations

import os

from mmkernel_sdk.plugin import AdapterSpec, DeviceSpec, hookimpl

from .discovery import PREFIX, modules

ENV_PREFER = "MMKERNEL_MM_PREFER"
"""Comma-separated module names (or *) whose plain names mean the C++ module first."""
_SDK_TYPES = {"Camera", "Stage", "XYStage", "State", "Shutter", "AutoFocus", "SignalIO", "Hub", "Generic"}


def adapter_specs() -> list[AdapterSpec]:
    """One AdapterSpec per usable module (Serial ports stay MMKernel's own SerialManager)."""
    from .kinds import device_class

    prefer = {p.strip() for p in os.environ.get(ENV_PREFER, "").split(",") if p.strip()}
    specs = []
    for module, offers in sorted(modules().items()):
        devices = []
        for offer in offers:
            if offer.mm_type in ("Serial", "Core"):
                continue
            kind = offer.mm_type if offer.mm_type in _SDK_TYPES else "Generic"
            description = offer.description if kind == offer.mm_type else f"{offer.description} [{offer.mm_type}]"
            devices.append(DeviceSpec(offer.name, kind, description, device_class(module, offer.name, offer.mm_type)))
        if not devices:
            continue  # SerialManager: its ports are the kernel's port devices (and the bridge's, see ports.py)
        preferred = "*" in prefer or module in prefer
        text = f"Micro-Manager C++ module {module}"
        specs.append(AdapterSpec(f"{PREFIX}{module}", text, devices, alias=module, preferred=preferred))
    return specs


@hookimpl
def mmkernel_adapters() -> list[AdapterSpec]:
    try:
        import pymmcore  # noqa: F401
    except ImportError:
        return []
    return adapter_specs()
