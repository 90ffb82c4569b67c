"""Moving stages and XY stages: a position that is not a finite number is refused before adapter
code runs, and XY stages declare limits like stages (a relative move is checked on the runner,
where the position is known)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from mmkernel_core import Kernel, PropertyError
from tests.support.devices import RecordingStage, RecordingXY


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


class _Gliding:
    """A non-blocking stage that reports where it started until it arrives (as the demo stages
    and most controllers do while a move runs); the test says when it arrives."""

    def __init__(self) -> None:
        self.arrived = True
        self.start: Any = 0.0
        self.target: Any = 0.0

    def move(self, target: Any) -> None:
        self.start, self.target, self.arrived = self.where(), target, False

    def where(self) -> Any:
        return self.target if self.arrived else self.start

    def busy(self) -> bool:
        return not self.arrived


def _gliding_devices() -> tuple[Any, Any]:
    from mmkernel_sdk import Stage, XYStage

    class GlidingZ(Stage):
        def __init__(self) -> None:
            self.motion = _Gliding()

        def set_position(self, um: float) -> None:
            self.motion.move(um)

        def get_position(self) -> float:
            return float(self.motion.where())

        def busy(self) -> bool:
            return self.motion.busy()

    class GlidingXY(XYStage):
        def __init__(self) -> None:
            self.motion = _Gliding()
            self.motion.target = (0.0, 0.0)

        def set_xy_position(self, x_um: float, y_um: float) -> None:
            self.motion.move((x_um, y_um))

        def get_xy_position(self) -> tuple[float, float]:
            return self.motion.where()

        def busy(self) -> bool:
            return self.motion.busy()

    return GlidingZ(), GlidingXY()


@pytest.fixture
def gliding() -> Iterator[tuple[Kernel, Any, Any]]:
    """A kernel with a gliding focus "Z" and XY stage "XY": they arrive when the test says so."""
    z, xy = _gliding_devices()
    with Kernel(timeout=5) as k:
        k.load_device("Z", z)
        k.load_device("XY", xy)
        k.initialize_all()
        yield k, z, xy


def test_a_non_blocking_stage_is_cached_where_it_arrived_once_a_wait_sees_it_idle(
    gliding: tuple[Kernel, Any, Any],
) -> None:
    k, z, xy = gliding
    seen: list[tuple[str, object]] = []
    k.events.stage_position_changed.connect(lambda label, um: seen.append((label, um)))
    k.set_position("Z", 10.0)
    k.set_xy_position("XY", 3.0, 4.0)
    assert k.get_position("Z", from_cache=True) == 0.0  # still where it started: the move runs
    z.motion.arrived = xy.motion.arrived = True
    k.wait_for("Z")
    k.wait_for("XY")
    assert k.get_position("Z", from_cache=True) == 10.0
    assert k.get_xy_position("XY", from_cache=True) == (3.0, 4.0)
    k.events.flush()
    assert seen.count(("Z", 10.0)) == 1  # the arrival is announced, once


def test_a_move_with_wait_returns_once_the_stage_has_arrived_or_fails_at_its_deadline(
    gliding: tuple[Kernel, Any, Any],
) -> None:
    from mmkernel_core import DeviceTimeoutError

    k, z, xy = gliding
    arrivals = threading.Timer(0.05, lambda: setattr(z.motion, "arrived", True))
    arrivals.start()
    k.set_position("Z", 7.0, wait=True)  # returns only after the timer let it arrive
    assert z.motion.arrived and k.get_position("Z", from_cache=True) == 7.0 and not k.busy("Z")
    with pytest.raises(DeviceTimeoutError, match=r"device 'XY'.*still reports busy"):
        k.set_xy_position("XY", 1.0, 2.0, wait=True, timeout=0.2)  # never arrives
    threading.Timer(0.05, lambda: setattr(xy.motion, "arrived", True)).start()
    k.set_xy_position("XY", 3.0, 4.0, wait=True)
    assert xy.motion.arrived and k.get_xy_position("XY", from_cache=True) == (3.0, 4.0)
