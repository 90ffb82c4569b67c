"""The plan of a run: consecutive events merged into hardware-triggered runs where every device
that changes between them can run a sequence (as pymmcore-plus's event combiner does), the
others timed in software, each with the reason it is.

A merged run loads each changing property's values into its device (`load_property_sequence`;
"XYPosition" for an XY stage, "Position" for the focus drive, "Exposure" for the camera, a
preset's properties for a channel change), starts them, and streams one camera frame per
event: the camera's exposure-out steps every started sequence, so frame k is taken at value k.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ._steps import is_image

XY = "XYPosition"


@dataclass
class Run:
    """Consecutive events run as one: `sequenced` (label, property) -> one value per event, or
    a single software-timed event; `reason` says why the next event is not part of it."""

    events: list[Any]
    sequenced: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    reason: str = ""

    @property
    def hardware(self) -> bool:
        return len(self.events) > 1

    def tail(self, start: int) -> Run:
        """The run from event `start` on (what is left when a pause stops it midway)."""
        sequenced = {key: values[start:] for key, values in self.sequenced.items()}
        return Run(self.events[start:], sequenced, self.reason)

    def describe(self) -> str:
        first, last = self.events[0], self.events[-1]
        span = f"events {_index(first)}..{_index(last)}" if self.hardware else f"event {_index(first)}"
        ends = f"; ends: {self.reason}" if self.reason else ""
        if self.hardware:
            what = ", ".join(f"{label}.{prop}" for label, prop in self.sequenced) or "nothing changes"
            return f"{span}: hardware-sequenced, {len(self.events)} frames ({what}){ends}"
        return f"{span}: software{f' ({self.reason})' if self.reason else ''}"


class Planner:
    """Merges events while every change between them is sequenceable and short enough."""

    def __init__(self, kernel: Any, enabled: bool = True) -> None:
        self.kernel = kernel
        self.enabled = enabled
        self._max: dict[tuple[str, str], int] = {}

    def plan(self, events: Iterable[Any]) -> list[Run]:
        return list(self.runs(events))

    def runs(self, events: Iterable[Any]) -> Iterator[Run]:
        """The runs, each given once the event after it is known not to join it: events are
        taken as they come (MMKernelEngine plans while pymmcore-plus's runner runs)."""
        run: Run | None = None
        for event in events:
            if run is not None:
                why = self._why_not(run, event)
                if not why:
                    self._extend(run, event)
                    continue
                run.reason = why  # why the next event is not part of it
                yield run
            run = Run([event])
        if run is not None:
            yield run

    # -- merging --------------------------------------------------------------------------
    def _why_not(self, run: Run, event: Any) -> str:
        """Why `event` cannot join `run` ("" if it can)."""
        if not self.enabled:
            return "hardware sequencing is off"
        previous = run.events[-1]
        if not (is_image(previous) and is_image(event)):
            return "an autofocus or custom action runs in software"
        if event.reset_event_timer or (event.min_start_time or 0) != (previous.min_start_time or 0):
            return "the next event has its own start time"
        if event.properties or previous.properties:
            return "per-event properties run in software"
        length = len(run.events) + 1
        for key in {**run.sequenced, **self._changes(previous, event)}:
            most = self._max_length(*key)
            if most == 0:
                return f"{key[0]} cannot sequence {key[1]}"
            if most < length:
                return f"{key[0]} sequences at most {most} values of {key[1]}"
        return ""

    def _extend(self, run: Run, event: Any) -> None:
        changes = self._changes(run.events[-1], event)
        for key in changes:
            if key not in run.sequenced:  # from here on, every event gives it a value
                run.sequenced[key] = [self._value(e, key) for e in run.events]
        run.events.append(event)
        for key, values in run.sequenced.items():
            values.append(self._value(event, key))

    def _changes(self, a: Any, b: Any) -> dict[tuple[str, str], None]:
        """The (device, property) pairs whose values differ between two events."""
        k, roles = self.kernel, self.kernel.roles
        found: dict[tuple[str, str], None] = {}
        if _channel(a) != _channel(b):
            for channel in (a.channel, b.channel):
                if channel is not None:
                    for device, name, _ in k.config_settings(channel.group, channel.config):
                        if device != "Core":
                            found[(device, name)] = None
        if a.exposure != b.exposure and roles.camera:
            found[(roles.camera, "Exposure")] = None
        if a.z_pos != b.z_pos and roles.focus:
            found[(roles.focus, "Position")] = None
        if (a.x_pos, a.y_pos) != (b.x_pos, b.y_pos) and roles.xy_stage:
            found[(roles.xy_stage, XY)] = None
        return found

    def _value(self, event: Any, key: tuple[str, str]) -> Any:
        """What `event` sets `key` to (the current value where the event does not say)."""
        k, roles = self.kernel, self.kernel.roles
        label, prop = key
        if prop == XY and label == roles.xy_stage:
            here = k.get_xy_position(label, from_cache=True)
            return (event.x_pos if event.x_pos is not None else here[0],
                    event.y_pos if event.y_pos is not None else here[1])  # fmt: skip
        if (label, prop) == (roles.focus, "Position") and event.z_pos is not None:
            return float(event.z_pos)
        if (label, prop) == (roles.camera, "Exposure") and event.exposure is not None:
            return float(event.exposure)
        if event.channel is not None:
            for device, name, value in k.config_settings(event.channel.group, event.channel.config):
                if (device, name) == key:
                    return value
        return k.get_property(label, prop, from_cache=True)

    def _max_length(self, label: str, prop: str) -> int:
        key = (label, prop)
        if key not in self._max:
            try:
                self._max[key] = int(self.kernel.sequence_max_length(label, prop))
            except Exception:  # noqa: BLE001 - a device that cannot say cannot sequence
                self._max[key] = 0
        return self._max[key]


def plan_of(kernel: Any, sequence: Any, hardware_sequencing: bool = True) -> list[Run]:
    """The runs `kernel.acquire(sequence)` would make, without running anything (--dry-run)."""
    from ._source import as_sequence

    known = as_sequence(sequence)
    if known is None:
        raise TypeError("acquire: an adaptive run's events are not known ahead, so it has no plan")
    return Planner(kernel, hardware_sequencing).plan(list(known))


def _channel(event: Any) -> tuple[str, str] | None:
    return None if event.channel is None else (event.channel.group, event.channel.config)


def _index(event: Any) -> str:
    return "{" + ", ".join(f"{axis}: {int(v)}" for axis, v in event.index.items()) + "}"
