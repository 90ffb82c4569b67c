"""Micro-Manager configurations: `.cfg` parsing, presets and pixel sizes, loading (all or
nothing, or partial with a report), the system snapshot a failed load restores, and saving.

- `_file`: parsing into commands, with every syntax problem and its line; what a field can carry.
- `_numbers`: what each number a configuration holds may be (positions, signs, calibrations).
- `_groups`: presets (ConfigGroups), pixel sizes, and SystemConfiguration (what a
  configuration defines beside the devices: the kernel keeps one).
- `_load`: Loader (commands in file order, independent problems all reported, the previous
  system restored on failure, partial loads with a LoadReport); `_snapshot`: the system
  captured before a load and put back; `_save`: MMCore's layout, written atomically.

May import: `devices` (the role table), `mmkernel_sdk`. The kernel is used through its verbs
and `kernel.internals`, never its underscores; verbs/ imports this package, not the reverse.
"""

from ._file import NAME_RULE, Command, Problem, parse, read, uncarried
from ._groups import ConfigGroups, PixelSizeConfig, Setting, SystemConfiguration
from ._load import Loader, LoadReport, Skipped
from ._save import config_text, save
from ._snapshot import SystemSnapshot, capture, differences, restore

__all__ = [
    "NAME_RULE",
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
    "uncarried",
]
