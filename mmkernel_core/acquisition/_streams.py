"""An acquisition's datastreams: (label, property) pairs whose value is recorded at every frame
(with the frame's event number) and at every change between frames (event -1), each with its
time (seconds since the epoch), as `kernel.record` records them.

Changes come from the kernel cache's change listener (`kernel.internals.cache`): it is called
on device runners, so `append` only queues; `at_frame` runs on the engine thread, turns what
arrived into rows and adds one row per stream with the value in force. Recording's own
`Datastreams` takes the value at a frame from the camera stream's per-frame metadata and keeps
numpy columns for its writers; an acquisition's frames have no such header and its dataset
keeps strict-JSON rows, so this is its own small class.
"""

from __future__ import annotations

import math
import time
from collections import deque
from typing import Any

from mmkernel_sdk.errors import MMKernelError

XY = "XYPosition"  # an XY stage's position: recorded like a property, as [x, y]


def stream_key(label: str, name: str) -> str:
    return f"{label}-{name}"


def check_datastreams(kernel: Any, datastreams: Any) -> list[tuple[str, str]]:
    """The (label, property) pairs asked for, each checked against the kernel as it is now:
    an unknown device or property is refused, naming both, before anything starts."""
    if datastreams is None:
        return []
    if isinstance(datastreams, (str, bytes)) or not hasattr(datastreams, "__iter__"):
        raise TypeError(
            f"acquire: datastreams must be (device label, property name) pairs, e.g. [('Z', 'Position')], "
            f"not {datastreams!r}"
        )
    pairs: list[tuple[str, str]] = []
    for item in datastreams:
        if not (isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(x, str) for x in item)):
            raise TypeError(
                f"acquire: datastream {item!r} is not allowed; allowed: a (device label, property name) pair, "
                "e.g. ('Z', 'Position')"
            )
        label, name = item
        try:
            if name == XY and label != "Core":
                kind = kernel.device_type(label)
                if kind != "XYStage":
                    raise ValueError(f"device {label!r} is a {kind} device, not an XY stage")
            else:
                kernel.property_info(label, name)
        except (MMKernelError, ValueError) as error:
            raise _named(error, f"acquire: datastream device {label!r}, property {name!r}: {error}") from None
        if (label, name) not in pairs:
            pairs.append((label, name))
    return pairs


def _named(error: Exception, message: str) -> Exception:
    """The kernel's error again (its class, for callers that catch it), saying which stream."""
    try:
        return type(error)(message)
    except TypeError:
        return ValueError(message)


class FrameStreams:
    """The datastreams of one acquisition. `append(change)` is the cache's listener; `at_frame`
    and `close` hand back the rows since the last call, for the dataset's writer; `columns`
    holds them all, per stream ({"time", "event", "value"}), for `Acquisition.datastreams`."""

    def __init__(self, kernel: Any, pairs: list[tuple[str, str]]) -> None:
        self._kernel = kernel
        self.pairs = pairs
        self.keys = [stream_key(label, name) for label, name in pairs]
        self.columns: dict[str, dict[str, list[Any]]] = {k: {"time": [], "event": [], "value": []} for k in self.keys}
        self._latest: dict[str, Any] = {}
        self._arrived: deque[tuple[float, str, Any]] = deque()
        self._pending: list[dict[str, Any]] = []
        self._listening = False

    def append(self, change: tuple[str, str, Any]) -> None:
        """A property changed (on a device runner, or a caller's thread for Core): queued."""
        label, name, value = change
        key = stream_key(label, name)
        if key in self.columns:
            self._arrived.append((time.time(), key, value))

    def start(self) -> None:
        """Listen first, then read each start value (from the cache): no change is missed."""
        if not self.pairs:
            return
        self._kernel.internals.cache.add_listener(self)
        self._listening = True
        for (label, name), key in zip(self.pairs, self.keys, strict=True):
            try:
                if name == XY and label != "Core":
                    value: Any = list(self._kernel.get_xy_position(label, from_cache=True))
                else:
                    value = self._kernel.get_property(label, name, from_cache=True)
            except MMKernelError:
                value = None
            self._latest[key] = value
            self._row(time.time(), key, -1, value)

    def at_frame(self, event: int) -> list[dict[str, Any]]:
        """The changes that arrived since the last frame, then each stream's value at this one."""
        if not self.pairs:
            return []
        self._drain()
        now = time.time()
        find = self._kernel.internals.find
        for (label, _), key in zip(self.pairs, self.keys, strict=True):
            if label != "Core" and find(label) is None and self._latest.get(key) is not None:
                self._latest[key] = None  # unloaded: it has no value now (the cache tells no one)
                self._row(now, key, -1, None)
            self._row(now, key, event, self._latest.get(key))
        return self._take()

    def close(self) -> list[dict[str, Any]]:
        """Stop listening; the changes since the last frame."""
        if self._listening:
            self._kernel.internals.cache.remove_listener(self)
            self._listening = False
        self._drain()
        return self._take()

    def _drain(self) -> None:
        arrived = self._arrived
        while arrived:
            when, key, value = arrived.popleft()
            self._latest[key] = value
            self._row(when, key, -1, value)

    def _row(self, when: float, key: str, event: int, value: Any) -> None:
        value = plain_value(value)
        columns = self.columns[key]
        columns["time"].append(when)
        columns["event"].append(event)
        columns["value"].append(value)
        self._pending.append({"stream": key, "time": when, "event": event, "value": value})

    def _take(self) -> list[dict[str, Any]]:
        rows, self._pending = self._pending, []
        return rows


def plain_value(value: Any) -> Any:
    """A value strict JSON readers take: numpy numbers plain, tuples as lists, NaN and infinity
    as None, anything else JSON has no form for as its text."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:  # a numpy scalar
        return plain_value(value.item())
    if isinstance(value, (list, tuple)):
        return [plain_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain_value(v) for k, v in value.items()}
    return str(value)
