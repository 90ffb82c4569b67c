"""Stage: a single-axis positioner (focus drive, Z piezo)."""

from __future__ import annotations

import math
from typing import Any, ClassVar

from ._abstract import check_sequence_max, must_override
from ._device import Device
from ._prop import prop


def check_steps_per_um(owner: type, value: Any, axes: int = 1) -> None:
    """A class's steps_per_um declaration: a finite number > 0 (or one per axis)."""
    values = value if isinstance(value, tuple) else (value,) * axes
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if len(values) != axes or not numbers or not all(math.isfinite(v) and v > 0 for v in values):
        want = "a finite number > 0" + (" or one per axis (x, y)" if axes == 2 else "")
        raise ValueError(f"{owner.__module__}.{owner.__qualname__}.steps_per_um = {value!r}: it must be {want}")


class Stage(Device):
    """Implement `set_position(um)` and `get_position()`; narrow limits with set_limits."""

    device_type = "Stage"
    steps_per_um: ClassVar[float | None] = None
    """A drive that counts steps: declare its steps per micrometre once (10 for 0.1 um steps) and
    implement `set_position_steps(steps)` / `get_position_steps()` instead; Position stays in um
    and a target is rounded to the nearest step."""

    position_sequence_max: ClassVar[int] = 0
    """A drive that can run a triggered list of positions: its longest list (Position then
    reports this sequence_max); implement load/start/stop_position_sequence."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.steps_per_um is not None:
            check_steps_per_um(cls, cls.steps_per_um)
        check_sequence_max(cls, "position_sequence_max")

    def __new__(cls, *args: Any, **kwargs: Any) -> Stage:
        self = super().__new__(cls, *args, **kwargs)
        if cls.position_sequence_max:
            self.set_sequence_max("Position", cls.position_sequence_max)
        return self  # type: ignore[return-value]

    Position = prop(float, units="um", doc="Stage position in micrometres.")

    @Position.getter
    def Position(self) -> float:  # noqa: N802 - Micro-Manager's property name
        return self.get_position()

    @Position.setter
    def Position(self, value: float) -> None:  # noqa: N802
        self.set_position(value)

    def set_position(self, um: float) -> None:
        if self.steps_per_um is None:
            must_override(self, "set_position")
        self.set_position_steps(round(um * self.steps_per_um))

    def get_position(self) -> float:
        if self.steps_per_um is None:
            must_override(self, "get_position")
        return self.get_position_steps() / self.steps_per_um

    def set_position_steps(self, steps: int) -> None:
        must_override(self, "set_position_steps")

    def get_position_steps(self) -> int:
        must_override(self, "get_position_steps")

    def set_relative_position(self, d_um: float) -> None:
        """Move by an offset; override when the hardware has a native relative move."""
        self.set_position(self.get_position() + d_um)

    # -- hardware sequences of Position ----------------------------------------------------
    def load_position_sequence(self, positions: list[float]) -> None:
        """Send the hardware the positions (um) a trigger steps through, once started."""
        must_override(self, "load_position_sequence", "position_sequence_max > 0 says Position is sequenceable")

    def start_position_sequence(self) -> None:
        must_override(self, "start_position_sequence", "position_sequence_max > 0 says Position is sequenceable")

    def stop_position_sequence(self) -> None:
        must_override(self, "stop_position_sequence", "position_sequence_max > 0 says Position is sequenceable")

    def load_property_sequence(self, name: str, values: list[Any]) -> None:
        if name == "Position":
            return self.load_position_sequence(values)
        return super().load_property_sequence(name, values)

    def start_property_sequence(self, name: str) -> None:
        if name == "Position":
            return self.start_position_sequence()
        return super().start_property_sequence(name)

    def stop_property_sequence(self, name: str) -> None:
        if name == "Position":
            return self.stop_position_sequence()
        return super().stop_property_sequence(name)

    def home(self) -> None:
        must_override(self, "home")

    def stop(self) -> None:
        must_override(self, "stop")
