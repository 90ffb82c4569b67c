"""D-DA: a 0-10 V analog output with a gate (Micro-Manager names: Voltage, Real Voltage, Trigger).

Voltage runs hardware sequences of up to 256 values, as DemoDA's: '+' on Trigger (or a pulse of
the trigger line, see _trigger.py) outputs the next one."""

from __future__ import annotations

from typing import Any, ClassVar

from mmkernel_sdk import SignalIO, prop

from ._peripheral import HubPeripheral
from ._trigger import DemoSequence, SequenceTrigger

SEQUENCE_MAX = 256  # DemoDA::GetDASequenceMaxLength


class DemoDA(HubPeripheral, SequenceTrigger, SignalIO):
    """Demo DA"""

    Voltage = prop(float, limits=(0.0, 10.0), units="V", sequence_max=SEQUENCE_MAX, doc="Requested output voltage.")
    sequence_kind: ClassVar[str] = "DA"

    def __init__(self) -> None:
        self._gate_open = True
        self._volts = 0.0
        self.sequence = DemoSequence(self, self._step)

    @prop(float, units="V", name="Real Voltage")
    def real_voltage(self) -> float:
        """The voltage actually output: 0 while the gate is closed."""
        with self.sequence.lock:
            return self._volts if self._gate_open else 0.0

    @Voltage.getter
    def Voltage(self) -> float:  # noqa: N802 - Micro-Manager's property name
        with self.sequence.lock:
            return self._volts

    @Voltage.setter
    def Voltage(self, volts: float) -> None:  # noqa: N802
        with self.sequence.lock:
            self._volts = volts
        self.notify("Real Voltage")

    def set_signal(self, volts: float) -> None:
        self.Voltage = volts

    def get_signal(self) -> float:
        return self.Voltage  # type: ignore[no-any-return]

    def set_gate_open(self, open: bool) -> None:  # noqa: A002
        with self.sequence.lock:
            self._gate_open = open
        self.notify("Real Voltage")

    def signal_limits(self) -> tuple[float, float]:
        return (0.0, 10.0)

    def shutdown(self) -> None:
        self.sequence.stop()  # off the trigger line: an unloaded DA steps no more

    # -- hardware sequences -----------------------------------------------------------------
    def load_property_sequence(self, name: str, values: list[Any]) -> None:
        if name != "Voltage":
            super().load_property_sequence(name, values)
        self.sequence.load(values)

    def start_property_sequence(self, name: str) -> None:
        if name != "Voltage":
            super().start_property_sequence(name)
        self.sequence.start()

    def stop_property_sequence(self, name: str) -> None:
        if name != "Voltage":
            super().stop_property_sequence(name)
        self.sequence.stop()

    def _step(self, volts: float) -> dict[str, Any]:
        self._volts = volts
        return {"Voltage": volts, "Real Voltage": volts if self._gate_open else 0.0}
