"""XYStage: a two-axis positioner."""

from __future__ import annotations

from typing import Any, ClassVar

from ._abstract import check_sequence_max, must_override
from ._device import Device
from ._stage import check_steps_per_um


class XYStage(Device):
    """Implement `set_xy_position(x_um, y_um)` and `get_xy_position()`. Declare the travel
    with `set_xy_limits` (the kernel then refuses targets outside it, before any move)."""

    device_type = "XYStage"
    xy_limits: tuple[float, float, float, float] | None = None  # (x_lo, x_hi, y_lo, y_hi) in um
    steps_per_um: ClassVar[float | tuple[float, float] | None] = None
    """Stepper axes: declare steps per micrometre once (one number, or (x, y)) and implement
    `set_xy_position_steps(x, y)` / `get_xy_position_steps()` instead; positions stay in um."""

    xy_sequence_max: int = 0
    """A stage that can run a triggered list of (x, y) points: its longest list; implement
    load/start/stop_xy_sequence. An instance may change it (e.g. a setting switching it on)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.steps_per_um is not None:
            check_steps_per_um(cls, cls.steps_per_um, axes=2)
        check_sequence_max(cls, "xy_sequence_max")

    def _per_um(self) -> tuple[float, float]:
        per_um = self.steps_per_um
        assert per_um is not None
        return per_um if isinstance(per_um, tuple) else (per_um, per_um)

    def set_xy_limits(self, x_lo: float, x_hi: float, y_lo: float, y_hi: float) -> None:
        if not (x_lo <= x_hi and y_lo <= y_hi):
            raise ValueError(f"XY limits ({x_lo}, {x_hi}, {y_lo}, {y_hi}) are reversed")
        self.xy_limits = (float(x_lo), float(x_hi), float(y_lo), float(y_hi))

    def set_xy_position(self, x_um: float, y_um: float) -> None:
        if self.steps_per_um is None:
            must_override(self, "set_xy_position")
        x_per_um, y_per_um = self._per_um()
        self.set_xy_position_steps(round(x_um * x_per_um), round(y_um * y_per_um))

    def get_xy_position(self) -> tuple[float, float]:
        if self.steps_per_um is None:
            must_override(self, "get_xy_position")
        x_per_um, y_per_um = self._per_um()
        x, y = self.get_xy_position_steps()
        return x / x_per_um, y / y_per_um

    def set_xy_position_steps(self, x_steps: int, y_steps: int) -> None:
        must_override(self, "set_xy_position_steps")

    def get_xy_position_steps(self) -> tuple[int, int]:
        must_override(self, "get_xy_position_steps")

    def set_relative_xy_position(self, dx_um: float, dy_um: float) -> None:
        """Move by an offset; override when the hardware has a native relative move."""
        x, y = self.get_xy_position()
        self.set_xy_position(x + dx_um, y + dy_um)

    # -- hardware sequences of (x, y) -----------------------------------------------------
    def load_xy_sequence(self, points: list[tuple[float, float]]) -> None:
        """Send the hardware the (x, y) points (um) a trigger steps through, once started."""
        must_override(self, "load_xy_sequence", "xy_sequence_max > 0 says the stage can sequence")

    def start_xy_sequence(self) -> None:
        must_override(self, "start_xy_sequence", "xy_sequence_max > 0 says the stage can sequence")

    def stop_xy_sequence(self) -> None:
        must_override(self, "stop_xy_sequence", "xy_sequence_max > 0 says the stage can sequence")

    def home(self) -> None:
        must_override(self, "home")

    def stop(self) -> None:
        must_override(self, "stop")
