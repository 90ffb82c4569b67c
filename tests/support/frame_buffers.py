"""Helpers for FrameBuffer tests: write frames as the camera runner does, check every pixel
against what was written, and wait for an observable state."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
from hypothesis import strategies as st

from mmkernel_core import FrameHeader
from mmkernel_core.frames import Frame, FrameBuffer, NoSpace, Slot

KiB = 1024
MiB = 1024 * 1024

U8, U16 = np.dtype("uint8"), np.dtype("uint16")


def pattern(number: int, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Frame `number`'s pixels: a ramp seeded by the number, so shifted, torn or foreign data shows."""
    modulus = int(np.iinfo(dtype).max) + 1
    return ((np.arange(math.prod(shape), dtype=np.int64) + number * 101) % modulus).astype(dtype).reshape(shape)


@contextmanager
def frame_buffer(capacity: int) -> Iterator[FrameBuffer]:
    buf = FrameBuffer("Cam", capacity)
    try:
        yield buf
    finally:
        buf.close()


def write(
    buf: FrameBuffer,
    number: int,
    shape: tuple[int, ...] = (64, 64),
    dtype: np.dtype = U8,
    space: threading.Event | None = None,
    seed: int | None = None,
) -> Slot | None:
    """Write one frame the way the camera runner does: acquire, fill in place, commit. Under
    "block" with no room, wait for `space` (the buffer's on_space) and try again, as the runner
    does between requests."""
    while True:
        try:
            slot, view = buf.acquire(shape, dtype)
            break
        except NoSpace:
            assert space is not None, "the buffer is full under 'block'"
            assert space.wait(5), "no space was freed"
            space.clear()
    assert view.shape == shape and view.dtype == dtype and view.flags.writeable
    view[...] = pattern(number if seed is None else seed, shape, dtype)
    buf.commit(slot, FrameHeader(number, "Cam", shape, dtype, 1, time.time()))
    return slot


def check(frame: Frame, number: int, shape: tuple[int, ...], dtype: np.dtype, seed: int | None = None) -> None:
    assert frame.meta.number == number
    assert frame.array.shape == shape and frame.array.dtype == dtype
    np.testing.assert_array_equal(
        frame.array, pattern(number if seed is None else seed, shape, dtype), err_msg=f"frame {number}"
    )


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait for an observable state (not for time to pass)."""
    deadline = time.monotonic() + timeout
    tick = threading.Event()
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the condition"
        tick.wait(0.0005)


def writer_waiting(buf: FrameBuffer) -> bool:
    with buf._lock:
        return buf._writer_waiting


S = 64 * 64  # bytes of a (64, 64) uint8 frame, a multiple of the alignment

shapes = st.tuples(st.integers(1, 40), st.integers(1, 40), st.sampled_from([U8, U16]))
