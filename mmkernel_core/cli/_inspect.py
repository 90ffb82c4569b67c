"""Commands that show and change what is there: adapters, devices, props, get, set."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from .._kernel import Kernel
from ._session import err, fail, kernel_session, out

ConfigOption = Annotated[
    str, typer.Option("--config", "-c", help="A Micro-Manager .cfg file, or an example name such as 'demo'.")
]


def adapters(strict: Annotated[bool, typer.Option(help="Exit 1 if any plugin failed.")] = False) -> None:
    """List installed adapters and their devices, and any plugin that failed to load."""
    with kernel_session() as kernel:
        table = Table("Adapter", "Device", "Type", "Description", title="Adapters", title_justify="left")
        for info in kernel.adapters.adapters():
            for offer in sorted(info.devices.values(), key=lambda o: o.name):
                table.add_row(info.name, offer.name, offer.device_type, offer.description)
        out.print(table)
        failures = kernel.plugin_errors()
        for failure in failures:
            err.print(Text.assemble(("plugin problem:", "yellow"), " ", str(failure)))
        if failures and strict:
            raise typer.Exit(code=1)


def devices(config: ConfigOption = "demo") -> None:
    """List the devices a configuration loads, with type, parent hub and health."""
    with kernel_session(config) as kernel:
        table = Table("Label", "Adapter", "Device", "Type", "Parent", "Health")
        for label in kernel.devices():
            info = kernel.device_info(label)
            health = kernel.device_health(label).state
            table.add_row(label, info.adapter, info.device_name, info.device_type, info.parent or "", health)
        out.print(table)


def props(label: str, config: ConfigOption = "demo") -> None:
    """Show a device's properties: value, type, what is allowed, units and flags."""
    with kernel_session(config) as kernel:
        table = Table("Property", "Value", "Type", "Allowed", "Units", "Flags", title=label, title_justify="left")
        for name in kernel.property_names(label):
            spec = kernel.property_info(label, name)
            flags = ", ".join(f for f, on in (("read-only", spec.read_only), ("pre-init", spec.pre_init)) if on)
            value = _cached(kernel, label, name)
            kind = getattr(spec.kind, "__name__", str(spec.kind))
            table.add_row(name, value, kind, spec.describe_allowed(), spec.units, flags)
        out.print(table)


def get(label: str, name: str, config: ConfigOption = "demo") -> None:
    """Print one property's value, read from the device."""
    with kernel_session(config) as kernel:
        out.print(_text(kernel.get_property(label, name)))


def set_(label: str, name: str, value: str, config: ConfigOption = "demo") -> None:
    """Set a property (the value is validated first), then print the value the device reports."""
    with kernel_session(config) as kernel:
        kernel.set_property(label, name, value)
        out.print(_text(kernel.get_property(label, name)))


def _cached(kernel: Kernel, label: str, name: str) -> str:
    try:
        return _text(kernel.get_property(label, name, from_cache=True))
    except Exception:  # noqa: BLE001 - unreadable values are shown as such, not fatal
        return "?"


def _text(value: Any) -> str:
    return value.name if hasattr(value, "name") and not isinstance(value, str) else str(value)


__all__ = ["adapters", "devices", "fail", "get", "props", "set_"]
