"""Closing the kernel: it returns even with a hung or faulted device (next to a hub too), logs one
line for the hung call and shuts that device down once the call returns, settles every call
queued behind it without running their callbacks on a runner, and afterwards every verb, on
every face, raises KernelClosedError without starting a thread."""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
from typing import Any

import pytest

from mmkernel_core import Kernel, KernelClosedError, MMKernelError
from mmkernel_core.verbs._faces import verbs_of
from mmkernel_sdk import Hub
from mmkernel_sdk.testing import SimShutter, SimStage
from tests.support.devices import Held, Holdable, hang, hold_runner


def test_close_returns_with_a_faulted_device_next_to_a_hub() -> None:
    kernel = Kernel(timeout=2)
    stuck = Holdable()
    kernel.load_device("Hub", Hub())
    kernel.load_device("P", SimShutter(), parent="Hub")
    kernel.load_device("Stuck", stuck)
    kernel.initialize_all()
    hang(kernel, "Stuck", stuck)
    done = threading.Event()
    threading.Thread(target=lambda: (kernel.close(), done.set()), daemon=True).start()
    assert done.wait(5), "close() hung"
    stuck.gate.release.set()


def test_close_with_a_hung_device_logs_one_line_and_shuts_it_down_later(caplog: pytest.LogCaptureFixture) -> None:
    kernel = Kernel(timeout=5)
    stuck = Holdable()
    kernel.load_device("Stuck", stuck)
    kernel.initialize("Stuck")
    hang(kernel, "Stuck", stuck)
    with caplog.at_level(logging.WARNING, logger="mmkernel"):
        kernel.close()
    lines = [r for r in caplog.records if r.name == "mmkernel" and "Stuck" in r.getMessage()]
    assert len(lines) == 1 and "'get Value'" in lines[0].getMessage() and lines[0].exc_info is None
    assert "\n" not in lines[0].getMessage()
    assert not stuck.shut.is_set()
    stuck.gate.release.set()
    assert stuck.shut.wait(5), "shutdown() did not run after the stuck call returned"


def stuck_kernel() -> tuple[Kernel, Held, object]:
    kernel = Kernel(timeout=5)
    device = Held()
    kernel.load_device("D", device)
    kernel.initialize("D")
    hold_runner(kernel, "D", device, timeout=0.3)
    queued = kernel.submit.get_property("D", "Value", timeout=3.0)
    deadline = time.monotonic() + 5
    while kernel.device_health("D").state != "faulted":
        assert time.monotonic() < deadline
        kernel.events.flush()
    return kernel, device, queued


def test_calls_queued_behind_a_stuck_call_settle_when_the_kernel_closes() -> None:
    kernel, device, queued = stuck_kernel()
    try:
        kernel.close()
        assert isinstance(queued.exception(timeout=5), MMKernelError)  # type: ignore[attr-defined]
    finally:
        device.gate.release.set()


def test_done_callbacks_never_run_on_a_runner_after_close() -> None:
    kernel, device, queued = stuck_kernel()
    kernel.close()
    where: list[str] = []
    ran = threading.Event()
    queued.add_done_callback(lambda f: (where.append(threading.current_thread().name), ran.set()))  # type: ignore[attr-defined]
    device.gate.release.set()
    assert ran.wait(5)
    assert not where[0].startswith("mmkernel-runner"), where


def test_after_close_every_verb_raises_and_no_thread_starts() -> None:
    kernel = Kernel()
    kernel.load_device("Z", SimStage())
    kernel.close()
    before = {t.ident for t in threading.enumerate()}
    for name, the_verb in verbs_of(Kernel).items():
        required = [
            p
            for p in list(inspect.signature(the_verb.fn).parameters.values())[1:]
            if p.default is p.empty and p.kind is p.POSITIONAL_OR_KEYWORD
        ]
        args = ("Z", "x", 1, 2, 3, 4)[: len(required)]
        with pytest.raises(KernelClosedError):
            getattr(kernel, name)(*args)
        with pytest.raises(KernelClosedError):
            getattr(kernel.submit, name)(*args).result(1)

        async def call(verb_name: str = name, args: tuple[Any, ...] = args) -> None:
            await getattr(kernel.aio, verb_name)(*args)

        with pytest.raises(KernelClosedError):
            asyncio.run(call())
    with pytest.raises(KernelClosedError):
        kernel.load_device("New", SimStage())
    started = [t.name for t in threading.enumerate() if t.ident not in before and t.name.startswith("mmkernel")]
    assert started == []
