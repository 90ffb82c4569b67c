"""An acquisition's frame table as it is written: one strict-JSON line per frame, appended and
flushed as each frame is stored (a run killed midway still says which frames exist), made
durable when the run ends; and its rows read back."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np


class FrameTable:
    """`append(row)` per frame; `rows` the rows as stored; `close()` fsyncs the file."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.rows: list[dict[str, Any]] = []
        self._out = file.open("a", encoding="utf-8")

    def append(self, row: dict[str, Any]) -> None:
        plain = plain_row(row)
        self._out.write(json.dumps(plain, allow_nan=False) + "\n")
        self._out.flush()
        self.rows.append(plain)

    def close(self) -> None:
        self._out.flush()
        os.fsync(self._out.fileno())
        self._out.close()

    def discard(self) -> None:
        """The run ended and its table is stored whole elsewhere (durably): the file goes, so
        a finished dataset holds nothing a strict reader does not know."""
        self.file.unlink(missing_ok=True)


def plain_row(row: dict[str, Any]) -> dict[str, Any]:
    """A table row strict JSON readers take: no NaN or infinity (None instead), numbers plain."""
    plain: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, (np.floating, float)):
            value = float(value) if np.isfinite(value) else None
        elif isinstance(value, np.integer):
            value = int(value)
        plain[key] = value
    return plain


def read_rows(file: Path) -> list[dict[str, Any]]:
    """Every complete line of a table file (the last one may have been cut by a kill)."""
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    rows = []
    for line in lines:
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:  # the line being written when the process died
            break
    return rows


class StreamTable:
    """An acquisition's datastream rows as they are written: one strict-JSON line each
    ({"stream": "<label>-<property>", "time", "event", "value"}), appended beside the frame table
    (the file exists only when there are datastreams), and per stream as columns for the
    dataset's attributes at the end."""

    def __init__(self, file: Path, keys: list[str]) -> None:
        self.file = file
        self.columns: dict[str, dict[str, list[Any]]] = {key: _empty_stream() for key in keys}
        self._out = file.open("a", encoding="utf-8") if keys else None

    def append(self, rows: list[dict[str, Any]]) -> None:
        if self._out is None or not rows:
            return
        self._out.write("".join(json.dumps(row, allow_nan=False) + "\n" for row in rows))
        self._out.flush()
        _into(self.columns, rows)

    def close(self) -> None:
        if self._out is not None:
            self._out.flush()
            os.fsync(self._out.fileno())
            self._out.close()

    def discard(self) -> None:
        """As `FrameTable.discard`."""
        self.file.unlink(missing_ok=True)


def sync_path(path: Path) -> None:
    """fsync a file or a folder (a folder: so what was created or removed in it is durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_streams(file: Path, keys: list[str]) -> dict[str, dict[str, list[Any]]]:
    """A run's datastreams from its stream file (a run that never ended): per stream, columns."""
    columns = {key: _empty_stream() for key in keys}
    _into(columns, read_rows(file))
    return columns


def _empty_stream() -> dict[str, list[Any]]:
    return {"time": [], "event": [], "value": []}


def _into(columns: dict[str, dict[str, list[Any]]], rows: list[dict[str, Any]]) -> None:
    for row in rows:
        stream = columns.setdefault(str(row["stream"]), _empty_stream())
        for name in ("time", "event", "value"):
            stream[name].append(row[name])
