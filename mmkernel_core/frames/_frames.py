"""Frame: a zero-copy, read-only view of one image in a camera's buffer, plus its header."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from mmkernel_sdk.errors import MMKernelError

if TYPE_CHECKING:
    from ._arena import Slot
    from ._buffer import FrameBuffer

NO_METADATA: MappingProxyType[str, Any] = MappingProxyType({})


@dataclass(slots=True)
class FrameHeader:
    """What is known about one frame. `metadata` holds only what changed since the previous frame
    ("Label-Property": value) plus the camera's own tags; the full state is in the sequence summary."""

    number: int
    camera: str
    shape: tuple[int, ...]
    dtype: np.dtype
    components: int
    received: float  # kernel receive time, seconds since the epoch
    camera_time: float | None = None  # camera timestamp (tag "ElapsedTime-ms"), if it gave one
    metadata: Any = field(default_factory=lambda: NO_METADATA)


class FrameReleasedError(MMKernelError):
    """A frame's pixels were used after `release()`: its memory may hold another frame by now."""


class Frame:
    """One frame. `array` is a read-only view into the camera's buffer, valid until `release()`
    (or the end of a `with` block); `copy()` gives a frame that owns its pixels."""

    __slots__ = ("_array", "_buffer", "_slot", "meta")

    def __init__(self, array: np.ndarray, meta: FrameHeader, buffer: FrameBuffer | None, slot: Slot | None) -> None:
        self._array: np.ndarray | None = array
        self.meta = meta
        self._buffer = buffer
        self._slot = slot

    @property
    def array(self) -> np.ndarray:
        array = self._array
        if array is None:
            raise FrameReleasedError(
                f"frame {self.meta.number} of camera {self.meta.camera!r} was released; "
                "use frame.copy() to keep pixels beyond release()"
            )
        return array

    @property
    def released(self) -> bool:
        return self._array is None

    def release(self) -> None:
        """Give the memory back to the camera's buffer (idempotent)."""
        if self._array is None:
            return
        self._array = None
        if self._buffer is not None:
            self._buffer.release(self._slot)

    def forget(self) -> Slot | None:
        """Forget the pixels without telling the buffer, and return the slot: whoever calls this
        (the buffer's own helpers) releases it later."""
        if self._array is None:
            return None
        self._array = None
        return self._slot

    def discard(self) -> None:
        """Release a frame nobody will see (its reader gave up): counted as dropped."""
        if self._array is None:
            return
        self._array = None
        if self._buffer is not None:
            self._buffer.discard(self._slot)

    def copy(self) -> Frame:
        """A detached frame owning a copy of the pixels; this one stays held."""
        return Frame(self.array.copy(), self.meta, None, None)

    def __del__(self) -> None:
        # A frame dropped without release() must not pin buffer memory forever.
        if self._array is not None and self._buffer is not None:
            self.release()

    def __enter__(self) -> Frame:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        state = "released" if self._array is None else "held"
        return f"<Frame {self.meta.camera}#{self.meta.number} {self.meta.shape} {self.meta.dtype} {state}>"
