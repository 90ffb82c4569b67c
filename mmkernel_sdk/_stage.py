"""Stage: a single-axis positioner (focus drive, Z piezo)."""

from __future__ import annotations

from ._abstract import must_override
from ._device import Device
from ._prop import prop


class Stage(Device):
    """Implement `set_position(um)` and `get_position()`; narrow limits with set_limits."""

    device_type = "Stage"

    Position = prop(float, units="um", doc="Stage position in micrometres.")

    @Position.getter
    def Position(self) -> float:  # noqa: N802 - Micro-Manager's property name
        return self.get_position()

    @Position.setter
    def Position(self, value: float) -> None:  # noqa: N802
        self.set_position(value)

    def set_position(self, um: float) -> None:
        must_override(self, "set_position")

    def get_position(self) -> float:
        must_override(self, "get_position")

    def set_relative_position(self, d_um: float) -> None:
        """Move by an offset; override when the hardware has a native relative move."""
        self.set_position(self.get_position() + d_um)

    def home(self) -> None:
        must_override(self, "home")

    def stop(self) -> None:
        must_override(self, "stop")
