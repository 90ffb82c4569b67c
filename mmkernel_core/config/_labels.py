"""A run of Label lines of one state device, defined in one runner hop.

Micro-Manager files name a wheel's positions in a block of Label lines; each line alone was a
request (a hop, a read of Label) of its own. The loader gathers consecutive lines of one device
into a `LabelRun` and queues it as one request; each line keeps its own outcome (`LabelLine`), so
a bad line is still reported with its line number, and the others are still defined.
"""

from __future__ import annotations

from typing import Any


class LabelRun:
    """Consecutive Label lines of `device`; `start()` queues them as one request."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.items: list[tuple[int, str]] = []
        self.request: Any = None
        self.refused: BaseException | None = None  # the run could not be queued at all

    def add(self, position: int, label: str) -> LabelLine:
        self.items.append((position, label))
        return LabelLine(self, len(self.items) - 1)

    def start(self, internals: Any) -> None:
        """Queue the run (once). A device that cannot take labels fails every line of it."""
        if self.request is not None or self.refused is not None:
            return
        try:
            self.request = internals.define_state_labels(self.device, self.items)
        except BaseException as error:  # noqa: BLE001 - each line's outcome; the loader re-raises the rest
            self.refused = error


class LabelLine:
    """One line of a run: its outcome, as the loader collects a queued line's."""

    def __init__(self, run: LabelRun, index: int) -> None:
        self.run, self.index = run, index

    def done(self) -> bool:
        return self.run.refused is not None or bool(self.run.request.done())

    def result(self) -> None:
        if self.run.refused is not None:
            raise self.run.refused
        error = self.run.request.result()[self.index]
        if error is not None:
            raise error
