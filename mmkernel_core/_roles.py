"""Roles: which device is *the* camera, shutter, focus drive... (MM's Core properties)."""

from __future__ import annotations

from dataclasses import dataclass, fields

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

    def forget(self, label: str) -> None:
        """A device was unloaded: no role may keep pointing at it."""
        for item in fields(self):
            if getattr(self, item.name) == label and item.type == "str":
                setattr(self, item.name, "")
