"""Dispatcher: the one request path every face of every verb goes through."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from ._loaded import LoadedDevice
from ._request import Request
from ._runner import Runner
from ._watchdog import Watchdog


class Dispatcher:
    def __init__(self, default_timeout: float) -> None:
        self.default_timeout = check_timeout(default_timeout)
        self.watchdog = Watchdog()

    def call(
        self,
        target: LoadedDevice | tuple[Runner, str],
        op: str,
        fn: Callable[..., Any],
        *args: Any,
        timeout: float | None = None,
    ) -> Request:
        """Run `fn(*args)` on the device's runner: inline when already on it, else queued with a
        deadline the watchdog enforces."""
        device = target if isinstance(target, LoadedDevice) else None
        runner, label = (target.runner, target.label) if device is not None else target  # type: ignore[misc]
        if runner.on_own_thread():
            request = Request(label, op, fn, args, runner)
            request.target = device
            return runner.run_inline(request)
        limit = self.default_timeout if timeout is None else check_timeout(timeout)
        request = Request(label, op, fn, args, runner, time.monotonic() + limit)
        request.target = device
        # Bookkeeping first, queueing last: once queued, the runner wakes and must not have to
        # wait for this thread to drop the GIL (each such wait costs a thread wake-up).
        self.watchdog.track(request)
        runner.submit(request)
        return request

    def close(self) -> None:
        self.watchdog.close()


def check_timeout(timeout: float) -> float:
    if (
        not isinstance(timeout, (int, float))
        or isinstance(timeout, bool)
        or not (0 < timeout and math.isfinite(timeout))
    ):
        raise ValueError(f"timeout must be a positive, finite number of seconds, not {timeout!r}")
    return float(timeout)
