"""Change notifications, delivered in order on one notification thread.

Runner threads only enqueue; callbacks run on `mmkernel-events`, so a slow or failing callback
can never stall or break a device. The queue is bounded by coalescing (see `_eventbus`): the
value-change signals are keyed by device and property; a property's typed event travels in one
queue entry with its `property_changed`, so the two are kept or dropped together and never
disagree. Lifecycle signals and the `Core` device's properties (role changes) are fences; log
records are never dropped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any

from ._eventbus import EventBus
from ._mailbox import Mailbox

Callback = Callable[..., Any]
KeyOf = Callable[[tuple[Any, ...]], Hashable | None]
CORE = "Core"  # the kernel's own device: its properties (roles, settings) are never coalesced


def _property_key(args: tuple[Any, ...]) -> Hashable | None:
    """property_changed(label, name, value): keyed by (label, name); Core's are fences."""
    return None if args[:1] == (CORE,) else ("property", *args[:2])


def _device_key(name: str) -> KeyOf:
    """A typed signal emitted on its own (label, ...): keyed by the signal and the device."""
    return lambda args: (name, *args[:1])


class Signal:
    """One kind of event; `connect(cb)` and `cb(*args)` is called on the notification thread.

    `key` makes it a value signal (coalesced per key while subscribers are behind; a key of
    None makes that one event a fence); without it every event is delivered, and `fence` says
    whether value events may be coalesced across it."""

    def __init__(self, bus: EventBus, name: str, signature: str, key: KeyOf | None = None, fence: bool = True) -> None:
        self._bus = bus
        self.name = name
        self.signature = signature
        self._key = key
        self._fence = fence
        self._callbacks: tuple[Callback, ...] = ()  # replaced, never mutated: safe to iterate
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Signal {self.name}{self.signature}>"

    @property
    def connected(self) -> bool:
        return bool(self._callbacks)

    def connect(self, callback: Callback) -> Callback:
        """Subscribe; returns the callback so it can be used as a decorator."""
        with self._lock:
            self._callbacks = (*self._callbacks, callback)
        return callback

    def disconnect(self, callback: Callback) -> None:
        with self._lock:
            callbacks = list(self._callbacks)
            if callback in callbacks:
                callbacks.remove(callback)
            self._callbacks = tuple(callbacks)

    def emit(self, *args: Any) -> None:
        """Queue delivery to every callback connected now (cheap no-op without callbacks)."""
        if not self._callbacks:
            return
        key = None if self._key is None else self._key(args)
        if key is None:
            self._bus.post_event(self.deliver, (args,), self._fence)
        else:
            self._bus.post_value(key, self.deliver, (args,))

    def deliver(self, args: tuple[Any, ...]) -> None:
        for callback in self._callbacks:
            try:
                callback(*args)
            except BaseException:  # noqa: BLE001 - one bad subscriber (even sys.exit()) must not affect the others
                self._bus.report_callback_error(self, callback)


class KernelEvents:
    """The kernel's signals. Each documents its callback signature.

    `events_coalesced(count)`: `count` value changes were left out since the last report, each
    superseded by a later value of the same property while subscribers were behind. Reported on
    the notification thread when the backlog has cleared (at most once a second while it lasts).
    """

    def __init__(self, bus: EventBus, upstream: Mailbox | None = None) -> None:
        self.bus = bus
        self._upstream = upstream  # where log records are handed on from (flushed first)
        self.property_changed = Signal(bus, "property_changed", "(label, name, value)", _property_key)
        self.stage_position_changed = self._value(bus, "stage_position_changed", "(label, um)")
        self.xy_stage_position_changed = self._value(bus, "xy_stage_position_changed", "(label, x_um, y_um)")
        self.exposure_changed = self._value(bus, "exposure_changed", "(label, ms)")
        self.shutter_changed = self._value(bus, "shutter_changed", "(label, is_open)")
        self.state_changed = self._value(bus, "state_changed", "(label, position)")
        self.device_loaded = Signal(bus, "device_loaded", "(label)")
        self.device_initialized = Signal(bus, "device_initialized", "(label)")
        self.device_unloaded = Signal(bus, "device_unloaded", "(label)")
        self.config_set = Signal(bus, "config_set", "(group, preset)")
        self.config_group_changed = Signal(bus, "config_group_changed", "(group)")
        self.system_loaded = Signal(bus, "system_loaded", "()")
        self.acquisition_started = Signal(bus, "acquisition_started", "(acquisition)")
        self.acquisition_event_started = Signal(bus, "acquisition_event_started", "(acquisition, event)", fence=False)
        self.acquisition_frame_ready = Signal(
            bus, "acquisition_frame_ready", "(acquisition, event, image, row)", fence=False
        )
        self.acquisition_paused = Signal(bus, "acquisition_paused", "(acquisition, paused)")
        self.acquisition_finished = Signal(bus, "acquisition_finished", "(acquisition, result)")
        self.log_record = Signal(bus, "log_record", "(entry: LogEntry)", fence=False)
        self.events_coalesced = Signal(bus, "events_coalesced", "(count)", fence=False)
        bus.coalesced = self.events_coalesced
        self._by_property: dict[tuple[str, str], tuple[Signal, Callable[[Any], Any]]] = {
            ("Camera", "Exposure"): (self.exposure_changed, _same),
            ("Stage", "Position"): (self.stage_position_changed, _same),
            ("Shutter", "State"): (self.shutter_changed, bool),
            ("State", "State"): (self.state_changed, _same),
        }

    @staticmethod
    def _value(bus: EventBus, name: str, signature: str) -> Signal:
        return Signal(bus, name, signature, _device_key(name))

    def signals(self) -> list[Signal]:
        return [v for v in vars(self).values() if isinstance(v, Signal)]

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every event emitted so far has been delivered (handy in tests and scripts)."""
        if self._upstream is not None and not self._upstream.flush(timeout):
            return False
        return self.bus.flush(timeout)

    def announce_property(self, label: str, device_type: str, name: str, value: Any) -> None:
        """property_changed, plus the typed event when this property has one: one queue entry,
        so coalescing keeps or drops both together."""
        typed = self._by_property.get((device_type, name))
        if typed is None or label == CORE:
            self.property_changed.emit(label, name, value)
            if typed is not None:
                typed[0].emit(label, typed[1](value))
            return
        signal, convert = typed
        if self.property_changed.connected or signal.connected:
            args = (signal, label, name, value, convert(value))
            self.bus.post_value(("property", label, name), self._deliver_change, args)

    def _deliver_change(self, signal: Signal, label: str, name: str, value: Any, typed: Any) -> None:
        self.property_changed.deliver((label, name, value))
        signal.deliver((label, typed))


def _same(value: Any) -> Any:
    return value
