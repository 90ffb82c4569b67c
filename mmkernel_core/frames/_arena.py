"""RingArena: where the next frame goes in a camera's preallocated block of bytes.

Frames of any size are laid out one after another and wrap to the start when the end is reached
(the unused tail is skipped). Memory is reclaimed strictly from the oldest frame, once that frame
is free (consumed or dropped, and held by no reader), so a reader holding a frame can never have
it overwritten. Pure bookkeeping, no numpy and no locks: the FrameBuffer around it does those.
"""

from __future__ import annotations

from collections import deque

ALIGN = 64  # cache-line aligned frames

WRITING, READY, CONSUMED, DROPPED, FREED = 0, 1, 2, 3, 4  # FREED: reclaimed, memory reusable


class Slot:
    """One frame's place in the arena and its life: WRITING -> READY -> CONSUMED or DROPPED ->
    FREED (reclaimed once no reader holds it)."""

    __slots__ = ("header", "holds", "nbytes", "offset", "state")

    def __init__(self, offset: int, nbytes: int) -> None:
        self.offset = offset
        self.nbytes = nbytes
        self.state = WRITING
        self.holds = 0
        self.header: object = None

    @property
    def free(self) -> bool:
        return self.state >= CONSUMED and self.holds == 0

    def __repr__(self) -> str:
        names = ("WRITING", "READY", "CONSUMED", "DROPPED", "FREED")
        return f"<Slot {self.offset}+{self.nbytes} {names[self.state]} holds={self.holds}>"


def aligned(nbytes: int) -> int:
    return (nbytes + ALIGN - 1) // ALIGN * ALIGN


MAX_FRAMES = 1 << 18  # frames a buffer holds at most: each costs ~250 bytes of bookkeeping while held


class RingArena:
    def __init__(self, capacity: int, max_frames: int = MAX_FRAMES) -> None:
        self.capacity = capacity - capacity % ALIGN
        self.max_frames = max_frames  # tiny frames: memory for their bookkeeping stays predictable
        self.slots: deque[Slot] = deque()  # allocation order, oldest first
        self.head = 0  # where the next frame would start

    def reclaim(self) -> None:
        """Forget free frames at the old end; an empty arena starts again at offset 0."""
        slots = self.slots
        while slots:
            oldest = slots[0]
            if oldest.state < CONSUMED or oldest.holds:  # Slot.free, inline: this runs per frame
                break
            slots.popleft().state = FREED
        if not slots:
            self.head = 0

    def reserve(self, nbytes: int) -> Slot | None:
        """A new WRITING slot of `nbytes`, or None if no contiguous room is free right now."""
        size = (max(nbytes, 1) + ALIGN - 1) // ALIGN * ALIGN  # aligned(), inline: this runs per frame
        capacity = self.capacity
        if size > capacity:
            raise ValueError(f"a {nbytes}-byte frame cannot fit a {capacity}-byte buffer")
        self.reclaim()
        slots = self.slots
        if len(slots) >= self.max_frames:
            return None
        head = self.head
        if not slots:
            offset = 0
        else:
            tail = slots[0].offset
            if head > tail:  # live region [tail, head): room after it, or wrap to the start
                if head + size <= capacity:
                    offset = head
                elif size <= tail:
                    offset = 0
                else:
                    return None
            elif head + size <= tail:  # wrapped: room is [head, tail)
                offset = head
            else:
                return None
        slot = Slot(offset, nbytes)
        slots.append(slot)
        self.head = offset + size
        return slot

    def has_room(self, nbytes: int) -> bool:
        """Whether `reserve(nbytes)` would find room now (the same placement, nothing changes)."""
        size = aligned(nbytes)
        slots = self.slots
        if size > self.capacity or len(slots) >= self.max_frames:
            return False
        if not slots:
            return True
        head, tail = self.head, slots[0].offset
        if head > tail:
            return head + size <= self.capacity or size <= tail
        return head + size <= tail

    def oldest(self) -> Slot | None:
        return self.slots[0] if self.slots else None

    def bytes_in_use(self) -> int:
        """Bytes between the oldest live frame and the head, including a skipped tail end."""
        if not self.slots:
            return 0
        tail = self.slots[0].offset
        return self.head - tail if self.head > tail else self.capacity - tail + self.head
