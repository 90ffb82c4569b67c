"""DStage (focus, instant, +-300 um) and DXYStage (moves at Velocity, busy while moving).

Both run hardware sequences while `UseSequences` is Yes (DStage as Micro-Manager's, whose
CDemoStage reports a maximum of 2000 positions; DXYStage's UseSequences is an MMKernel addition,
Micro-Manager's DXYStage cannot sequence): each pulse of the trigger line (a demo camera's
sequence frame) moves the stage to the next loaded position at once (see _trigger.py).
"""

from __future__ import annotations

import time
from typing import Any

from mmkernel_sdk import Stage, XYStage, prop

from ._peripheral import HubPeripheral
from ._specs import refuse
from ._trigger import DemoSequence

Z_RANGE_UM = 300.0
MIN_VELOCITY = 0.1  # um/ms: what Micro-Manager uses instead of a Velocity <= 0
SEQUENCE_MAX = 2000  # CDemoStage::GetStageSequenceMaxLength


class DemoStage(HubPeripheral, Stage):
    """Demo stage driver"""

    UseSequences = prop(str, default="No", allowed=("No", "Yes"))

    def __init__(self) -> None:
        self._z = 0.0
        self.sequence = DemoSequence(self, self._step)

    @UseSequences.setter
    def UseSequences(self, value: str) -> None:  # noqa: N802 - Micro-Manager's property name
        if value == "No":
            self.sequence.stop()
        self.set_sequence_max("Position", SEQUENCE_MAX if value == "Yes" else 0)

    def set_position(self, um: float) -> None:
        """Micro-Manager declares no limits on Position but refuses targets beyond +-300 um."""
        self._check(um)
        with self.sequence.lock:
            self._z = um

    def _check(self, um: float) -> None:
        if not -Z_RANGE_UM <= um <= Z_RANGE_UM:
            raise refuse(self, "Position", um, f"a position within [-{Z_RANGE_UM:g}, {Z_RANGE_UM:g}] um")

    def get_position(self) -> float:
        with self.sequence.lock:
            return self._z

    def home(self) -> None:
        with self.sequence.lock:
            self._z = 0.0

    # -- hardware sequences -----------------------------------------------------------------
    def load_position_sequence(self, positions: list[float]) -> None:
        for um in positions:  # all or nothing: the stage refuses what it could not reach
            self._check(um)
        self.sequence.load(positions)

    def start_position_sequence(self) -> None:
        self.sequence.start()

    def shutdown(self) -> None:
        self.sequence.stop()  # off the trigger line: an unloaded stage steps no more

    def stop_position_sequence(self) -> None:
        self.sequence.stop()

    def _step(self, um: float) -> dict[str, Any]:
        self._z = um
        return {"Position": um}

    def stop(self) -> None:
        """Moves are instant: nothing to stop."""


class DemoXYStage(HubPeripheral, XYStage):
    """Demo XY stage driver"""

    UsesCallbacks = prop(str, default="Yes", allowed=("No", "Yes"), pre_init=True)
    TransposeMirrorX = prop(int, default=0, allowed=(0, 1), before_init=True, doc="Mirror the X axis.")
    TransposeMirrorY = prop(int, default=0, allowed=(0, 1), before_init=True, doc="Mirror the Y axis.")
    Velocity = prop(float, default=10.0, units="mm/s", doc="= um per ms; values <= 0 become 0.1, as in MM.")
    UseSequences = prop(str, default="No", allowed=("No", "Yes"), doc="Yes: XY sequences (an MMKernel addition).")

    def __init__(self) -> None:
        self._velocity = 10.0
        self._start = (0.0, 0.0)  # in the stage's own (unmirrored) coordinates
        self._target = (0.0, 0.0)
        self._t0 = 0.0
        self._duration = 0.0
        self.sequence = DemoSequence(self, self._step)

    @UseSequences.setter
    def UseSequences(self, value: str) -> None:  # noqa: N802
        if value == "No":
            self.sequence.stop()
        self.xy_sequence_max = SEQUENCE_MAX if value == "Yes" else 0

    def load_xy_sequence(self, points: list[tuple[float, float]]) -> None:
        self.sequence.load(points)

    def start_xy_sequence(self) -> None:
        self.sequence.start()

    def shutdown(self) -> None:
        self.sequence.stop()

    def stop_xy_sequence(self) -> None:
        self.sequence.stop()

    def _step(self, point: tuple[float, float]) -> None:
        """Jump there at once (a triggered move is done by the next frame)."""
        self._start = self._target = self._mirror(*point)
        self._duration = 0.0

    @Velocity.getter
    def Velocity(self) -> float:  # noqa: N802 - Micro-Manager's property name
        return self._velocity

    @Velocity.setter
    def Velocity(self, value: float) -> None:  # noqa: N802
        self._velocity = value if value > 0 else MIN_VELOCITY

    def set_xy_position(self, x_um: float, y_um: float) -> None:
        with self.sequence.lock:
            target = self._mirror(x_um, y_um)
            start = self._here()
            distance = ((target[0] - start[0]) ** 2 + (target[1] - start[1]) ** 2) ** 0.5
            self._start, self._target = start, target
            self._t0 = time.monotonic()
            self._duration = distance / self._velocity / 1000.0  # um / (um/ms) -> ms -> s

    def get_xy_position(self) -> tuple[float, float]:
        """Where the stage is now (interpolated while it moves), mirrored as asked."""
        with self.sequence.lock:
            return self._mirror(*self._here())

    def busy(self) -> bool:
        with self.sequence.lock:
            return self._fraction() < 1.0

    def stop(self) -> None:
        with self.sequence.lock:
            here = self._here()
            self._start = self._target = here
            self._duration = 0.0

    def home(self) -> None:
        """A no-op in Micro-Manager's demo."""

    def _mirror(self, x: float, y: float) -> tuple[float, float]:
        """Micro-Manager's base class negates a mirrored axis between user and stage coordinates."""
        return (-x if self.TransposeMirrorX else x, -y if self.TransposeMirrorY else y)

    def _here(self) -> tuple[float, float]:
        fraction = self._fraction()
        (x0, y0), (x1, y1) = self._start, self._target
        return (x0 + (x1 - x0) * fraction, y0 + (y1 - y0) * fraction)

    def _fraction(self) -> float:
        if self._duration <= 0:
            return 1.0
        return min(1.0, (time.monotonic() - self._t0) / self._duration)
