"""The frames a recording hands to its steps, and the rule that comes with them.

A step gets each frame as a read-only view of the camera's buffer (zero-copy); the frame's
memory goes back to the camera once every view of it is gone. The buffer reclaims memory
oldest first, so a step may keep a frame only until its next call (the previous frame, for a
difference); a frame kept longer stops the camera once the buffer has gone round. That is found
here (the camera found no room, nothing is on its way to the writer, and the frame in the way
is one a step still holds), and the recording ends with an error saying what to do instead of
waiting forever.
"""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

from mmkernel_sdk.errors import RecordingError
from mmkernel_sdk.recording import Step

from ..frames import Frame, FrameBuffer


class KeptFrames:
    """The frames handed to one camera's steps whose pixels may still be alive."""

    def __init__(self, buffer: FrameBuffer) -> None:
        self.buffer = buffer
        self._kept: deque[weakref.finalize] = deque()  # oldest first; each releases its slot when called

    def hand_over(self, frame: Frame) -> np.ndarray:
        """`frame`'s pixels for the steps: its slot is released once they and every view are gone."""
        pixels, release = self.buffer.release_when_unused(frame)
        kept = self._kept
        kept.append(release)
        while kept and not kept[0].alive:
            kept.popleft()
        return pixels

    def release_all(self) -> None:
        """The recording is over: frames a step still keeps go back to the camera's buffer (its
        views then see whatever the camera writes there next)."""
        while self._kept:
            self._kept.popleft()()

    def in_the_way(self) -> tuple[int, np.ndarray] | None:
        """(frame number, pixels) of a frame handed to the steps that keeps the camera from going
        on: the buffer found no room for the camera's next frame and this is the oldest frame
        in it. Only meaningful once nothing is on its way to the writer (then only a step can
        hold it)."""
        slot = self.buffer.in_the_way()
        if slot is None:
            return None
        for release in self._kept:
            found = release.peek()
            if found is not None and found[2][0] is slot:
                return int(getattr(slot.header, "number", -1)), found[0]
        return None


def keeping_error(camera: str, steps: Sequence[Step], number: int, pixels: np.ndarray) -> RecordingError:
    """The error of a recording stopped by a frame a step keeps."""
    holders = [step.name for step in steps if _holds(step, pixels)]
    if len(holders) == 1:
        who = f"step {holders[0]!r} keeps"
    else:
        names = ", ".join(repr(step.name) for step in steps)
        who = f"a step ({'one of ' if len(steps) > 1 else ''}{names}) keeps"
    return RecordingError(
        f"camera {camera!r}: {who} frame {number}, a view of the camera's buffer, beyond its next call; the "
        "buffer reuses its memory oldest first, so the camera could not go on and the recording stopped. A "
        "step may keep the frame it is given until its next call (the previous frame, for a difference); "
        "copy what a step keeps longer (np.array(frame))",
        camera,
        number,
    )


def _holds(step: Step, pixels: np.ndarray) -> bool:
    """Whether `step` refers to `pixels` (or a view of them) in an attribute, or in a list,
    tuple, deque or dict in one."""
    values: list[Any] = list(getattr(step, "__dict__", {}).values())
    for name in getattr(type(step), "__slots__", ()):
        values.append(getattr(step, name, None))
    for value in values:
        inner = value.values() if isinstance(value, dict) else value
        items = list(inner) if isinstance(value, (list, tuple, deque, dict)) else [value]
        if any(isinstance(item, np.ndarray) and (item is pixels or item.base is pixels) for item in items):
            return True
    return False
