"""Change notifications, delivered in order on one notification thread.

Runner threads only enqueue; callbacks run on `mmkernel-events`, so a slow or failing callback
can never stall or break a device.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from typing import Any

from ._mailbox import Mailbox

log = logging.getLogger("mmkernel.events")
Callback = Callable[..., Any]


class Signal:
    """One kind of event; `connect(cb)` and `cb(*args)` is called on the notification thread."""

    def __init__(self, bus: EventBus, name: str, signature: str) -> None:
        self._bus = bus
        self.name = name
        self.signature = signature
        self._callbacks: tuple[Callback, ...] = ()  # replaced, never mutated: safe to iterate
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Signal {self.name}{self.signature}>"

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
        if self._callbacks:
            self._bus.post(self.deliver, args)

    def deliver(self, args: tuple[Any, ...]) -> None:
        for callback in self._callbacks:
            try:
                callback(*args)
            except BaseException:  # noqa: BLE001 - one bad subscriber (even sys.exit()) must not affect the others
                self._bus.report_callback_error(self, callback)


class EventBus(Mailbox):
    """The notification thread: events are delivered on it, in the order they were emitted."""

    def __init__(self, name: str = "mmkernel-events") -> None:
        super().__init__(name)

    def report_callback_error(self, signal: Signal, callback: Callback) -> None:
        try:
            if signal.name == "log_record":  # reporting through logging would loop back here
                print(f"mmkernel: log callback {callback!r} raised", file=sys.stderr)
                return
            log.exception("event callback %r for %s raised", callback, signal.name)
        except BaseException:  # noqa: BLE001 - a failing log handler must not stop delivery
            pass


class KernelEvents:
    """The kernel's signals. Each documents its callback signature."""

    def __init__(self, bus: EventBus, upstream: Mailbox | None = None) -> None:
        self.bus = bus
        self._upstream = upstream  # where log records are handed on from (flushed first)
        self.property_changed = Signal(bus, "property_changed", "(label, name, value)")
        self.stage_position_changed = Signal(bus, "stage_position_changed", "(label, um)")
        self.xy_stage_position_changed = Signal(bus, "xy_stage_position_changed", "(label, x_um, y_um)")
        self.exposure_changed = Signal(bus, "exposure_changed", "(label, ms)")
        self.shutter_changed = Signal(bus, "shutter_changed", "(label, is_open)")
        self.state_changed = Signal(bus, "state_changed", "(label, position)")
        self.device_loaded = Signal(bus, "device_loaded", "(label)")
        self.device_initialized = Signal(bus, "device_initialized", "(label)")
        self.device_unloaded = Signal(bus, "device_unloaded", "(label)")
        self.config_set = Signal(bus, "config_set", "(group, preset)")
        self.config_group_changed = Signal(bus, "config_group_changed", "(group)")
        self.system_loaded = Signal(bus, "system_loaded", "()")
        self.log_record = Signal(bus, "log_record", "(entry: LogEntry)")
        self._by_property: dict[tuple[str, str], Callable[[str, Any], None]] = {
            ("Camera", "Exposure"): self.exposure_changed.emit,
            ("Stage", "Position"): self.stage_position_changed.emit,
            ("Shutter", "State"): lambda label, v: self.shutter_changed.emit(label, bool(v)),
            ("State", "State"): self.state_changed.emit,
        }

    def signals(self) -> list[Signal]:
        return [v for v in vars(self).values() if isinstance(v, Signal)]

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every event emitted so far has been delivered (handy in tests and scripts)."""
        if self._upstream is not None and not self._upstream.flush(timeout):
            return False
        return self.bus.flush(timeout)

    def announce_property(self, label: str, device_type: str, name: str, value: Any) -> None:
        """property_changed, plus the typed event when this property has one."""
        self.property_changed.emit(label, name, value)
        typed = self._by_property.get((device_type, name))
        if typed is not None:
            typed(label, value)
