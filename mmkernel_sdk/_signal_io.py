"""SignalIO: an analog output or input (DA/AD converter)."""

from __future__ import annotations

from ._abstract import must_override
from ._device import Device


class SignalIO(Device):
    """Implement `set_signal(volts)` / `get_signal()`; gate control is optional."""

    device_type = "SignalIO"

    def set_signal(self, volts: float) -> None:
        must_override(self, "set_signal")

    def get_signal(self) -> float:
        must_override(self, "get_signal")

    def set_gate_open(self, open: bool) -> None:  # noqa: A002
        must_override(self, "set_gate_open")

    def signal_limits(self) -> tuple[float, float]:
        must_override(self, "signal_limits")
