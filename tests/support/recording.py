"""Cameras and stores for the recording tests: frames a reader can check pixel by pixel, zarr
stores that fail or stall on purpose, a kernel with a camera and a stage, and the check that a
recording's failure left every kernel thread alive."""

from __future__ import annotations

import asyncio
import errno
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from zarr.storage import LocalStore

from mmkernel_core import Kernel
from mmkernel_sdk import Camera, prop
from mmkernel_sdk.testing import SimStage


def pattern(number: int, shape: tuple[int, ...], dtype: Any = np.uint16) -> np.ndarray:
    """Frame `number` of a PatternCamera: different for every frame and every pixel."""
    height, width = shape[:2]
    rows = np.arange(height, dtype=np.uint32)[:, None] * 131
    cols = np.arange(width, dtype=np.uint32)[None, :] * 7
    image = (rows + cols + number * 977) % 4096
    if len(shape) == 3:
        image = np.repeat(image[:, :, None], shape[2], axis=2) + np.arange(shape[2], dtype=np.uint32)
    return image.astype(dtype)


def checksum(array: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(array).tobytes())


class PatternCamera(Camera):
    """Frame n is pattern(n); its tags carry the frame's checksum, so the per-frame table can be
    checked against the pixels stored. `reached` is set once `signal_at` frames were made."""

    Width = prop(int, default=64, limits=(1, 4096))

    def __init__(self, height: int = 48, dtype: Any = np.uint16, components: int = 0, signal_at: int = 0) -> None:
        self.height, self.dtype, self.components = height, np.dtype(dtype), components
        self.made = 0
        self.signal_at = signal_at
        self.reached = threading.Event()

    def frame_shape(self) -> tuple[int, ...]:
        shape = (self.height, self.Width)
        return (*shape, self.components) if self.components else shape

    def frame_dtype(self) -> np.dtype:
        return self.dtype

    def start_sequence(self, count: int | None, interval_ms: float) -> None:
        self.made = 0  # frame n of every sequence is pattern(n)

    def read_frame(self, out: np.ndarray) -> dict[str, Any]:
        out[...] = pattern(self.made, out.shape, out.dtype)
        tags = {"Checksum": checksum(out)}
        self.made += 1
        if self.signal_at and self.made >= self.signal_at:
            self.reached.set()
        return tags


class FailingStore(LocalStore):
    """A local store whose chunk writes fail with 'No space left on device' after `allow` of
    them (metadata writes still work, as on a disk with a little room left)."""

    def __init__(self, root: Any, allow: int) -> None:
        super().__init__(root)
        self.allow = allow
        self.chunk_writes = 0

    async def set(self, key: str, value: Any) -> None:
        if not key.endswith("zarr.json") and "/c." in f"/{key}":
            self.chunk_writes += 1
            if self.chunk_writes > self.allow:
                raise OSError(errno.ENOSPC, "No space left on device", key)
        await super().set(key, value)


class StallingStore(LocalStore):
    """A local store whose chunk writes wait until `go` is set (a disk that fell behind);
    `reads` counts chunk data read back (a whole-shard writer never reads any)."""

    def __init__(self, root: Any) -> None:
        super().__init__(root)
        self.go = threading.Event()
        self.go.set()
        self.reads = 0
        self.read_keys: list[str] = []

    async def set(self, key: str, value: Any) -> None:
        if not key.endswith("zarr.json"):
            await asyncio.to_thread(self.go.wait, 30)
        await super().set(key, value)

    async def get(self, key: str, *args: Any, **kwargs: Any) -> Any:
        found = await super().get(key, *args, **kwargs)
        if found is not None and not key.endswith("zarr.json"):  # data read back (a missing key costs nothing)
            self.reads += 1
            self.read_keys.append(key)
        return found


@contextmanager
def camera_and_stage() -> Iterator[Kernel]:
    """A kernel with a PatternCamera "Cam" and a SimStage "Z", initialized (16 MB buffers)."""
    with Kernel(timeout=10, buffer_mb=16) as kernel:
        kernel.load_device("Cam", PatternCamera())
        kernel.load_device("Z", SimStage())
        kernel.initialize_all()
        yield kernel


def join_recording_threads() -> list[str]:
    """The recording's own threads end once it is done; returns any still alive."""
    for thread in threading.enumerate():
        if thread.name.startswith("mmkernel-record"):
            thread.join(10)
    return [t.name for t in threading.enumerate() if t.name.startswith("mmkernel-record")]


def still_works(k: Kernel, tmp_path: Path) -> None:
    """No kernel thread died: the camera snaps, and a new recording runs to the end."""
    assert k.snap("Cam").shape == (48, 64)
    assert k.record("Cam", tmp_path / "after.ome.zarr", count=3).wait(30).frames_written == {"Cam": 3}
    assert join_recording_threads() == []
