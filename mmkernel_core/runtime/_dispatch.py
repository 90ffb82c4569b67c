"""Dispatcher: the one request path every face of every verb goes through.

A call's target is a device record (anything with `.runner` and `.label`: the kernel's
LoadedDevice) or `(runner, label)` for a call that stands for several devices on one runner.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from mmkernel_sdk.errors import KernelClosedError, MMKernelError

from ._request import Request
from ._runner import Runner
from ._watchdog import Defer, Watchdog, _run_inline

Target = Any  # a device record with .runner and .label, or (runner, label)


class Dispatcher:
    def __init__(self, default_timeout: float, defer: Defer = _run_inline) -> None:
        self.default_timeout = check_timeout(default_timeout)
        self.watchdog = Watchdog(defer)

    def call(
        self,
        target: Target,
        op: str,
        fn: Callable[..., Any],
        *args: Any,
        timeout: float | None = None,
    ) -> Request:
        """Run `fn(*args)` on the device's runner: inline when already on it, else queued with a
        deadline the watchdog enforces."""
        device, runner, label = _unpack(target)
        if runner.on_own_thread():
            request = Request(label, op, fn, args, runner)
            request.target = device
            return runner.run_inline(request)
        return self.queue(target, op, fn, *args, timeout=timeout)

    def queue(
        self,
        target: Target,
        op: str,
        fn: Callable[..., Any],
        *args: Any,
        timeout: float | None = None,
    ) -> Request:
        """Queue `fn(*args)` on the device's runner with a deadline, even from that runner."""
        device, runner, label = _unpack(target)
        limit = self.default_timeout if timeout is None else check_timeout(timeout)
        request = Request(label, op, fn, args, runner, time.monotonic() + limit)
        request.target = device
        # Bookkeeping first, queueing last: once queued, the runner wakes and must not have to
        # wait for this thread to drop the GIL (each such wait costs a thread wake-up).
        self.watchdog.track(request)
        try:
            runner.submit(request)
        except KernelClosedError:
            if device is None or device.runner is runner:
                raise
            request.runner = device.runner  # it moved to another runner (one wire) just now
            device.runner.submit(request)
        return request

    def call_or_fail(
        self,
        target: Target,
        op: str,
        fn: Callable[..., Any],
        *args: Any,
        timeout: float | None = None,
    ) -> Request:
        """`call`, with a refusal (closed or faulted runner) as a failed Request instead of an
        exception: for verbs that fan out over many devices and report each one."""
        try:
            return self.call(target, op, fn, *args, timeout=timeout)
        except MMKernelError as error:
            label = target[1] if isinstance(target, tuple) else target.label
            return Request.failed(label, op, error)

    def limit(self, timeout: float | None) -> float:
        return self.default_timeout if timeout is None else check_timeout(timeout)

    def close(self) -> None:
        self.watchdog.close()


def _unpack(target: Target) -> tuple[Any, Runner, str]:
    """A device, or (runner, label) for calls that stand for several devices on one runner."""
    if isinstance(target, tuple):
        return None, target[0], target[1]
    return target, target.runner, target.label


def check_timeout(timeout: float) -> float:
    if (
        not isinstance(timeout, (int, float))
        or isinstance(timeout, bool)
        or not (0 < timeout and math.isfinite(timeout))
    ):
        raise ValueError(f"timeout must be a positive, finite number of seconds, not {timeout!r}")
    return float(timeout)
