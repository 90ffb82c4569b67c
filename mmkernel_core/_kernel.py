"""Kernel: the facade users import. Thin on purpose: verbs live in small mixins, each a group."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from mmkernel_sdk.calibration import default_data_dir, default_site_data_dir
from mmkernel_sdk.errors import UnloadError

from .config import SystemConfiguration
from .devices import AdapterRegistry, LoadedDevice, PluginFailure, Roles, StateCache, discover
from .frames import SpareMemory
from .recording import builtin
from .runtime import CallbackHandler, Dispatcher, EventBus, KernelEvents, LogEntry, Mailbox, ThreadPool, check_timeout
from .verbs._acquire import AcquireVerbs
from .verbs._auto_shutter import ShutterHolds
from .verbs._core_device import CoreDevice
from .verbs._devices import DeviceVerbs
from .verbs._faces import AioFace, SubmitFace
from .verbs._focus import FocusVerbs
from .verbs._internals import KernelInternals
from .verbs._motion import MotionVerbs
from .verbs._properties import PropertyVerbs
from .verbs._record import RecordVerbs
from .verbs._sequencing import SequencingVerbs
from .verbs._wait import WaitVerbs

log = logging.getLogger("mmkernel")


def default_port_map() -> dict[str, str]:
    """$MMKERNEL_PORT_MAP, e.g. "COM1=/dev/ttyUSB0;COM3=sim://fw102c": a configuration's port
    names as they are on this machine."""
    text = os.environ.get("MMKERNEL_PORT_MAP", "")
    pairs = (item.split("=", 1) for item in text.replace(",", ";").split(";") if "=" in item)
    return {name.strip(): port.strip() for name, port in pairs if name.strip()}


DEFAULT_BUFFER_MB = 512  # per camera; resident only once the camera first streams (MMCore: 250 MB for all)


def default_buffer_mb() -> float:
    """Per-camera buffer size when Kernel(buffer_mb=...) is not given: $MMKERNEL_BUFFER_MB or 512."""
    return float(os.environ.get("MMKERNEL_BUFFER_MB", str(DEFAULT_BUFFER_MB)))


class Kernel(
    DeviceVerbs, PropertyVerbs, MotionVerbs, SequencingVerbs, FocusVerbs, WaitVerbs, RecordVerbs, AcquireVerbs
):
    """Load devices and operate them from any thread: blocking (`kernel.verb(...)`),
    futures (`kernel.submit.verb(...)`) or asyncio (`await kernel.aio.verb(...)`).

    `timeout` is the default deadline of every call in seconds (override per call with
    `timeout=`); calls slower than `slow_call_s` are logged. Adapters come from installed plugins
    (entry point group `mmkernel.adapters`) unless `discover=False`, plus any plugin objects
    (modules with hook implementations) passed as `plugins=`. `port_map` ({"COM1": "/dev/ttyUSB0"},
    default $MMKERNEL_PORT_MAP) says what a configuration's port names are on this machine (a
    pyserial URL such as "sim://fw102c" works too). `data_dir` / `site_data_dir` hold the
    devices' calibration stores (see mmkernel_sdk.calibration). Each camera gets its own frame
    buffer of `buffer_mb` (default $MMKERNEL_BUFFER_MB or 512), reserved when the camera is
    initialized and made resident in the background when it first streams (change per camera
    with `set_buffer_size`); `frame_metadata=False`
    drops per-frame metadata for the fastest streaming.
    """

    def __init__(
        self,
        *,
        timeout: float = 10.0,
        slow_call_s: float = 1.0,
        busy_poll_s: float = 0.005,
        buffer_mb: float | None = None,
        frame_metadata: bool = True,
        plugins: Iterable[object] = (),
        discover: bool = True,
        adapters: AdapterRegistry | None = None,
        port_map: dict[str, str] | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        site_data_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self._closed = False  # every verb checks this first
        self._plugins = tuple(plugins)
        self._discover = discover
        self._adapters = adapters
        self._plugin_failures: list[PluginFailure] = []
        self._discovery_lock = threading.Lock()  # never held by anything a runner needs
        check_timeout(busy_poll_s)
        self.busy_poll_s = busy_poll_s
        self._slow_call_s = slow_call_s
        self._threads = ThreadPool()  # parked threads for runners: loads start none (or few)
        self._spare_memory = SpareMemory()  # camera memory kept across a configuration reload
        self._loading_config = False  # a configuration load runs: unloaded cameras' memory is kept for the next
        self._load_lock = threading.Lock()  # configuration loads run one at a time
        self._devices: dict[str, LoadedDevice] = {}
        self._reserved: dict[str, object] = {}
        self._table_lock = threading.Lock()
        self._notify_dropped: set[str] = set()
        self.port_map = dict(default_port_map() if port_map is None else port_map)
        # calibration stores: the user's (default $MMKERNEL_DATA_DIR or the platform's user data
        # directory) over an optional read-only lab-wide one ($MMKERNEL_SITE_DATA_DIR)
        self.data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
        self.site_data_dir = Path(site_data_dir) if site_data_dir is not None else default_site_data_dir()
        # User code the kernel hands on (Future done-callbacks, logging from runners and the
        # watchdog) runs here, never on a runner or the watchdog; events have their own thread.
        self._callbacks = Mailbox("mmkernel-callbacks", inline_when_closed=True)
        self.events = KernelEvents(EventBus(), upstream=self._callbacks)
        self._dispatch = Dispatcher(timeout, self._callbacks.post)
        self._cache = StateCache(self.events)
        self._closing = threading.Event()
        self._log_handlers: dict[Callable[[LogEntry], object], CallbackHandler] = {}
        self.default_buffer_mb = buffer_mb if buffer_mb is not None else default_buffer_mb()
        self.frame_metadata = frame_metadata
        self._shutter_holds = ShutterHolds()
        self.roles = Roles()
        self._core = CoreDevice(self)  # the `Core` pseudo-device
        self._configuration = SystemConfiguration()  # presets, pixel sizes, focus directions, its file
        self._recordings: set[Any] = set()  # running recordings: closing the kernel lets them finish
        self.internals = KernelInternals(self)  # what config/, recording/, the CLI and tests use
        self.submit = SubmitFace(self)
        self.aio = AioFace(self)

    # -- plugins ----------------------------------------------------------------------------
    @property
    def adapters(self) -> AdapterRegistry:
        """Adapters offered by installed plugins (entry points) and `plugins=`; discovered on
        first use, so creating a Kernel costs nothing until adapters are needed."""
        if self._adapters is None:
            with self._discovery_lock:
                if self._adapters is None:
                    use_entry_points = self._discover
                    self._adapters, self._plugin_failures = discover(
                        self._plugins, use_entry_points, builtin.WRITERS, builtin.STEPS
                    )
        return self._adapters

    def plugin_errors(self) -> list[PluginFailure]:
        """Plugins that failed to import, whose hook raised, or whose adapter names conflict."""
        self.adapters  # noqa: B018 - discovery records the failures
        return list(self._plugin_failures)

    # -- configuration ----------------------------------------------------------------------
    @property
    def default_timeout(self) -> float:
        return self._dispatch.default_timeout

    @default_timeout.setter
    def default_timeout(self, seconds: float) -> None:
        self._dispatch.default_timeout = check_timeout(seconds)

    # -- logging ----------------------------------------------------------------------------
    def add_log_callback(self, callback: Callable[[LogEntry], object], level: int | str = logging.INFO) -> None:
        """Receive kernel and adapter log records (time, level, device, thread, message) on the
        notification thread. Lowers the `mmkernel` logger's level to `level` if needed."""
        handler = CallbackHandler(self.events.log_record)
        handler.setLevel(level)
        root = logging.getLogger("mmkernel")
        if root.getEffectiveLevel() > handler.level:
            root.setLevel(handler.level)
        self.events.log_record.connect(callback)
        self._log_handlers[callback] = handler
        root.addHandler(handler)

    def remove_log_callback(self, callback: Callable[[LogEntry], object]) -> None:
        handler = self._log_handlers.pop(callback, None)
        if handler is not None:
            logging.getLogger("mmkernel").removeHandler(handler)
        self.events.log_record.disconnect(callback)

    def _report(self, logger: logging.Logger, level: int, message: str, *args: Any, device: str | None = None) -> None:
        """Log from a runner or the watchdog without running log handlers on it."""
        self._callbacks.post(logger.log, level, message, *args, extra={"device": device})

    # -- lifetime ---------------------------------------------------------------------------
    def close(self, timeout: float | None = None) -> None:
        """Unload every device (shutdown on its own thread), then stop the kernel's threads.

        Always returns: a device stuck in a call is detached at once (one warning line names it
        and the call), and its shutdown() runs if that call ever returns. Afterwards every verb
        raises KernelClosedError."""
        with self._table_lock:
            if self._closed:
                return
            self._closed = True
        self._closing.set()
        try:
            self._stop_recordings(timeout)
            DeviceVerbs.unload_all.fn(self, timeout=timeout).result()
        except UnloadError as error:
            for problem in error.failures.values():
                log.warning("close: %s", _one_line(problem))
        except BaseException as error:  # noqa: BLE001 - close always finishes
            log.warning("close: unloading failed: %s", _one_line(error))
        finally:
            for callback in list(self._log_handlers):
                self.remove_log_callback(callback)
            self._dispatch.close()
            self._spare_memory.clear()
            self._threads.close()
            self.events.bus.flush(timeout=1.0)
            self.events.bus.close()
            self._callbacks.flush(timeout=1.0)
            self._callbacks.close()

    def __enter__(self) -> Kernel:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Kernel devices={sorted(self._devices)}>"


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
