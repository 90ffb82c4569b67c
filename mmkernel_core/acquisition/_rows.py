"""A frame's table row, and the properties each frame changed.

`ChangedProperties` is a listener on the kernel's cache (`kernel.internals.cache`, called on
device runners: it only queues). At each software-timed frame it gives the properties whose
value differs from what they were at the previous frame (a shutter opened and closed again for
the snap is no change), so the table says what each event changed, as recordings' per-frame
metadata does. In a hardware-sequenced run the devices step on their own and tell the kernel
late: there a frame's changes are the values the run loaded for it (`planned_changes`).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from ._plan import Run
from ._streams import plain_value, stream_key


class ChangedProperties:
    """`start()` listens, `take()` gives {"<label>-<property>": value} changed since the last
    take (or the start), `stop()` stops listening."""

    def __init__(self, kernel: Any) -> None:
        self._kernel = kernel
        self._arrived: deque[tuple[str, str, Any]] = deque()
        self._last: dict[str, Any] = {}
        self._listening = False

    def append(self, change: tuple[str, str, Any]) -> None:
        """The cache's listener (on a device runner): only queued."""
        self._arrived.append(change)

    def start(self) -> None:
        cache = self._kernel.internals.cache
        cache.add_listener(self)  # first: no change between the snapshot and listening is missed
        self._listening = True
        for label, values in cache.snapshot().items():
            for name, value in values.items():
                self._last[stream_key(label, name)] = value

    def take(self) -> dict[str, Any]:
        arrived, last = self._arrived, self._last
        latest: dict[str, Any] = {}
        while arrived:
            label, name, value = arrived.popleft()
            latest[stream_key(label, name)] = value
        changed = {}
        for key, value in latest.items():
            if last.get(key, _UNSEEN) != value:
                changed[key] = plain_value(value)
                last[key] = value
        return changed

    def stop(self) -> None:
        if self._listening:
            self._kernel.internals.cache.remove_listener(self)
            self._listening = False


_UNSEEN = object()


def planned_changes(run: Run, i: int) -> dict[str, Any]:
    """What a hardware run loaded for its frame `i` that differs from frame `i - 1` (all of it
    at the first frame): {"<label>-<property>": value}."""
    changed = {}
    for (label, name), values in run.sequenced.items():
        if i == 0 or values[i] != values[i - 1]:
            changed[stream_key(label, name)] = plain_value(values[i])
    return changed


def frame_row(number: int, index: dict[str, int], event: Any, started: float, steps: Any, actual: bool,
              changed: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """A frame's table row: its event, indices, channel, requested and actual positions (None in
    a hardware run), exposure, time and the properties it changed."""
    where = steps.where() if actual else {"x_um_actual": None, "y_um_actual": None, "z_um_actual": None}
    exposure = event.exposure if event.exposure is not None else steps.exposure
    return {"event": number, **index, "channel": event.channel.config if event.channel else None,
            "x_um": event.x_pos, "y_um": event.y_pos, "z_um": steps.z_target(event), **where,
            "exposure_ms": exposure, "time_s": started, "hardware_sequenced": not actual,
            "changed": changed, "dropped": False}  # fmt: skip
