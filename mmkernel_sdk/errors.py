"""One exception hierarchy shared by adapters and the kernel.

It lives in the SDK so adapter code can catch kernel errors (e.g. from a cross-device call)
without importing the core.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BufferOverflowError",
    "ConfigError",
    "DeadlockError",
    "DeviceError",
    "DeviceFaultedError",
    "DeviceStateError",
    "DeviceTimeoutError",
    "DeviceTypeError",
    "InitializationError",
    "KernelClosedError",
    "MMKernelError",
    "PluginError",
    "PortError",
    "PortTimeoutError",
    "PropertyError",
    "RecordingError",
    "RefreshError",
    "ReplyError",
    "StreamEnded",
    "UnknownDeviceError",
    "UnloadError",
]


class MMKernelError(Exception):
    """Base class of every error MMKernel raises on purpose."""


class PropertyError(MMKernelError, ValueError):
    """A property name or value was rejected; nothing was applied."""

    def __init__(
        self,
        message: str,
        *,
        device: str | None = None,
        property: str | None = None,  # noqa: A002 - matches the attribute users read
        value: Any = None,
        allowed: str | None = None,
    ) -> None:
        super().__init__(message)
        self.device = device
        self.property = property
        self.value = value
        self.allowed = allowed


class UnknownDeviceError(MMKernelError, LookupError):
    """A label, adapter or device name that is not loaded or not offered."""

    def __str__(self) -> str:  # LookupError would quote the message like a dict key
        return str(self.args[0]) if self.args else ""


class DeviceTypeError(MMKernelError, TypeError):
    """A verb was used on a device of the wrong type (e.g. set_position on a Shutter)."""


class DeviceStateError(MMKernelError):
    """The device is not in a state that allows the operation (e.g. not initialized)."""


class DeviceError(MMKernelError):
    """Adapter code raised while running an operation; the original is chained as __cause__."""

    def __init__(self, device: str, operation: str, message: str) -> None:
        super().__init__(message)
        self.device = device
        self.operation = operation


class DeviceTimeoutError(DeviceError, TimeoutError):
    """An operation did not finish within its deadline; the device is marked faulted."""


class DeviceFaultedError(DeviceError):
    """The device has a call that overran its deadline and has not yet returned."""


class PortError(DeviceError):
    """A device's port or instrument connection failed: it cannot be opened, or is not open."""

    def __init__(self, device: str, operation: str, message: str, port: str = "") -> None:
        super().__init__(device, operation, message)
        self.port = port


class PortTimeoutError(PortError, TimeoutError):
    """No (complete) reply within the answer timeout; names device, port, command and time waited.
    The port's input is purged afterwards, so the next exchange starts clean."""


class ReplyError(PortError):
    """A reply that could not be decoded or parsed, or an error the instrument reported."""


class DeadlockError(DeviceError):
    """Cross-device calls formed a cycle (A waits on B while B waits on A)."""


class InitializationError(MMKernelError):
    """One or more devices failed to initialize; `failures` maps label to the error."""

    def __init__(self, failures: dict[str, BaseException]) -> None:
        lines = [f"  {label}: {error}" for label, error in failures.items()]
        noun = "device" if len(failures) == 1 else "devices"
        super().__init__(f"{len(failures)} {noun} failed to initialize:\n" + "\n".join(lines))
        self.failures = failures


class UnloadError(MMKernelError):
    """Devices were unloaded (they are gone from the kernel), but some could not be shut down
    cleanly; `failures` maps label to why (shutdown raised, timed out, or is deferred)."""

    def __init__(self, failures: dict[str, BaseException]) -> None:
        lines = [f"  {label}: {error}" for label, error in failures.items()]
        noun = "device" if len(failures) == 1 else "devices"
        super().__init__(f"{len(failures)} {noun} could not be shut down cleanly:\n" + "\n".join(lines))
        self.failures = failures


class KernelClosedError(MMKernelError):
    """The kernel was closed; no further calls are accepted."""


class RefreshError(MMKernelError):
    """update_cache could not read some properties; the rest of the cache was refreshed."""

    def __init__(self, failures: list[tuple[str, str, BaseException]]) -> None:
        lines = [f"  {label}.{name}: {error}" for label, name, error in failures]
        super().__init__(f"{len(failures)} value(s) could not be refreshed:\n" + "\n".join(lines))
        self.failures = failures


class PluginError(MMKernelError):
    """A plugin could not be used: it failed to import, its hook raised, its device class could
    not be imported, or two plugins claim the same adapter name."""


class ConfigError(MMKernelError):
    """A configuration file or preset could not be applied; `problems` carry line numbers."""

    def __init__(self, message: str, problems: list[object] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class BufferOverflowError(MMKernelError):
    """A sequence with overflow="stop" filled its camera's buffer and stopped; the frames it kept
    are still readable, this error comes after the last of them."""


class StreamEnded(MMKernelError):  # noqa: N818 - an end signal, like StopIteration
    """The sequence has finished and every frame it produced has been taken."""


class RecordingError(MMKernelError):
    """A recording could not go on (a write failed: disk full, permission denied; a step
    failed; the camera failed). `camera` and `frame` say where it stopped; every frame
    written before is readable, with its metadata."""

    def __init__(self, message: str, camera: str = "", frame: int | None = None) -> None:
        super().__init__(message)
        self.camera = camera
        self.frame = frame
