"""Busy and waiting: the standard `busy` query, wait_for, wait_for_system, post-set delays."""

from __future__ import annotations

import math
import threading
import time

from mmkernel_sdk.errors import DeviceTimeoutError, PropertyError

from ..devices import LoadedDevice, still_busy
from ..runtime import Request, gather
from ._base import KernelBase
from ._faces import verb


class WaitVerbs(KernelBase):
    busy_poll_s: float
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
        A wait holds no thread (see BusyWatch), so any number of them may be pending.

        Called from the device's own runner (adapter code, or a hub sibling), the runner is
        busy with the caller itself, so only the post-set delay and the adapter's own busy()
        are waited for, inline."""
        loaded = self._loaded(label)
        deadline = time.monotonic() + self._limit(timeout)
        if loaded.runner.on_own_thread():
            self._wait_until_ready(loaded, deadline)
            return Request.completed(label, "wait_for", None)
        return self._watched(loaded, deadline)

    @verb
    def wait_for_system(self, *, timeout: float | None = None) -> Request:
        """Wait for every device at once; the error names every device still busy. Devices
        unloaded meanwhile count as idle."""
        deadline = time.monotonic() + self._limit(timeout)
        parts = [self._watched(d, deadline) for d in self._device_list()]
        return gather("*", "wait_for_system", parts, _combine_wait)

    @verb
    def wait_for_config(self, group: str, preset: str, *, timeout: float | None = None) -> Request:
        """Wait for every device a preset sets (MMCore's waitForConfig); Core settings take
        no time. The error names every device still busy."""
        deadline = time.monotonic() + self._limit(timeout)
        labels = dict.fromkeys(
            s.device for s in self._configuration.groups.settings(group, preset) if s.device != "Core"
        )  # type: ignore[attr-defined]
        parts = [self._watched(self._loaded(label), deadline) for label in labels]
        return gather(group, "wait_for_config", parts, _combine_wait)

    @verb
    def set_device_delay(self, label: str, ms: float) -> Request:
        """After each set, the device reads busy for `ms` milliseconds (MM's Delay)."""
        loaded = self._loaded(label)
        loaded.delay_s = _non_negative(label, "delay", ms, "a finite number of ms >= 0") / 1000.0
        return Request.completed(label, "set_device_delay", None)

    @verb
    def get_device_delay(self, label: str) -> Request:
        return Request.completed(label, "get_device_delay", self._loaded(label).delay_s * 1000.0)

    @verb
    def set_busy_poll_interval(self, label: str, seconds: float) -> Request:
        """How often waiting asks a non-blocking device's busy() (default: the adapter class's
        `busy_poll_s`, else the kernel's `busy_poll_s`). A slow serial line wants a longer one."""
        loaded = self._loaded(label)
        allowed = "a finite number of seconds > 0"
        value = _non_negative(label, "busy poll interval", seconds, allowed)
        if value <= 0:
            raise _bad_number(label, "busy poll interval", seconds, allowed)
        loaded.busy_poll_s = value
        return Request.completed(label, "set_busy_poll_interval", None)

    @verb
    def busy_poll_interval(self, label: str) -> Request:
        return Request.completed(label, "busy_poll_interval", self._loaded(label).busy_poll_s)

    # -- helpers ----------------------------------------------------------------------------
    def _limit(self, timeout: float | None) -> float:
        return self._dispatch.limit(timeout)

    def _watched(self, loaded: LoadedDevice, deadline: float) -> Request:
        request = Request(loaded.label, "wait_for", runner=loaded.runner)  # a runner waiting on it is cycle-checked
        loaded.watch.wait(request, deadline)
        return request

    def _adapter_busy(self, loaded: LoadedDevice) -> bool:
        """The adapter's busy(); when a non-blocking stage first says it has arrived, its
        position is read again (the read right after the move command saw where it started),
        so the cache, `from_cache` reads and position events end where the stage did."""
        busy = bool(loaded.device.busy())
        if not busy and loaded.moved:
            loaded.moved = False
            if loaded.device_type == "Stage":
                self._read_value(loaded, "Position")  # type: ignore[attr-defined]
            else:
                self._read_xy(loaded)  # type: ignore[attr-defined]
        return busy

    def _wait_until_ready(self, loaded: LoadedDevice, deadline: float) -> None:
        """Past the post-set delay, and the adapter's busy() (if it has one) says False; on the
        device's own runner, so it waits in place."""
        while True:
            hold = loaded.busy_until - time.monotonic()
            if hold > 0:
                if hold > deadline - time.monotonic():
                    raise still_busy(loaded.label, "its post-set delay outlasts the deadline")
                if self._closing.wait(hold):
                    return
                continue
            if not (loaded.has_busy and loaded.initialized):
                return
            if time.monotonic() >= deadline:
                raise still_busy(loaded.label, "the device still reports busy")
            if not self._adapter_busy(loaded):
                return
            if self._closing.wait(min(loaded.busy_poll_s, max(0.0, deadline - time.monotonic()))):
                return


def _non_negative(label: str, what: str, value: object, allowed: str) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
        raise _bad_number(label, what, value, allowed)
    return float(value)


def _bad_number(label: str, what: str, value: object, allowed: str) -> PropertyError:
    return PropertyError(
        f"device {label!r}: {what} must be {allowed}, not {value!r}",
        device=label,
        property=what,
        value=value,
        allowed=allowed,
    )


def _combine_wait(parts: list[Request]) -> None:
    failed = {p.label: error for p in parts if (error := p.exception()) is not None}
    if failed:
        names = ", ".join(sorted(failed))
        details = "; ".join(str(e) for e in failed.values())
        raise DeviceTimeoutError(names, "wait_for_system", f"wait_for_system: still busy: {names} ({details})")
