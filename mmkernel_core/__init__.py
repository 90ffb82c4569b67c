"""mmkernel_core: the kernel. `from mmkernel_core import Kernel`."""

from mmkernel_sdk.errors import *  # noqa: F403 - the whole error hierarchy
from mmkernel_sdk.errors import __all__ as _errors

from ._adapters import AdapterInfo, AdapterRegistry, DeviceOffer
from ._buffer import BufferStats
from ._events import KernelEvents, Signal
from ._frames import Frame, FrameHeader, FrameReleasedError
from ._kernel import Kernel
from ._loaded import DeviceHealth, DeviceInfo
from ._logs import LogEntry
from ._plugins import PluginFailure

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
