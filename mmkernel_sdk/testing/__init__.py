"""Testing kit for adapter authors and the kernel's own tests: simulated devices and probes."""

from ._probe import ConcurrencyProbe
from ._sim import ProbedDevice, SimShutter, SimStage, SimWheel, SimXYStage, SlowDevice

__all__ = [
    "ConcurrencyProbe",
    "ProbedDevice",
    "SimShutter",
    "SimStage",
    "SimWheel",
    "SimXYStage",
    "SlowDevice",
]
