"""D-DA: a 0-10 V analog output with a gate (Micro-Manager names: Voltage, Real Voltage, Trigger)."""

from __future__ import annotations

from typing import ClassVar

from mmkernel_sdk import SignalIO, prop

from ._peripheral import HubPeripheral
from ._trigger import IdleSequenceTrigger


class DemoDA(HubPeripheral, IdleSequenceTrigger, SignalIO):
    """Demo DA"""

    Voltage = prop(float, default=0.0, limits=(0.0, 10.0), units="V", doc="Requested output voltage.")
    sequence_kind: ClassVar[str] = "DA"

    def __init__(self) -> None:
        self._gate_open = True

    @prop(float, units="V", name="Real Voltage")
    def real_voltage(self) -> float:
        """The voltage actually output: 0 while the gate is closed."""
        return self.Voltage if self._gate_open else 0.0

    @Voltage.setter
    def Voltage(self, volts: float) -> None:  # noqa: N802 - Micro-Manager's property name
        self.notify("Real Voltage", volts if self._gate_open else 0.0)

    def set_signal(self, volts: float) -> None:
        self.Voltage = volts

    def get_signal(self) -> float:
        return self.Voltage

    def set_gate_open(self, open: bool) -> None:  # noqa: A002
        self._gate_open = open
        self.notify("Real Voltage", self.real_voltage)

    def signal_limits(self) -> tuple[float, float]:
        return (0.0, 10.0)
