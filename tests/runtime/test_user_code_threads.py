"""User code never runs on the kernel's infrastructure threads: Future callbacks run on the
callbacks thread (a blocking one holds up no other deadline), a slow log handler does not delay
the watchdog's next expiry, and kernel log records are never handled on a device runner."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from mmkernel_core import DeviceTimeoutError, Kernel
from mmkernel_sdk.testing import Gate
from tests.support.devices import Holdable, Live


@pytest.fixture
def two_stuck(kernel: Kernel) -> Iterator[tuple[Holdable, Holdable]]:
    """Devices A and B whose next reads hang (released at the end of the test)."""
    first, second = Holdable(), Holdable()
    kernel.load_device("A", first)
    kernel.load_device("B", second)
    kernel.initialize_all()
    first.hold = second.hold = True
    yield first, second
    first.gate.release.set()
    second.gate.release.set()


def test_future_callbacks_of_timed_out_calls_do_not_hold_up_other_deadlines(kernel: Kernel, two_stuck: Any) -> None:
    callback_gate = Gate()
    where: list[str] = []

    def slow_callback(future: Any) -> None:
        where.append(threading.current_thread().name)
        callback_gate.hold()  # a callback that blocks (or makes a follow-up call)

    a = kernel.submit.get_property("A", "Value", timeout=0.1)
    a.add_done_callback(slow_callback)
    callback_gate.wait_entered()
    b = kernel.submit.get_property("B", "Value", timeout=0.1)
    # B's deadline fires while A's callback is still blocked: the watchdog is not running it.
    assert isinstance(b.exception(timeout=5), DeviceTimeoutError)
    assert where == ["mmkernel-callbacks"]
    callback_gate.release.set()


def test_a_slow_log_handler_does_not_delay_the_next_expiry(kernel: Kernel, two_stuck: Any) -> None:
    handler_gate = Gate()

    class Slow(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            handler_gate.hold()

    handler = Slow(logging.ERROR)
    watchdog_log = logging.getLogger("mmkernel.watchdog")
    watchdog_log.addHandler(handler)
    try:
        a = kernel.submit.get_property("A", "Value", timeout=0.1)
        assert isinstance(a.exception(timeout=5), DeviceTimeoutError)
        handler_gate.wait_entered()  # logging A's expiry is stuck in the handler
        b = kernel.submit.get_property("B", "Value", timeout=0.1)
        assert isinstance(b.exception(timeout=5), DeviceTimeoutError)
    finally:
        handler_gate.release.set()
        watchdog_log.removeHandler(handler)


def test_kernel_log_records_are_never_handled_on_a_runner() -> None:
    threads: list[str] = []

    class Recorder(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            threads.append(threading.current_thread().name)

    handler = Recorder()
    logger = logging.getLogger("mmkernel")
    logger.addHandler(handler)
    try:
        with Kernel(timeout=5, buffer_mb=1) as kernel:
            kernel.load_device("Cam", Live())
            kernel.initialize("Cam")
            kernel.start_sequence("Cam", count=3)
            while kernel.is_sequence_running("Cam"):
                kernel.wait_for("Cam")
            kernel.start_sequence("Cam", count=3)  # warns: unread frames discarded
            kernel.stop_sequence("Cam")
            kernel.events.flush()
    finally:
        logger.removeHandler(handler)
    assert threads and not [t for t in threads if t.startswith("mmkernel-runner")]
