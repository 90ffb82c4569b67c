"""Testing kit for adapter authors and the kernel's own tests: simulated devices and probes."""

from ._gate import Gate
from ._probe import ConcurrencyProbe
from ._sim import ProbedDevice, SimShutter, SimStage, SimWheel, SimXYStage, SlowDevice

__all__ = [
    "ConcurrencyProbe",
    "Gate",
    "ProbedDevice",
    "SimShutter",
    "SimStage",
    "SimWheel",
    "SimXYStage",
    "SlowDevice",
]
