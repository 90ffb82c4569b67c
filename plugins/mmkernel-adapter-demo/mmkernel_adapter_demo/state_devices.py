"""DWheel, DStateDevice, DObjective, DLightPath: demo state devices with MMCore's properties.

As in Micro-Manager, State declares no limits and no allowed values: the setter refuses a
position the device does not have (Micro-Manager's error 103), with an error naming the range.

State runs hardware sequences as in DemoCamera: DObjective's always (at most 10 positions,
stepped by '+' on Trigger), DStateDevice's while its Sequence property is On (at most 50); a
pulse of the trigger line steps them too (see _trigger.py).
"""

from __future__ import annotations

from typing import Any, ClassVar

from mmkernel_sdk import StateDevice, prop

from ._peripheral import HubPeripheral
from ._specs import refuse, unlimited
from ._trigger import DemoSequence, SequenceTrigger


class DemoStateBase(HubPeripheral, StateDevice):
    """State without limits; positions outside 0..N-1 are refused by the setter."""

    def __init__(self) -> None:
        self.sequence = DemoSequence(self, self._step)

    def shutdown(self) -> None:
        self.sequence.stop()  # off the trigger line: an unloaded device steps no more

    def set_num_positions(self, count: int) -> None:
        super().set_num_positions(count)
        unlimited(self, "State")

    def set_state(self, position: int) -> None:
        self._check(position)
        with self.sequence.lock:
            super().set_state(position)

    def get_state(self) -> int:
        with self.sequence.lock:
            return super().get_state()

    def _check(self, position: int) -> None:
        count = len(self.labels)
        if not 0 <= position < count:
            raise refuse(self, "State", position, f"a position 0..{count - 1}", "is not a position of this device")

    # -- hardware sequences of State (for the classes that give State a sequence_max) -----------
    def load_property_sequence(self, name: str, values: list[Any]) -> None:
        if name != "State":
            super().load_property_sequence(name, values)
        for position in values:  # all or nothing: a position the device lacks is refused now
            self._check(position)
        self.sequence.load(values)

    def start_property_sequence(self, name: str) -> None:
        if name != "State":
            super().start_property_sequence(name)
        self.sequence.start()

    def stop_property_sequence(self, name: str) -> None:
        if name != "State":
            super().stop_property_sequence(name)
        self.sequence.stop()

    def _step(self, position: int) -> dict[str, Any]:
        StateDevice.set_state(self, position)
        return {"State": position, "Label": self.labels[position]}


class DemoFilterWheel(DemoStateBase):
    """Demo filter wheel driver"""

    num_positions: ClassVar[int] = 10
    ClosedPosition = prop(int, default=0, allowed=range(10), doc="Informational, as in MM (no gate uses it).")


class DemoStateDevice(DemoStateBase):
    """Demo state device driver"""

    num_positions: ClassVar[int] = 10
    number_of_positions = prop(int, default=10, pre_init=True, name="Number of positions")
    ClosedPosition = prop(int, default=0, allowed=range(10), doc="Informational, as in MM (no gate uses it).")
    Sequence = prop(str, default="Off", allowed=("Off", "On"), doc="On: State runs sequences (at most 50).")

    @Sequence.setter
    def Sequence(self, value: str) -> None:  # noqa: N802 - Micro-Manager's property name
        if value == "Off":
            self.sequence.stop()
        self.set_sequence_max("State", 50 if value == "On" else 0)  # CDemoStateDevice's numPatterns_

    def initialize(self) -> None:
        count = self.number_of_positions
        if count < 1:
            raise refuse(self, "Number of positions", count, "an integer >= 1", "is not a number of positions")
        self.set_num_positions(count)
        self.set_allowed("ClosedPosition", range(count))


class DemoObjectiveTurret(SequenceTrigger, DemoStateBase):
    """Demo objective turret driver"""

    num_positions: ClassVar[int] = 6
    sequence_kind: ClassVar[str] = "State"

    def __init__(self) -> None:
        super().__init__()
        self.set_sequence_max("State", 10)  # CDemoObjectiveTurret's sequenceMaxSize_
        for position, letter in enumerate("ABCDEF"):
            self.define_label(position, f"Objective-{letter}")


class DemoLightPath(DemoStateBase):
    """Demo light-path driver"""

    num_positions: ClassVar[int] = 3
