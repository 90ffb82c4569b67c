"""Tables in a zarr group that grow as a recording goes: one 1-d array per column.

Rows arrive in blocks (a checkpoint's worth). A block is written past the end of every column
first, and only then is every column's stored length grown to include it, so whatever moment
a recording is killed at, each column's stored rows were written, and a table's rows are its
shortest column's (`common_rows`: a kill between two columns' lengths leaves the longer ones
one block ahead; that block is not valid yet). Text columns come as `<name>` (UTF-8 bytes)
plus `<name>_offsets` (row i is bytes[offsets[i]:offsets[i+1]]): the offsets go on from the
bytes already stored, so the column reads as one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from mmkernel_sdk.recording import Table

TABLE_CHUNK_ROWS = 1 << 13  # rows per chunk of a numeric column ...
TEXT_CHUNK_BYTES = 1 << 18  # ... and bytes of a text column's data: what a checkpoint may write again


class GrowingTable:
    """A table group whose columns grow by `append`. `run` runs a zarr coroutine to its end."""

    def __init__(self, group: Any, run: Callable[[Any], Any]) -> None:
        self.group = group
        self.run = run
        self.arrays: dict[str, Any] = {}
        self.lengths: dict[str, int] = {}
        self.tails: dict[str, np.ndarray] = {}  # each column's values in its last, partly filled chunk

    def append(self, rows: Table) -> None:
        """Every column's new values are written past its stored length, then every length grows."""
        blocks: dict[str, np.ndarray] = {}
        for name, values in rows.columns.items():
            if name.endswith("_offsets") and self.lengths.get(name):  # go on from the bytes stored before
                values = np.asarray(values, np.int64)[1:] + self.lengths[name[: -len("_offsets")]]
            blocks[name] = np.ascontiguousarray(values)
        for name, values in blocks.items():
            if name not in self.arrays:
                self._create(name, values.dtype)
        grown = {name: values for name, values in blocks.items() if len(values)}
        if grown:
            self.run(self._write(grown))
            self.run(self._grow(grown))

    def _create(self, name: str, dtype: np.dtype) -> None:
        chunk = TEXT_CHUNK_BYTES if dtype == np.uint8 else TABLE_CHUNK_ROWS
        self.arrays[name] = self.run(
            self.group.create_array(name, shape=(0,), dtype=dtype, chunks=(chunk,), compressors=None, fill_value=0,
                                    config={"write_empty_chunks": True})
        )  # fmt: skip
        self.lengths[name] = 0
        self.tails[name] = np.zeros(0, dtype)

    async def _write(self, blocks: Mapping[str, np.ndarray]) -> None:
        """The values past each column's stored length (no reader sees them yet), as whole
        chunks: the last, partly filled chunk is written again with what it held (kept here),
        never read back."""
        writes, tails = [], {}
        for name, values in blocks.items():
            array, tail = self.arrays[name], self.tails[name]
            chunk = array.metadata.chunks[0]
            base, end = self.lengths[name] - len(tail), self.lengths[name] + len(values)
            whole = -(-end // chunk) * chunk
            data = np.zeros(whole - base, values.dtype)
            data[: len(tail)] = tail
            data[len(tail) : end - base] = values
            writes.append(with_shape(array, (whole,)).setitem(slice(base, whole), data))
            tails[name] = data[end - base - end % chunk : end - base].copy()
        await asyncio.gather(*writes)
        self.tails.update(tails)

    async def _grow(self, blocks: Mapping[str, np.ndarray]) -> None:
        """Every column's stored length, now that all their values are written."""
        ends = {name: self.lengths[name] + len(values) for name, values in blocks.items()}
        await asyncio.gather(
            *(self.arrays[name].resize((end,), delete_outside_chunks=False) for name, end in ends.items())
        )
        self.lengths.update(ends)


def common_rows(columns: Mapping[str, Any]) -> int:
    """The rows every column of a stored table has: its shortest column's (a text column's rows
    are its offsets' rows whose bytes are all stored)."""
    rows: list[int] = []
    for name, column in columns.items():
        if name.endswith("_offsets"):
            data = columns.get(name[: -len("_offsets")])
            offsets = np.asarray(column, np.int64)
            stored = len(data) if data is not None else 0
            rows.append(max(0, int(np.searchsorted(offsets, stored, side="right")) - 1))
        elif f"{name}_offsets" not in columns:
            rows.append(len(column))
    return min(rows) if rows else 0


def with_shape(array: Any, shape: tuple[int, ...]) -> Any:
    """A handle on the same array, with a larger shape in memory only (nothing is written): the
    chunks past the stored shape can be written before the shape says they exist."""
    from zarr.core.array import AsyncArray

    return AsyncArray(array.metadata.update_shape(shape), array.store_path, config=array.config)
