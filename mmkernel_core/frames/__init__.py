"""Frames: each camera's preallocated memory, its ring of frames, sequences and streams.

- `_memory`: FrameMemory (one camera's block of bytes, populated off the caller's path) and
  SpareMemory (blocks kept across a configuration reload).
- `_arena`: RingArena and Slot, where the next frame goes (pure bookkeeping, no locks).
- `_buffer`: FrameBuffer, zero-copy writes by the camera's runner and zero-copy reads by anyone,
  with the overflow policies and counted drops.
- `_frames`: Frame (a read-only view plus its header) and FrameHeader.
- `_frame_format`: the (shape, dtype) a camera says its next frame has, checked.
- `_sequence`: Sequence, a camera streaming into its buffer as its runner's task.
- `_stream`: `kernel.stream(...)` / `kernel.aio.stream(...)` iterators over a sequence.

May import: `runtime`, `devices`, `mmkernel_sdk`. Not verbs, config, recording or the CLI.
"""

from ._arena import ALIGN, CONSUMED, DROPPED, FREED, MAX_FRAMES, READY, WRITING, RingArena, Slot, aligned
from ._buffer import POLICIES, BufferStats, FrameBuffer, NoSpace
from ._frame_format import frame_format
from ._frames import NO_METADATA, Frame, FrameHeader, FrameReleasedError
from ._memory import FrameMemory, SpareMemory
from ._sequence import Sequence
from ._stream import AsyncStream, Stream

__all__ = [
    "ALIGN",
    "CONSUMED",
    "DROPPED",
    "FREED",
    "MAX_FRAMES",
    "NO_METADATA",
    "POLICIES",
    "READY",
    "WRITING",
    "AsyncStream",
    "BufferStats",
    "Frame",
    "FrameBuffer",
    "FrameHeader",
    "FrameMemory",
    "FrameReleasedError",
    "NoSpace",
    "RingArena",
    "Sequence",
    "Slot",
    "SpareMemory",
    "Stream",
    "aligned",
    "frame_format",
]
