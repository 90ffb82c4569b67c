"""Loading a `.cfg` file: the whole new system, or the previous one back exactly as it was.

Syntax problems are found before anything is touched. Then the previous system is captured,
unloaded, and the commands run in file order. A command that fails is recorded (file, line,
text, why) and the load goes on, skipping the commands that depend on what failed (the lines
of a device that could not be loaded, a preset's lines naming it, a resolution naming it), so
independent problems are all reported at once. Then:
- by default, any problem puts the previous system back (devices, labels, presets, roles and
  property values, checked property by property) and raises one ConfigError listing them all;
- with `partial=True`, what loaded stays, and the report says what failed and what was skipped.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmkernel_sdk.errors import ConfigError, InitializationError, MMKernelError

from ..devices import CORE_ROLES
from ._file import Command, Problem, read
from ._groups import PixelSizeConfig, Setting
from ._labels import LabelRun
from ._numbers import FOCUS_DIRECTION, POSITION, calibration, whole
from ._snapshot import capture, restore

STARTUP = ("System", "Startup")
_PIPELINED = ("Device", "Label")
CORE = "Core"


@dataclass(frozen=True)
class Skipped:
    line: int
    text: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: skipped, {self.reason} (in {self.text!r})"


@dataclass
class LoadReport:
    """What a load did: the devices loaded, what failed (with line and reason), what was
    skipped because it depended on something that failed."""

    path: str
    loaded: list[str] = field(default_factory=list)
    failed: list[Problem] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def __str__(self) -> str:
        lines = [f"{Path(self.path).name}: {len(self.loaded)} devices loaded, {len(self.failed)} problem(s), "
                 f"{len(self.skipped)} line(s) skipped"]  # fmt: skip
        lines += [f"  {problem}" for problem in self.failed]
        lines += [f"  {skipped}" for skipped in self.skipped]
        return "\n".join(lines)


class Loader:
    def __init__(self, kernel: Any, path: Path, partial: bool) -> None:
        self.kernel, self.path, self.partial = kernel, path, partial
        self.internals = kernel.internals
        self.report = LoadReport(str(path))
        self.failed_devices: dict[str, int] = {}  # label -> the line that failed it
        self.skipped_resolutions: dict[str, str] = {}
        self.parents: dict[str, str] = {}  # label -> hub, from the file's Parent lines
        self.pending: list[tuple[Command, Any]] = []  # queued Device/Label lines and their Requests
        self.loading: set[str] = set()  # the labels of the queued Device lines
        self.labels: LabelRun | None = None  # the Label lines being gathered (not queued yet)
        self.device_order: list[str] = []  # labels of the Device lines, in file order

    def load(self) -> LoadReport:
        commands, problems = read(self.path)
        if problems:
            raise ConfigError(_describe(self.path, problems, "nothing was changed"), problems)
        with self.internals.loading():  # one load at a time; cameras' memory reused or populated after it
            return self._load(commands)

    def _load(self, commands: list[Command]) -> LoadReport:
        kernel = self.kernel
        previous = None if self.partial else capture(kernel)
        timeout = kernel.default_timeout
        kernel.unload_all()
        self.internals.reset_configuration()
        self.parents = _without_cycles({c.args[0]: c.args[1] for c in commands if c.name == "Parent"})
        try:
            for command in commands:
                self._run_one(command)
            self._settle()
            self._startup()
        except BaseException:  # Ctrl-C, or a non-load error: never leave half a system behind
            self._abandon(previous)
            raise
        self.report.failed.sort(key=lambda problem: problem.line or math.inf)  # "after the last line" last
        self.report.loaded = [loaded.label for loaded in self.internals.devices()]
        if self.report.failed and previous is not None:
            kernel.default_timeout = timeout
            not_restored = restore(kernel, previous)
            raise self._failure(not_restored)
        self.internals.configuration.file = self.path.resolve()
        kernel.events.system_loaded.emit()
        return self.report

    # -- commands ------------------------------------------------------------------------------
    def _run_one(self, command: Command) -> None:
        if self.labels is not None and (command.name != "Label" or command.args[0] != self.labels.device):
            self._start_labels()
        if command.name not in _PIPELINED or self._waits_for_pending(command):
            self._settle()
        gap = _empty_name(command)
        if gap:
            self._fail(command, gap)
            return
        reason = self._blocked(command)
        if reason:
            self.report.skipped.append(Skipped(command.line, command.text, reason))
            return
        try:
            if command.name in _PIPELINED:
                self.pending.append((command, self._start(command)))
                if command.name == "Device":
                    self.loading.add(command.args[0])
            else:
                run_command(self.kernel, command)
        except BaseException as error:  # noqa: BLE001 - _record re-raises what is not a load problem
            self._record(command, error)

    def _start(self, command: Command) -> Any:
        """Queue a Device or Label line on its runner without waiting: a run of them then costs
        one wake-up of this thread, not one per line. Results are collected by `_settle`."""
        a = command.args
        if command.name == "Label":  # gathered with the device's next Label lines into one request
            position = _position(a[1])
            if self.labels is None:
                self.labels = LabelRun(a[0])
            return self.labels.add(position, a[2])
        # A device whose Parent line names a hub loaded already goes straight onto the hub's
        # runner: moved there later, it would have started (and stopped) a thread of its own.
        if a[0] not in self.device_order:  # a second line for a label keeps the first one's place
            self.device_order.append(a[0])
        hub = self.internals.find(self.parents.get(a[0], ""))
        parent = hub.label if hub is not None and hub.device_type == "Hub" else None
        return self.internals.request("load_device", a[0], a[1], a[2], parent=parent)

    def _start_labels(self) -> None:
        """Queue the Label lines gathered so far."""
        if self.labels is not None:
            run, self.labels = self.labels, None
            run.start(self.internals)

    def _waits_for_pending(self, command: Command) -> bool:
        """A line naming a device whose Device line is still queued (a Label line, a Device line
        whose hub that is) must wait for it."""
        loading = self.loading
        if not loading:
            return False
        named = [self.parents.get(command.args[0], "")] if command.name == "Device" else _devices_named(command)
        return any(label in loading for label in named)

    def _abandon(self, previous: Any) -> None:
        """After an interruption: let the queued lines finish, keep the file's order, and put
        the previous system back (a partial load keeps what loaded)."""
        self._start_labels()
        pending, self.pending = self.pending, []
        self.loading = set()
        for _, request in pending:
            try:
                request.result()
            except BaseException:  # noqa: BLE001 - being abandoned: its outcome no longer matters
                pass
        # A load queued just as the interruption came may not have reached `pending`: it holds
        # its label reserved until it is done. A rare path (Ctrl-C): a short poll is fine here.
        deadline = time.monotonic() + self.kernel.default_timeout
        while self.internals.loads_pending() and time.monotonic() < deadline:
            time.sleep(0.001)
        self._keep_file_order()
        if previous is not None:
            restore(self.kernel, previous)

    def _settle(self) -> None:
        """Collect the queued lines' outcomes in file order. A request stays in `pending`
        until it is done, so an interruption (Ctrl-C) while waiting leaves it for `_abandon`."""
        self._start_labels()
        pending = list(self.pending)
        while self.pending:
            command, request = self.pending[0]
            try:
                request.result()
            except BaseException as error:
                if not request.done():
                    raise  # interrupted while waiting, not the line's own failure
                self.pending.pop(0)
                self._record(command, error)
            else:
                self.pending.pop(0)
        self.loading = set()
        if any(command.name == "Device" for command, _ in pending):
            self._keep_file_order()

    def _keep_file_order(self) -> None:
        """Queued loads finish on different runners in any order; the system lists devices in
        the file's order (default roles, devices(), a saved file depend on it)."""
        self.internals.keep_order(self.device_order)

    def _record(self, command: Command, error: BaseException) -> None:
        if isinstance(error, InitializationError):  # Core,Initialize,1: some devices failed
            for label, cause in error.failures.items():
                text = str(cause)
                named = text if text.startswith(f"device {label!r}") else f"device {label!r}: {text}"
                self._fail(command, named, label)
                self._unload_quietly(label)
        elif isinstance(error, MMKernelError):
            self._fail(command, str(error), command.args[0] if command.name == "Device" else None)
        elif isinstance(error, (ValueError, TypeError)):
            self._fail(command, str(error))
        else:
            raise error

    def _fail(self, command: Command, message: str, device: str | None = None) -> None:
        self.report.failed.append(Problem(command.line, command.text, message))
        if device is not None:
            self.failed_devices.setdefault(device, command.line)

    def _blocked(self, command: Command) -> str:
        """Why `command` must be skipped (it names a device that failed, or belongs to a
        resolution that was skipped), or "".

        A preset is the lines of it that loaded: a line naming a failed device is skipped and
        the others are kept (System/Startup still sets the camera when another device is
        missing). A resolution is skipped whole: its settings say when its calibration holds,
        and without one of them it would claim states it was never measured in."""
        a = command.args
        if command.name in _RESOLUTION_COMMANDS and a[0] in self.skipped_resolutions:
            return f"resolution {a[0]} is skipped: {self.skipped_resolutions[a[0]]}"
        for label in _devices_named(command):
            line = self.failed_devices.get(label)
            if line is not None:
                why = f"device {label!r} failed (line {line})"
                if command.name == "ConfigGroup" and len(a) >= 4:
                    return f"{why}; preset {a[0]}/{a[1]} keeps its other settings"
                if command.name == "ConfigPixelSize":
                    self.skipped_resolutions[a[0]] = why
                    self.internals.configuration.pixel_sizes.pop(a[0], None)
                return why
        return ""

    def _startup(self) -> None:
        kernel = self.kernel
        if not self.internals.configuration.groups.has(*STARTUP):
            return
        try:
            kernel.set_config(*STARTUP)
        except MMKernelError as error:
            self.report.failed.append(Problem(0, "preset System/Startup", str(error)))
        # A set may change other properties of its device without the device saying so
        # (DemoCamera's BitDepth sets PixelType); MMCore's load ends with a refresh of its cache.
        # Here the devices the preset set are read again, so the cache holds what they show.
        settings = self.internals.configuration.groups.settings(*STARTUP)
        self.internals.reread(sorted({s.device for s in settings if s.device != CORE})).result()

    def _unload_quietly(self, label: str) -> None:
        try:
            if self.internals.find(label) is not None:
                self.kernel.unload(label)
        except MMKernelError:
            pass

    def _failure(self, not_restored: list[str]) -> ConfigError:
        report = self.report
        if not_restored:
            after = "the previous system could not be restored completely:\n" + "\n".join(
                f"    {problem}" for problem in not_restored
            )
        else:
            after = "the previous system was restored"
        message = _describe(self.path, report.failed, after)
        if report.skipped:
            message += f"\n  ({len(report.skipped)} line(s) skipped because they depended on a line that failed)"
        error = ConfigError(message, list(report.failed))
        error.report = report  # type: ignore[attr-defined]
        return error


_RESOLUTION_COMMANDS = ("PixelSize_um", "PixelSizeAffine", "PixelSizeAngle_dxdz", "PixelSizeAngle_dydz",
                        "PixelSizeOptimalZ_Um", "ConfigPixelSize")  # fmt: skip


def _without_cycles(parents: dict[str, str]) -> dict[str, str]:
    """The file's parents a Device line may go straight onto its hub with: not those of hubs
    that go round in a circle, whose Parent lines run in file order, so the line that closes
    the circle is the one refused."""
    kept: dict[str, str] = {}
    for label, hub in parents.items():
        seen = {label}
        while hub in parents and hub not in seen:
            seen.add(hub)
            hub = parents[hub]
        if hub not in seen:
            kept[label] = parents[label]
    return kept


_CONFIG_GROUP_NAMES = ("group", "preset", "device", "property")


def _empty_name(command: Command) -> str:
    """Why a ConfigGroup line with an empty name field cannot run, or "". Empty fields collapse,
    so `ConfigGroup,,Preset,Z,Position,1` would read as group Preset, preset Z, device Position:
    the empty field is the line's problem, said as such (a trailing empty value is fine)."""
    if command.name != "ConfigGroup":
        return ""
    fields = command.text.split(",")
    for index, what in enumerate(_CONFIG_GROUP_NAMES, start=1):
        if index < len(fields) and fields[index] == "" and any(fields[index + 1 :]):
            return (f"ConfigGroup: the {what} name (field {index + 1}) is empty; the form is "
                    "ConfigGroup,group[,preset,device,property[,value]]")  # fmt: skip
    return ""


def _devices_named(command: Command) -> list[str]:
    """The device labels a command depends on."""
    a = command.args
    name = command.name
    if name == "Property" and a[0] == CORE:
        return [a[2]] if len(a) > 2 and a[1] in CORE_ROLES and a[2] else []
    if name in ("Property", "Label", "Delay", "FocusDirection"):
        return [a[0]]
    if name == "Parent":
        return [a[0], a[1]]
    if name == "ConfigGroup" and len(a) >= 4:
        if a[2] == CORE:
            return [a[4]] if len(a) > 4 and a[3] in CORE_ROLES and a[4] else []
        return [a[2], a[4]] if len(a) > 4 and a[4] else [a[2]]  # a value may name a device too
    if name == "ConfigPixelSize":
        return [a[1]]
    return []


def run_command(kernel: Any, command: Command) -> None:
    """One configuration line, as MMCore runs it."""
    name, a = command.name, command.args
    if name == "Device":
        kernel.load_device(a[0], a[1], a[2])
    elif name == "Property" and a[0] == CORE:
        kernel.internals.core.set(a[1], a[2] if len(a) > 2 else "")
    elif name == "Property":
        kernel.set_property(a[0], a[1], a[2] if len(a) > 2 else "")
    elif name == "Parent":
        kernel.set_parent(a[0], a[1])
    elif name == "Label":
        kernel.define_state_label(a[0], _position(a[1]), a[2])
    elif name == "Delay":
        kernel.set_device_delay(a[0], float(a[1]))
    elif name == "FocusDirection":
        kernel.set_focus_direction(a[0], whole(a[1], "focus direction", FOCUS_DIRECTION))
    elif name == "ConfigGroup" and len(a) == 1:
        kernel.define_config(a[0])
    elif name == "ConfigGroup":
        kernel.define_config(a[0], a[1], a[2], a[3], a[4] if len(a) > 4 else "")
    elif name == "ConfigPixelSize":
        config = kernel.internals.configuration.pixel_sizes.setdefault(a[0], PixelSizeConfig(a[0]))
        config.settings.append(Setting(a[1], a[2], a[3]))
    else:
        _pixel_calibration(kernel, name, a)


_CALIBRATION_FIELDS = {"PixelSize_um": "pixel_size_um", "PixelSizeAffine": "affine",
                       "PixelSizeAngle_dxdz": "angle_dxdz", "PixelSizeAngle_dydz": "angle_dydz",
                       "PixelSizeOptimalZ_Um": "optimal_z_um"}  # fmt: skip


def _pixel_calibration(kernel: Any, name: str, a: tuple[str, ...]) -> None:
    """Checked before the resolution is made: a line that fails leaves nothing behind."""
    numbers = tuple(float(v) for v in a[1:])  # the parser has checked that they are numbers
    attribute = _CALIBRATION_FIELDS[name]
    value = calibration(a[0], attribute, numbers if attribute == "affine" else numbers[0])
    config = kernel.internals.configuration.pixel_sizes.setdefault(a[0], PixelSizeConfig(a[0]))
    setattr(config, attribute, value)


def _position(text: str) -> int:
    return whole(text, "state position", POSITION)


def _describe(path: Path, problems: list[Problem], after: str) -> str:
    lines = "\n".join(f"  {path.name} {p}" for p in problems)
    return f"{path.name}: {len(problems)} problem(s); {after}:\n{lines}"
