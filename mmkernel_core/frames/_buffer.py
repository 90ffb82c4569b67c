"""FrameBuffer: one camera's preallocated frames, written zero-copy and read zero-copy.

The camera's runner asks for a slot of the frame's shape and dtype and the adapter fills that
numpy view in place (`acquire` -> `read_frame(view)` -> `commit`). Consumers `pop` frames in
order, or take the `latest`, as read-only views that stay valid until released. What happens
when the buffer is full is the sequence's overflow policy, and every dropped frame is counted.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from mmkernel_sdk.errors import BufferOverflowError, DeviceTimeoutError, MMKernelError, StreamEnded

from ._arena import CONSUMED, DROPPED, FREED, READY, RingArena, Slot
from ._frames import Frame, FrameHeader
from ._memory import FrameMemory

if TYPE_CHECKING:
    from ..runtime import Request

CallAt = Callable[[float, Callable[[], None]], Any]  # the watchdog's timer: call_at(when, fn)

log = logging.getLogger("mmkernel.buffer")

# Waking a waiting consumer costs a thread wake-up (and a hand-over of the GIL) per wake. In a
# fast stream (frames less than FAST_STREAM_S apart) a waiting consumer is woken once the oldest
# frame it has not been told of is NOTIFY_WINDOW_S old, so it takes the frames of that window in
# one go; a waiting consumer also looks again every CONSUMER_RECHECK_S, which bounds the delay
# when a fast stream pauses. Slow streams wake the consumer at every frame.
FAST_STREAM_S = 0.001
NOTIFY_WINDOW_S = 0.001
CONSUMER_RECHECK_S = 0.002
Overflow = Literal["stop", "overwrite", "block"]
POLICIES: tuple[str, ...] = ("stop", "overwrite", "block")


@dataclass(frozen=True)
class BufferStats:
    """Counts for the current (or last) sequence; `dropped` is never silent."""

    produced: int
    delivered: int
    dropped: int
    pending: int
    high_water_frames: int
    high_water_bytes: int
    capacity_bytes: int


_ABSENT = object()


def _c_strides(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    strides = []
    size = itemsize
    for extent in reversed(shape):
        strides.append(size)
        size *= extent
    return tuple(reversed(strides))


def _cancel(timer: Any) -> None:
    if timer is not None:
        timer.cancel()


class NoSpace(Exception):  # noqa: N818 - control flow inside the kernel, never seen by users
    """Block policy, buffer full: the camera waits for space without blocking its runner; the
    buffer calls `on_space` when a reader frees some."""


class FrameBuffer:
    def __init__(self, camera: str, capacity_bytes: int, memory: FrameMemory | None = None) -> None:
        self.camera = camera
        self.memory = memory if memory is not None else FrameMemory(capacity_bytes, camera)
        self._writable, self._readonly = self.memory.array, self.memory.readonly  # per frame: no lookups
        self._arena = RingArena(capacity_bytes)
        self._lock = threading.RLock()  # re-entrant: a Frame released by the GC may land here
        self._frame_ready = threading.Condition(self._lock)
        self._ready: deque[Slot] = deque()
        self._newest: Slot | None = None
        self._consumers_waiting = 0
        self._writer_waiting = False
        self._wanted = 0  # bytes the camera's last frame found no room for (it waits, or went to scratch)
        self._on_space: Callable[[], None] | None = None
        # futures/asyncio pop_next waiting for a frame, oldest first, with their deadline timers
        self._pending_pops: dict[Request, Any] = {}
        self._last_commit = 0.0
        self._untold_since = 0.0  # commit time of the oldest frame a waiting consumer was not woken for
        self._scratch: np.ndarray | None = None
        self.policy: str = "stop"
        self._end: MMKernelError | None = StreamEnded(f"camera {camera!r}: no sequence has been started")
        self._reset_counts()

    @property
    def capacity(self) -> int:
        return self._arena.capacity

    def _reset_counts(self) -> None:
        self.produced = self.delivered = self.dropped = 0
        self.high_water_frames = self.high_water_bytes = 0

    # -- sequence lifecycle (camera runner) -------------------------------------------------
    def start(self, policy: str, on_space: Callable[[], None] | None = None) -> int:
        """A new sequence; `on_space` is called (cheaply, under the buffer lock) when a "block"
        sequence waiting for space may go on. Returns how many unread frames of the previous
        sequence were discarded (the caller logs it, off the camera's thread)."""
        self.memory.populate_in_background()  # the first sequence makes the memory resident (once)
        with self._lock:
            self._on_space = on_space
            leftover = len(self._ready)
            for slot in self._ready:
                slot.state = DROPPED
            self._ready.clear()
            self.policy = policy
            self._end = None
            self._wanted = 0
            self._newest = None
            self._reset_counts()
        return leftover

    def finish(self, error: MMKernelError | None = None) -> None:
        """The writer is done; consumers get `error` (or StreamEnded) after the last frame."""
        with self._lock:
            if self._end is None:
                self._end = error or StreamEnded(
                    f"camera {self.camera!r}: the sequence ended after {self.produced} frames"
                )
            self._frame_ready.notify_all()
            waiting = list(self._pending_pops.items())  # commits hand out frames first: none is ready
            self._pending_pops.clear()
            end = self._end
        for request, timer in waiting:
            _cancel(timer)
            request.finish(exception=end.with_traceback(None))

    @property
    def active(self) -> bool:
        return self._end is None

    # -- writing (camera runner) ------------------------------------------------------------
    def acquire(
        self, shape: tuple[int, ...], dtype: np.dtype, nbytes: int | None = None
    ) -> tuple[Slot | None, np.ndarray]:
        """A writable view for the next frame (`nbytes`, if given, is its size: the camera's
        runner knows it). Under "overwrite" with the oldest frame held by a reader, the frame
        goes to a scratch array and is counted as dropped (slot is None). Under "block" with no
        room, NoSpace: try again after `on_space`."""
        if nbytes is None:
            nbytes = math.prod(shape) * dtype.itemsize
        with self._lock:
            slot = self._arena.reserve(nbytes)
            while slot is None:
                self._wanted = nbytes  # room the camera could not get (till a frame finds some): see in_the_way
                if self._make_room():
                    self.dropped += 1
                    return None, self._scratch_for(shape, dtype)
                slot = self._arena.reserve(nbytes)
            self._wanted = 0
        return slot, np.ndarray(shape, dtype, buffer=self._writable, offset=slot.offset)

    def _make_room(self) -> bool:
        """Under the lock, the buffer full: apply the policy. True means the frame must go to
        scratch (overwrite, the oldest frame held by a reader); else room was made."""
        oldest = self._arena.oldest()
        assert oldest is not None
        policy = self.policy
        if policy == "overwrite" and oldest.state == READY and oldest.holds == 0:
            self._ready.popleft().state = DROPPED  # the oldest unread frame
            self.dropped += 1
            return False
        if policy == "overwrite":
            return True
        if policy == "block":
            self._writer_waiting = True
            raise NoSpace
        raise BufferOverflowError(
            f"camera {self.camera!r}: buffer full after {self.produced} frames; the sequence "
            f"stopped with {len(self._ready)} frames kept in the {self.capacity / 2**20:g} MB "
            f"buffer (it holds {self._arena.max_frames} frames at most; read faster, enlarge it with "
            "set_buffer_size, or use overflow='overwrite' or 'block')"
        )

    def commit(self, slot: Slot | None, header: FrameHeader) -> None:
        """Publish a filled slot (a scratch frame was already counted as dropped)."""
        if slot is None:
            return
        handed: list[tuple[Request, Frame]] = []
        with self._lock:
            slot.header = header
            slot.state = READY
            ready = self._ready
            ready.append(slot)
            self._newest = slot
            self.produced += 1
            if len(ready) > self.high_water_frames:
                self.high_water_frames = len(ready)
            arena = self._arena
            tail, head = arena.slots[0].offset, arena.head  # bytes_in_use(), inline: this runs per frame
            used = head - tail if head > tail else arena.capacity - tail + head
            if used > self.high_water_bytes:
                self.high_water_bytes = used
            now = time.monotonic()
            if self._consumers_waiting:
                since = self._untold_since or now
                if now - self._last_commit > FAST_STREAM_S or now - since >= NOTIFY_WINDOW_S:
                    self._frame_ready.notify()
                    since = 0.0
                self._untold_since = since
            self._last_commit = now
            pops = self._pending_pops
            while pops and ready:  # futures and asyncio pops waiting: hand them frames now
                request = next(iter(pops))
                timer = pops.pop(request)
                _cancel(timer)
                if not request.done():
                    handed.append((request, self._frame(self._take())))
        for request, frame in handed:
            if not request.finish(frame):
                frame.discard()  # its taker gave up (cancelled) in the meantime: counted as dropped

    def abort(self, slot: Slot | None) -> None:
        """The camera failed to fill the slot: give it back."""
        if slot is not None:
            with self._lock:
                slot.state = DROPPED

    def wake_writer(self) -> None:
        """Let a "block" sequence waiting for space look again now (e.g. to see a stop)."""
        with self._lock:
            self._writer_waiting = False
            if self._on_space is not None:
                self._on_space()

    def _scratch_for(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        scratch = self._scratch
        if scratch is None or scratch.shape != shape or scratch.dtype != dtype:
            scratch = self._scratch = np.empty(shape, dtype)
        return scratch

    # -- reading (any thread) ---------------------------------------------------------------
    def pop(self, timeout: float) -> Frame:
        """The oldest unread frame; after the last one, the sequence's end (StreamEnded or the
        error that stopped it)."""
        with self._lock:
            ready = self._ready
            if not ready and not self._wait_ready(timeout):
                raise self._no_frame(timeout)
            slot = ready.popleft()  # _take(), inline: this runs per frame
            slot.state = CONSUMED
            slot.holds += 1
            self.delivered += 1
        header: FrameHeader = slot.header  # type: ignore[assignment]
        return Frame(
            np.ndarray(header.shape, header.dtype, buffer=self._readonly, offset=slot.offset), header, self, slot
        )

    def _wait_ready(self, timeout: float) -> bool:
        """Under the lock: wait up to `timeout` for a ready frame (False if none came); after
        the last frame, raise the sequence's end."""
        ready = self._ready
        if ready:
            return True
        deadline = time.monotonic() + timeout
        while not ready:
            if self._end is not None:
                # A fresh traceback per raise: polling after the end must not grow it.
                raise self._end.with_traceback(None)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._consumers_waiting += 1
            self._untold_since = 0.0
            self._frame_ready.wait(min(remaining, CONSUMER_RECHECK_S))
            self._consumers_waiting -= 1
        return True

    def pop_run(self, most: int, timeout: float) -> list[Frame]:
        """Up to `most` unread frames at once, oldest first, waiting up to `timeout` for the
        first (one lock and at most one wake-up for the lot: a recording's reader keeps pace
        with small fast frames). Empty if none came in time; after the last frame, the end."""
        return [self._frame(slot) for slot in self.take_run(most, timeout)]

    def take_run(self, most: int, timeout: float) -> list[Slot]:
        """`pop_run` without Frame objects: the slots themselves, held until `release_slots`
        (a recording writes a run of small frames from spans of them, never frame by frame)."""
        with self._lock:
            if not self._wait_ready(timeout):
                return []
            take = self._take
            return [take() for _ in range(min(most, len(self._ready)))]

    def release_when_unused(self, frame: Frame) -> tuple[np.ndarray, weakref.finalize]:
        """Hand `frame`'s pixels over: returns its array, and the slot is released once that
        array and every view of it are gone (numpy views keep their base alive), so whoever
        keeps one (a processing step holding the previous frame) keeps valid pixels. Calling
        the returned finalizer releases the slot now (the holder must be done with it)."""
        array = frame.array
        slot = frame.forget()
        return array, weakref.finalize(array, self.release, slot)

    def release_all(self, frames: list[Frame]) -> None:
        """Release many frames under one lock (a recording's writer frees whole runs)."""
        self.release_slots([frame.forget() for frame in frames])

    def release_slots(self, slots: list[Slot | None]) -> None:
        with self._lock:
            freed = False
            for slot in slots:
                if slot is not None:
                    slot.holds -= 1
                    freed = freed or slot.free
            if freed and self._writer_waiting:
                self._writer_waiting = False
                if self._on_space is not None:
                    self._on_space()

    def spans(self, slots: list[Slot]) -> list[np.ndarray]:
        """Taken slots as read-only (count, *shape) views: frames of one format lying at equal
        steps in memory become one view, so a run of small frames is copied (or written) in
        one operation instead of one per frame."""
        pieces: list[np.ndarray] = []
        memory = self.memory.readonly
        start, n = 0, len(slots)
        while start < n:
            first = slots[start]
            header: FrameHeader = first.header  # type: ignore[assignment]
            shape, dtype = header.shape, header.dtype
            end, step, previous = start + 1, 0, first.offset
            while end < n:
                slot = slots[end]
                other: FrameHeader = slot.header  # type: ignore[assignment]
                gap = slot.offset - previous
                if gap <= 0 or (step and gap != step) or other.shape != shape or other.dtype != dtype:
                    break
                step, previous = gap, slot.offset
                end += 1
            inner = _c_strides(shape, dtype.itemsize)
            strides = (step or first.nbytes or 1, *inner)
            pieces.append(np.ndarray((end - start, *shape), dtype, buffer=memory, offset=first.offset, strides=strides))
            start = end
        return pieces

    def pop_into(self, request: Request, timeout: float, call_at: CallAt) -> None:
        """`pop` without a thread: settle `request` with the next frame (or the end), or fail it
        after `timeout` (a watchdog timer). For the futures and asyncio faces."""
        frame: Frame | None = None
        end: MMKernelError | None = None
        with self._lock:
            if self._ready:
                frame = self._frame(self._take())
            elif self._end is not None:
                end = self._end
            else:
                self._pending_pops[request] = None
        if frame is not None:
            if not request.finish(frame):
                frame.discard()
            return
        if end is not None:
            request.finish(exception=end.with_traceback(None))
            return
        timer = call_at(time.monotonic() + timeout, lambda: self._expire_pop(request, timeout))
        with self._lock:
            if request in self._pending_pops:
                self._pending_pops[request] = timer  # cancelled when a frame (or the end) comes first
                return
        _cancel(timer)  # it was handed a frame while the timer was being set

    def _expire_pop(self, request: Request, timeout: float) -> None:
        with self._lock:
            if self._pending_pops.pop(request, _ABSENT) is _ABSENT:
                return  # already handed a frame or the end
        request.finish(exception=self._no_frame(timeout))

    def discard(self, slot: Slot | None) -> None:
        """A frame taken for a reader that gave up before seeing it: release it, and count it as
        dropped instead of delivered (no silent loss)."""
        with self._lock:
            self.delivered -= 1
            self.dropped += 1
        self.release(slot)

    def _no_frame(self, timeout: float) -> DeviceTimeoutError:
        return DeviceTimeoutError(self.camera, "pop_next", f"camera {self.camera!r}: no frame within {timeout:.3f} s")

    def _take(self) -> Slot:
        """Under the lock: the oldest ready slot, now held by the reader it goes to."""
        slot = self._ready.popleft()
        slot.state = CONSUMED
        slot.holds += 1
        self.delivered += 1
        return slot

    def latest(self) -> Frame:
        """The newest frame (it stays in the queue for pop); held until released."""
        with self._lock:
            slot = self._newest
            if slot is None or slot.state in (DROPPED, FREED):
                raise StreamEnded(f"camera {self.camera!r}: no frame available")
            slot.holds += 1
        return self._frame(slot)

    def _frame(self, slot: Slot) -> Frame:
        header: FrameHeader = slot.header  # type: ignore[assignment]
        array = np.ndarray(header.shape, header.dtype, buffer=self._readonly, offset=slot.offset)
        return Frame(array, header, self, slot)

    def release(self, slot: Slot | None) -> None:
        if slot is None:
            return
        with self._lock:
            slot.holds -= 1
            if self._writer_waiting and slot.holds == 0 and slot.state >= CONSUMED:
                self._writer_waiting = False
                if self._on_space is not None:
                    self._on_space()

    def in_the_way(self) -> Slot | None:
        """The frame that keeps the camera from going on: when its last frame found no room, no
        frame waits to be read and there is still no room for it, the oldest frame in the
        buffer (memory is reclaimed oldest first, so while a reader holds it nothing newer can be
        reused); else None."""
        with self._lock:
            if self._ready or not self._wanted:
                return None
            self._arena.reclaim()
            if self._arena.has_room(self._wanted):
                return None  # room came back meanwhile: the camera goes on at its next frame
            return self._arena.oldest()

    def remaining(self) -> int:
        return len(self._ready)

    def stats(self) -> BufferStats:
        with self._lock:
            return BufferStats(
                produced=self.produced,
                delivered=self.delivered,
                dropped=self.dropped,
                pending=len(self._ready),
                high_water_frames=self.high_water_frames,
                high_water_bytes=self.high_water_bytes,
                capacity_bytes=self.capacity,
            )

    def close(self) -> None:
        self.finish()
        self.memory.close()

    def retire(self) -> bool:
        """End the buffer; True if no frame is left to read or held by a reader, so its memory
        may serve another buffer (no reader can reach it any more)."""
        self.finish()
        with self._lock:
            self._arena.reclaim()
            return not self._arena.slots
