"""Micro-Manager's Utilities devices. They operate other devices through the kernel, from their
own runner: the kernel's cross-device path, exercised for real."""

from __future__ import annotations

from mmkernel_sdk import PropertyError, Shutter, prop

NO_DEVICE = "None"
UNDEFINED = "Undefined"
SLOTS = 5


class StateDeviceShutter(Shutter):
    """State device that is used as a shutter"""

    state_device = prop(str, default=NO_DEVICE, name="State Device", doc="The state device to drive.")

    def __init__(self) -> None:
        self._open_position: int | None = None

    def initialize(self) -> None:
        states = [label for label in self.kernel.devices() if self.kernel.device_type(label) == "State"]
        self.set_allowed("State Device", [NO_DEVICE, *states])

    def set_open(self, open: bool) -> None:  # noqa: A002
        """Closing moves the state device to its ClosedPosition; opening moves it back."""
        target = self._target()
        kernel = self.kernel
        closed = kernel.get_property(target, "ClosedPosition")
        current = kernel.get_state(target)
        if open == (current != closed):
            return  # already where it should be
        if open:
            labels = kernel.state_labels(target)
            fallback = next(p for p in range(len(labels)) if p != closed)
            kernel.set_state(target, self._open_position if self._open_position is not None else fallback)
        else:
            self._open_position = current
            kernel.set_state(target, closed)
        kernel.wait_for(target)

    def is_open(self) -> bool:
        if self.state_device == NO_DEVICE:
            return False
        target = self.state_device
        return self.kernel.get_state(target) != self.kernel.get_property(target, "ClosedPosition")

    def busy(self) -> bool:
        return self.state_device != NO_DEVICE and self.kernel.busy(self.state_device)

    def _target(self) -> str:
        target = self.state_device
        if target == NO_DEVICE:
            raise PropertyError(
                f"device {self.label!r}: set 'State Device' to a state device first",
                device=self.label,
                property="State Device",
                value=target,
            )
        if not self.kernel.has_property(target, "ClosedPosition"):
            raise PropertyError(
                f"device {self.label!r}: state device {target!r} has no ClosedPosition property",
                device=self.label,
                property="State Device",
                value=target,
            )
        return target


class MultiShutter(Shutter):
    """Combines multiple physical shutters into a single shutter"""

    description = "Combines multiple physical shutters into a single "  # MM's text, cut short as in MM

    def __init__(self) -> None:
        self._open = False
        for slot in range(1, SLOTS + 1):
            self.add_property(f"Physical Shutter {slot}", str, default=UNDEFINED)

    def initialize(self) -> None:
        shutters = [
            label
            for label in self.kernel.devices()
            if label != self.label and self.kernel.device_type(label) == "Shutter"
        ]
        for slot in range(1, SLOTS + 1):
            self.set_allowed(f"Physical Shutter {slot}", [UNDEFINED, *shutters])

    def physical_shutters(self) -> list[str]:
        names = (self._props.get(f"Physical Shutter {slot}") for slot in range(1, SLOTS + 1))
        return [name for name in names if name != UNDEFINED]

    def set_open(self, open: bool) -> None:  # noqa: A002
        """Open or close every assigned shutter, in slot order, then remember the state."""
        for label in self.physical_shutters():
            self.kernel.set_shutter_open(label, open)
        self._open = open

    def is_open(self) -> bool:
        return self._open

    def busy(self) -> bool:
        return any(self.kernel.busy(label) for label in self.physical_shutters())
