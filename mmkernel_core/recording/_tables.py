"""The tables a recording stores beside its images: one row per frame, and datastreams.

Columns are numpy arrays, so every format stores them as plain arrays. Text (the properties
that changed at a frame, non-numeric datastream values) is one JSON document per row, stored as
a `uint8` column of UTF-8 bytes plus `<name>_offsets` (row i is bytes[offsets[i]:offsets[i+1]]),
which any zarr or numpy reader can take apart.
"""

from __future__ import annotations

import json
import math
import statistics
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

from mmkernel_sdk.recording import Table

from ._json import dumps


def to_json(value: Any) -> str:
    """A row's strict JSON text (non-finite numbers as "NaN", "Infinity": see _json)."""
    return dumps(value)


class TextColumn:
    """Rows of JSON text, kept as one growing bytes buffer and its offsets."""

    def __init__(self) -> None:
        self._data = bytearray()
        self._offsets = [0]

    def append(self, text: str) -> None:
        if text:
            self._data += text.encode()
        self._offsets.append(len(self._data))

    def rows(self) -> list[str]:
        data, offsets = bytes(self._data), self._offsets
        return [data[offsets[i] : offsets[i + 1]].decode() for i in range(len(offsets) - 1)]

    def columns(self, name: str, rows: int) -> dict[str, np.ndarray]:
        offsets = np.asarray(self._offsets[: rows + 1], np.int64)
        data = np.frombuffer(bytes(self._data[: int(offsets[-1])]), np.uint8)
        return {name: data, f"{name}_offsets": offsets}

    def clear(self) -> None:
        self._data = bytearray()
        self._offsets = [0]


def text_rows(data: np.ndarray, offsets: np.ndarray) -> list[Any]:
    """Decode a text column: the JSON value of each row (None for an empty row)."""
    raw = bytes(np.asarray(data, np.uint8))
    ends = np.asarray(offsets, np.int64)
    return [json.loads(raw[ends[i] : ends[i + 1]]) if ends[i + 1] > ends[i] else None for i in range(len(ends) - 1)]


def rows_of(headers: list[Any]) -> Table:
    """The per-frame table rows of frames (number, received, camera_time, changes), from their
    headers: handed to the writer with the frames, a run at a time."""
    changes = TextColumn()
    for header in headers:
        metadata = header.metadata
        changes.append(to_json(dict(metadata)) if metadata else "")
    return Table(
        {
            "number": np.fromiter((h.number for h in headers), np.int64, len(headers)),
            "received": np.fromiter((h.received for h in headers), np.float64, len(headers)),
            "camera_time": np.fromiter(
                (math.nan if h.camera_time is None else h.camera_time for h in headers), np.float64, len(headers)
            ),
            **changes.columns("changes", len(headers)),
        }
    )


def concat_rows(tables: list[Table]) -> Table:
    """Tables of the same columns, one after the other (text columns' offsets go on)."""
    tables = [table for table in tables if table.columns]
    if not tables:
        return Table()
    columns: dict[str, np.ndarray] = {}
    for name in tables[0].columns:
        if name.endswith("_offsets"):
            parts, base = [], 0
            for table in tables:
                offsets = np.asarray(table.columns[name], np.int64)
                parts.append(offsets[(1 if parts else 0) :] + base)
                base += int(offsets[-1]) if len(offsets) else 0
            columns[name] = np.concatenate(parts)
        else:
            columns[name] = np.concatenate([np.asarray(table.columns[name]) for table in tables])
    return Table(columns)


class Datastream:
    """One property's values over a recording: at each frame (`frame` = its number) and at every
    change between frames (`frame` = -1), with the time of each."""

    def __init__(self, label: str, name: str, numeric: bool, start_value: Any) -> None:
        self.label, self.name, self.numeric = label, name, numeric
        self.key = f"{label}-{name}"
        self.value = start_value  # as of the last frame: what its metadata says was in force
        self.time: list[float] = []
        self.frame: list[int] = []
        self.values: list[float] = []
        self.text = TextColumn()
        self.record(time.time(), -1, start_value)

    def record(self, when: float, frame: int, value: Any) -> None:
        self.time.append(when)
        self.frame.append(frame)
        if self.numeric:
            self.values.append(_number(value))
        else:
            self.text.append(to_json(value))

    def take(self) -> Table:
        """The rows since the last take, in time order (a change can be noted after a frame
        received before it); they leave memory."""
        table = self._table()
        self.time, self.frame, self.values = [], [], []
        self.text.clear()
        return table

    def _table(self) -> Table:
        order = np.argsort(np.asarray(self.time, np.float64), kind="stable")
        columns: dict[str, np.ndarray] = {
            "time": np.asarray(self.time, np.float64)[order],
            "frame": np.asarray(self.frame, np.int64)[order],
        }
        if self.numeric:
            columns["value"] = np.asarray(self.values, np.float64)[order]
        else:
            rows = self.text.rows()
            text = TextColumn()
            for index in order:
                text.append(rows[index])
            columns.update(text.columns("value", len(order)))
        return Table(columns)


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


class Datastreams:
    """Every datastream of a recording. `append` is the kernel cache's change listener (called on
    device runners: it only queues); `at_frame` runs on the first camera's reader thread."""

    def __init__(self, streams: list[Datastream]) -> None:
        self.streams = {stream.key: stream for stream in streams}
        self._arrived: deque[tuple[float, str, Any]] = deque()
        self._lock = threading.Lock()

    def append(self, change: tuple[str, str, Any]) -> None:
        label, name, value = change
        key = f"{label}-{name}"
        if key in self.streams:
            self._arrived.append((time.time(), key, value))

    def _drain(self) -> None:
        arrived = self._arrived
        while arrived:
            when, key, value = arrived.popleft()
            self.streams[key].record(when, -1, value)

    def at_frame(self, number: int, received: float, changes: Mapping[str, Any]) -> None:
        with self._lock:
            self._drain()
            for key, stream in self.streams.items():
                if key in changes:
                    stream.value = changes[key]
                stream.record(received, number, stream.value)

    def take(self) -> dict[str, Table]:
        """Every stream's rows since the last take (the writer appends them to its tables)."""
        with self._lock:
            self._drain()
            return {key: stream.take() for key, stream in self.streams.items()}


def head_rows(table: Table, rows: int) -> Table:
    """The table cut to its first `rows` rows (text columns by their offsets)."""
    columns = table.columns
    out: dict[str, np.ndarray] = {}
    for name, column in columns.items():
        if name.endswith("_offsets"):
            continue
        offsets = columns.get(f"{name}_offsets")
        if offsets is not None:
            cut = offsets[: rows + 1]
            out[name] = column[: int(cut[-1])] if len(cut) else column[:0]
            out[f"{name}_offsets"] = cut
        else:
            out[name] = column[:rows]
    return Table(out)


def frame_interval(table: Table, nominal: float) -> float:
    """The time between frames: the median of the receive-time steps, else the nominal one."""
    received = table.columns.get("received")
    if received is not None and len(received) >= 2:
        steps = np.diff(received)
        positive = steps[steps > 0]
        if len(positive):
            return float(statistics.median(positive.tolist()))
    return nominal
