"""Hardening (issue 7): one regression test (or a few) per class of defect.

1 (no kernel thread dies) is covered by test_fault_injection.py; the classes here are
2 user code off infrastructure threads, 3 waits that scale, 4 a consistent lifecycle, 5 bad
adapter output stopped at the boundary, 6 bad user input rejected first, 7 futures and asyncio,
8 streaming, 10 busy polling. Class 9 (config files, CLI) is in test_config.py / test_cli.py.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
import traceback
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from plugin_factory import write_plugin

from mmkernel_core import (
    AdapterRegistry,
    BufferOverflowError,
    ConfigError,
    DeviceError,
    DeviceStateError,
    DeviceTimeoutError,
    Kernel,
    KernelClosedError,
    PropertyError,
    StreamEnded,
    UnloadError,
)
from mmkernel_core.frames import aligned
from mmkernel_core.verbs._faces import verbs_of
from mmkernel_sdk import Camera, Generic, Hub, StateDevice, prop
from mmkernel_sdk.plugin import AdapterSpec, DeviceSpec, hookimpl
from mmkernel_sdk.testing import Gate, SimShutter, SimStage, SimXYStage


class Holdable(Generic):
    """`Value` reads block on `gate` while `hold` is set: a hung serial read on demand."""

    Value = prop(int)

    def __init__(self, gate: Gate | None = None) -> None:
        self.gate = gate or Gate()
        self.hold = False
        self.shut = threading.Event()

    @Value.getter
    def Value(self) -> int:
        if self.hold:
            self.gate.hold()
        return 1

    def shutdown(self) -> None:
        self.shut.set()


def hang(kernel: Kernel, label: str, device: Holdable) -> None:
    """Leave `label` faulted: a read stuck on its gate past a short deadline."""
    device.hold = True
    with pytest.raises(DeviceTimeoutError):
        kernel.get_property(label, "Value", timeout=0.1)
    device.gate.wait_entered()
    assert kernel.device_health(label).state == "faulted"


# -- 2. user code never runs on kernel infrastructure threads ----------------------------------
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


class StuckShutdown(SimShutter):
    def __init__(self, gate: Gate) -> None:
        super().__init__()
        self.gate = gate

    def shutdown(self) -> None:
        self.gate.hold()


def test_unload_all_returns_when_a_hub_peripheral_shutdown_overruns(gate: Gate) -> None:
    with Kernel(timeout=0.3) as kernel:
        kernel.load_device("Hub", Hub())
        kernel.load_device("P", StuckShutdown(gate), parent="Hub")
        kernel.load_device("Z", SimStage())
        kernel.initialize_all()
        with pytest.raises(UnloadError) as info:
            kernel.unload_all()
        assert "P" in info.value.failures and "timed out" in str(info.value.failures["P"])
        assert kernel.devices() == ["Core"]
        # deadlines still fire afterwards
        held = Holdable()
        kernel.load_device("H", held)
        kernel.initialize("H")
        held.hold = True
        with pytest.raises(DeviceTimeoutError):
            kernel.get_property("H", "Value", timeout=0.1)
        held.gate.release.set()
        gate.release.set()


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


# -- 3. every wait keeps its own deadline ------------------------------------------------------
def test_a_thousand_pending_waits_do_not_delay_a_wait_on_an_idle_device() -> None:
    kernel = Kernel(timeout=30)
    moving = SimStage(move_s=60.0)
    calls = {"busy": 0}
    original = moving.busy

    def counted() -> bool:
        calls["busy"] += 1
        return original()

    moving.busy = counted  # type: ignore[method-assign]
    kernel.load_device("Moving", moving)
    kernel.load_device("Idle", SimStage())
    kernel.initialize_all()
    kernel.set_busy_poll_interval("Moving", 60.0)
    kernel.set_position("Moving", 10.0)
    threads_before = threading.active_count()
    waits = [kernel.submit.wait_for("Moving", timeout=30) for _ in range(1000)]
    kernel.wait_for("Idle", timeout=0.5)  # returns at once, no false "still reports busy"
    assert threading.active_count() <= threads_before + 2  # no thread per wait
    assert not any(w.done() for w in waits)
    assert calls["busy"] <= 3  # one poll serves every waiter
    kernel.close()  # the stage goes away: its waits are over, none is left hanging
    for w in waits:
        assert w.result(timeout=5) is None


def test_wait_for_times_out_with_the_reason_and_others_are_unaffected(kernel: Kernel) -> None:
    kernel.load_device("Moving", SimStage(move_s=60.0))
    kernel.initialize("Moving")
    kernel.set_position("Moving", 5.0)
    with pytest.raises(DeviceTimeoutError, match="'Moving': wait_for timed out \\(the device still reports busy\\)"):
        kernel.wait_for("Moving", timeout=0.1)


# -- 4. the lifecycle stays consistent ---------------------------------------------------------
class SlowPort(Generic):
    """A pre-init Port whose setter hangs, like opening a dead serial line."""

    Port = prop(str, default="", pre_init=True)
    gate: Gate

    @Port.setter
    def Port(self, value: str) -> None:
        if value == "COM-dead":
            type(self).gate.hold()


def test_a_load_whose_pre_init_step_times_out_leaves_nothing_behind(tmp_path: Path) -> None:
    SlowPort.gate = Gate()
    registry = AdapterRegistry()
    registry.register("Test", SlowPort, "Port device")
    config = tmp_path / "dead.cfg"
    config.write_text("Property,Core,TimeoutMs,200\nDevice,P,Test,Port device\nProperty,P,Port,COM-dead\n")
    with Kernel(timeout=5, adapters=registry) as kernel:
        with pytest.raises(ConfigError, match="line 3"):
            kernel.load_config(config)
        assert kernel.devices() == ["Core"]
        kernel.load_device("P", "Test", "Port device")  # the label can be reused at once
        kernel.set_property("P", "Port", "COM2")
        kernel.initialize("P")
        assert kernel.get_property("P", "Port") == "COM2"
        SlowPort.gate.release.set()


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


def test_verbs_spanning_devices_treat_a_device_unloaded_meanwhile_as_gone(kernel: Kernel, gate: Gate) -> None:
    held = Holdable(gate)
    kernel.load_device("Hub", Hub())
    kernel.load_device("A", held, parent="Hub")
    kernel.load_device("B", SimStage(), parent="Hub")
    kernel.initialize("Hub")
    kernel.initialize("A")
    held.hold = True
    blocker = kernel.submit.get_property("A", "Value")  # holds the shared runner
    gate.wait_entered()
    unload = kernel.submit.unload("B")  # queued, runs before everything below
    init = kernel.submit.initialize_all()  # snapshot still holds B (not initialized)
    refresh = kernel.submit.update_cache()
    waiting = kernel.submit.wait_for_system(timeout=5)
    held.hold = False
    gate.release.set()
    assert blocker.result(5) == 1 and unload.result(5) is None
    assert init.result(5) is None  # B vanished: not an initialization failure
    assert refresh.result(5) is None
    assert waiting.result(5) is None  # and no false timeout for it


def test_spanning_verbs_survive_devices_coming_and_going() -> None:
    with Kernel(timeout=5) as kernel:
        stop = threading.Event()
        errors: list[BaseException] = []

        def churn() -> None:
            n = 0
            while not stop.is_set():
                label = f"S{n % 7}"
                try:
                    kernel.load_device(label, SimStage())
                    kernel.initialize(label)
                    kernel.unload(label)
                except (DeviceStateError, KernelClosedError, PropertyError, LookupError):
                    pass  # racing our own other verbs: refused cleanly is fine
                except BaseException as error:  # noqa: BLE001
                    errors.append(error)
                n += 1

        worker = threading.Thread(target=churn, daemon=True)
        worker.start()
        try:
            for _ in range(150):
                for action in (kernel.wait_for_system, kernel.update_cache, kernel.initialize_all):
                    try:
                        action()
                    except (DeviceStateError, LookupError):
                        pass
        finally:
            stop.set()
            worker.join(10)
        assert not errors, errors


def test_plugin_discovery_holds_no_lock_a_runner_needs(site: Path) -> None:
    gate = Gate()
    import builtins

    builtins.__dict__["_mmk_discovery_gate"] = gate
    write_plugin(site, "slowimport", plugin_extra="import builtins\nbuiltins._mmk_discovery_gate.hold()")
    try:
        with Kernel(timeout=5) as kernel:
            kernel.load_device("Z", SimStage())
            kernel.initialize("Z")
            discovery = threading.Thread(target=lambda: kernel.adapters, daemon=True)
            discovery.start()
            gate.wait_entered()  # discovery is inside the slow plugin import
            kernel.unload("Z", timeout=1.0)  # needs the device table, not the discovery lock
            assert kernel.devices() == ["Core"]
            gate.release.set()
            discovery.join(5)
    finally:
        gate.release.set()
        del builtins.__dict__["_mmk_discovery_gate"]


# -- 5. bad adapter output is stopped at the boundary ------------------------------------------
class Liar(Generic):
    Reading = prop(float)
    answer: Any = 1.0

    @Reading.getter
    def Reading(self) -> float:
        return self.answer


@pytest.mark.parametrize("answer", ["abc", None, [1.0], float("nan")])
def test_a_getter_returning_a_value_its_type_cannot_hold_is_a_device_error(kernel: Kernel, answer: Any) -> None:
    liar = Liar()
    kernel.load_device("L", liar)
    kernel.initialize("L")
    seen: list[Any] = []
    kernel.events.property_changed.connect(lambda label, name, value: seen.append(value))
    liar.answer = answer
    with pytest.raises(DeviceError, match=r"device 'L', property 'Reading': the adapter's getter returned .* number"):
        kernel.get_property("L", "Reading")
    assert kernel.get_property("L", "Reading", from_cache=True) == 1.0
    kernel.events.flush()
    assert seen == []


class OddCamera(Camera):
    def __init__(self, shape: Any = (8, 8), dtype: Any = np.uint8, tags: Any = None) -> None:
        self.shape, self.dtype, self.tags = shape, dtype, tags

    def frame_shape(self) -> Any:
        return self.shape

    def frame_dtype(self) -> Any:
        return self.dtype

    def read_frame(self, out: np.ndarray) -> Any:
        out[...] = 1
        return self.tags


@pytest.mark.parametrize(
    ("shape", "dtype", "what"),
    [
        ((8, 8), object, "frame_dtype"),
        ((8, 8), [("a", "u1"), ("b", "u2")], "frame_dtype"),
        ((8, 8), "U4", "frame_dtype"),
        ((8.5, 8), np.uint8, "frame_shape"),
        ((8, 0), np.uint8, "frame_shape"),
        ((8,), np.uint8, "frame_shape"),
        ((8, 8, 9), np.uint8, "frame_shape"),
        ("8x8", np.uint8, "frame_shape"),
    ],
)
def test_bad_frame_formats_are_refused_before_memory_is_used(kernel: Kernel, shape: Any, dtype: Any, what: str) -> None:
    kernel.load_device("C", OddCamera(shape, dtype))
    kernel.initialize("C")
    with pytest.raises(DeviceError, match=rf"camera 'C': {what}\(\) returned .*; allowed: "):
        kernel.snap("C")
    with pytest.raises(DeviceError, match=rf"camera 'C': {what}\(\) returned"):
        kernel.start_sequence("C", count=2)
    assert not kernel.is_sequence_running("C")


def test_a_failing_step_after_a_slot_was_reserved_gives_the_slot_back() -> None:
    with Kernel(timeout=5, buffer_mb=1) as kernel:
        camera = OddCamera((64, 64), np.uint8, tags=12345)  # tags must be a dict or None
        kernel.load_device("C", camera)
        kernel.initialize("C")
        kernel.start_sequence("C", count=5)
        with pytest.raises(DeviceError, match="read_frame\\(\\) returned 12345"):
            kernel.pop_next("C")
        camera.tags = None
        kernel.start_sequence("C", overflow="stop")  # nobody reads: runs until the buffer is full
        held = []
        with pytest.raises(BufferOverflowError, match="buffer full"):
            while True:
                held.append(kernel.pop_next("C", timeout=5))  # popped, kept: every slot stays taken
        assert len(held) == (1024 * 1024) // aligned(64 * 64)  # the whole buffer, not one slot less


def test_malformed_plugin_specs_are_recorded_and_others_still_load(site: Path) -> None:
    bodies = {
        "nodevices": "return [AdapterSpec('X1', 'x', None)]",
        "notspecs": "return [AdapterSpec('X2', 'x', ['DCam'])]",
        "noname": "return [AdapterSpec(None, 'x', [])]",
        "notalist": "return 'DemoCamera'",
    }
    for name, body in bodies.items():
        write_plugin(site, name, hook_body=body)
    write_plugin(site, "fine")
    with Kernel() as kernel:
        failed = {f.plugin: str(f) for f in kernel.plugin_errors()}
        assert set(bodies) <= set(failed), failed
        assert "must be a list of DeviceSpec" in failed["nodevices"]
        assert "is not a DeviceSpec" in failed["notspecs"]
        assert "adapter name None" in failed["noname"]
        kernel.load_device("S", "Adapter_fine", "Shutter")


def test_a_device_spec_with_a_bad_name_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match="device name None"):
        DeviceSpec(None, "Shutter", "x", "a.b:C")  # type: ignore[arg-type]


# -- 6. bad user input is rejected before adapter code runs ------------------------------------
class RecordingStage(SimStage):
    def __init__(self) -> None:
        super().__init__()
        self.moves: list[float] = []

    def set_position(self, um: float) -> None:
        self.moves.append(um)
        super().set_position(um)


class RecordingXY(SimXYStage):
    def __init__(self) -> None:
        super().__init__()
        self.moves: list[tuple[float, float]] = []

    def set_xy_position(self, x_um: float, y_um: float) -> None:
        self.moves.append((x_um, y_um))
        super().set_xy_position(x_um, y_um)


@pytest.mark.parametrize("bad", [float("inf"), "inf", "1e999", np.inf, -np.inf, "nan", np.float32("nan")])
def test_non_finite_positions_are_refused(kernel: Kernel, bad: Any) -> None:
    stage, xy = RecordingStage(), RecordingXY()
    kernel.load_device("Z", stage)
    kernel.load_device("XY", xy)
    kernel.initialize_all()
    for move in (
        lambda: kernel.set_position("Z", bad),
        lambda: kernel.set_relative_position("Z", bad),
        lambda: kernel.set_xy_position("XY", bad, 0.0),
        lambda: kernel.set_xy_position("XY", 0.0, bad),
        lambda: kernel.set_relative_xy_position("XY", bad, 0.0),
        lambda: kernel.set_relative_xy_position("XY", 0.0, bad),
    ):
        with pytest.raises(PropertyError, match=r"not a finite number|not a valid number"):
            move()
    assert stage.moves == [] and xy.moves == []


def test_xy_stages_declare_limits_like_stages(kernel: Kernel) -> None:
    xy = RecordingXY()
    xy.set_xy_limits(-100, 100, -50, 50)
    kernel.load_device("XY", xy)
    kernel.initialize("XY")
    y_message = r"'Y position': value 60.0 is out of range; allowed: number within \[-50, 50\]"
    with pytest.raises(PropertyError, match=y_message):
        kernel.set_xy_position("XY", 0, 60)
    kernel.set_xy_position("XY", 90, 40)
    with pytest.raises(PropertyError, match=r"'X position': value 110.0 is out of range"):
        kernel.set_relative_xy_position("XY", 20, 0)  # 90 + 20: checked on the runner, where the position is known
    assert xy.moves == [(90.0, 40.0)]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1, "5"])
def test_delays_must_be_finite(kernel: Kernel, bad: Any) -> None:
    kernel.load_device("S", SimShutter())
    with pytest.raises(PropertyError, match="delay must be a finite number of ms >= 0"):
        kernel.set_device_delay("S", bad)
    assert kernel.get_device_delay("S") == 0.0


def test_a_delay_line_with_nan_is_a_config_error(kernel: Kernel, tmp_path: Path) -> None:
    registry = AdapterRegistry()
    registry.register("Test", SimShutter, "Shutter")
    config = tmp_path / "nan.cfg"
    config.write_text("Device,S,Test,Shutter\nDelay,S,nan\n")
    with Kernel(adapters=registry) as k, pytest.raises(ConfigError, match=r"line 2.*finite"):
        k.load_config(config)


class Switch(Generic):
    On = prop(bool, default=False)


def test_numpy_bools_are_accepted_for_bool_properties(kernel: Kernel) -> None:
    kernel.load_device("B", Switch())
    kernel.initialize("B")
    kernel.set_property("B", "On", np.bool_(True))
    assert kernel.get_property("B", "On") is True
    kernel.set_property("B", "On", np.array([False])[0])
    assert kernel.get_property("B", "On") is False


class Narrowing(Generic):
    """Mode 'fast' narrows Gain to [0, 4]; the setter records every Gain it receives."""

    Mode = prop(str, default="normal", allowed=("normal", "fast"))
    Gain = prop(int, default=0, limits=(0, 10))

    def __init__(self) -> None:
        self.gains: list[int] = []

    @Mode.setter
    def Mode(self, value: str) -> None:
        self.set_limits("Gain", 0, 4 if value == "fast" else 10)

    @Gain.setter
    def Gain(self, value: int) -> None:
        self.gains.append(value)


def test_a_preset_is_validated_again_when_each_value_is_applied(kernel: Kernel) -> None:
    device = Narrowing()
    kernel.load_device("N", device)
    kernel.initialize("N")
    kernel.define_config("Speed", "Fast", "N", "Mode", "fast")
    kernel.define_config("Speed", "Fast", "N", "Gain", "8")  # allowed now; not once Mode is fast
    gain_message = r"device 'N', property 'Gain': value 8 is out of range; allowed: .*\[0, 4\]"
    with pytest.raises(PropertyError, match=gain_message):
        kernel.set_config("Speed", "Fast")
    assert device.gains == []


# -- 7. futures and asyncio --------------------------------------------------------------------
def test_aio_without_a_running_loop_raises_before_dispatch(kernel: Kernel) -> None:
    stage = RecordingStage()
    kernel.load_device("Z", stage)
    kernel.initialize("Z")
    with pytest.raises(RuntimeError, match="no running event loop"):
        kernel.aio.set_position("Z", 5.0)
    kernel.wait_for("Z")
    assert stage.moves == []


@pytest.fixture
def held_hub(kernel: Kernel, gate: Gate) -> tuple[Holdable, RecordingStage, Any]:
    """A hub runner held busy by a stuck read of H; Z, on the same runner, waits behind it."""
    held, stage = Holdable(gate), RecordingStage()
    kernel.load_device("Hub", Hub())
    kernel.load_device("H", held, parent="Hub")
    kernel.load_device("Z", stage, parent="Hub")
    kernel.initialize_all()
    held.hold = True
    blocker = kernel.submit.get_property("H", "Value")
    gate.wait_entered()
    return held, stage, blocker


def test_a_future_cancelled_before_it_starts_never_runs(kernel: Kernel, gate: Gate, held_hub: Any) -> None:
    held, stage, blocker = held_hub
    queued = kernel.submit.set_position("Z", 7.0)
    assert queued.cancel() and queued.cancelled()
    started = kernel.submit.set_position("Z", 8.0)
    held.hold = False
    gate.release.set()
    assert blocker.result(5) == 1
    assert started.result(5) is None
    assert started.cancel() is False  # done: too late
    assert stage.moves == [8.0]


def test_an_awaited_call_cancelled_before_it_starts_never_runs(kernel: Kernel, gate: Gate, held_hub: Any) -> None:
    held, stage, blocker = held_hub

    async def scenario() -> None:
        task = asyncio.ensure_future(kernel.aio.set_position("Z", 7.0))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    held.hold = False
    gate.release.set()
    assert blocker.result(5) == 1
    kernel.wait_for("Z")
    assert stage.moves == []


def test_a_started_call_cannot_be_cancelled_and_completes(kernel: Kernel, gate: Gate) -> None:
    held = Holdable(gate)
    kernel.load_device("H", held)
    kernel.initialize("H")
    held.hold = True
    running = kernel.submit.get_property("H", "Value")
    gate.wait_entered()
    assert running.cancel() is False
    held.hold = False
    gate.release.set()
    assert running.result(5) == 1


# -- 8. streaming ------------------------------------------------------------------------------
class ExposingCamera(Camera):
    """Takes its exposure time for every frame, as a real sensor does."""

    def frame_shape(self) -> tuple[int, ...]:
        return (8, 8)

    def frame_dtype(self) -> np.dtype:
        return np.dtype(np.uint16)

    def read_frame(self, out: np.ndarray) -> None:
        time.sleep(self.Exposure / 1000.0)  # models the exposure
        out[...] = 3


def test_snap_allows_for_the_exposure_in_its_default_deadline() -> None:
    with Kernel(timeout=0.2) as kernel:
        kernel.load_device("C", ExposingCamera())
        kernel.initialize("C")
        kernel.set_property("C", "Exposure", 400.0)  # twice the kernel's whole deadline
        assert kernel.snap("C").mean() == 3
        assert kernel.device_health("C").ok


def test_a_blocked_sequence_keeps_serving_requests_and_stays_healthy() -> None:
    with Kernel(timeout=0.3, buffer_mb=1) as kernel:
        camera = OddCamera((256, 256), np.uint8)
        camera.add_property("Gain", int, default=0)
        kernel.load_device("C", camera)
        kernel.initialize("C")
        kernel.start_sequence("C", overflow="block")  # nobody reads: the buffer fills, the camera waits
        while kernel.buffer_stats("C").pending < (1024 * 1024) // aligned(256 * 256):
            kernel.wait_for("C", timeout=5)  # not a sleep: waits for the runner to be idle
        for gain in range(10):  # each well inside the 0.3 s deadline although the camera "waits"
            kernel.set_property("C", "Gain", gain)
        assert kernel.device_health("C").ok and kernel.is_sequence_running("C")
        with kernel.pop_next("C"):
            pass  # space: the camera goes on
        kernel.stop_sequence("C")
        assert kernel.buffer_stats("C").dropped == 0


def test_set_buffer_size_and_a_queued_start_cannot_interleave(kernel: Kernel, gate: Gate) -> None:
    held = Holdable(gate)
    kernel.load_device("Hub", Hub())
    kernel.load_device("H", held, parent="Hub")
    kernel.load_device("C", OddCamera((16, 16), np.uint8), parent="Hub")
    kernel.initialize_all()
    held.hold = True
    blocker = kernel.submit.get_property("H", "Value")
    gate.wait_entered()
    resize = kernel.submit.set_buffer_size("C", 2)
    start = kernel.submit.start_sequence("C", 3)
    held.hold = False
    gate.release.set()
    blocker.result(5), resize.result(5), start.result(5)
    frames = []
    while True:
        try:
            with kernel.pop_next("C") as frame:
                frames.append(frame.meta.number)
        except StreamEnded:
            break
    assert frames == [0, 1, 2] and kernel.buffer_size("C") == 2
    # the other order: a resize queued behind a start is refused, the sequence is intact
    start = kernel.submit.start_sequence("C")
    resize = kernel.submit.set_buffer_size("C", 4)
    start.result(5)
    with pytest.raises(DeviceStateError, match="streaming"):
        resize.result(5)
    kernel.stop_sequence("C")


def test_polling_after_the_end_does_not_grow_the_traceback(kernel: Kernel) -> None:
    kernel.load_device("C", OddCamera())
    kernel.initialize("C")
    kernel.start_sequence("C", count=1)
    kernel.pop_next("C").release()
    depths = []
    for _ in range(2000):
        try:
            kernel.pop_next("C", timeout=1)
        except StreamEnded as error:
            depths.append(len(traceback.extract_tb(error.__traceback__)))
    for _ in range(200):
        error = kernel.submit.pop_next("C").exception(5)
        assert isinstance(error, StreamEnded)
    assert max(depths) == min(depths) < 10


def test_notify_from_a_vendor_thread_never_raises_into_it(caplog: pytest.LogCaptureFixture) -> None:
    kernel = Kernel(timeout=5)
    held = Holdable()
    kernel.load_device("H", held)
    kernel.initialize("H")
    hang(kernel, "H", held)
    errors: list[BaseException] = []

    def vendor_thread() -> None:
        try:
            for value in range(5):
                held.notify("Value", value)
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    with caplog.at_level(logging.WARNING, logger="mmkernel.devices"):
        for _ in range(2):  # faulted, then closed
            thread = threading.Thread(target=vendor_thread, name="vendor-sdk")
            thread.start()
            thread.join(5)
            kernel.close()
    assert errors == []
    dropped = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert len(dropped) == 1 and "vendor-sdk" in dropped[0].getMessage()
    held.gate.release.set()


def demo_kernel() -> Kernel:
    kernel = Kernel(timeout=5)
    kernel.load_config(kernel.adapters.examples["demo"])
    return kernel


def test_a_demo_sequence_with_auto_shutter_is_not_dark() -> None:
    with demo_kernel() as kernel:
        camera, shutter = kernel.roles.camera, kernel.roles.shutter
        kernel.set_property(camera, "Exposure", 1.0)
        assert kernel.get_shutter_open(shutter) is False
        with kernel.stream(camera, count=5) as stream:
            lit = [frame.array.mean() for frame in stream]
        assert kernel.get_shutter_open(shutter) is False  # closed again after the sequence
        kernel.set_property("Core", "AutoShutter", 0) if "Core" in kernel.devices() else None
        kernel.roles.auto_shutter = False
        with kernel.stream(camera, count=5) as stream:
            dark = [frame.array.mean() for frame in stream]
        assert min(lit) > 2 * max(dark) + 1, (lit, dark)


# -- 10. busy polling --------------------------------------------------------------------------
class SerialWheel(StateDevice):
    """A wheel behind a slow serial line: each move takes 0.3 s; busy() is a query."""

    num_positions = 6
    busy_poll_s = 0.1

    def __init__(self) -> None:
        self._arrive = 0.0
        self.queries = 0
        self.position_reads = 0
        self._at = 0

    def set_state(self, position: int) -> None:
        self._at = position
        self._arrive = time.monotonic() + 0.3

    def get_state(self) -> int:
        self.position_reads += 1
        return self._at

    def busy(self) -> bool:
        self.queries += 1
        return time.monotonic() < self._arrive


def test_busy_poll_interval_is_a_per_device_setting(kernel: Kernel) -> None:
    wheel = SerialWheel()
    kernel.load_device("W", wheel)
    kernel.initialize("W")
    assert kernel.busy_poll_interval("W") == 0.1  # the adapter class's setting
    kernel.set_state("W", 3)
    kernel.wait_for("W")
    assert wheel.queries <= 6  # 0.3 s at one query per 0.1 s (the kernel default would be ~60)
    kernel.set_busy_poll_interval("W", 0.05)
    assert kernel.busy_poll_interval("W") == 0.05
    with pytest.raises(PropertyError, match="busy poll interval must be a finite number of seconds > 0"):
        kernel.set_busy_poll_interval("W", 0)


def test_update_cache_reads_a_state_devices_position_once(kernel: Kernel) -> None:
    wheel = SerialWheel()
    kernel.load_device("W", wheel)
    kernel.initialize("W")
    wheel.position_reads = 0
    kernel.update_cache()
    assert wheel.position_reads == 1


def test_plugins_passed_directly_are_checked_like_installed_ones() -> None:
    plugin = types.ModuleType("direct_plugin")

    @hookimpl
    def mmkernel_adapters() -> list[AdapterSpec]:
        return [AdapterSpec("Direct", "x", (DeviceSpec("S", "Shutter", "shutter", SimShutter),))]

    plugin.mmkernel_adapters = mmkernel_adapters  # type: ignore[attr-defined]
    with Kernel(plugins=[plugin], discover=False) as kernel:
        kernel.load_device("S", "Direct", "S")
        assert kernel.plugin_errors() == []
