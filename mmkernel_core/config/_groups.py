"""Configuration groups and pixel-size presets: named sets of property values (MM's presets)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmkernel_sdk.errors import UnknownDeviceError

from ._numbers import CALIBRATION, calibration


@dataclass(frozen=True)
class Setting:
    device: str
    property: str
    value: str


@dataclass
class PixelSizeConfig:
    """One resolution: the settings that select it and its calibration."""

    name: str
    settings: list[Setting] = field(default_factory=list)
    pixel_size_um: float = 0.0
    affine: tuple[float, float, float, float, float, float] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    angle_dxdz: float = 0.0
    angle_dydz: float = 0.0
    optimal_z_um: float = 0.0

    def __setattr__(self, name: str, value: Any) -> None:
        """Calibrations are checked wherever they are set (a file, code): a NaN or a negative
        pixel size never reaches a recording's metadata."""
        if name in CALIBRATION:
            value = calibration(self.name, name, value)
        super().__setattr__(name, value)


class ConfigGroups:
    """group -> preset -> settings, in the order they were defined."""

    def __init__(self) -> None:
        self._groups: dict[str, dict[str, list[Setting]]] = {}

    def define_group(self, group: str) -> None:
        self._groups.setdefault(group, {})

    def define(self, group: str, preset: str, setting: Setting | None = None) -> None:
        settings = self._groups.setdefault(group, {}).setdefault(preset, [])
        if setting is None:
            return
        settings[:] = [s for s in settings if (s.device, s.property) != (setting.device, setting.property)]
        settings.append(setting)

    def groups(self) -> list[str]:
        return sorted(self._groups)

    def presets(self, group: str) -> list[str]:
        return sorted(self._group(group))

    def settings(self, group: str, preset: str) -> list[Setting]:
        presets = self._group(group)
        if preset not in presets:
            raise UnknownDeviceError(
                f"config group {group!r} has no preset {preset!r}; presets: {', '.join(sorted(presets)) or '(none)'}"
            )
        return list(presets[preset])

    def has(self, group: str, preset: str) -> bool:
        return preset in self._groups.get(group, {})

    def copy(self) -> dict[str, dict[str, list[Setting]]]:
        return {group: {preset: list(settings) for preset, settings in presets.items()}
                for group, presets in self._groups.items()}  # fmt: skip

    def restore(self, groups: dict[str, dict[str, list[Setting]]]) -> None:
        self._groups = {group: {preset: list(settings) for preset, settings in presets.items()}
                        for group, presets in groups.items()}  # fmt: skip

    def definition_order(self, group: str) -> list[str]:
        """Presets in the order they were defined (saving keeps MM's sorted order instead)."""
        return list(self._group(group))

    def clear(self) -> None:
        self._groups.clear()

    def _group(self, group: str) -> dict[str, list[Setting]]:
        try:
            return self._groups[group]
        except KeyError:
            raise UnknownDeviceError(
                f"no config group {group!r}; groups: {', '.join(self.groups()) or '(none)'}"
            ) from None


@dataclass
class SystemConfiguration:
    """What a configuration defines beside the devices and roles: presets, pixel sizes, focus
    directions, and the file it was loaded from (recordings store it)."""

    groups: ConfigGroups = field(default_factory=ConfigGroups)
    pixel_sizes: dict[str, PixelSizeConfig] = field(default_factory=dict)
    focus_directions: dict[str, int] = field(default_factory=dict)
    file: Path | None = None

    def reset(self) -> None:
        self.groups.clear()
        self.pixel_sizes.clear()
        self.focus_directions.clear()
        self.file = None
