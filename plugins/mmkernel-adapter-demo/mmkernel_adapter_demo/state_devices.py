"""DWheel, DStateDevice, DObjective, DLightPath: demo state devices."""

from __future__ import annotations

from typing import ClassVar

from mmkernel_sdk import StateDevice, prop


class DemoFilterWheel(StateDevice):
    """Demo filter wheel driver"""

    num_positions: ClassVar[int] = 10
    ClosedPosition = prop(int, default=0, doc="Position a State Device Shutter uses as closed.")

    def initialize(self) -> None:
        self.set_limits("ClosedPosition", 0, self.num_positions - 1)


class DemoStateDevice(StateDevice):
    """Demo state device driver"""

    num_positions: ClassVar[int] = 10
    number_of_positions = prop(int, default=10, limits=(1, 1000), pre_init=True, name="Number of positions")
    ClosedPosition = prop(int, default=0, doc="Position a State Device Shutter uses as closed.")
    Sequence = prop(str, default="Off", allowed=("On", "Off"))

    def initialize(self) -> None:
        self.set_num_positions(self.number_of_positions)
        self.set_limits("ClosedPosition", 0, self.number_of_positions - 1)


class DemoObjectiveTurret(StateDevice):
    """Demo objective turret driver"""

    num_positions: ClassVar[int] = 6

    def __init__(self) -> None:
        for position, letter in enumerate("ABCDEF"):
            self.define_label(position, f"Objective-{letter}")


class DemoLightPath(StateDevice):
    """Demo light-path driver"""

    num_positions: ClassVar[int] = 3
