"""What the C++ side announces (MMCore's callbacks) arrives as exactly one MMKernel event, on
the notification thread: a change the kernel made itself is one event (MM's echo of it is
dropped), a change the hardware made on its own is one event. Against the stand-in (whose
`on_its_own` is the hardware changing unasked) and the real DemoCamera, which announces stage
and XY positions, exposure, shutter state, Binning and its AsyncPropertyFollower."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from mmkernel_core import Kernel

_tokens = itertools.count()


@pytest.fixture
def k(mm: str) -> Iterator[Kernel]:
    with Kernel(timeout=10) as kernel:
        for label, name in (("Cam", "DCam"), ("Z", "DStage"), ("XY", "DXYStage"), ("S", "DShutter")):
            kernel.load_device(label, "mm:DemoCamera", name)
            kernel.initialize(label)
        kernel.set_property("Cam", "AsyncPropertyDelayMS", 0)
        yield kernel


class Seen:
    """Every property_changed and xy_stage_position_changed delivery, with its thread."""

    def __init__(self, k: Kernel) -> None:
        self.k = k
        self.changes: list[tuple[str, str, Any]] = []
        self.xy: list[tuple[str, float, float]] = []
        self.threads: set[threading.Thread] = set()
        self._fence: tuple[str, threading.Event] | None = None
        k.events.property_changed.connect(self._on_change)
        k.events.xy_stage_position_changed.connect(self._on_xy)

    def _on_change(self, label: str, name: str, value: Any) -> None:
        fence = self._fence
        if fence is not None and (label, name, value) == ("Cam", "AsyncPropertyFollower", fence[0]):
            fence[1].set()
            return
        self.threads.add(threading.current_thread())
        self.changes.append((label, name, value))

    def _on_xy(self, label: str, x: float, y: float) -> None:
        self.threads.add(threading.current_thread())
        self.xy.append((label, x, y))

    def settle(self) -> None:
        """Wait until everything the C++ side announced so far has been delivered: DCam's
        follower change is announced after it, through the same callback thread, runner and
        notification thread."""
        token = f"fence-{next(_tokens)}"
        arrived = threading.Event()
        self._fence = (token, arrived)
        self.k.set_property("Cam", "AsyncPropertyLeader", token)
        assert arrived.wait(10), "DCam's AsyncPropertyFollower announcement never arrived"
        self._fence = None

    def of(self, label: str, name: str) -> list[Any]:
        return [value for lab, n, value in self.changes if (lab, n) == (label, name)]

    def only_on_the_notification_thread(self) -> bool:
        return self.threads == {self.k.events.bus.thread}


@pytest.fixture
def seen(k: Kernel) -> Seen:
    return Seen(k)


def _standin(mm: str, k: Kernel) -> Any:
    if mm != "standin":
        pytest.skip("only the stand-in can change a device's state without being asked")
    from mmkernel_adapter_micromanager import core_groups

    return core_groups().group("main", [], k).core


@pytest.mark.parametrize(
    ("label", "name", "first", "second"),
    [("Z", "Position", 12.5, -3.0), ("Cam", "Exposure", 20.0, 35.5), ("S", "State", 1, 0), ("Cam", "Binning", 2, 4)],
)
def test_a_change_the_kernel_makes_is_one_event_though_mm_echoes_it(
    k: Kernel, seen: Seen, label: str, name: str, first: Any, second: Any
) -> None:
    k.set_property(label, name, first)
    k.set_property(label, name, second)
    seen.settle()
    assert seen.of(label, name) == [pytest.approx(first), pytest.approx(second)]
    assert seen.only_on_the_notification_thread()


def test_an_xy_move_the_kernel_makes_ends_in_one_event_at_the_final_position(k: Kernel, seen: Seen) -> None:
    k.set_xy_position("XY", 10.0, 20.0)
    k.wait_for("XY")
    seen.settle()
    final = k.get_xy_position("XY")
    assert final == pytest.approx((10.0, 20.0), abs=0.01)
    assert [xy for xy in seen.xy if xy[1:] == final] == [("XY", *final)]
    assert seen.xy[-1] == ("XY", *final)  # the positions of the way there (real DXYStage) come before it
    assert seen.only_on_the_notification_thread()


@pytest.mark.parametrize(
    ("label", "name", "value", "expected"),
    [
        ("Z", "Position", 7.25, 7.25),
        ("Cam", "Exposure", 42.0, 42.0),
        ("S", "State", True, 1),
        ("Cam", "CCDTemperature", "-12.5", -12.5),
    ],
)
def test_a_change_the_hardware_makes_on_its_own_is_one_event(
    k: Kernel, seen: Seen, mm: str, label: str, name: str, value: Any, expected: Any
) -> None:
    core = _standin(mm, k)
    core.on_its_own(label, name, value)
    seen.settle()
    assert seen.of(label, name) == [expected]
    assert k.get_property(label, name, from_cache=True) == expected
    assert seen.only_on_the_notification_thread()


def test_an_xy_stage_moved_from_outside_is_one_event_per_position(k: Kernel, seen: Seen, mm: str) -> None:
    core = _standin(mm, k)
    for position in ((1.0, 2.0), (1.0, 2.0), (3.0, 4.0)):  # a joystick; MM announces one position twice
        core.on_its_own("XY", "XYPosition", position)
    seen.settle()
    assert seen.xy[-1] == ("XY", 3.0, 4.0)
    assert len(seen.xy) == len(set(seen.xy)) and set(seen.xy) <= {("XY", 1.0, 2.0), ("XY", 3.0, 4.0)}
    assert k.get_xy_position("XY", from_cache=True) == (3.0, 4.0)
    assert seen.only_on_the_notification_thread()


def test_an_xy_stage_that_announces_every_read_starts_no_loop_of_reads(k: Kernel, seen: Seen, mm: str) -> None:
    core = _standin(mm, k)
    core.announce_xy_reads = True
    core.on_its_own("XY", "XYPosition", (5.0, 6.0))
    k.set_xy_position("XY", 7.0, 8.0)
    seen.settle()
    reads = core.xy_reads
    seen.settle()  # a loop (read, announce, read...) would go on reading meanwhile
    assert core.xy_reads == reads
    assert seen.xy[-1] == ("XY", 7.0, 8.0) and len(seen.xy) == len(set(seen.xy))


def test_a_property_the_adapter_announces_on_every_read_starts_no_loop_of_reads(k: Kernel, seen: Seen, mm: str) -> None:
    core = _standin(mm, k)
    core.announce_reads.add("Gain")
    k.set_property("Cam", "Gain", 3)
    core.on_its_own("Cam", "Gain", 5)
    seen.settle()
    reads = core.property_reads["Gain"]
    seen.settle()  # a loop (read, announce, read...) would go on reading meanwhile
    assert core.property_reads["Gain"] == reads
    assert seen.of("Cam", "Gain") == [3, 5]


def test_a_property_the_adapter_changes_on_its_own_thread_is_one_event(k: Kernel, seen: Seen) -> None:
    """DCam copies AsyncPropertyLeader to the read-only AsyncPropertyFollower from its own
    thread and announces it: the kernel's cache and one event follow."""
    arrived = threading.Event()
    k.events.property_changed.connect(
        lambda label, name, value: (label, name, value) == ("Cam", "AsyncPropertyFollower", "mine") and arrived.set()
    )
    k.set_property("Cam", "AsyncPropertyLeader", "mine")
    assert arrived.wait(10)
    assert k.get_property("Cam", "AsyncPropertyFollower", from_cache=True) == "mine"
    seen.settle()
    assert seen.of("Cam", "AsyncPropertyFollower")[0] == "mine"
    assert seen.of("Cam", "AsyncPropertyFollower").count("mine") == 1
    assert seen.of("Cam", "AsyncPropertyLeader").count("mine") == 1
    assert seen.only_on_the_notification_thread()


def test_announcements_from_several_devices_at_once_are_each_one_event(k: Kernel, seen: Seen, mm: str) -> None:
    """The kernel's sets on several threads race MM's late echoes of them: an echo of an older
    value must not step a property (or the XY position) back."""
    import sys

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        positions = [float(i) for i in range(1, 21)]

        def move_z() -> None:
            for z in positions:
                k.set_position("Z", z)

        def expose() -> None:
            for ms in positions:
                k.set_property("Cam", "Exposure", ms)

        def toggle() -> None:
            for i in range(20):
                k.set_property("S", "State", (i + 1) % 2)

        def move_xy() -> None:
            for x in positions:
                k.set_xy_position("XY", x, -x)
            k.wait_for("XY")

        threads = [threading.Thread(target=fn) for fn in (move_z, expose, toggle, move_xy)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seen.settle()
    finally:
        sys.setswitchinterval(old)
    assert seen.of("Z", "Position") == pytest.approx(positions)
    assert seen.of("Cam", "Exposure") == pytest.approx(positions)
    assert seen.of("S", "State") == [(i + 1) % 2 for i in range(20)]
    if mm == "standin":  # the real DXYStage also announces the steps of each move
        assert [xy[1:] for xy in seen.xy] == [(x, -x) for x in positions]
    else:
        assert seen.xy[-1][1:] == pytest.approx((20.0, -20.0), abs=0.01)
    assert seen.only_on_the_notification_thread()
