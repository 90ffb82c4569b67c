"""Test devices used by several test files: devices whose reads can be held on a gate (a hung
serial read on demand), a camera of any frame format (and one that is live or stepped), stages
that record every move, and a wheel behind a slow serial line."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest

from mmkernel_core import DeviceTimeoutError, Kernel
from mmkernel_sdk import Camera, Generic, StateDevice, prop
from mmkernel_sdk.testing import Gate, SimStage, SimXYStage


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


class Held(Generic):
    """`Value` reads hold on the gate while armed; shutdown is recorded."""

    Value = prop(float, default=0.0)

    def __init__(self, gate: Gate | None = None) -> None:
        self.gate = gate or Gate()
        self.armed = False
        self.shut = threading.Event()
        self.inits = 0

    def initialize(self) -> None:
        self.inits += 1

    @Value.getter
    def Value(self) -> float:
        if self.armed:
            self.gate.hold()
        return 1.0

    def shutdown(self) -> None:
        self.shut.set()


class Live(Camera):
    """Frames on demand (`permits`) or free-running; shape follows `roi`."""

    Slow = prop(float, default=0.0)

    def __init__(self, gate: Gate | None = None, stepped: bool = False) -> None:
        self.gate = gate or Gate()
        self.armed = False
        self.permits = threading.Semaphore(0) if stepped else None
        self.roi = (0, 0, 32, 16)
        self.mismatch: list[tuple[tuple[int, ...], tuple[int, ...]]] = []

    @Slow.getter
    def Slow(self) -> float:
        if self.armed:
            self.gate.hold()
        return 0.0

    def frame_shape(self) -> tuple[int, ...]:
        return (self.roi[3], self.roi[2])

    def frame_dtype(self) -> np.dtype:
        return np.dtype(np.uint8)

    def read_frame(self, out: np.ndarray) -> None:
        if self.permits is not None and not self.permits.acquire(timeout=10):
            raise TimeoutError("the test gave no permit")
        if out.shape != self.frame_shape():
            self.mismatch.append((out.shape, self.frame_shape()))
        out[...] = 1

    def set_roi(self, x: int, y: int, width: int, height: int) -> None:
        self.roi = (x, y, width, height)

    def clear_roi(self) -> None:
        self.roi = (0, 0, 32, 16)


def hold_runner(kernel: Kernel, label: str, device: Held | Live, prop_name: str = "Value", timeout: float = 30):
    """A call on `label` that stays running (within its deadline) until the gate opens."""
    device.armed = True
    call = kernel.submit.get_property(label, prop_name, timeout=timeout)
    device.gate.wait_entered()
    return call


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
