"""The property cache: last known value of every property, and change detection.

All writes for a device happen on that device's runner thread, so compare-and-store needs no
lock and an event is announced exactly once per real change, in the order changes happened.
The `Core` pseudo-device's properties are set on callers' threads: they go through `store_core`.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from mmkernel_sdk.errors import PropertyError

from ..runtime import KernelEvents


class StateCache:
    def __init__(self, events: KernelEvents) -> None:
        self._events = events
        self._values: dict[str, dict[str, Any]] = {}
        self._xy: dict[str, tuple[float, float]] = {}
        # Running sequences each register a deque here and receive every change (label, name,
        # value): the per-frame "what changed" metadata. Empty (free) when nothing streams.
        self.listeners: tuple[deque[tuple[str, str, Any]], ...] = ()  # replaced, never mutated
        self._core_lock = threading.Lock()  # Core's properties change on callers' threads, not a runner

    def add_listener(self, changes: deque[tuple[str, str, Any]]) -> None:
        self.listeners = (*self.listeners, changes)

    def remove_listener(self, changes: deque[tuple[str, str, Any]]) -> None:
        self.listeners = tuple(c for c in self.listeners if c is not changes)

    def store(self, label: str, device_type: str, name: str, value: Any, announce: bool = True) -> None:
        """Record a value read from or written to the device; announce it if it changed."""
        values = self._values.get(label)
        if values is None:
            values = self._values[label] = {}
        elif name in values and values[name] == value:
            return
        values[name] = value
        for listener in self.listeners:
            listener.append((label, name, value))
        if announce:
            self._events.announce_property(label, device_type, name, value)

    def store_core(self, name: str, value: Any) -> None:
        """A `Core` property (a role, AutoShutter, ChannelGroup...) was set: announced, and seen
        by recordings' datastreams and per-frame metadata like a device's property. Every set
        is announced (as it always was: Core's state also changes where nothing announces it,
        a configuration load, so a comparison with the last value told could be stale)."""
        with self._core_lock:  # set on callers' threads: one at a time, in order
            self._values.setdefault("Core", {})[name] = value
            for listener in self.listeners:
                listener.append(("Core", name, value))
            self._events.announce_property("Core", "Core", name, value)

    def store_xy(self, label: str, xy: tuple[float, float], announce: bool = True) -> None:
        if self._xy.get(label) == xy:
            return
        self._xy[label] = xy
        for listener in self.listeners:
            listener.append((label, "XYPosition", xy))
        if announce:
            self._events.xy_stage_position_changed.emit(label, xy[0], xy[1])

    def get(self, label: str, name: str) -> Any:
        try:
            return self._values[label][name]
        except KeyError:
            raise PropertyError(
                f"device {label!r}, property {name!r}: no cached value (is the device loaded "
                "and initialized? read it once with from_cache=False)",
                device=label,
                property=name,
            ) from None

    def get_xy(self, label: str) -> tuple[float, float]:
        try:
            return self._xy[label]
        except KeyError:
            raise PropertyError(
                f"device {label!r}: no cached XY position (is it an initialized XY stage?)",
                device=label,
                property="XYPosition",
            ) from None

    def discard(self, label: str, name: str) -> None:
        """A property the device no longer has (removed at runtime)."""
        self._values.get(label, {}).pop(name, None)

    def forget(self, label: str) -> None:
        self._values.pop(label, None)
        self._xy.pop(label, None)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """A copy of every cached property value: {label: {name: value}}."""
        return {label: dict(values) for label, values in list(self._values.items())}
