"""One hardware-triggered run on the kernel, shared by both engines (`kernel.acquire`'s own
run and `MMKernelEngine` under pymmcore-plus's `MDARunner`): load every changing property's
values, start them, stream one camera frame per event (the camera's exposure-out steps every
started sequence, so frame k is taken at value k), stop what was started.

The caller applies the run's first event before `start()` (its `EventSteps`), and calls
`stop()` however the run ends (completed, cancelled, failed): it stops every sequence that was
started, even when one of the stops fails. Only the kernel's public verbs are used."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ._plan import Run
from ._steps import EventSteps


class HardwareRun:
    """`start()` loads and starts `run.sequenced`; `frames()` streams (event, frame) pairs;
    `stop()` stops every started sequence (idempotent)."""

    def __init__(self, kernel: Any, run: Run, steps: EventSteps) -> None:
        self.kernel = kernel
        self.run = run
        self.steps = steps
        self.camera = steps.camera
        self.started: list[tuple[str, str]] = []

    def values(self, label: str, prop: str) -> list[Any]:
        """What the run loads into `prop`: the plan's values, the focus drive's with the
        correction autofocus found at each event's position (as a software run moves it)."""
        planned = self.run.sequenced[(label, prop)]
        if (label, prop) != (self.steps.focus, "Position"):
            return planned
        targets = (self.steps.z_target(event) for event in self.run.events)
        return [z if z is not None else value for z, value in zip(targets, planned, strict=True)]

    def start(self) -> None:
        """Load every sequence first (a bad table fails before anything runs), then arm each.
        A failure stops what was already armed before it is raised."""
        k = self.kernel
        try:
            for label, prop in self.run.sequenced:
                k.load_property_sequence(label, prop, self.values(label, prop))
            for label, prop in self.run.sequenced:
                k.start_property_sequence(label, prop)
                self.started.append((label, prop))
        except BaseException:
            self.stop_quietly()
            raise

    @contextmanager
    def frames(self) -> Iterator[Iterator[tuple[Any, Any]]]:
        """`with run.frames() as frames: for event, frame in frames:` one streamed frame per
        event, each released when the loop moves on; leaving the block stops the stream (a
        cancel stops within one frame)."""
        events = self.run.events
        with self.kernel.stream(self.camera, count=len(events), overflow="block") as stream:
            yield zip(events, stream, strict=False)  # events first: no frame is waited for past the last

    def stop(self) -> None:
        """Stop the started sequences, last first; every one is stopped even if one fails, and
        the first failure is raised after."""
        failure: BaseException | None = None
        while self.started:
            label, prop = self.started.pop()
            try:
                self.kernel.stop_property_sequence(label, prop)
            except BaseException as exc:  # noqa: BLE001 - raised after the others are stopped
                failure = failure or exc
        if failure is not None:
            raise failure

    def stop_quietly(self) -> None:
        """`stop()` while another error is on its way: that error is the one reported."""
        try:
            self.stop()
        except Exception:  # noqa: BLE001 - the error being raised says what went wrong first
            pass
