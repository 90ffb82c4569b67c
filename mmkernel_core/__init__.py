"""mmkernel_core: the kernel. `from mmkernel_core import Kernel`."""

from mmkernel_sdk.errors import (
    DeadlockError,
    DeviceError,
    DeviceFaultedError,
    DeviceStateError,
    DeviceTimeoutError,
    DeviceTypeError,
    InitializationError,
    KernelClosedError,
    MMKernelError,
    PropertyError,
    RefreshError,
    UnknownDeviceError,
)

from ._adapters import AdapterInfo, AdapterRegistry, DeviceOffer
from ._events import KernelEvents, Signal
from ._kernel import Kernel
from ._loaded import DeviceHealth
from ._logs import LogEntry

__all__ = [
    "AdapterInfo",
    "AdapterRegistry",
    "DeadlockError",
    "DeviceError",
    "DeviceFaultedError",
    "DeviceHealth",
    "DeviceOffer",
    "DeviceStateError",
    "DeviceTimeoutError",
    "DeviceTypeError",
    "InitializationError",
    "Kernel",
    "KernelClosedError",
    "KernelEvents",
    "LogEntry",
    "MMKernelError",
    "PropertyError",
    "RefreshError",
    "Signal",
    "UnknownDeviceError",
]
