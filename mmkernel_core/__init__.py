"""mmkernel_core: the kernel. `from mmkernel_core import Kernel`."""

from mmkernel_sdk.errors import (
    ConfigError,
    DeadlockError,
    DeviceError,
    DeviceFaultedError,
    DeviceStateError,
    DeviceTimeoutError,
    DeviceTypeError,
    InitializationError,
    KernelClosedError,
    MMKernelError,
    PluginError,
    PropertyError,
    RefreshError,
    UnknownDeviceError,
)

from ._adapters import AdapterInfo, AdapterRegistry, DeviceOffer
from ._events import KernelEvents, Signal
from ._kernel import Kernel
from ._loaded import DeviceHealth, DeviceInfo
from ._logs import LogEntry
from ._plugins import PluginFailure

__all__ = [
    "AdapterInfo",
    "AdapterRegistry",
    "ConfigError",
    "DeadlockError",
    "DeviceError",
    "DeviceFaultedError",
    "DeviceHealth",
    "DeviceInfo",
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
    "PluginError",
    "PluginFailure",
    "PropertyError",
    "RefreshError",
    "Signal",
    "UnknownDeviceError",
]
