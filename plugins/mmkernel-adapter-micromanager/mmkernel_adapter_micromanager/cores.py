"""The pymmcore cores the C++ devices live in, one runner each.

A group is one `CMMCore` under a name, per kernel: two kernels open in one process each have
their own "main" core (a label is then free in each), while the devices of one kernel share it.
Every bridged device names its group as its wire, so the kernel puts all devices of a group on
one runner and the core is only ever called from that runner's thread (MMCore's "current camera"
and its device table are not thread-safe). A private probe core, behind a lock, answers what a
module offers and its pre-init properties before a device is placed in a group.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any

from .discovery import MM_TYPES, MMDeviceOffer

log = logging.getLogger("mmkernel.micromanager")

ENV_GROUPING = "MMKERNEL_MM_GROUPING"
DEFAULT_GROUP = "main"
ENV_BUFFER_FRAMES = "MMKERNEL_MM_BUFFER_FRAMES"
"""Frames MMCore's circular buffer holds (default 256 frames, 16-512 MB; a number set here is taken
as asked, beyond 512 MB too): it only bridges the pop latency, the kernel's buffer holds the
stream. Allocating MMCore's default 250 MB took up to 1.2 s."""
CoreFactory = Callable[[], Any]


def _pymmcore_core() -> Any:
    import pymmcore

    return pymmcore.CMMCore()


def default_group(module: str) -> str:
    """The group a device of `module` joins without its own MMCore setting: one core for all
    (as Micro-Manager), or one per module with MMKERNEL_MM_GROUPING=module."""
    mode = os.environ.get(ENV_GROUPING, "single").strip().lower()
    return module if mode == "module" else DEFAULT_GROUP


def _owner(kernel: Any) -> tuple[int, Callable[[], Any] | None]:
    """The key part and a weak reference naming the kernel whose group it is (0: no kernel)."""
    if kernel is None:
        return 0, None
    try:
        return id(kernel), weakref.ref(kernel)
    except TypeError:  # a host without weak references (a test harness): its id alone
        return id(kernel), None


class CoreGroup:
    """One CMMCore and the bridged devices in it (called from one runner only), of one kernel."""

    def __init__(self, name: str, core: Any, folders: list[str], kernel: Any = None) -> None:
        self.name = name
        self.owner, self.kernel_ref = _owner(kernel)
        self.core = core
        self.devices: dict[str, Any] = {}  # label -> bridged Device
        core.setDeviceAdapterSearchPaths(folders)
        self.relay = make_relay(self)
        core.registerCallback(self.relay)
        core.setAutoShutter(False)  # MMKernel owns the roles and the auto-shutter

    def close(self) -> None:
        try:
            self.core.registerCallback(None)
        finally:
            self.core.unloadAllDevices()


class CoreGroups:
    """Every group of the process, keyed by its kernel and its name, and the probe core."""

    def __init__(self, factory: CoreFactory = _pymmcore_core) -> None:
        self.factory = factory
        self._groups: dict[tuple[int, str], CoreGroup] = {}
        self._lock = threading.Lock()
        self._probe: Any = None
        self._probe_lock = threading.Lock()
        self._preinit: dict[
            tuple[str, str], list[tuple[str, int, str, tuple[str, ...], tuple[float, float] | None]]
        ] = {}

    def group(self, name: str, folders: list[str], kernel: Any = None) -> CoreGroup:
        """`kernel`'s group `name`, made (with a new core) if it does not exist; on its runner.
        A group left by a kernel that is gone (its id reused) is not handed to another."""
        key = (_owner(kernel)[0], name)
        with self._lock:
            group = self._groups.get(key)
        if group is not None and group.kernel_ref is not None and group.kernel_ref() is not kernel:
            group.close()  # empty: its devices would have kept their kernel alive
            group = None
        if group is None:
            group = CoreGroup(name, self.factory(), folders, kernel)
            with self._lock:
                self._groups[key] = group
        return group

    def release(self, group: CoreGroup) -> None:
        """The last device of `group` left: drop its core."""
        key = (group.owner, group.name)
        with self._lock:
            if group.devices or self._groups.get(key) is not group:
                return
            del self._groups[key]
        group.close()

    def names(self, kernel: Any = None) -> list[str]:
        """The names of `kernel`'s groups."""
        owner = _owner(kernel)[0]
        with self._lock:
            return sorted(name for key_owner, name in self._groups if key_owner == owner)

    # -- the probe core ---------------------------------------------------------------------
    def _probe_core(self, folders: list[str]) -> Any:
        if self._probe is None:
            self._probe = self.factory()
        self._probe.setDeviceAdapterSearchPaths(folders)
        return self._probe

    def probe_modules(self, folders: list[str]) -> list[str]:
        """The module names MMCore sees in `folders` (by file name, as MMCore does)."""
        with self._probe_lock:
            return sorted(self._probe_core(folders).getDeviceAdapterNames())

    def probe_devices(self, module: str, folders: list[str]) -> list[MMDeviceOffer]:
        with self._probe_lock:
            core = self._probe_core(folders)
            names = core.getAvailableDevices(module)
            texts = core.getAvailableDeviceDescriptions(module)
            kinds = core.getAvailableDeviceTypes(module)
        rows = zip(names, texts, kinds, strict=True)
        return [MMDeviceOffer(module, n, d, MM_TYPES.get(int(t), "Generic")) for n, d, t in rows]

    def preinit(self, module: str, name: str, folders: list[str]) -> list[tuple[str, int, str, tuple[str, ...], Any]]:
        """(name, MM type, default, allowed, limits) of a device's pre-init properties, read
        once from a copy loaded in the probe core (MM device constructors touch no hardware)."""
        key = (module, name)
        with self._probe_lock:
            known = self._preinit.get(key)
            if known is not None:
                return known
            core = self._probe_core(folders)
            label = "mmkernel-probe"
            core.loadDevice(label, module, name)
            try:
                rows = []
                for prop in core.getDevicePropertyNames(label):
                    if not core.isPropertyPreInit(label, prop):
                        continue
                    limits = None
                    if core.hasPropertyLimits(label, prop):
                        limits = (core.getPropertyLowerLimit(label, prop), core.getPropertyUpperLimit(label, prop))
                    rows.append((prop, int(core.getPropertyType(label, prop)), core.getProperty(label, prop),
                                 tuple(core.getAllowedPropertyValues(label, prop)), limits))  # fmt: skip
            finally:
                core.unloadDevice(label)
            self._preinit[key] = rows
            return rows


_groups = CoreGroups()


def core_groups() -> CoreGroups:
    """The process's core groups."""
    return _groups


def set_core_factory(factory: CoreFactory | None) -> CoreGroups:
    """Use `factory()` to make cores (a stand-in in tests; None: pymmcore's CMMCore). Returns the
    fresh CoreGroups; devices already loaded keep the cores they have."""
    global _groups
    _groups = CoreGroups(factory or _pymmcore_core)
    from . import discovery

    discovery.forget_listings()
    return _groups


_QUIET = ("onPropertiesChanged", "onSystemConfigurationLoaded", "onConfigGroupChanged",
          "onChannelGroupChanged", "onPixelSizeChanged", "onPixelSizeAffineChanged", "onSLMExposureChanged",
          "onImageSnapped", "onSequenceAcquisitionStarted", "onSequenceAcquisitionStopped")  # fmt: skip


def make_relay(group: CoreGroup) -> Any:
    """A callback object for `group`'s core: what the C++ side announces makes the device's
    property (or XY position) be read again on its runner (invalidate(), safe from MMCore's
    callback thread), so a late echo cannot step the cache back and the kernel's cache turns
    the read into one event per real change. Every hook is overridden: the C++ defaults print
    to stdout."""
    try:
        import pymmcore

        base: type = pymmcore.MMEventCallback
    except ImportError:
        base = object

    def to(label: str, name: str, value: Any) -> None:
        device = group.devices.get(label)
        if device is not None:
            device.mm_announced(name, value)

    def xy(label: str, x: float, y: float) -> None:
        device = group.devices.get(label)
        moved = getattr(device, "mm_xy_announced", None)
        if moved is not None:
            moved(x, y)

    def init(self: Any) -> None:
        base.__init__(self)

    namespace: dict[str, Any] = {
        "__init__": init,
        "onPropertyChanged": lambda self, label, name, value: to(label, name, value),
        "onStagePositionChanged": lambda self, label, position: to(label, "Position", position),
        "onExposureChanged": lambda self, label, ms: to(label, "Exposure", ms),
        "onShutterOpenChanged": lambda self, label, is_open: to(label, "State", int(is_open)),
        "onXYStagePositionChanged": lambda self, label, x, y: xy(label, x, y),
    }
    for hook in _QUIET:
        namespace[hook] = lambda self, *args: None
    return type("Relay", (base,), namespace)()
