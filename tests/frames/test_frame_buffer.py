"""FrameBuffer's overflow policies (overwrite, stop, block), with every frame's pixels checked
against what was written."""

from __future__ import annotations

import re
import threading
import time
from collections import deque

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmkernel_core import BufferOverflowError, FrameHeader, StreamEnded
from mmkernel_core.frames import Frame, NoSpace, Slot
from tests.support.frame_buffers import (
    U8,
    U16,
    KiB,
    MiB,
    S,
    check,
    frame_buffer,
    pattern,
    wait_until,
    write,
    writer_waiting,
)

shapes = st.tuples(st.integers(1, 40), st.integers(1, 40), st.sampled_from([U8, U16]))


@settings(max_examples=120, deadline=None)
@given(frames=st.lists(shapes, min_size=1, max_size=60), lag=st.integers(0, 3))
def test_wraparound_with_mixed_sizes_delivers_every_frame_intact_in_order(
    frames: list[tuple[int, int, np.dtype]], lag: int
) -> None:
    """The consumer keeps up to `lag` frames unread and releases every frame it pops. A 32 KiB
    buffer always has room for that (frames are at most 3200 bytes), so under "stop" nothing may
    overflow; after the random frames, full-size frames are written until the ring has wrapped."""
    with frame_buffer(32 * KiB) as buf:
        buf.start("stop")
        unread: deque[tuple[int, tuple[int, int], np.dtype]] = deque()
        delivered: list[int] = []

        def consume_one() -> None:
            number, shape, dtype = unread.popleft()
            frame = buf.pop(0)
            check(frame, number, shape, dtype)
            delivered.append(frame.meta.number)
            frame.release()

        offsets: list[int] = []
        wrapped = False
        most_unread = 0
        todo = deque((h, w, dtype) for h, w, dtype in frames)
        number = 0
        while todo or not wrapped:
            h, w, dtype = todo.popleft() if todo else (40, 40, U16)
            slot = write(buf, number, (h, w), dtype)
            assert slot is not None
            wrapped = wrapped or bool(offsets and slot.offset < offsets[-1])
            offsets.append(slot.offset)
            unread.append((number, (h, w), dtype))
            most_unread = max(most_unread, len(unread))
            number += 1
            while len(unread) > (lag if todo else max(lag, 1)):  # padding: keep one so the ring advances
                consume_one()
            assert number < len(frames) + 64, "the ring never wrapped"
        while unread:
            consume_one()
        buf.finish()
        with pytest.raises(StreamEnded):
            buf.pop(0)
        assert delivered == list(range(number))
        stats = buf.stats()
        assert stats.produced == stats.delivered == number
        assert stats.dropped == 0 and stats.pending == 0
        assert 0 < stats.high_water_bytes <= buf.capacity
        assert stats.high_water_frames == most_unread <= max(lag, 1) + 1


# mostly "unread", so the writer overtakes the reader and the ring overflows
actions = st.sampled_from(
    ["unread", "unread", "unread", "pop_hold", "pop_release", "release_held", "release_all", "latest", "latest"]
)


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(st.tuples(shapes, actions), min_size=10, max_size=80))
def test_overwrite_keeps_held_frames_intact_and_counts_every_drop(
    steps: list[tuple[tuple[int, int, np.dtype], str]],
) -> None:
    """Under "overwrite" in an 8 KiB buffer, with a reader that pops and holds, pops and releases,
    takes the latest frame, or lets frames sit unread. Checked after every frame: held frames keep
    the pixels written into them however often the ring wraps; a frame goes to scratch only when a
    held frame is the oldest in the arena; dropped == frames sent to scratch + unread frames lost."""
    with frame_buffer(8 * KiB) as buf:
        buf.start("overwrite")
        unread: deque[tuple[int, tuple[int, int], np.dtype]] = deque()
        held: list[tuple[Frame, int, tuple[int, int], np.dtype]] = []
        popped: list[int] = []
        lost_unread: list[int] = []
        scratched: list[int] = []
        last_committed: int | None = None

        def pop() -> tuple[Frame, int, tuple[int, int], np.dtype]:
            number, shape, dtype = unread.popleft()
            frame = buf.pop(0)
            check(frame, number, shape, dtype)
            popped.append(number)
            return frame, number, shape, dtype

        for number, ((h, w, dtype), action) in enumerate(steps):
            shape = (h, w)
            slot, view = buf.acquire(shape, dtype)
            lost = len(unread) - buf.remaining()  # unread frames overwritten, oldest first
            assert lost >= 0
            newly_lost = [unread.popleft()[0] for _ in range(lost)]
            assert not set(newly_lost) & {n for _, n, _, _ in held}, "dropped an unread frame a reader holds"
            lost_unread.extend(newly_lost)
            if slot is None:
                scratched.append(number)
                oldest = buf._arena.oldest()
                assert oldest is not None and oldest.holds > 0, "scratch although no held frame was in the way"
            view[...] = pattern(number, shape, dtype)
            buf.commit(slot, FrameHeader(number, "Cam", shape, dtype, 1, time.time()))
            if slot is not None:
                unread.append((number, shape, dtype))
                last_committed = number

            if action == "pop_hold" and unread:
                held.append(pop())
            elif action == "pop_release" and unread:
                pop()[0].release()
            elif action == "release_held" and held:
                held.pop(0)[0].release()
            elif action == "release_all":
                for frame, _, _, _ in held:
                    frame.release()
                held.clear()
            elif action == "latest" and last_committed is not None:
                try:
                    frame = buf.latest()
                except StreamEnded:
                    assert last_committed not in [n for n, _, _ in unread], "latest() refused an unread frame"
                else:
                    (lh, lw, ldtype), _ = steps[last_committed]
                    check(frame, last_committed, (lh, lw), ldtype)
                    held.append((frame, last_committed, (lh, lw), ldtype))

            for frame, n, s, d in held:
                check(frame, n, s, d)
            stats = buf.stats()
            assert stats.dropped == len(scratched) + len(lost_unread)
            assert stats.produced == number + 1 - len(scratched)
            assert stats.pending == len(unread) == buf.remaining()

        for frame, _, _, _ in held:
            frame.release()
        while unread:
            pop()[0].release()
        buf.finish()
        with pytest.raises(StreamEnded):
            buf.pop(0)
        assert popped == sorted(popped), "frames were delivered out of order"
        assert sorted(set(popped) | set(lost_unread) | set(scratched)) == list(range(len(steps)))
        assert not set(popped) & set(lost_unread)
        stats = buf.stats()
        assert stats.produced == stats.delivered + len(lost_unread)
        assert stats.dropped == len(steps) - stats.delivered


def test_overwrite_scenario_held_frame_across_wraparound() -> None:
    """Eight 4 KiB slots. A held frame survives the ring wrapping past it, blocks the arena (the
    next frame goes to scratch, counted), and once released the oldest unread frames are dropped."""
    with frame_buffer(8 * S) as buf:
        buf.start("overwrite")
        slots = [write(buf, n) for n in range(8)]
        assert [s.offset for s in slots] == [n * S for n in range(8)]  # type: ignore[union-attr]
        for n in (0, 1):
            frame = buf.pop(0)
            check(frame, n, (64, 64), U8)
            frame.release()
        held = buf.pop(0)
        check(held, 2, (64, 64), U8)

        assert write(buf, 8).offset == 0  # type: ignore[union-attr]  # wrapped into frames 0 and 1
        assert write(buf, 9).offset == S  # type: ignore[union-attr]
        check(held, 2, (64, 64), U8)
        assert buf.stats().dropped == 0

        slot, scratch = buf.acquire((64, 64), U8)  # only a held frame is in the way
        assert slot is None
        assert scratch.shape == (64, 64) and scratch.flags.writeable
        assert not np.shares_memory(scratch, buf.memory.array)
        scratch[...] = 255
        buf.commit(slot, FrameHeader(10, "Cam", (64, 64), U8, 1, time.time()))
        assert buf.stats().dropped == 1 and buf.stats().produced == 10
        check(held, 2, (64, 64), U8)
        assert buf.remaining() == 7  # frames 3..9 are still unread

        held.release()
        assert write(buf, 11).offset == 2 * S  # type: ignore[union-attr]
        assert write(buf, 12).offset == 3 * S  # type: ignore[union-attr]  # overwrites unread frame 3
        assert write(buf, 13).offset == 4 * S  # type: ignore[union-attr]  # and frame 4
        stats = buf.stats()
        assert stats.dropped == 3 and stats.produced == 13 and stats.pending == 8

        buf.finish()
        for expected in (5, 6, 7, 8, 9, 11, 12, 13):
            with buf.pop(0) as frame:
                check(frame, expected, (64, 64), U8)
        with pytest.raises(StreamEnded):
            buf.pop(0)
        stats = buf.stats()
        assert (stats.produced, stats.delivered, stats.dropped) == (13, 11, 3)


def test_overwrite_never_drops_an_unread_frame_held_by_latest() -> None:
    with frame_buffer(2 * S) as buf:
        buf.start("overwrite")
        write(buf, 0)
        shown = buf.latest()  # a live view holds frame 0, still unread
        write(buf, 1)
        assert write(buf, 2) is None  # frame 0 is in the way and held: the new frame is the one lost
        assert buf.stats().dropped == 1 and buf.remaining() == 2
        check(shown, 0, (64, 64), U8)
        shown.release()
        assert write(buf, 3) is not None  # now frame 0 (unread, unheld) is overwritten
        assert buf.stats().dropped == 2
        buf.finish()
        for n in (1, 3):
            with buf.pop(0) as frame:
                check(frame, n, (64, 64), U8)


@pytest.mark.parametrize("held", [0, 2])
def test_stop_policy_raises_keeps_frames_then_repeats_the_error(held: int) -> None:
    shape = (256, 256)  # 128 KiB of uint16: eight fit in 1 MiB
    with frame_buffer(MiB) as buf:
        buf.start("stop")
        for n in range(8):
            write(buf, n, shape, U16)
        holding = []
        for n in range(held):
            frame = buf.pop(0)
            check(frame, n, shape, U16)
            holding.append(frame)
        with pytest.raises(BufferOverflowError) as excinfo:
            buf.acquire(shape, U16)
        message = str(excinfo.value)
        assert re.search(rf"\b{8 - held} frames kept\b", message), message
        assert re.search(r"\b1 MB\b", message), message
        assert "after 8 frames" in message
        error = excinfo.value
        buf.finish(error)
        assert not buf.active
        for n in range(held, 8):
            with buf.pop(0) as frame:
                check(frame, n, shape, U16)
        for frame in holding:
            check(frame, frame.meta.number, shape, U16)
            frame.release()
        for _ in range(2):
            with pytest.raises(BufferOverflowError) as again:
                buf.pop(0)
            assert again.value is error
        assert buf.stats().dropped == 0


def test_stop_policy_message_states_a_sub_megabyte_buffer_size() -> None:
    with frame_buffer(MiB // 2) as buf:  # set_buffer_size accepts fractional MB
        buf.start("stop")
        for n in range(4):
            write(buf, n, (256, 256), U16)
        with pytest.raises(BufferOverflowError) as excinfo:
            buf.acquire((256, 256), U16)
        assert not re.search(r"(?<![\d.])0 MB", str(excinfo.value)), str(excinfo.value)


def test_block_policy_writer_resumes_when_a_reader_releases() -> None:
    with frame_buffer(2 * S) as buf:
        space = threading.Event()
        buf.start("block", space.set)
        write(buf, 0)
        write(buf, 1)
        done = threading.Event()
        errors: list[BaseException] = []
        slots: list[Slot | None] = []

        def writer() -> None:
            try:
                slots.append(write(buf, 2, space=space))
            except BaseException as error:  # noqa: BLE001 - reported by the test thread
                errors.append(error)
            finally:
                done.set()

        thread = threading.Thread(target=writer, daemon=True)
        thread.start()
        wait_until(lambda: writer_waiting(buf))
        assert not done.is_set()
        frame = buf.pop(0)  # consumed but still held: no room yet
        check(frame, 0, (64, 64), U8)
        assert not done.is_set() and writer_waiting(buf)
        frame.release()
        assert done.wait(5), "the writer did not resume after the release"
        thread.join(5)
        assert not errors, errors
        assert slots[0] is not None and slots[0].offset == 0
        for n in (1, 2):
            with buf.pop(0) as f:
                check(f, n, (64, 64), U8)
        assert buf.stats().dropped == 0


def test_block_policy_full_buffer_returns_at_once_and_wake_writer_signals() -> None:
    """The camera's runner never blocks inside the buffer: a full "block" buffer says NoSpace at
    once, and wake_writer() (a stop) calls on_space so the runner looks again."""
    with frame_buffer(2 * S) as buf:
        space = threading.Event()
        buf.start("block", space.set)
        write(buf, 0)
        write(buf, 1)
        with pytest.raises(NoSpace):
            buf.acquire((64, 64), U8)
        assert writer_waiting(buf) and not space.is_set()
        buf.wake_writer()
        assert space.is_set() and not writer_waiting(buf)
        assert buf.remaining() == 2 and buf.stats().dropped == 0


def test_block_policy_threads_deliver_everything_intact() -> None:
    """A producer and a consumer thread through a buffer that holds ~3 frames."""
    rng = np.random.default_rng(7)
    specs = [
        ((int(rng.integers(1, 48)), int(rng.integers(1, 48))), (U8, U16)[int(rng.integers(2))]) for _ in range(300)
    ]
    received: list[int] = []
    errors: list[BaseException] = []
    with frame_buffer(16 * KiB) as buf:
        space = threading.Event()
        buf.start("block", space.set)

        def consumer() -> None:
            try:
                while True:
                    try:
                        frame = buf.pop(5)
                    except StreamEnded:
                        return
                    shape, dtype = specs[frame.meta.number]
                    check(frame, len(received), shape, dtype)
                    received.append(frame.meta.number)
                    frame.release()
            except BaseException as error:  # noqa: BLE001 - reported by the test thread
                errors.append(error)

        thread = threading.Thread(target=consumer, daemon=True)
        thread.start()
        for n, (shape, dtype) in enumerate(specs):
            write(buf, n, shape, dtype, space=space)
        buf.finish()
        thread.join(10)
        assert not thread.is_alive()
        assert not errors, errors
        assert received == list(range(len(specs)))
        stats = buf.stats()
        assert stats.produced == stats.delivered == len(specs) and stats.dropped == 0
