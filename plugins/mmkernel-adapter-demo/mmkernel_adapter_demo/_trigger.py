"""Micro-Manager's `Trigger` property of devices that can run a hardware sequence (D-DA, the
objective turret): '+' steps a running sequence. The kernel has no DA or State sequence API yet,
so no sequence ever runs here: the property reads '-', and '+' is refused as DemoCamera refuses
it without a running sequence."""

from __future__ import annotations

from typing import ClassVar

from mmkernel_sdk import prop

from ._specs import refuse


class IdleSequenceTrigger:
    """Mixin: `sequence_kind` ("DA", "State") names the sequence in the messages."""

    sequence_kind: ClassVar[str] = "device"

    Trigger = prop(str, default="-", allowed=("+", "-"), doc="'+' steps a running hardware sequence.")

    @Trigger.getter
    def Trigger(self) -> str:  # noqa: N802 - Micro-Manager's property name
        return "-"

    @Trigger.setter
    def Trigger(self, value: str) -> None:  # noqa: N802
        if value == "+":
            raise refuse(self, "Trigger", value, f"'-' (no {self.sequence_kind} sequence is running)",  # type: ignore[arg-type]
                         "cannot be set: sequence triggered, but sequence is not running")  # fmt: skip
