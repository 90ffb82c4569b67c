"""`kernel.stream(...)` and `kernel.aio.stream(...)`: a sequence as an iterator of frames.

Each frame handed out is released when the iteration moves on (keep pixels with `frame.copy()`);
leaving the `with` block (or the loop) stops the sequence.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from mmkernel_sdk.errors import StreamEnded

from ._buffer import BufferStats
from ._frames import Frame


class _StreamBase:
    def __init__(self, kernel: Any, camera: str | None, count: int | None, interval_ms: float, overflow: str) -> None:
        self._kernel = kernel
        self.camera = camera or kernel.roles.camera
        self._arguments = (count, interval_ms, overflow)
        self._started = False
        self._sequence: Any = None  # the sequence this stream started: the only one it stops
        self._current: Frame | None = None

    def _release_current(self) -> None:
        if self._current is not None:
            self._current.release()
            self._current = None

    def _frame_timeout(self) -> float:
        """How long one frame may take: the kernel's deadline plus the frame interval and the
        exposure, so slow time-lapses and long exposures do not time out between frames."""
        _, interval_ms, _ = self._arguments
        return self._kernel.default_timeout + interval_ms / 1000.0 + self._kernel.internals.exposure_s(self.camera)

    @property
    def stats(self) -> BufferStats:
        return self._kernel.buffer_stats(self.camera)


class Stream(_StreamBase):
    """Blocking iterator over one camera's sequence."""

    def start(self) -> Stream:
        if not self._started:
            count, interval_ms, overflow = self._arguments
            request, self._sequence = self._kernel.internals.start_sequence(self.camera, count, interval_ms, overflow)
            request.result()
            self._started = True
        return self

    def __enter__(self) -> Stream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the current frame and stop the sequence this stream started, if it still
        runs (never one started since: a recording begun after this stream's sequence ended)."""
        self._release_current()
        if self._started:
            self._kernel.internals.stop_sequence(self.camera, self._sequence).result()

    def __iter__(self) -> Iterator[Frame]:
        self.start()
        try:
            while True:
                self._release_current()
                try:
                    self._current = self._kernel.pop_next(self.camera, timeout=self._frame_timeout())
                except StreamEnded:
                    return
                yield self._current
        finally:
            self.close()


class AsyncStream(_StreamBase):
    """`async with kernel.aio.stream(...) as s: async for frame in s` (or without `with`)."""

    async def start(self) -> AsyncStream:
        if not self._started:
            count, interval_ms, overflow = self._arguments
            request, self._sequence = self._kernel.internals.start_sequence(self.camera, count, interval_ms, overflow)
            await request.to_asyncio()
            self._started = True
        return self

    async def __aenter__(self) -> AsyncStream:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        self._release_current()
        if self._started:
            await self._kernel.internals.stop_sequence(self.camera, self._sequence).to_asyncio()

    async def __aiter__(self) -> AsyncIterator[Frame]:
        await self.start()
        try:
            while True:
                self._release_current()
                try:
                    self._current = await self._kernel.aio.pop_next(self.camera, timeout=self._frame_timeout())
                except StreamEnded:
                    return
                yield self._current
        finally:
            await self.close()
