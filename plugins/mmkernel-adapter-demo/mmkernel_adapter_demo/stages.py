"""DStage (focus, instant) and DXYStage (moves at Velocity, busy while moving)."""

from __future__ import annotations

import time

from mmkernel_sdk import Stage, XYStage, prop


class DemoStage(Stage):
    """Demo stage driver"""

    UseSequences = prop(str, default="No", allowed=("No", "Yes"))

    def __init__(self) -> None:
        self._z = 0.0
        self.set_limits("Position", -300.0, 300.0)

    def set_position(self, um: float) -> None:
        self._z = um

    def get_position(self) -> float:
        return self._z

    def home(self) -> None:
        self._z = 0.0

    def stop(self) -> None:
        """Moves are instant: nothing to stop."""


class DemoXYStage(XYStage):
    """Demo XY stage driver"""

    Velocity = prop(float, default=10.0, limits=(0.1, 1000.0), units="mm/s", doc="= um per ms")

    def __init__(self) -> None:
        self._start = (0.0, 0.0)
        self._target = (0.0, 0.0)
        self._t0 = 0.0
        self._duration = 0.0

    def set_xy_position(self, x_um: float, y_um: float) -> None:
        start = self.get_xy_position()
        distance = ((x_um - start[0]) ** 2 + (y_um - start[1]) ** 2) ** 0.5
        self._start, self._target = start, (x_um, y_um)
        self._t0 = time.monotonic()
        self._duration = distance / self.Velocity / 1000.0  # um / (um/ms) -> ms -> s

    def get_xy_position(self) -> tuple[float, float]:
        """Where the stage is now: interpolated while it moves."""
        fraction = self._fraction()
        (x0, y0), (x1, y1) = self._start, self._target
        return (x0 + (x1 - x0) * fraction, y0 + (y1 - y0) * fraction)

    def busy(self) -> bool:
        return self._fraction() < 1.0

    def stop(self) -> None:
        here = self.get_xy_position()
        self._start = self._target = here
        self._duration = 0.0

    def home(self) -> None:
        self._start = self._target = (0.0, 0.0)
        self._duration = 0.0

    def _fraction(self) -> float:
        if self._duration <= 0:
            return 1.0
        return min(1.0, (time.monotonic() - self._t0) / self._duration)
