"""Test devices for acquisitions: an instant rig (camera, focus, XY stage, shutter, autofocus
and its offset motor) and a piezo stepped by a camera's exposure-out, whose frames' pixels say
the z they were exposed at."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from mmkernel_core import Kernel
from mmkernel_sdk import AutoFocus, Camera, Shutter, Stage
from mmkernel_sdk.testing import SimStage, SimXYStage


class Flat(Camera):
    def frame_shape(self) -> tuple[int, int]:
        return (4, 4)

    def frame_dtype(self) -> np.dtype:
        return np.dtype(np.uint16)

    def read_frame(self, out: np.ndarray) -> None:
        out[...] = 3


class CountingShutter(Shutter):
    """Records every open and close."""

    def __init__(self) -> None:
        self.open = False
        self.calls: list[bool] = []

    def set_open(self, open: bool) -> None:  # noqa: A002
        self.calls.append(bool(open))
        self.open = bool(open)

    def is_open(self) -> bool:
        return self.open


class FindsFocusHigher(AutoFocus):
    """A full focus that finds the sample 2 um above where the focus drive is."""

    def full_focus(self) -> None:
        self.kernel.set_relative_position("Z", 2.0)


class TimedStage(SimStage):
    """Records when each move is asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.moves: list[tuple[float, float]] = []

    def set_position(self, um: float) -> None:
        self.moves.append((time.monotonic(), um))
        super().set_position(um)


@contextmanager
def instant_rig() -> Iterator[tuple[Kernel, dict[str, Any]]]:
    """A kernel with Camera, Z, XY, Shutter, AF and Offset loaded, initialized and in their roles."""
    with Kernel(timeout=10) as kernel:
        devices = {"Camera": Flat(), "Z": TimedStage(), "XY": SimXYStage(), "Shutter": CountingShutter(),
                   "AF": FindsFocusHigher(), "Offset": SimStage()}  # fmt: skip
        for label, device in devices.items():
            kernel.load_device(label, device)
        kernel.initialize_all()
        for role, label in (("Camera", "Camera"), ("Focus", "Z"), ("XYStage", "XY"), ("Shutter", "Shutter"),
                            ("AutoFocus", "AF")):  # fmt: skip
            kernel.set_role(role, label)
        yield kernel, devices


class Wire:
    """The camera's exposure-out TTL to the piezo: stepped once per streamed frame."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.table: list[float] = []
        self.armed = False
        self.at = 0
        self.z = 0.0

    def pulse(self) -> None:
        with self.lock:
            if self.armed and self.at + 1 < len(self.table):
                self.at += 1
                self.z = self.table[self.at]


class Piezo(Stage):
    """A focus drive that runs a table of positions, one step per camera frame"""

    position_sequence_max = 50

    def __init__(self, wire: Wire) -> None:
        self.wire = wire
        self.loads = 0

    def set_position(self, um: float) -> None:
        with self.wire.lock:
            self.wire.z = um

    def get_position(self) -> float:
        with self.wire.lock:
            return self.wire.z

    def load_position_sequence(self, positions: list[float]) -> None:
        with self.wire.lock:
            self.wire.table, self.loads = list(positions), self.loads + 1

    def start_position_sequence(self) -> None:
        with self.wire.lock:
            self.wire.armed, self.wire.at = True, 0
            self.wire.z = self.wire.table[0]

    def stop_position_sequence(self) -> None:
        with self.wire.lock:
            self.wire.armed = False


class ZCamera(Camera):
    """Each frame's pixels are the focus position it was exposed at (x10); streamed frames
    step the piezo after their exposure. `hold_at` makes one frame wait for `gate`."""

    def __init__(self, wire: Wire) -> None:
        self.wire = wire
        self.hold_at: int | None = None
        self.gate = threading.Event()
        self.reached = threading.Event()
        self.streamed = 0

    def frame_shape(self) -> tuple[int, int]:
        return (4, 4)

    def frame_dtype(self) -> np.dtype:
        return np.dtype(np.uint16)

    def snap(self, out: np.ndarray) -> dict[str, Any]:
        with self.wire.lock:
            out[...] = round(self.wire.z * 10) + 1000
        return {}

    def start_sequence(self, count: int | None, interval_ms: float) -> None:
        self.streamed = 0

    def read_frame(self, out: np.ndarray) -> dict[str, Any]:
        """A streamed frame: exposed, then its exposure-out steps the piezo."""
        if self.hold_at is not None and self.streamed == self.hold_at:
            self.reached.set()
            self.gate.wait(10)
        meta = self.snap(out)
        self.streamed += 1
        self.wire.pulse()
        return meta


@contextmanager
def piezo_rig() -> Iterator[tuple[Kernel, Wire, Piezo, ZCamera]]:
    """A kernel with a ZCamera (the Camera role) whose frames step a Piezo (the Focus role)."""
    wire = Wire()
    piezo, camera = Piezo(wire), ZCamera(wire)
    with Kernel(timeout=10) as kernel:
        kernel.load_device("Camera", camera)
        kernel.load_device("Z", piezo)
        kernel.initialize_all()
        kernel.set_role("Camera", "Camera")
        kernel.set_role("Focus", "Z")
        yield kernel, wire, piezo, camera
