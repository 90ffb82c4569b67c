"""Roles: which device is *the* camera, shutter, focus drive... (MM's Core properties)."""

from __future__ import annotations

from dataclasses import dataclass

# Core property name -> (Roles attribute, required device type or None)
CORE_ROLES: dict[str, tuple[str, str | None]] = {
    "Camera": ("camera", "Camera"),
    "Shutter": ("shutter", "Shutter"),
    "Focus": ("focus", "Stage"),
    "XYStage": ("xy_stage", "XYStage"),
    "AutoFocus": ("autofocus", "AutoFocus"),
    "SLM": ("slm", None),
    "Galvo": ("galvo", None),
    "ImageProcessor": ("image_processor", None),
}


@dataclass
class Roles:
    camera: str = ""
    shutter: str = ""
    focus: str = ""
    xy_stage: str = ""
    autofocus: str = ""
    slm: str = ""
    galvo: str = ""
    image_processor: str = ""
    channel_group: str = ""
    auto_shutter: bool = True

    def forget(self, label: str) -> list[str]:
        """A device was unloaded: no role may keep pointing at it. Returns the Core property
        names of the roles it held (each is announced as changed to "")."""
        cleared = []
        for core_name, (attribute, _) in CORE_ROLES.items():
            if getattr(self, attribute) == label:
                setattr(self, attribute, "")
                cleared.append(core_name)
        return cleared
