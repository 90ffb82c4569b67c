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
