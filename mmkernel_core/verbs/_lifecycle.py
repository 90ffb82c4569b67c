"""The runner side of a device's life: construct, initialize, shut down, detach; and unloading a
device whose runner is stuck (detached now, shut down when the stuck call returns)."""

from __future__ import annotations

import logging
import time
from typing import Any

from mmkernel_sdk import Device
from mmkernel_sdk.calibration import restore_memorized
from mmkernel_sdk.errors import (
    DeviceFaultedError,
    DeviceStateError,
    DeviceTimeoutError,
    DeviceTypeError,
    KernelClosedError,
    UnknownDeviceError,
)
from mmkernel_sdk.host import attach
from mmkernel_sdk.resources import close_resources, open_resources

from ..devices import BusyWatch, LoadedDevice
from ..runtime import Request, Runner
from ._base import KernelBase

log = logging.getLogger("mmkernel.devices")


class DeviceLifecycle(KernelBase):
    _reserved: dict[str, tuple[object, str | None]]  # label -> (token, parent) of a load in progress
    busy_poll_s: float

    def _unload_request(self, loaded: LoadedDevice, timeout: float | None) -> Request:
        """Shut `loaded` down on its runner; a device stuck in an earlier call is detached now
        and shut down when that call returns. Never raises: refusals are failed Requests."""
        if loaded.unloaded:  # someone else is unloading it: it is gone
            return Request.completed(loaded.label, "unload", None)
        if loaded.device_type == "Camera":
            self._interrupt_sequence(loaded)  # type: ignore[attr-defined]  # a blocked sequence lets go
        hung = loaded.runner.hung
        if hung is not None:
            return self._detach_stuck(loaded, hung)
        request = self._dispatch.call_or_fail(loaded, "unload", self._shutdown, loaded, timeout=timeout)
        request.cancellable = False  # a sequence was told to stop already
        request.add_done_callback(lambda done: self._after_unload(loaded, done))
        return request

    def _after_unload(self, loaded: LoadedDevice, done: Request) -> None:
        """A shutdown that overran its deadline still frees the label now. If it timed out
        still queued (behind a long call), it will never run: one that waits is queued instead."""
        if isinstance(done.exception(), DeviceTimeoutError) and not loaded.runner.closed:
            if not done.started:
                self._defer_shutdown(loaded)
            self._fail_queued(loaded)
            self._detach(loaded)

    def _detach_stuck(self, loaded: LoadedDevice, hung: Request) -> Request:
        loaded.unloaded = True
        self._defer_shutdown(loaded)
        self._fail_queued(loaded)
        self._detach(loaded)
        stuck_for = time.monotonic() - hung.started
        whose = "" if hung.label == loaded.label else f" of {hung.label!r} (they share a runner)"
        return Request.failed(
            loaded.label,
            "unload",
            DeviceFaultedError(
                loaded.label,
                "unload",
                f"device {loaded.label!r}: its runner is stuck in {hung.op!r}{whose} (for {stuck_for:.1f} s): "
                "it was detached, and its shutdown() runs when that call returns",
            ),
        )

    def _defer_shutdown(self, loaded: LoadedDevice) -> None:
        """Queue the shutdown to run whenever the runner is free again (no deadline: it waits
        for a stuck call as long as that takes)."""
        deferred = Request(loaded.label, "unload", self._shutdown, (loaded,), loaded.runner)
        deferred.target = None  # it must run although the device is marked unloaded
        try:
            loaded.runner.submit(deferred, force=True)
        except KernelClosedError:
            pass  # the runner has already ended: nothing left to run the shutdown on

    def _fail_queued(self, loaded: LoadedDevice) -> None:
        """Calls still queued for a detached device fail now, not after the stuck call."""

        def gone(request: Request) -> BaseException:
            return UnknownDeviceError(f"device {loaded.label!r} was unloaded before {request.op!r} could run")

        loaded.runner.fail_queued(lambda request: request.target is loaded, gone)

    # -- runner side ------------------------------------------------------------------------
    def _construct(
        self,
        label: str,
        factory: Any,
        adapter: str,
        name: str,
        runner: Runner,
        parent: str | None,
        token: object,
        requested: str = "",
    ) -> None:
        device = factory()
        if not isinstance(device, Device):
            raise DeviceTypeError(f"{adapter}/{name} produced {device!r}, which is not a Device")
        attach(device, self, self, label, name)
        if parent is not None:
            with self._table_lock:
                hub = self._devices.get(parent)
            if hub is None or hub.unloaded:  # queued behind the hub's shutdown
                raise _hub_gone(label, parent)
            device.hub = hub.device
        loaded = LoadedDevice(label, device, adapter, name, runner, parent, requested=requested or adapter)
        poll = type(device).busy_poll_s
        loaded.busy_poll_s = poll if poll is not None and poll > 0 else self.busy_poll_s
        loaded.watch = BusyWatch(loaded, self._dispatch, self._adapter_busy)  # type: ignore[attr-defined]
        loaded.load_token = token
        # Read before the device is in the table: a getter that hangs past the load's deadline
        # then leaves nothing behind (the caller gives up, and the device is never added).
        before_init = {n: loaded.props.get(n) for n in loaded.props.names() if loaded.usable_before_init(n)}
        with self._table_lock:
            if self._reserved.get(label, (None,))[0] is not token:  # the caller timed out and gave up
                return
            del self._reserved[label]
            hub = self._devices.get(parent) if parent is not None else None
            if parent is not None and (hub is None or hub.unloaded):
                raise _hub_gone(label, parent)
            if self._closed:
                raise KernelClosedError(f"load_device({label!r}): the kernel closed during the load")
            self._devices[label] = loaded
            # Still under the lock: a deadline passing now takes the device out again (`_abandon`
            # detaches it under this lock) either before all of this or after it, never between,
            # so no value of a detached device stays cached and device_loaded comes before
            # device_unloaded (emit only queues).
            for prop_name, value in before_init.items():
                self._store(loaded, prop_name, value, announce=False)
            self.events.device_loaded.emit(label)

    def _initialize(self, loaded: LoadedDevice) -> None:
        """Initialize, then refresh. Whatever happens (BaseException included), the device is
        either initialized and refreshed, or not initialized with `init_error` set and the
        hardware released again."""
        if loaded.initialized:  # a second initialize queued behind the first
            return
        try:
            open_resources(loaded.device)  # ports and instruments, just before initialize()
        except BaseException as error:
            loaded.init_error = error
            raise
        try:
            loaded.device.initialize()
        except BaseException as error:
            loaded.init_error = error
            self._close_resources_quietly(loaded)
            raise
        try:
            chosen, loaded.memorized_before_init = loaded.memorized_before_init, {}
            for problem in restore_memorized(loaded.device, skip=chosen):  # memorized values back to the hardware
                self._report(log, logging.WARNING, "device %r: %s", loaded.label, problem, device=loaded.label)
            for name, value in chosen.items():  # set before initialize in this session: that is what is kept
                self._memorize(loaded, name, value)
            if loaded.device_type == "Camera":
                self._buffer_for(loaded)  # type: ignore[attr-defined]  # populates in the background
            loaded.initialized = True
            failures = self._refresh_one(loaded, announce=False)  # type: ignore[attr-defined]
        except BaseException as error:
            loaded.initialized = False
            loaded.init_error = error
            self._release_after_failed_init(loaded)
            raise
        loaded.init_error = None
        for label, name, error in failures:
            self._report(log, logging.WARNING, "device %r: property %r unreadable after initialize: %s",
                         label, name, error, device=label)  # fmt: skip
        self.events.device_initialized.emit(loaded.label)

    def _release_after_failed_init(self, loaded: LoadedDevice) -> None:
        try:
            loaded.device.shutdown()
        except BaseException as error:  # noqa: BLE001 - the initialize failure is what the caller needs
            self._report(log, logging.WARNING, "device %r: shutdown after a failed initialize raised %r",
                         loaded.label, error, device=loaded.label)  # fmt: skip
        self._close_resources_quietly(loaded)

    def _close_resources_quietly(self, loaded: LoadedDevice) -> None:
        try:
            close_resources(loaded.device)
        except BaseException as error:  # noqa: BLE001 - the initialize failure is what the caller needs
            self._report(log, logging.WARNING, "device %r: closing its ports after a failed initialize raised %r",
                         loaded.label, error, device=loaded.label)  # fmt: skip

    def _shutdown(self, loaded: LoadedDevice) -> None:
        """On the runner: end a sequence, shut the hardware down, forget the device. Each step
        runs even if an earlier one raised; the first error is reported."""
        loaded.unloaded = True
        errors: list[BaseException] = []
        if loaded.device_type == "Camera":
            _attempt(errors, self._forget_camera, loaded)  # type: ignore[attr-defined]
        if loaded.initialized:
            _attempt(errors, loaded.device.shutdown)
        _attempt(errors, close_resources, loaded.device)
        self._detach(loaded)
        if errors:
            raise errors[0]

    def _detach(self, loaded: LoadedDevice) -> None:
        """Forget the device (idempotent): table, cache, roles, pending waits, its share of the
        runner (the last device to leave a runner closes it); then announce it."""
        loaded.unloaded = True
        with self._table_lock:
            if self._devices.get(loaded.label) is not loaded:
                return
            del self._devices[loaded.label]
        loaded.runner.release(f"device {loaded.label!r} was unloaded")
        if loaded.device_type == "Camera":
            self._drop_camera(loaded)  # type: ignore[attr-defined]
        self._cache.forget(loaded.label)
        for role in self.roles.forget(loaded.label):  # type: ignore[attr-defined]
            self._cache.store_core(role, "")
        if loaded.watch is not None:
            loaded.watch.gone()
        self.events.device_unloaded.emit(loaded.label)


def _hub_gone(label: str, parent: str) -> DeviceStateError:
    return DeviceStateError(f"load_device({label!r}): its hub {parent!r} was unloaded while it loaded")


def _attempt(errors: list[BaseException], step: Any, *args: Any) -> None:
    try:
        step(*args)
    except BaseException as error:  # noqa: BLE001 - every shutdown step gets its turn
        errors.append(error)
