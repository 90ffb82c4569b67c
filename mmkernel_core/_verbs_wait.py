"""Busy and waiting: the standard `busy` query, wait_for, wait_for_system, post-set delays."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from mmkernel_sdk.errors import DeviceStateError, DeviceTimeoutError

from ._base import KernelBase
from ._dispatch import check_timeout
from ._faces import verb
from ._loaded import LoadedDevice
from ._request import Request, gather


class WaitVerbs(KernelBase):
    busy_poll_s: float
    _waiters: ThreadPoolExecutor
    _closing: threading.Event

    @verb
    def busy(self, label: str, *, timeout: float | None = None) -> Request:
        """True while a call is queued or running on the device's runner, during its post-set
        delay, or while the adapter's own busy() says so (asked only when otherwise idle)."""
        loaded = self._loaded(label)
        if loaded.runner.inflight or time.monotonic() < loaded.busy_until:
            return Request.completed(label, "busy", True)
        if not loaded.has_busy or not loaded.initialized:
            return Request.completed(label, "busy", False)
        return self._call(loaded, "busy", self._adapter_busy, loaded, timeout=timeout)

    @verb
    def wait_for(self, label: str, *, timeout: float | None = None) -> Request:
        """Return when `busy(label)` is false; DeviceTimeoutError names the device otherwise.

        Called from the device's own runner (adapter code, or a hub sibling), the runner is
        busy with the caller itself, so only the post-set delay and the adapter's own busy()
        are waited for, inline."""
        loaded = self._loaded(label)
        deadline = time.monotonic() + self._limit(timeout)
        if loaded.runner.on_own_thread():
            self._wait_until_ready(loaded, deadline)
            return Request.completed(label, "wait_for", None)
        request = self._on_waiter(label, "wait_for", self._wait_until_idle, loaded, deadline)
        request.runner = loaded.runner  # a runner waiting on this is cycle-checked like a call
        return request

    @verb
    def wait_for_system(self, *, timeout: float | None = None) -> Request:
        """Wait for every device in parallel; the error names every device still busy."""
        deadline = time.monotonic() + self._limit(timeout)
        parts = [
            self._on_waiter(d.label, "wait_for", self._wait_until_idle, d, deadline)
            for d in list(self._devices.values())
        ]
        return gather("*", "wait_for_system", parts, _combine_wait)

    @verb
    def set_device_delay(self, label: str, ms: float) -> Request:
        """After each set, the device reads busy for `ms` milliseconds (MM's Delay)."""
        if not isinstance(ms, (int, float)) or isinstance(ms, bool) or ms < 0:
            raise DeviceStateError(f"device {label!r}: delay must be a number of ms >= 0, not {ms!r}")
        self._loaded(label).delay_s = ms / 1000.0
        return Request.completed(label, "set_device_delay", None)

    @verb
    def get_device_delay(self, label: str) -> Request:
        return Request.completed(label, "get_device_delay", self._loaded(label).delay_s * 1000.0)

    # -- helpers ----------------------------------------------------------------------------
    def _limit(self, timeout: float | None) -> float:
        return self._dispatch.default_timeout if timeout is None else check_timeout(timeout)

    def _on_waiter(self, label: str, op: str, fn, *args) -> Request:  # type: ignore[no-untyped-def]
        """Waiting happens on a small pool, never on a device runner (which must stay free)."""
        request = Request(label, op)

        def run() -> None:
            try:
                request.finish(fn(*args))
            except BaseException as error:  # noqa: BLE001 - delivered to the waiter
                request.finish(exception=error)

        self._waiters.submit(run)
        return request

    def _adapter_busy(self, loaded: LoadedDevice) -> bool:
        return bool(loaded.device.busy())

    def _wait_until_idle(self, loaded: LoadedDevice, deadline: float) -> None:
        """Nothing queued or running on the runner, then `_wait_until_ready`."""
        if not loaded.runner.wait_idle(max(0.0, deadline - time.monotonic())):
            current = loaded.runner.current
            doing = f"{current.op!r} is still running" if current else "calls are still queued"
            raise _still_busy(loaded.label, doing)
        self._wait_until_ready(loaded, deadline)

    def _wait_until_ready(self, loaded: LoadedDevice, deadline: float) -> None:
        """Past the post-set delay, and the adapter's busy() (if it has one) says False."""
        while True:
            hold = loaded.busy_until - time.monotonic()
            if hold > 0:
                if hold > deadline - time.monotonic():
                    raise _still_busy(loaded.label, "its post-set delay outlasts the deadline")
                if self._closing.wait(hold):
                    return
                continue
            if not (loaded.has_busy and loaded.initialized):
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _still_busy(loaded.label, "the device still reports busy")
            if not self._call(loaded, "busy", self._adapter_busy, loaded, timeout=remaining).result():
                return
            if self._closing.wait(min(self.busy_poll_s, max(0.0, deadline - time.monotonic()))):
                return


def _still_busy(label: str, why: str) -> DeviceTimeoutError:
    return DeviceTimeoutError(label, "wait_for", f"device {label!r}: wait_for timed out ({why})")


def _combine_wait(parts: list[Request]) -> None:
    failed = {p.label: error for p in parts if (error := p.exception()) is not None}
    if failed:
        names = ", ".join(sorted(failed))
        details = "; ".join(str(e) for e in failed.values())
        raise DeviceTimeoutError(names, "wait_for_system", f"wait_for_system: still busy: {names} ({details})")
