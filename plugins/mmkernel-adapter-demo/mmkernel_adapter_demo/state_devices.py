"""DWheel, DStateDevice, DObjective, DLightPath: demo state devices with MMCore's properties.

As in Micro-Manager, State declares no limits and no allowed values: the setter refuses a
position the device does not have (Micro-Manager's error 103), with an error naming the range.
"""

from __future__ import annotations

from typing import ClassVar

from mmkernel_sdk import StateDevice, prop

from ._peripheral import HubPeripheral
from ._specs import refuse, unlimited
from ._trigger import IdleSequenceTrigger


class DemoStateBase(HubPeripheral, StateDevice):
    """State without limits; positions outside 0..N-1 are refused by the setter."""

    def set_num_positions(self, count: int) -> None:
        super().set_num_positions(count)
        unlimited(self, "State")

    def set_state(self, position: int) -> None:
        count = len(self.labels)
        if not 0 <= position < count:
            raise refuse(self, "State", position, f"a position 0..{count - 1}", "is not a position of this device")
        super().set_state(position)


class DemoFilterWheel(DemoStateBase):
    """Demo filter wheel driver"""

    num_positions: ClassVar[int] = 10
    ClosedPosition = prop(int, default=0, allowed=range(10), doc="Informational, as in MM (no gate uses it).")


class DemoStateDevice(DemoStateBase):
    """Demo state device driver"""

    num_positions: ClassVar[int] = 10
    number_of_positions = prop(int, default=10, pre_init=True, name="Number of positions")
    ClosedPosition = prop(int, default=0, allowed=range(10), doc="Informational, as in MM (no gate uses it).")
    Sequence = prop(str, default="Off", allowed=("Off", "On"))

    def initialize(self) -> None:
        count = self.number_of_positions
        if count < 1:
            raise refuse(self, "Number of positions", count, "an integer >= 1", "is not a number of positions")
        self.set_num_positions(count)
        self.set_allowed("ClosedPosition", range(count))


class DemoObjectiveTurret(IdleSequenceTrigger, DemoStateBase):
    """Demo objective turret driver"""

    num_positions: ClassVar[int] = 6
    sequence_kind: ClassVar[str] = "State"

    def __init__(self) -> None:
        for position, letter in enumerate("ABCDEF"):
            self.define_label(position, f"Objective-{letter}")


class DemoLightPath(DemoStateBase):
    """Demo light-path driver"""

    num_positions: ClassVar[int] = 3
