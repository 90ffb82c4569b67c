"""Where a run's events come from: a `useq.MDASequence` (from itself, its dict, JSON or a file)
or, for an adaptive run, the caller's iterable, taken one event at a time; and an event's
index as plain names and numbers for messages."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any


def as_sequence(sequence: Any) -> Any:
    """A `useq.MDASequence` from itself, its dict, JSON text or a YAML/JSON file path; None for
    an iterable of events (an adaptive run: its events are taken as they come)."""
    import useq

    if isinstance(sequence, useq.MDASequence):
        return sequence
    if isinstance(sequence, dict):
        return useq.MDASequence.model_validate(sequence)
    if isinstance(sequence, Path) or (isinstance(sequence, str) and sequence.endswith((".yaml", ".yml", ".json"))):
        return useq.MDASequence.from_file(sequence)
    if isinstance(sequence, str):
        return useq.MDASequence.model_validate_json(sequence)
    if isinstance(sequence, Iterable) and not isinstance(sequence, (bytes, bytearray)):
        return None
    raise TypeError(
        "acquire: sequence must be a useq.MDASequence, a dict, JSON, a file path or an iterable of "
        f"useq.MDAEvent, not {type(sequence).__name__}"
    )


def plain_index(event: Any) -> dict[str, int]:
    """An event's index as plain names and numbers, for messages: {'t': 0, 'c': 1}."""
    return {} if event is None else {str(axis): int(value) for axis, value in event.index.items()}


def adaptive_events(source: Iterable[Any]) -> Iterable[Any]:
    """An adaptive run's events, taken one at a time as the caller supplies them (an
    `MDAEvent` or its dict each). The caller's iterable raising anything (SystemExit too) fails
    the run with an error saying after which event: never a bare BaseException from `wait()`."""
    import useq

    taken, last = 0, None
    try:
        items = iter(source)
    except BaseException as exc:
        raise RuntimeError(
            f"acquire: the adaptive run's events could not be taken ({type(exc).__name__}: {exc})"
        ) from exc
    while True:
        try:
            item = next(items)
        except StopIteration:
            return
        except BaseException as exc:  # the caller's code (any kind): reported as the run's error
            after = f"after event {taken - 1} {plain_index(last)}" if taken else "before the first event"
            raise RuntimeError(
                f"acquire: the adaptive run's events raised {after} ({type(exc).__name__}: {exc})"
            ) from exc
        last = item if isinstance(item, useq.MDAEvent) else useq.MDAEvent.model_validate(item)
        taken += 1
        yield last
