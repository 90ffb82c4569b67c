"""Simulated devices: stand-ins for hardware in tests, demos and benchmarks.

The sleeps in here model hardware time (a move, a slow serial reply); they are never used to
synchronise anything.
"""

from __future__ import annotations

import time
from typing import ClassVar

from .._generic import Generic
from .._prop import prop
from .._shutter import Shutter
from .._stage import Stage
from .._state import StateDevice
from .._xystage import XYStage
from ._probe import ConcurrencyProbe


class SimStage(Stage):
    """A focus drive; with `move_s` > 0 it is non-blocking and busy while it moves."""

    def __init__(self, move_s: float = 0.0, limits: tuple[float, float] = (-1000.0, 1000.0)) -> None:
        self.move_s = move_s
        self._z = 0.0
        self._arrive = 0.0
        self.set_limits("Position", *limits)

    def set_position(self, um: float) -> None:
        self._z = um
        self._arrive = time.monotonic() + self.move_s

    def get_position(self) -> float:
        return self._z

    def busy(self) -> bool:
        return time.monotonic() < self._arrive


class SimXYStage(XYStage):
    """An XY stage; with `move_s` > 0 it is busy while it moves."""

    def __init__(self, move_s: float = 0.0) -> None:
        self.move_s = move_s
        self._xy = (0.0, 0.0)
        self._arrive = 0.0

    def set_xy_position(self, x_um: float, y_um: float) -> None:
        self._xy = (x_um, y_um)
        self._arrive = time.monotonic() + self.move_s

    def get_xy_position(self) -> tuple[float, float]:
        return self._xy

    def busy(self) -> bool:
        return time.monotonic() < self._arrive


class SimShutter(Shutter):
    """A shutter that remembers whether it is open."""

    def __init__(self) -> None:
        self._open = False

    def set_open(self, open: bool) -> None:  # noqa: A002
        self._open = open

    def is_open(self) -> bool:
        return self._open


class SimWheel(StateDevice):
    """A six-position filter wheel."""

    num_positions: ClassVar[int] = 6


class SlowDevice(Generic):
    """Five properties whose reads each take `read_s` seconds, like a slow serial controller."""

    def __init__(self, read_s: float = 0.01) -> None:
        self.read_s = read_s
        for index in range(5):
            self.add_property(f"Value{index}", float, getter=self._reader(index))

    def _reader(self, index: int):  # type: ignore[no-untyped-def]
        def read() -> float:
            time.sleep(self.read_s)
            return float(index)

        return read


class ProbedDevice(Generic):
    """Counts concurrent entries into itself: the kernel must keep `probe.violations` at zero.

    Its setter reads, yields the GIL and writes back, so a second concurrent entry would both be
    counted by the probe and lose an update.
    """

    counter = prop(int, default=0, doc="Incremented by `Increment`; lost updates show up here.")
    Increment = prop(int, default=0, doc="Setting it adds the value to `counter`.")
    Value = prop(float, default=0.0, limits=(-1e9, 1e9))

    def __init__(self) -> None:
        self.probe = ConcurrencyProbe()
        self._busy_calls = 0

    @Increment.setter
    def Increment(self, amount: int) -> None:  # noqa: N802
        with self.probe.enter():
            before = self._props.get("counter")
            time.sleep(0)  # give every other thread the chance to interleave
            self._props.apply("counter", before + amount)

    @Value.setter
    def Value(self, value: float) -> None:  # noqa: N802
        with self.probe.enter():
            time.sleep(0)

    def busy(self) -> bool:
        with self.probe.enter():
            self._busy_calls += 1
            return False
