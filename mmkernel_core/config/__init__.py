"""Micro-Manager configurations: `.cfg` parsing, presets and pixel sizes, loading (all or
nothing, or partial with a report), the system snapshot a failed load restores, and saving."""

from ._file import Command, Problem, parse, read
from ._groups import ConfigGroups, PixelSizeConfig, Setting, SystemConfiguration
from ._load import Loader, LoadReport, Skipped
from ._save import config_text, save
from ._snapshot import SystemSnapshot, capture, differences, restore

__all__ = [
    "Command",
    "ConfigGroups",
    "LoadReport",
    "Loader",
    "PixelSizeConfig",
    "Problem",
    "Setting",
    "Skipped",
    "SystemConfiguration",
    "SystemSnapshot",
    "capture",
    "config_text",
    "differences",
    "parse",
    "read",
    "restore",
    "save",
]
