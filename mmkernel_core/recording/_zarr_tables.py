"""Tables in a zarr group that grow as a recording goes: one 1-d array per column.

Rows arrive in blocks (a checkpoint's worth); each block is written to the end of every column,
then the columns are resized to include it, so a reader of a dataset whose recording was
killed sees whole rows up to the last block. Text columns come as `<name>` (UTF-8 bytes) plus
`<name>_offsets` (row i is bytes[offsets[i]:offsets[i+1]]): the offsets go on from the bytes
already stored, so the column reads as one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from mmkernel_sdk.recording import Table

TABLE_CHUNK_ROWS = 1 << 16  # rows per chunk of a numeric column
TEXT_CHUNK_BYTES = 1 << 22  # bytes per chunk of a text column's data


class GrowingTable:
    """A table group whose columns grow by `append`. `run` runs a zarr coroutine to its end."""

    def __init__(self, group: Any, run: Callable[[Any], Any]) -> None:
        self.group = group
        self.run = run
        self.arrays: dict[str, Any] = {}
        self.lengths: dict[str, int] = {}

    def append(self, rows: Table) -> None:
        before = dict(self.lengths)  # a text column's offsets go on from the bytes stored before this block
        for name, values in rows.columns.items():
            if name.endswith("_offsets") and before.get(name):
                values = np.asarray(values, np.int64)[1:] + before[name[: -len("_offsets")]]
            self._extend(name, np.ascontiguousarray(values))

    def _extend(self, name: str, values: np.ndarray) -> None:
        array = self.arrays.get(name)
        if array is None:
            chunk = TEXT_CHUNK_BYTES if values.dtype == np.uint8 else TABLE_CHUNK_ROWS
            array = self.arrays[name] = self.run(
                self.group.create_array(name, shape=(0,), dtype=values.dtype, chunks=(chunk,), compressors=None,
                                        fill_value=0, config={"write_empty_chunks": True})
            )  # fmt: skip
            self.lengths[name] = 0
        start = self.lengths[name]
        end = start + len(values)
        if end == start:
            return
        bigger = with_shape(array, (end,))  # rows are written before the stored length covers them
        self.run(bigger.setitem(slice(start, end), values))
        self.run(array.resize((end,), delete_outside_chunks=False))
        self.lengths[name] = end


def with_shape(array: Any, shape: tuple[int, ...]) -> Any:
    """A handle on the same array, with a larger shape in memory only (nothing is written): the
    chunks past the stored shape can be written before the shape says they exist."""
    from zarr.core.array import AsyncArray

    return AsyncArray(array.metadata.update_shape(shape), array.store_path, config=array.config)
