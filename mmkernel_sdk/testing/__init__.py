"""Testing kit for adapter authors and the kernel's own tests: simulated devices, probes, a
harness that runs a device without a kernel, wire-level protocol tests, protocol simulators
(`mmkernel_sdk.testing.sim`) and the conformance kit (`mmkernel_sdk.testing.conformance`)."""

from ._gate import Gate
from ._harness import DirectHarness
from ._probe import ConcurrencyProbe
from ._protocol import ProtocolMismatch, expected_protocol
from ._sim import ProbedDevice, SimShutter, SimStage, SimWheel, SimXYStage, SlowDevice

__all__ = [
    "ConcurrencyProbe",
    "DirectHarness",
    "Gate",
    "ProbedDevice",
    "ProtocolMismatch",
    "SimShutter",
    "SimStage",
    "SimWheel",
    "SimXYStage",
    "SlowDevice",
    "expected_protocol",
]
