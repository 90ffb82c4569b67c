"""One SDK device class per Micro-Manager device type, each calling its pymmcore counterpart."""

from __future__ import annotations

from functools import cache
from typing import Any

from mmkernel_sdk import AutoFocus, Generic, Hub, Shutter, SignalIO, Stage, StateDevice, XYStage
from mmkernel_sdk.host import properties_of

from .camera import MMCamera, MMMultiCamera
from .device import MMDevice


class MMStage(MMDevice, Stage):
    """A C++ focus drive or single-axis stage; its Position sequences through MMCore's stage
    sequence calls (loadStageSequence...) while isStageSequenceable says so."""

    mm_own_sequence = "Position"

    def set_position(self, um: float) -> None:
        self.mm("setPosition", self.core.setPosition, self.label, float(um))
        self.mm_refresh_own_sequence()

    def get_position(self) -> float:
        return float(self.mm("getPosition", self.core.getPosition, self.label))

    def set_relative_position(self, d_um: float) -> None:
        self.mm("setRelativePosition", self.core.setRelativePosition, self.label, float(d_um))

    def home(self) -> None:
        self.mm("home", self.core.home, self.label)

    def stop(self) -> None:
        self.mm("stop", self.core.stop, self.label)

    def set_origin(self) -> None:
        self.mm("setOrigin", self.core.setOrigin, self.label)

    # -- hardware sequences of Position ------------------------------------------------------
    def mm_refresh_own_sequence(self) -> None:
        self.mm_set_own_sequence_max(self.mm_sequence_length("Stage"))

    def load_position_sequence(self, positions: list[float]) -> None:
        self.mm("loadStageSequence", self.core.loadStageSequence, self.label, [float(p) for p in positions])

    def start_position_sequence(self) -> None:
        self.mm("startStageSequence", self.core.startStageSequence, self.label)

    def stop_position_sequence(self) -> None:
        self.mm("stopStageSequence", self.core.stopStageSequence, self.label)


class MMXYStage(MMDevice, XYStage):
    """A C++ XY stage. What MM announces of its position (a joystick, each step of a move) is
    read back through the kernel (invalidate()), so the kernel's xy_stage_position_changed
    follows it and an echo of the kernel's own move is no second event. Where a move the
    kernel commanded ends (DemoCamera's DXYStage does not always announce it), the kernel reads
    once deviceBusy says so, as for every non-blocking stage."""

    def initialize(self) -> None:
        self._xy_read: tuple[float, float] | None = None  # the position last read (on the runner)
        super().initialize()

    def mm_xy_announced(self, x: float | None = None, y: float | None = None) -> None:
        """From the core's callback thread: MM says the stage is at (x, y). Unless that is the
        position last read, it is read again on the runner: a late echo of an older move then
        reads where the stage is now, and a stage that announces what it was asked for (a read)
        starts no loop. The read carries MM's static Name property, so none of the stage's
        other properties (a serial query each, in many adapters) is read with it."""
        if x is not None and y is not None and getattr(self, "_xy_read", None) == (float(x), float(y)):
            return
        self.invalidate(*(("Name",) if "Name" in properties_of(self) else ()))

    def set_xy_position(self, x_um: float, y_um: float) -> None:
        self.mm("setXYPosition", self.core.setXYPosition, self.label, float(x_um), float(y_um))

    def get_xy_position(self) -> tuple[float, float]:
        x, y = self.mm("getXYPosition", self.core.getXYPosition, self.label)
        self._xy_read = (float(x), float(y))
        return self._xy_read

    def set_relative_xy_position(self, dx_um: float, dy_um: float) -> None:
        self.mm("setRelativeXYPosition", self.core.setRelativeXYPosition, self.label, float(dx_um), float(dy_um))

    def home(self) -> None:
        self.mm("home", self.core.home, self.label)

    def stop(self) -> None:
        self.mm("stop", self.core.stop, self.label)

    # -- hardware sequences of (x, y) --------------------------------------------------------
    def mm_refresh_own_sequence(self) -> None:
        self.xy_sequence_max = self.mm_sequence_length("XYStage")

    def load_xy_sequence(self, points: list[tuple[float, float]]) -> None:
        xs, ys = [float(x) for x, _ in points], [float(y) for _, y in points]
        self.mm("loadXYStageSequence", self.core.loadXYStageSequence, self.label, xs, ys)

    def start_xy_sequence(self) -> None:
        self.mm("startXYStageSequence", self.core.startXYStageSequence, self.label)

    def stop_xy_sequence(self) -> None:
        self.mm("stopXYStageSequence", self.core.stopXYStageSequence, self.label)


class MMState(MMDevice, StateDevice):
    """A C++ state device (wheel, turret, light path): MM's positions and labels."""

    def initialize(self) -> None:
        super().initialize()
        self._mm_labels()

    def _mm_labels(self) -> None:
        labels = list(self.mm("getStateLabels", self.core.getStateLabels, self.label))
        count = int(self.mm("getNumberOfStates", self.core.getNumberOfStates, self.label))
        self.set_num_positions(max(count, 1))
        for position, text in enumerate(labels[:count]):
            StateDevice.define_label(self, position, text)

    def set_state(self, position: int) -> None:
        self.mm("setState", self.core.setState, self.label, int(position))

    def get_state(self) -> int:
        return int(self.mm("getState", self.core.getState, self.label))

    def define_label(self, position: int, label: str) -> None:
        self.mm("defineStateLabel", self.core.defineStateLabel, self.label, int(position), str(label))
        StateDevice.define_label(self, position, label)  # what MM did; re-reading all labels made loads O(n^2)


class MMShutter(MMDevice, Shutter):
    """A C++ shutter."""

    def set_open(self, open: bool) -> None:  # noqa: A002
        self.mm("setShutterOpen", self.core.setShutterOpen, self.label, bool(open))

    def is_open(self) -> bool:
        return bool(self.mm("getShutterOpen", self.core.getShutterOpen, self.label))


class MMAutoFocus(MMDevice, AutoFocus):
    """A C++ autofocus device."""

    def full_focus(self) -> None:
        self.mm("fullFocus", self._current().fullFocus)

    def incremental_focus(self) -> None:
        self.mm("incrementalFocus", self._current().incrementalFocus)

    def set_continuous_focusing(self, on: bool) -> None:
        self.mm("enableContinuousFocus", self._current().enableContinuousFocus, bool(on))

    def is_continuous_focus_enabled(self) -> bool:
        return bool(self.mm("isContinuousFocusEnabled", self._current().isContinuousFocusEnabled))

    def is_continuous_focus_locked(self) -> bool:
        return bool(self.mm("isContinuousFocusLocked", self._current().isContinuousFocusLocked))

    def get_offset(self) -> float:
        return float(self.mm("getAutoFocusOffset", self._current().getAutoFocusOffset))

    def set_offset(self, offset: float) -> None:
        self.mm("setAutoFocusOffset", self._current().setAutoFocusOffset, float(offset))

    def focus_score(self) -> float:
        return float(self.mm("getCurrentFocusScore", self._current().getCurrentFocusScore))

    def _current(self) -> Any:
        """MMCore's autofocus calls act on the core's current autofocus device: make it this one
        (safe: every call on this core runs on this runner)."""
        self.mm("setAutoFocusDevice", self.core.setAutoFocusDevice, self.label)
        return self.core


class MMSignalIO(MMDevice, SignalIO):
    """A C++ DA/SignalIO device."""

    def set_signal(self, volts: float) -> None:
        self.mm_set("Voltage", float(volts))

    def get_signal(self) -> float:
        return float(self.mm_get("Voltage"))


class MMHub(MMDevice, Hub):
    """A C++ hub: its installed peripherals are what MM detects."""

    def detect_installed_devices(self) -> list[str]:
        return list(self.mm("getInstalledDevices", self.core.getInstalledDevices, self.label))


class MMGeneric(MMDevice, Generic):
    """A C++ device the SDK has no type for (Galvo, SLM, Magnifier, pumps, image processors,
    generic): its properties work; its type-specific calls are not mapped."""


CLASSES: dict[str, type[MMDevice]] = {
    "Camera": MMCamera,
    "Stage": MMStage,
    "XYStage": MMXYStage,
    "State": MMState,
    "Shutter": MMShutter,
    "AutoFocus": MMAutoFocus,
    "SignalIO": MMSignalIO,
    "Hub": MMHub,
    "Generic": MMGeneric,
}


@cache
def device_class(module: str, name: str, mm_type: str) -> type[MMDevice]:
    """The class of one C++ device: its type's class with the module and device name set (made
    once per process: every Kernel's plugin discovery asks for every device of every module)."""
    base = CLASSES.get(mm_type, MMGeneric)
    note = "" if mm_type in CLASSES else f" (Micro-Manager type {mm_type}, loaded as Generic)"
    if (module, name) == ("Utilities", "Multi Camera"):
        base, note = MMMultiCamera, " (not bridged: load its physical cameras instead)"
    attrs = {"mm_module": module, "mm_device": name, "mm_type": mm_type, "__doc__": f"{module}/{name}{note}",
             "__module__": __name__}  # fmt: skip
    return type(f"MM_{module}_{name}".replace(" ", "_").replace("-", "_"), (base,), attrs)
