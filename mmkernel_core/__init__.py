"""mmkernel_core: the kernel. `from mmkernel_core import Kernel`."""

from mmkernel_sdk.errors import *  # noqa: F403 - the whole error hierarchy
from mmkernel_sdk.errors import __all__ as _errors

from ._kernel import Kernel
from .devices import AdapterInfo, AdapterRegistry, DeviceHealth, DeviceInfo, DeviceOffer, PluginFailure
from .frames import BufferStats, Frame, FrameHeader, FrameReleasedError
from .runtime import KernelEvents, LogEntry, Signal

__all__ = [
    "AdapterInfo",
    "AdapterRegistry",
    "BufferStats",
    "DeviceHealth",
    "DeviceInfo",
    "DeviceOffer",
    "Frame",
    "FrameHeader",
    "FrameReleasedError",
    "Kernel",
    "KernelEvents",
    "LogEntry",
    "PluginFailure",
    "Signal",
    *_errors,
]
