"""Events under backpressure: a subscriber that falls behind gets the latest value of each
property, lifecycle/Core/log events all arrive in order, the queue stays bounded, emitters never
wait, and what was coalesced is reported."""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from mmkernel_core import Kernel
from mmkernel_core.runtime import EventBus, KernelEvents
from mmkernel_sdk import Generic, prop
from mmkernel_sdk.testing import SimStage

NAMES = ("A", "B", "C", "D")
STORM = 150_000


class Storm(Generic):
    """Setting `Run` to n notifies n changes of A..D from the device's own runner thread."""

    A = prop(int, default=0)
    B = prop(int, default=0)
    C = prop(int, default=0)
    D = prop(int, default=0)
    Run = prop(int, default=0)

    @Run.setter
    def Run(self, n: int) -> None:
        for i in range(1, n + 1):
            self.notify(NAMES[i % 4], i)


def final_values(n: int) -> dict[str, int]:
    return {NAMES[i % 4]: i for i in range(n - 3, n + 1)}


class SlowSubscriber:
    """A property_changed subscriber that takes ~2 ms per event until `fast` is set."""

    def __init__(self, kernel: Kernel) -> None:
        self.values: dict[str, list[int]] = {name: [] for name in NAMES}
        self.delivered = 0  # storm events seen
        self.fast = threading.Event()
        kernel.events.property_changed.connect(self)

    def __call__(self, label: str, name: str, value: Any) -> None:
        if label == "S" and name in NAMES:
            self.values[name].append(value)
            self.delivered += 1
        if not self.fast.is_set():
            time.sleep(0.002)  # the subscriber's own work, not synchronisation


@pytest.fixture
def storm_kernel(kernel: Kernel) -> Kernel:
    kernel.load_device("S", Storm())
    kernel.initialize("S")
    return kernel


@pytest.fixture
def slow(storm_kernel: Kernel) -> Iterator[SlowSubscriber]:
    subscriber = SlowSubscriber(storm_kernel)
    yield subscriber
    subscriber.fast.set()  # let the kernel drain quickly whatever the test left queued


def run_storm(kernel: Kernel, n: int = STORM) -> None:
    kernel.set_property("S", "Run", n, timeout=120)  # returns: the runner never waited for the subscriber


def test_a_storm_behind_a_slow_subscriber_keeps_queue_and_memory_bounded(
    storm_kernel: Kernel, slow: SlowSubscriber
) -> None:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        run_storm(storm_kernel)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 4_000_000, f"the storm left {grown / 1e6:.1f} MB behind the slow subscriber"
    bus = storm_kernel.events.bus
    waiting = bus.pending
    assert waiting <= bus.coalesce_after + len(NAMES) + 1  # + the `Run` change itself
    assert slow.delivered < STORM // 10  # it really was behind: most changes were coalesced


def test_emit_without_subscribers_queues_nothing(storm_kernel: Kernel) -> None:
    run_storm(storm_kernel, 10_000)
    assert storm_kernel.events.bus.pending == 0


def test_device_loaded_after_a_storm_is_delivered_within_a_second(storm_kernel: Kernel, slow: SlowSubscriber) -> None:
    loaded = threading.Event()
    stale_before_loaded: list[int] = []

    def on_loaded(label: str) -> None:
        stale_before_loaded.append(slow.delivered - after_storm)
        loaded.set()

    storm_kernel.events.device_loaded.connect(on_loaded)
    run_storm(storm_kernel)
    after_storm = slow.delivered
    start = time.monotonic()
    storm_kernel.load_device("Late", SimStage())
    assert loaded.wait(30), "device_loaded still queued behind the storm"
    elapsed = time.monotonic() - start
    # Deterministic: at most one waiting change per property (plus the backlog below which
    # nothing coalesces) stood before it, whatever the machine's speed...
    assert stale_before_loaded[0] <= storm_kernel.events.bus.coalesce_after + len(NAMES)
    # ...which at ~2 ms each is ~0.14 s: the one-second promise, with room for a busy machine.
    assert elapsed < 1.0


def test_a_slow_subscriber_sees_the_final_value_of_every_property_in_order(
    storm_kernel: Kernel, slow: SlowSubscriber
) -> None:
    run_storm(storm_kernel)
    assert storm_kernel.events.flush(60)
    assert {name: values[-1] for name, values in slow.values.items()} == final_values(STORM)
    for values in slow.values.values():
        assert values == sorted(set(values))  # never an older value after a newer one
    assert storm_kernel.get_property("S", "A", from_cache=True) == final_values(STORM)["A"]


def test_coalescing_is_reported_by_events_coalesced_and_one_log_line(
    storm_kernel: Kernel, slow: SlowSubscriber, caplog: pytest.LogCaptureFixture
) -> None:
    reports: list[tuple[int, str]] = []
    storm_kernel.events.events_coalesced.connect(lambda count: reports.append((count, threading.current_thread().name)))
    with caplog.at_level(logging.WARNING, logger="mmkernel.events"):
        run_storm(storm_kernel)
        assert storm_kernel.events.flush(60)
    counts = [count for count, _ in reports]
    assert counts and all(count > 0 for count in counts)
    assert {thread for _, thread in reports} == {"mmkernel-events"}
    assert sum(counts) == STORM - slow.delivered  # every change either delivered or counted
    lines = [r.getMessage() for r in caplog.records if r.name == "mmkernel.events"]
    assert len(lines) == 1, lines  # rate-limited: not one per event, nor one per report
    assert re.search(rf"\b{counts[0]} value changes were coalesced", lines[0])


# -- the ordering rules, on a bare bus --------------------------------------------------------
class Behind:
    """Records every delivery of `signals`; `hold()` stalls the notification thread on one
    event until `release` is set: a subscriber fallen behind."""

    def __init__(self, events: KernelEvents, *signals: str) -> None:
        self.seen: list[tuple[Any, ...]] = []
        self.holding = threading.Event()
        self.release = threading.Event()
        self.coalesced: list[int] = []
        events.device_initialized.connect(self._hold)
        events.events_coalesced.connect(self.coalesced.append)
        for name in signals:
            getattr(events, name).connect(self._on(name))

    def _hold(self, label: str) -> None:
        if label == "blocker" and not self.holding.is_set():
            self.holding.set()
            self.release.wait(30)

    def _on(self, signal: str) -> Any:
        def callback(*args: Any) -> None:
            if (signal, *args) != ("device_initialized", "blocker"):
                self.seen.append((signal, *args))

        return callback

    def hold(self, events: KernelEvents) -> None:
        """Emit the blocker and wait until its delivery is held: everything after it waits."""
        events.device_initialized.emit("blocker")
        assert self.holding.wait(10)


@pytest.fixture
def events() -> Iterator[KernelEvents]:
    bus = EventBus()
    yield KernelEvents(bus)
    bus.close()


def test_a_change_is_never_delivered_across_the_lifecycle_event_that_followed_it(events: KernelEvents) -> None:
    behind = Behind(events, "property_changed", "device_loaded", "device_unloaded", "device_initialized", "log_record")
    behind.hold(events)
    for index in range(events.bus.coalesce_after):  # distinct properties: none replaces another
        events.property_changed.emit("Filler", f"P{index}", index)
    events.property_changed.emit("A", "x", 1)
    events.property_changed.emit("A", "x", 2)
    events.device_unloaded.emit("A")
    events.device_loaded.emit("A")
    events.property_changed.emit("A", "x", 3)
    events.property_changed.emit("A", "x", 4)
    events.log_record.emit("log line")  # never dropped, but not a fence
    events.property_changed.emit("A", "x", 5)
    behind.release.set()
    assert events.flush()
    assert [e for e in behind.seen if e[1] in ("A", "log line")] == [
        ("property_changed", "A", "x", 2),  # A's last value before its unload, delivered before it
        ("device_unloaded", "A"),
        ("device_loaded", "A"),
        ("log_record", "log line"),
        ("property_changed", "A", "x", 5),
    ]
    assert sum(behind.coalesced) == 3


def test_lifecycle_core_and_log_events_are_never_coalesced_and_keep_their_order(events: KernelEvents) -> None:
    kinds = ("property_changed", "device_loaded", "device_initialized", "device_unloaded", "config_set")
    kinds += ("config_group_changed", "system_loaded", "log_record")
    behind = Behind(events, *kinds)
    behind.hold(events)
    emitted: list[tuple[Any, ...]] = []
    fences = {
        0: ("device_loaded", "A"),
        1: ("device_unloaded", "B"),
        2: ("config_set", "Channel", "GFP"),
        3: ("config_group_changed", "Channel"),
        4: ("system_loaded",),
        5: ("property_changed", "Core", "Camera", "cam"),  # a role change
        6: ("log_record", "entry"),
    }
    for index in range(30_000):
        if index % 7 == 0:
            event = fences[index // 7 % 7]
            event = (*event[:-1], f"{event[-1]}{index}") if len(event) > 1 else event
        else:
            event = ("property_changed", "ABC"[index % 3], "xy"[index % 2], index)
        emitted.append(event)
        getattr(events, event[0]).emit(*event[1:])
    behind.release.set()
    assert events.flush()
    seen = behind.seen

    def is_value(event: tuple[Any, ...]) -> bool:
        return event[0] == "property_changed" and event[1] != "Core"

    assert [e for e in seen if not is_value(e)] == [e for e in emitted if not is_value(e)]
    values = {event: index for index, event in enumerate(emitted) if is_value(event)}  # unique
    others = iter([index for index, event in enumerate(emitted) if not is_value(event)])
    delivered = [values[event] if is_value(event) else next(others) for event in seen]
    assert delivered == sorted(delivered)  # a subsequence of what was emitted: nothing reordered
    # The value each property had when a fence (not a log record) was emitted, and at the end,
    # is delivered.
    last: dict[tuple[str, str], tuple[Any, ...]] = {}
    required: set[tuple[Any, ...]] = set()
    for event in [*emitted, ("system_loaded",)]:
        if is_value(event):
            last[event[1:3]] = event
        elif event[0] != "log_record":
            required.update(last.values())
    assert required <= set(seen)
    assert sum(behind.coalesced) == len(emitted) - len(seen) > 0


def test_a_typed_event_and_its_property_changed_are_coalesced_together(events: KernelEvents) -> None:
    behind = Behind(events, "property_changed", "stage_position_changed", "shutter_changed", "state_changed")
    behind.hold(events)
    for value in range(2_000):
        events.announce_property("Z", "Stage", "Position", float(value))
        events.announce_property("Sh", "Shutter", "State", value % 2)
        events.announce_property("W", "State", "State", value % 6)
    behind.release.set()
    assert events.flush()
    seen = behind.seen
    typed = {"Z": "stage_position_changed", "Sh": "shutter_changed", "W": "state_changed"}
    assert len(seen) < 2 * 3 * 2_000  # coalesced
    for index in range(0, len(seen), 2):  # each typed event right after its own property_changed
        (signal, label, _, value), (typed_signal, typed_label, typed_value) = seen[index], seen[index + 1]
        assert (signal, typed_signal, typed_label) == ("property_changed", typed[label], label)
        assert typed_value == (bool(value) if label == "Sh" else value)
    finals = {e[1]: (e[2], e[3]) for e in seen if e[0] == "property_changed"}
    assert finals == {"Z": ("Position", 1999.0), "Sh": ("State", 1), "W": ("State", 1999 % 6)}


def test_many_emitting_threads_keep_their_order_and_the_last_value_wins(events: KernelEvents) -> None:
    threads, steps = 6, 20_000
    behind = Behind(events, "property_changed", "xy_stage_position_changed", "stage_position_changed", "device_loaded")
    halfway = [threading.Event() for _ in range(threads)]
    errors: list[BaseException] = []

    def emitter(t: int) -> None:
        try:
            for seq in range(steps):
                kind = seq % 4
                if kind == 0:
                    events.property_changed.emit(f"T{t}", "a", seq)
                elif kind == 1:
                    events.property_changed.emit(f"T{t}", "b", seq)
                elif kind == 2:
                    events.announce_property(f"Z{t}", "Stage", "Position", seq)
                else:
                    events.xy_stage_position_changed.emit(f"XY{t}", seq, -seq)
                if t == 0 and seq % 100 == 99:
                    events.device_loaded.emit(f"L{seq}")
                if seq == steps // 2:
                    halfway[t].set()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        behind.hold(events)
        workers = [threading.Thread(target=emitter, args=(t,)) for t in range(threads)]
        for worker in workers:
            worker.start()
        for event in halfway:  # a backlog, then delivery races the second half of the emitting
            assert event.wait(60)
        waiting = events.bus.pending
        behind.release.set()
        for worker in workers:
            worker.join(60)
        assert events.flush(60)
    finally:
        sys.setswitchinterval(previous)
    assert errors == []
    seen = behind.seen
    fences = steps // 100  # each fence starts a new run in which each property waits at most once
    assert waiting <= events.bus.coalesce_after + (fences + 1) * threads * 4 + fences

    def thread_of(event: tuple[Any, ...]) -> int | None:
        return None if event[0] == "device_loaded" else int(event[1][1:] if event[1][0] != "X" else event[1][2:])

    for t in range(threads):  # each thread's events arrive in the order it emitted them
        mine = [e for e in seen if thread_of(e) == t]
        seqs = [e[-1] if e[0] != "xy_stage_position_changed" else e[2] for e in mine]
        assert seqs == sorted(seqs)
        last = {e[:-1] if e[0] == "property_changed" else e[:2]: e for e in mine}
        assert {key: e[-1] if e[0] != "xy_stage_position_changed" else e[2] for key, e in last.items()} == {
            ("property_changed", f"T{t}", "a"): steps - 4,
            ("property_changed", f"T{t}", "b"): steps - 3,
            ("property_changed", f"Z{t}", "Position"): steps - 2,
            ("stage_position_changed", f"Z{t}"): steps - 2,
            ("xy_stage_position_changed", f"XY{t}"): steps - 1,
        }
    loaded = [e for e in seen if e[0] == "device_loaded"]
    assert loaded == [("device_loaded", f"L{seq}") for seq in range(99, steps, 100)]
    for fence in loaded:  # thread 0's values from before each of its fences arrive before it
        seq = int(fence[1][1:])
        before = seen[: seen.index(fence)]
        assert ("property_changed", "T0", "a", seq - 3) in before
        assert ("xy_stage_position_changed", "XY0", seq, -seq) in before
    values = sum(1 for e in seen if e[0] in ("property_changed", "xy_stage_position_changed"))
    assert sum(behind.coalesced) == threads * steps - values > 0


# -- fault injection ----------------------------------------------------------------------------
def test_subscribers_raising_even_system_exit_never_stop_delivery(events: KernelEvents) -> None:
    raised = iter([RuntimeError, SystemExit, KeyboardInterrupt, GeneratorExit] * 10_000)

    def bad(*args: Any) -> None:
        raise next(raised)("subscriber bug")

    for signal in (events.property_changed, events.device_loaded, events.events_coalesced, events.log_record):
        signal.connect(bad)
    behind = Behind(events, "property_changed", "device_loaded", "log_record")
    for signal in (events.property_changed, events.device_loaded, events.events_coalesced, events.log_record):
        signal.connect(bad)  # before and after the good subscriber
    behind.hold(events)
    for value in range(20_000):
        events.property_changed.emit("A", NAMES[value % 4], value)
        if value % 1_000 == 999:
            events.device_loaded.emit(f"L{value}")
            events.log_record.emit(f"log {value}")
    behind.release.set()
    assert events.flush()
    seen = behind.seen
    assert [e[1] for e in seen if e[0] == "device_loaded"] == [f"L{v}" for v in range(999, 20_000, 1_000)]
    assert [e[1] for e in seen if e[0] == "log_record"] == [f"log {v}" for v in range(999, 20_000, 1_000)]
    finals = {e[2]: e[3] for e in seen if e[0] == "property_changed"}
    assert finals == {NAMES[v % 4]: v for v in range(19_996, 20_000)}
    delivered = sum(1 for e in seen if e[0] == "property_changed")
    assert sum(behind.coalesced) == 20_000 - delivered > 0
    assert events.bus.thread.is_alive()
    events.device_loaded.emit("after")
    assert events.flush()
    assert behind.seen[-1] == ("device_loaded", "after")
