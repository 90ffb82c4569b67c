"""RingArena's bookkeeping: a hypothesis state machine checked against an independent model of
its documented contiguous-ring semantics, and the model pinned on hand-worked cases."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from mmkernel_core.frames import ALIGN, CONSUMED, DROPPED, FREED, READY, WRITING, RingArena, Slot, aligned


def extent(slot: Slot) -> tuple[int, int]:
    """The bytes a slot occupies: [offset, offset + aligned size)."""
    return slot.offset, slot.offset + aligned(max(slot.nbytes, 1))


def free_pieces(live: list[Slot], capacity: int) -> list[int]:
    """Lengths of the contiguous free pieces of the ring (see `ring_placement`), in placement order."""
    if not live:
        return [capacity]
    tail, head = live[0].offset, extent(live[-1])[1]
    return [tail - head] if live[-1].offset < tail else [capacity - head, tail]


def ring_placement(live: list[Slot], size: int, capacity: int) -> int | None:
    """Where the documented ring puts the next `size` bytes, given the live frames (oldest first).

    Frames are laid out one after another in allocation order; when the end of the block is
    reached the unused tail is skipped and the frame goes to offset 0. So the live frames occupy the
    ring from the oldest's start ("tail") forward to the newest's end ("head"), and the only free
    bytes are the rest of the ring going forward from head to tail: one piece if the live region
    has wrapped, or [head, capacity) followed by [0, tail) if it has not."""
    if not live:
        return 0
    tail = live[0].offset
    head = extent(live[-1])[1]
    wrapped = live[-1].offset < tail  # the newest frame starts before the oldest one
    pieces = [(head, tail)] if wrapped else [(head, capacity), (0, tail)]
    for start, end in pieces:
        if end - start >= size:
            return start
    return None


class ArenaMachine(RuleBasedStateMachine):
    """Drives a RingArena the way FrameBuffer does (reserve -> READY -> CONSUMED/DROPPED, readers
    holding frames) and checks it against `ring_placement` and the arena's stated invariants."""

    @initialize(capacity=st.integers(4096, 65536))
    def setup(self, capacity: int) -> None:
        self.arena = RingArena(capacity)
        assert self.arena.capacity == capacity - capacity % ALIGN
        self.capacity = self.arena.capacity
        self.reserved: list[Slot] = []  # every slot ever handed out, in allocation order
        self.live: list[Slot] = []  # the model: slots not yet reclaimed, oldest first
        self.last_state: dict[int, int] = {}  # id(slot) -> the state this test last gave it

    # -- model helpers ------------------------------------------------------------------------
    def model_reclaim(self) -> None:
        """Reclaim strictly from the oldest, while it is consumed/dropped and unheld."""
        while self.live and self.live[0].state in (CONSUMED, DROPPED) and self.live[0].holds == 0:
            self.live.pop(0)

    def set_state(self, slot: Slot, state: int) -> None:
        assert slot.state != FREED, f"{slot!r} was reclaimed while the test still used it"
        slot.state = state
        self.last_state[id(slot)] = state

    def live_with(self, predicate: Callable[[Slot], bool]) -> list[Slot]:
        return [slot for slot in self.live if predicate(slot)]

    # -- rules --------------------------------------------------------------------------------
    @rule(data=st.data())
    def reserve(self, data: st.DataObject) -> None:
        self.model_reclaim()  # what the arena will reclaim first
        # Besides random sizes, the sizes at the edges of the free pieces: an exact fit, one byte
        # under (rounds up to it), one byte over (needs one more alignment unit).
        edges = {
            n for length in free_pieces(self.live, self.capacity) for n in (length - ALIGN + 1, length, length + 1)
        }
        edges = sorted(n for n in edges if 1 <= n <= self.capacity)
        sizes = [st.integers(1, 512), st.integers(1, self.capacity // 2)]
        nbytes = data.draw(st.one_of(*sizes, *([st.sampled_from(edges)] if edges else [])), label="nbytes")
        size = aligned(nbytes)
        expected = ring_placement(self.live, size, self.capacity)
        slot = self.arena.reserve(nbytes)
        if slot is None:
            assert expected is None, (
                f"reserve({nbytes}) refused, but [{expected}, {expected + size}) is free under the ring "
                f"semantics; capacity {self.capacity}, live {self.live}"
            )
            return
        assert expected is not None, f"reserve({nbytes}) gave {slot!r} where the ring has no room: {self.live}"
        assert slot.offset == expected, f"reserve({nbytes}) placed at {slot.offset}, the ring puts it at {expected}"
        assert slot.nbytes == nbytes and slot.state == WRITING and slot.holds == 0
        self.reserved.append(slot)
        self.live.append(slot)
        self.last_state[id(slot)] = WRITING

    @rule(data=st.data())
    def reserve_too_big(self, data: st.DataObject) -> None:
        nbytes = data.draw(st.integers(self.capacity + 1, self.capacity + 4 * ALIGN), label="nbytes")
        before = (list(self.arena.slots), self.arena.head)
        with pytest.raises(ValueError, match="cannot fit"):
            self.arena.reserve(nbytes)
        assert (list(self.arena.slots), self.arena.head) == before

    @precondition(lambda self: any(slot.state == WRITING for slot in self.live))
    @rule(data=st.data())
    def commit(self, data: st.DataObject) -> None:
        slot = data.draw(st.sampled_from(self.live_with(lambda s: s.state == WRITING)), label="slot")
        self.set_state(slot, READY)

    @precondition(lambda self: any(slot.state == WRITING for slot in self.live))
    @rule(data=st.data())
    def abort(self, data: st.DataObject) -> None:
        slot = data.draw(st.sampled_from(self.live_with(lambda s: s.state == WRITING)), label="slot")
        self.set_state(slot, DROPPED)

    @precondition(lambda self: any(slot.state == READY for slot in self.live))
    @rule()
    def consume(self) -> None:
        """pop(): the oldest READY frame is consumed (and, like pop, held by its reader)."""
        slot = self.live_with(lambda s: s.state == READY)[0]
        self.set_state(slot, CONSUMED)
        slot.holds += 1

    @precondition(lambda self: any(slot.state == READY for slot in self.live))
    @rule(data=st.data())
    def drop(self, data: st.DataObject) -> None:
        slot = data.draw(st.sampled_from(self.live_with(lambda s: s.state == READY)), label="slot")
        self.set_state(slot, DROPPED)

    @precondition(lambda self: any(slot.state != WRITING for slot in self.live))
    @rule(data=st.data())
    def hold(self, data: st.DataObject) -> None:
        """A reader takes a frame (latest(), or a second look at one still in the arena)."""
        slot = data.draw(st.sampled_from(self.live_with(lambda s: s.state != WRITING)), label="slot")
        assert slot.state != FREED
        slot.holds += 1

    @precondition(lambda self: any(slot.holds > 0 for slot in self.live))
    @rule(data=st.data())
    def unhold(self, data: st.DataObject) -> None:
        slot = data.draw(st.sampled_from(self.live_with(lambda s: s.holds > 0)), label="slot")
        slot.holds -= 1

    @rule()
    def reclaim(self) -> None:
        self.model_reclaim()
        self.arena.reclaim()
        if not self.live:
            assert self.arena.head == 0, "an empty arena starts again at offset 0"

    # -- invariants ---------------------------------------------------------------------------
    @invariant()
    def slots_are_the_unreclaimed_frames_in_allocation_order(self) -> None:
        if not hasattr(self, "arena"):
            return
        slots = list(self.arena.slots)
        assert len(slots) == len(self.live) and all(a is b for a, b in zip(slots, self.live, strict=True)), (
            f"arena slots {slots} != expected {self.live}"
        )
        gone = len(self.reserved) - len(self.live)
        assert all(a is b for a, b in zip(self.reserved[gone:], self.live, strict=True))
        assert self.arena.oldest() is (self.live[0] if self.live else None)

    @invariant()
    def slots_lie_inside_aligned_and_disjoint(self) -> None:
        if not hasattr(self, "arena"):
            return
        spans = []
        for slot in self.arena.slots:
            start, end = extent(slot)
            assert start % ALIGN == 0, f"{slot!r} is not {ALIGN}-byte aligned"
            assert 0 <= start and end <= self.capacity, f"{slot!r} is outside [0, {self.capacity})"
            spans.append((start, end))
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert end <= start, f"overlapping slots: {list(self.arena.slots)}"

    @invariant()
    def bytes_in_use_covers_the_live_frames(self) -> None:
        if not hasattr(self, "arena"):
            return
        used = self.arena.bytes_in_use()
        live = list(self.arena.slots)
        assert used >= sum(extent(slot)[1] - extent(slot)[0] for slot in live)
        assert 0 <= used <= self.capacity
        if not live:
            assert used == 0
        else:  # from the oldest's start forward around the ring to the newest's end
            tail, head = live[0].offset, extent(live[-1])[1]
            assert used == (head - tail if live[-1].offset >= tail else self.capacity - tail + head)

    @invariant()
    def only_free_frames_are_reclaimed(self) -> None:
        if not hasattr(self, "arena"):
            return
        live_ids = {id(slot) for slot in self.arena.slots}
        for slot in self.reserved:
            if id(slot) in live_ids:
                assert slot.state != FREED, f"{slot!r} is still in the arena but marked FREED"
            else:
                assert slot.state == FREED, f"{slot!r} left the arena without being marked FREED"
                assert slot.holds == 0, f"{slot!r} was reclaimed while a reader held it"
                assert self.last_state[id(slot)] in (CONSUMED, DROPPED), (
                    f"{slot!r} was reclaimed while {('WRITING', 'READY')[self.last_state[id(slot)]]}"
                )


ArenaMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestArenaMachine = ArenaMachine.TestCase


def test_ring_placement_model_examples() -> None:
    """The test's own model of the ring, pinned on hand-worked cases (so the model can't drift)."""

    def slot(offset: int, nbytes: int) -> Slot:
        return Slot(offset, nbytes)

    cap = 4096
    assert ring_placement([], 4096, cap) == 0
    assert ring_placement([slot(1024, 1024)], 2048, cap) == 2048  # after head
    assert ring_placement([slot(1024, 2048)], 1024, cap) == 3072  # exactly fills the end
    assert ring_placement([slot(1024, 2560)], 1024, cap) == 0  # end too short: wrap
    assert ring_placement([slot(1024, 2560)], 1088, cap) is None  # neither piece fits
    assert ring_placement([slot(2048, 1024), slot(0, 512)], 1536, cap) == 512  # wrapped: [512, 2048)
    assert ring_placement([slot(2048, 1024), slot(0, 512)], 1600, cap) is None  # [3072, 4096) is behind
    assert ring_placement([slot(0, 2048), slot(2048, 2048)], 64, cap) is None  # full


def test_arena_full_ring_then_reuse_in_order() -> None:
    arena = RingArena(4096 + 63)  # capacity rounds down to the alignment
    assert arena.capacity == 4096
    a, b, c, d = (arena.reserve(1000) for _ in range(4))
    assert [s.offset for s in (a, b, c, d)] == [0, 1024, 2048, 3072]
    assert arena.bytes_in_use() == 4096
    assert arena.reserve(1) is None
    for s in (a, b, c, d):
        s.state = READY
    b.state = CONSUMED  # free, but behind a: reclaim is strictly from the oldest
    assert arena.reserve(1) is None
    assert b.state == CONSUMED
    a.state = DROPPED
    a.holds = 1  # a reader still holds it
    assert arena.reserve(1) is None
    a.holds = 0
    e = arena.reserve(2048)  # a and b reclaimed: [0, 2048) is free at the wrap
    assert e is not None and e.offset == 0
    assert a.state == FREED and b.state == FREED and c.state == READY
    assert arena.bytes_in_use() == 4096
