"""Fault injection: every kind of exception, from every place adapter and user code runs.

Each of Exception, KeyboardInterrupt, SystemExit and GeneratorExit is raised from each adapter
entry point (initialize, a getter, a setter, busy, read_frame, shutdown), from an event callback,
a Future done-callback, a log handler and a plugin's import and hook. Afterwards every kernel
thread must be alive, the caller must have got the documented error (never the raw
BaseException), and the kernel must still serve calls.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mmkernel_core import DeviceError, Kernel, RefreshError
from mmkernel_sdk import Camera, prop
from mmkernel_sdk.testing import SimShutter, SimStage
from tests.support.plugin_factory import write_plugin

ERRORS = {
    "Exception": lambda: RuntimeError("injected"),
    "KeyboardInterrupt": KeyboardInterrupt,
    "SystemExit": lambda: SystemExit(3),
    "GeneratorExit": GeneratorExit,
}
ERROR_SOURCES = {  # as Python source, for plugin modules
    "Exception": "RuntimeError('injected')",
    "KeyboardInterrupt": "KeyboardInterrupt()",
    "SystemExit": "SystemExit(3)",
    "GeneratorExit": "GeneratorExit()",
}


class Faulty(Camera):
    """Raises `error` from the entry point `where` while armed."""

    Knob = prop(int, default=0)

    def __init__(self, where: str, error: type[BaseException] | object) -> None:
        self.where = where
        self.make_error = error
        self.armed = True

    def _fault(self, here: str) -> None:
        if self.armed and here == self.where:
            raise self.make_error()  # type: ignore[operator]

    def initialize(self) -> None:
        self._fault("initialize")

    @prop(int)
    def Reading(self) -> int:
        self._fault("getter")
        return 1

    @Knob.setter
    def Knob(self, value: int) -> None:
        self._fault("setter")

    def busy(self) -> bool:
        self._fault("busy")
        return False

    def frame_shape(self) -> tuple[int, ...]:
        return (8, 8)

    def frame_dtype(self) -> np.dtype:
        return np.dtype(np.uint8)

    def read_frame(self, out: np.ndarray) -> None:
        self._fault("read_frame")
        out[...] = 7

    def shutdown(self) -> None:
        self._fault("shutdown")


def infrastructure(kernel: Kernel) -> dict[str, threading.Thread]:
    """The kernel's own threads (not the runners)."""
    return {
        "watchdog": kernel._dispatch.watchdog.thread,
        "events": kernel.events.bus.thread,
        "callbacks": kernel._callbacks.thread,
    }


def assert_alive(kernel: Kernel, *runners: str) -> None:
    threads = {**infrastructure(kernel), **{r: kernel._loaded(r).runner.thread for r in runners}}
    dead = [name for name, thread in threads.items() if not thread.is_alive()]
    assert not dead, f"kernel threads died: {dead}"


def assert_serves(kernel: Kernel) -> None:
    """The bystander stage still moves, and its event still arrives on the notification thread."""
    seen: list[float] = []
    kernel.events.stage_position_changed.connect(lambda label, um: seen.append(um))
    target = 1.0 + len(kernel.get_property("Z", "Description"))  # any value the stage is not at
    kernel.set_position("Z", target)
    kernel.wait_for("Z")
    assert kernel.get_position("Z") == target
    kernel.events.flush()
    assert target in seen


@pytest.fixture
def k() -> Iterator[Kernel]:
    with Kernel(timeout=5) as kernel:
        kernel.load_device("Z", SimStage())
        kernel.initialize("Z")
        yield kernel


@pytest.mark.parametrize("kind", ERRORS)
@pytest.mark.parametrize("where", ["initialize", "getter", "setter", "busy", "read_frame", "shutdown"])
def test_adapter_entry_points(k: Kernel, where: str, kind: str) -> None:
    device = Faulty(where, ERRORS[kind])
    k.load_device("F", device)
    if where == "initialize":
        with pytest.raises(DeviceError, match=f"initialize failed: {kind if kind != 'Exception' else 'RuntimeError'}"):
            k.initialize("F")
        assert k.device_health("F").state == "failed" and not k.device_info("F").initialized
        assert_alive(k, "F")
        device.armed = False
        k.initialize("F")
    else:
        k.initialize("F")  # a failing getter during the refresh is logged, not fatal
        assert k.device_info("F").initialized and k.device_health("F").ok
    if where == "getter":
        with pytest.raises(DeviceError, match="get Reading"):
            k.get_property("F", "Reading")
        with pytest.raises(RefreshError, match=r"F\.Reading"):
            k.update_cache()
    elif where == "setter":
        with pytest.raises(DeviceError, match="set Knob"):
            k.set_property("F", "Knob", 5)
        assert k.get_property("F", "Knob", from_cache=True) == 0  # nothing half-applied
    elif where == "busy":
        with pytest.raises(DeviceError, match="busy"):
            k.busy("F")
        with pytest.raises(DeviceError, match="busy"):
            k.wait_for("F")
    elif where == "read_frame":
        k.start_sequence("F", count=3)
        with pytest.raises(DeviceError, match="failed during a sequence after 0 frames"):
            k.pop_next("F")
        assert not k.is_sequence_running("F")
    elif where == "shutdown":
        with pytest.raises(DeviceError, match="unload failed"):
            k.unload("F")
        assert "F" not in k.devices()
        assert_alive(k)
        device.armed = False
        k.load_device("F", device)  # the label is free again
        k.initialize("F")
    assert_alive(k, "F")
    device.armed = False
    assert k.get_property("F", "Reading") == 1
    k.set_property("F", "Knob", 2)
    k.wait_for("F")
    assert k.snap("F").mean() == 7
    assert_serves(k)


class FaultyShutter(SimShutter):
    """Raises `error` when asked to open (`where="open"`) or to close (`"close"`) while armed."""

    def __init__(self, where: str, error: type[BaseException] | object) -> None:
        super().__init__()
        self.where, self.make_error, self.armed = where, error, True

    def set_open(self, open: bool) -> None:  # noqa: A002
        if self.armed and self.where == ("open" if open else "close"):
            raise self.make_error()  # type: ignore[operator]
        super().set_open(open)


@pytest.mark.parametrize("kind", ERRORS)
@pytest.mark.parametrize("where", ["open", "close"])
def test_an_auto_shutter_failing_to_open_or_close_fails_the_snap_and_leaves_no_hold(
    k: Kernel, where: str, kind: str
) -> None:
    camera, shutter = Faulty("nowhere", ERRORS[kind]), FaultyShutter(where, ERRORS[kind])
    k.load_device("F", camera)
    k.load_device("S", shutter)
    k.initialize_all()
    k.set_role("Camera", "F")
    k.set_role("Shutter", "S")
    exposed: list[bool] = []
    camera.read_frame = lambda out: (exposed.append(shutter.is_open()), out.fill(7))[-1]  # type: ignore[method-assign]
    with pytest.raises(DeviceError, match=r"device 'S': (auto-shutter open|set_shutter_open) failed"):
        k.snap()
    assert exposed == ([] if where == "open" else [True])  # never exposed in the dark
    assert_alive(k, "F", "S")
    shutter.armed = False
    assert k.snap().mean() == 7  # the failed snap's hold is gone: this one opens and closes again
    assert exposed[-1] is True and k.get_shutter_open("S") is False
    assert_serves(k)


@pytest.mark.parametrize("kind", ERRORS)
def test_event_callback(k: Kernel, kind: str) -> None:
    def bad(label: str, um: float) -> None:
        raise ERRORS[kind]()

    k.events.stage_position_changed.connect(bad)
    later: list[float] = []
    k.events.stage_position_changed.connect(lambda label, um: later.append(um))
    for target in (3.0, 4.0):
        k.set_position("Z", target)
    k.events.flush()
    assert later == [3.0, 4.0]  # the bad subscriber affected neither event nor the other subscriber
    assert_alive(k, "Z")
    assert_serves(k)


@pytest.mark.parametrize("kind", ERRORS)
def test_future_done_callback(k: Kernel, kind: str) -> None:
    ran: list[str] = []

    def bad(future: object) -> None:
        ran.append(threading.current_thread().name)
        raise ERRORS[kind]()

    first = k.submit.set_position("Z", 5.0)
    first.add_done_callback(bad)
    first.result(5)
    second = k.submit.set_position("Z", 6.0)
    done = threading.Event()
    second.add_done_callback(lambda f: done.set())
    assert done.wait(5), "a later done-callback never ran"
    assert ran == ["mmkernel-callbacks"]
    assert_alive(k, "Z")
    assert_serves(k)


class RaisingHandler(logging.Handler):
    def __init__(self, make: object) -> None:
        super().__init__(logging.WARNING)
        self.make = make
        self.calls = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.calls += 1
        raise self.make()  # type: ignore[operator]


@pytest.mark.parametrize("kind", ERRORS)
def test_log_handler(kind: str) -> None:
    """Slow-call warnings from a runner go through a handler that raises: the runner and the
    callback thread survive, and later records still reach the handler."""
    handler = RaisingHandler(ERRORS[kind])
    logger = logging.getLogger("mmkernel.runner")
    logger.addHandler(handler)
    try:
        with Kernel(timeout=5, slow_call_s=0.0) as kernel:  # every call is "slow": every call logs
            kernel.load_device("Z", SimStage())
            kernel.initialize("Z")
            kernel.set_position("Z", 1.0)
            kernel.set_position("Z", 2.0)
            kernel.events.flush()
            assert handler.calls >= 3
            assert_alive(kernel, "Z")
            assert kernel.get_position("Z") == 2.0
    finally:
        logger.removeHandler(handler)


@pytest.mark.parametrize("kind", ERRORS)
@pytest.mark.parametrize("where", ["import", "hook"])
def test_plugin(site: Path, where: str, kind: str) -> None:
    statement = f"raise {ERROR_SOURCES[kind]}"
    if where == "import":
        write_plugin(site, f"bad_{where}_{kind.lower()}", plugin_extra=statement)
    else:
        write_plugin(site, f"bad_{where}_{kind.lower()}", hook_body=statement)
    write_plugin(site, f"good_{where}_{kind.lower()}")
    with Kernel(timeout=5) as kernel:
        failures = [f for f in kernel.plugin_errors() if f.plugin.startswith("bad_")]
        assert len(failures) == 1 and kind.replace("Exception", "RuntimeError") in str(failures[0])
        kernel.load_device("S", f"Adapter_good_{where}_{kind.lower()}", "Shutter")
        kernel.initialize("S")
        kernel.set_shutter_open("S", True)
        assert kernel.get_shutter_open("S") is True
        assert_alive(kernel, "S")
