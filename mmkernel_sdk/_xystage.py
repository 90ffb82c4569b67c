"""XYStage: a two-axis positioner."""

from __future__ import annotations

from ._abstract import must_override
from ._device import Device


class XYStage(Device):
    """Implement `set_xy_position(x_um, y_um)` and `get_xy_position()`. Declare the travel
    with `set_xy_limits` (the kernel then refuses targets outside it, before any move)."""

    device_type = "XYStage"
    xy_limits: tuple[float, float, float, float] | None = None  # (x_lo, x_hi, y_lo, y_hi) in um

    def set_xy_limits(self, x_lo: float, x_hi: float, y_lo: float, y_hi: float) -> None:
        if not (x_lo <= x_hi and y_lo <= y_hi):
            raise ValueError(f"XY limits ({x_lo}, {x_hi}, {y_lo}, {y_hi}) are reversed")
        self.xy_limits = (float(x_lo), float(x_hi), float(y_lo), float(y_hi))

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
