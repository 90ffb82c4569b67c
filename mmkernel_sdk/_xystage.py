"""XYStage: a two-axis positioner."""

from __future__ import annotations

from ._abstract import must_override
from ._device import Device


class XYStage(Device):
    """Implement `set_xy_position(x_um, y_um)` and `get_xy_position()`."""

    device_type = "XYStage"

    def set_xy_position(self, x_um: float, y_um: float) -> None:
        must_override(self, "set_xy_position")

    def get_xy_position(self) -> tuple[float, float]:
        must_override(self, "get_xy_position")

    def set_relative_xy_position(self, dx_um: float, dy_um: float) -> None:
        """Move by an offset; override when the hardware has a native relative move."""
        x, y = self.get_xy_position()
        self.set_xy_position(x + dx_um, y + dy_um)

    def home(self) -> None:
        must_override(self, "home")

    def stop(self) -> None:
        must_override(self, "stop")
