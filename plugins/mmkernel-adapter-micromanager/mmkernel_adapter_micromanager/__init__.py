"""Micro-Manager's C++ device adapters as MMKernel devices, through pymmcore.

Every module found (`libmmgr_dal_<Module>`) is offered as the adapter `mm:<Module>`. The C++
devices live in pymmcore `CMMCore` objects ("cores"); each core is called from exactly one
MMKernel runner, because the bridge's devices name their core as their wire. See
docs/micromanager-adapters.md.
"""

from .cores import CoreGroups, core_groups, set_core_factory
from .discovery import adapter_folders, find_micromanager, modules

__all__ = ["CoreGroups", "adapter_folders", "core_groups", "find_micromanager", "modules", "set_core_factory"]
