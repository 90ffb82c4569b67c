"""FrameBuffer's readers and bookkeeping: latest() and read-only views, released frames, frames
too big for the buffer, statistics, a new sequence discarding unread frames, pops before and
after a sequence."""

from __future__ import annotations

import numpy as np
import pytest

from mmkernel_core import DeviceTimeoutError, FrameReleasedError, StreamEnded
from tests.support.frame_buffers import (
    U8,
    S,
    check,
    frame_buffer,
    write,
)


def test_latest_leaves_the_frame_queued_and_frames_are_read_only() -> None:
    with frame_buffer(8 * S) as buf:
        buf.start("overwrite")
        with pytest.raises(StreamEnded):
            buf.latest()
        for n in range(3):
            write(buf, n)
        newest = buf.latest()
        check(newest, 2, (64, 64), U8)
        assert buf.remaining() == 3
        assert not newest.array.flags.writeable
        with pytest.raises(ValueError):
            newest.array[0, 0] = 1
        for n in range(3):
            with buf.pop(0) as frame:
                check(frame, n, (64, 64), U8)
                with pytest.raises(ValueError):
                    frame.array[...] = 0
        assert buf.remaining() == 0
        check(newest, 2, (64, 64), U8)  # still held after its popped twin was released
        newest.release()


def test_release_invalidates_the_view_and_copy_survives_overwrites() -> None:
    with frame_buffer(4 * S) as buf:
        buf.start("overwrite")
        slots = [write(buf, n) for n in range(3)]
        frames = [buf.pop(0) for _ in range(3)]
        kept = frames[2].copy()
        assert not np.shares_memory(kept.array, buf.memory.array)
        for frame in frames:
            frame.release()
            assert frame.released
            with pytest.raises(FrameReleasedError):
                _ = frame.array
        frames[2].release()  # idempotent: the slot is not released twice
        assert all(slot.holds == 0 for slot in slots if slot is not None)
        new = [write(buf, 10 + n, seed=200 + n) for n in range(4)]  # all reclaimed: starts again at 0
        assert slots[2] is not None and slots[2].offset in [s.offset for s in new if s is not None]
        check(kept, 2, (64, 64), U8)
        assert not kept.released
        kept.release()  # a detached copy: nothing to give back


def test_frame_bigger_than_the_buffer_is_refused() -> None:
    with frame_buffer(4 * S) as buf:
        buf.start("overwrite")
        with pytest.raises(ValueError, match="cannot fit"):
            buf.acquire((128, 129), U8)
        assert buf.stats().dropped == 0 and buf.stats().produced == 0


def test_stats_track_high_water_marks_and_every_drop() -> None:
    with frame_buffer(8 * S) as buf:
        buf.start("overwrite")
        for n in range(3):
            write(buf, n)
        stats = buf.stats()
        assert (stats.high_water_frames, stats.high_water_bytes) == (3, 3 * S)
        assert stats.capacity_bytes == 8 * S
        for _ in range(3):
            buf.pop(0).release()
        write(buf, 3)  # everything reclaimed: 1 frame, S bytes in use, marks unchanged
        stats = buf.stats()
        assert (stats.high_water_frames, stats.high_water_bytes, stats.pending) == (3, 3 * S, 1)
        for n in range(4, 11):  # the buffer is now exactly full
            write(buf, n)
        stats = buf.stats()
        assert (stats.high_water_frames, stats.high_water_bytes, stats.dropped) == (8, 8 * S, 0)
        for n in range(11, 14):  # each overwrites the oldest unread frame
            write(buf, n)
            assert buf.stats().dropped == n - 10
        held = buf.pop(0)  # frame 6, now the oldest: the next frames go to scratch
        check(held, 6, (64, 64), U8)
        for n in range(14, 16):
            assert write(buf, n) is None
        stats = buf.stats()
        assert stats.dropped == 5
        assert (stats.produced, stats.delivered, stats.pending) == (14, 4, 7)
        assert (stats.high_water_frames, stats.high_water_bytes) == (8, 8 * S)
        held.release()


def test_start_discards_unread_frames_says_how_many_and_resets_counts() -> None:
    with frame_buffer(8 * S) as buf:
        buf.start("stop")
        for n in range(5):
            write(buf, n)
        held = buf.pop(0)
        assert buf.start("stop") == 4  # the kernel logs it, off the camera's thread
        stats = buf.stats()
        assert (stats.produced, stats.delivered, stats.dropped, stats.pending) == (0, 0, 0, 0)
        assert (stats.high_water_frames, stats.high_water_bytes) == (0, 0)
        assert buf.remaining() == 0 and buf.active
        with pytest.raises(DeviceTimeoutError):
            buf.pop(0)  # not a frame of the previous sequence
        for n in range(3):  # room after the old frames, while frame 0 is still held
            write(buf, n, seed=100 + n)
        check(held, 0, (64, 64), U8)
        for n in range(3):
            with buf.pop(0) as frame:
                check(frame, n, (64, 64), U8, seed=100 + n)
        held.release()
        for n in range(3, 11):  # the discarded frames' memory is reusable: a full buffer, no overflow
            write(buf, n, seed=100 + n)
        assert buf.stats().produced == 11
        for n in range(3, 11):
            with buf.pop(0) as frame:
                check(frame, n, (64, 64), U8, seed=100 + n)
        assert buf.start("overwrite") == 0  # nothing unread
        assert buf.policy == "overwrite"


def test_pop_before_any_sequence_and_after_the_end() -> None:
    with frame_buffer(4 * S) as buf:
        with pytest.raises(StreamEnded, match="no sequence"):
            buf.pop(0)
        buf.start("stop")
        with pytest.raises(DeviceTimeoutError):
            buf.pop(0)
        write(buf, 0)
        buf.finish()
        with buf.pop(0) as frame:
            check(frame, 0, (64, 64), U8)
        with pytest.raises(StreamEnded, match="after 1 frames"):
            buf.pop(0)
