"""Saving the system as a `.cfg` file Micro-Manager reads, laid out as MMCore's
saveSystemConfiguration writes it: devices, pre-init properties, hubs, delays, focus
directions, state labels, presets, pixel sizes (with affine transforms and angles), roles.
Loading it back gives the same system, property by property. A Device line names the module
as it was asked for; a pre-init `kernel_setting` (MMKernel's own) is written only when it is
not its default, and a before-init setting (usable before and after initialize) only when it is
not its default.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from mmkernel_sdk.errors import ConfigError

from ..devices import CORE_ROLES
from ._file import UNCARRIED


def config_text(kernel: Any) -> str:
    devices = kernel.internals.devices()
    configuration = kernel.internals.configuration
    for loaded in devices:
        if not loaded.adapter:
            raise ConfigError(
                f"device {loaded.label!r} was loaded as a Python object, not by adapter and device name, so a "
                "configuration file cannot name it; load it with load_device(label, adapter, device_name)"
            )
    lines = ["# Unload all devices", "Property,Core,Initialize,0", "# Load devices"]
    # The module as the file (or load_device) named it: `DemoCamera` chosen as mm:DemoCamera
    # through MMKERNEL_MM_PREFER stays `DemoCamera`, so Micro-Manager loads the file as it is.
    lines += [_line("Device", d.label, d.requested or d.adapter, d.device_name) for d in devices]
    lines.append("# Pre-initialization properties")
    for loaded in devices:
        props = loaded.props
        for name in props.names():
            spec = props.spec(name)
            if not spec.pre_init:
                # A before-init setting (a port's AnswerTimeout: pre-init in Micro-Manager) someone
                # changed: without it, the file loads a port that gives up on a slow reply too soon.
                if spec.before_init and not spec.read_only:
                    value = props.get(name)
                    if value is not None and value != spec.default:
                        lines.append(_line("Property", loaded.label, name, _text(value)))
                continue
            value = props.get(name)
            if spec.kernel_setting and value == spec.default:
                continue  # MMKernel's own setting at its default: Micro-Manager would not know it
            lines.append(_line("Property", loaded.label, name, _text(value)))
    lines.append("# Hub references")
    lines += [_line("Parent", d.label, d.parent) for d in devices if d.parent]
    lines.append("Property,Core,Initialize,1")
    lines.append("# Delays")
    lines += [_line("Delay", d.label, _number(d.delay_s * 1000.0)) for d in devices if d.delay_s > 0]
    lines.append("# Stage focus directions")
    lines += [_line("FocusDirection", d.label, str(configuration.focus_directions.get(d.label, 0)))
              for d in devices if d.device_type == "Stage"]  # fmt: skip
    lines.append("# Labels")
    for loaded in devices:
        if loaded.device_type == "State" and loaded.initialized:
            for position, text in enumerate(loaded.device.labels):  # type: ignore[attr-defined]
                if text:
                    lines.append(_line("Label", loaded.label, str(position), text))
    lines += ["", "# Group configurations"]
    groups = configuration.groups
    for group in groups.groups():
        presets = groups.presets(group)
        if not presets:
            lines.append(_line("ConfigGroup", group))
        for preset in presets:
            for s in groups.settings(group, preset):
                lines.append(_line("ConfigGroup", group, preset, s.device, s.property, _text(s.value)))
    lines += ["", "# Pixel Size configurations"]
    for name in sorted(configuration.pixel_sizes):
        config = configuration.pixel_sizes[name]
        lines += [_line("ConfigPixelSize", name, s.device, s.property, _text(s.value)) for s in config.settings]
        lines.append(_line("PixelSize_um", name, _number(config.pixel_size_um)))
        lines.append(_line("PixelSizeAffine", name, *(_number(v) for v in config.affine)))
        lines.append(_line("PixelSizeAngle_dxdz", name, _number(config.angle_dxdz)))
        lines.append(_line("PixelSizeAngle_dydz", name, _number(config.angle_dydz)))
        lines.append(_line("PixelSizeOptimalZ_Um", name, _number(config.optimal_z_um)))
    lines += ["", "# Roles"]
    roles = kernel.roles
    # Every role, empty ones too: an empty role left out would be filled by the default on load.
    lines += [_line("Property", "Core", name, getattr(roles, attribute)) for name, (attribute, _) in CORE_ROLES.items()]
    lines.append(_line("Property", "Core", "AutoShutter", str(int(roles.auto_shutter))))
    lines.append(_line("Property", "Core", "ChannelGroup", roles.channel_group))
    return "\n".join(lines) + "\n"


def _line(command: str, *fields: str) -> str:
    """One line; a field the format cannot carry (a comma splits it, a line break ends it) is
    refused by name rather than written into a file that would not load back."""
    for field in fields:
        for bad, what in UNCARRIED:
            if bad in field:
                raise ConfigError(
                    f"cannot save the {command} line {','.join((command, *fields))!r}: {field!r} {what}, "
                    "which a Micro-Manager configuration file cannot carry; rename it first"
                )
    return ",".join((command, *fields))


def save(kernel: Any, path: Path) -> None:
    """Write atomically: a crash never leaves half a configuration file. A load running on
    another thread is waited for (it holds the same lock to its end, restore included), so
    the file never holds half a system."""
    with kernel.internals.load_lock():
        text = config_text(kernel)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return _number(value)
    if hasattr(value, "name") and hasattr(value, "value"):  # an Enum
        return str(value.name)
    return str(value)


def _number(value: float) -> str:
    """Whole numbers as iostream prints them (1, not 1.0); others in full (repr reads back as
    the same float, so nothing is lost on a round trip)."""
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
