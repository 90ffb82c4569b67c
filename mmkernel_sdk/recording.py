"""What recording plugins implement: file formats (writers) and processing steps.

The kernel records cameras on its own threads: frames go from each camera's buffer through the
steps to a writer, which puts them on disk (or any store). A plugin adds a format or a step by
returning factories from the hooks `mmkernel_writers()` / `mmkernel_steps()` (see
`mmkernel_sdk.plugin`). Both see only numpy arrays and these small records, never the kernel.

- A `Step` takes one frame (a read-only numpy view of the camera's buffer) and returns a frame
  (a new array, a view of the input, or an array it reuses), or None to drop the frame
  (counted). It may keep the frame it is given until its next call (the previous frame, for a
  difference); anything kept longer must be copied (`np.array(frame)`): the buffer reuses its
  memory oldest first, and a recording whose camera is held up by a kept frame ends with a
  RecordingError saying so. `finish()` may return images of its own (a projection) that the
  writer stores beside the recording.
- A `Writer` is one destination (a store, a file); `check_stream` refuses, before anything is
  written, a format it cannot store; `add_stream` gives a `StreamWriter` per array (one
  camera's frames), used from one thread only. `write` receives runs of frames in
  order ((n, *frame) arrays) and returns how many frames (from the start) it no longer needs:
  the kernel keeps the rest of them, zero-copy, until then.
- Nothing accumulates: `write` gets the per-frame table rows of its frames with them, the
  writer gets datastream rows as they come (`add_table(name, rows)`, appended), and at least
  every second the kernel asks every stream to make what it has durable and visible
  (`checkpoint()`) and tells the writer the recording's progress (`checkpoint(progress)`), so a
  process killed at any moment leaves a dataset that reads as the frames written up to then.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True, slots=True)
class FrameInfo:
    """What the per-frame table records of one frame."""

    number: int  # the camera's frame number in its sequence (gaps: frames dropped)
    received: float  # kernel receive time, seconds since the epoch
    camera_time: float | None  # the camera's own timestamp (ms), if it gives one
    changes: Mapping[str, Any]  # "Label-Property": value changed since the previous frame


@dataclass(frozen=True)
class StreamSpec:
    """One array of a recording: a camera's frames after the steps."""

    name: str  # the camera's label
    frame_shape: tuple[int, ...]  # (y, x), or (c, y, x) for colour
    dtype: np.dtype
    count: int | None  # frames expected; None: open-ended
    pixel_size_um: float = 0.0  # 0: unknown
    interval_s: float = 0.0  # nominal time between frames; 0: as fast as possible
    channel_names: tuple[str, ...] = ()


@dataclass
class Table:
    """Columns of equal length (numpy arrays): the per-frame table, a datastream."""

    columns: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0


class StreamWriter:
    """Writes one array; called from one thread only."""

    def write(self, runs: Sequence[np.ndarray], rows: Table) -> int:
        """Append frames, given as runs: arrays of one or more frames along their first axis
        (n, *spec.frame_shape), read-only, possibly views into a camera's buffer (a run of small
        frames is one array: copy or write it in one go), and `rows`, their rows of the
        per-frame table (number, received, camera_time, changes + changes_offsets), one per
        frame. Return how many frames from the start of the stream the writer no longer needs
        (it may keep the newest until their writes complete: the kernel keeps them, zero-copy,
        until then)."""
        raise NotImplementedError

    @property
    def written(self) -> int:
        """Frames stored so far (contiguous from the first)."""
        raise NotImplementedError

    @property
    def bytes_written(self) -> int:
        """Bytes of pixel data stored so far (after compression)."""
        raise NotImplementedError

    def checkpoint(self) -> int:
        """Called at least every second: store every frame handed to `write` so far and its
        row, then make them visible to a reader (never a frame before its row, never more
        frames than were written), so a process killed at any moment leaves them. The kernel
        adds the datastream rows before this call and the progress after it. Returns frames
        the writer no longer needs (all of them, once their writes are done). The default:
        `written`."""
        return self.written

    def close(self) -> int:
        """Finish: everything in flight is stored, the array's length is the frames written,
        and their rows are stored (rows of frames a failed write lost are not). Returns frames
        written. Called also after a failure, so that what was written stays readable."""
        raise NotImplementedError


class Writer:
    """One recording's destination. The kernel calls `open`, then `add_stream` per camera (from
    that camera's writer thread), `add_image` / `add_table` for projections and datastreams,
    and `close` once every stream is closed (also after a failure). A writer that takes store
    objects and URLs besides paths (zarr) says so with `accepts_stores`; `suffixes` are the
    endings its paths usually have (a path with another format's suffix is refused), and
    `stream_paths` names the files it makes beside the path (checked not to exist first)."""

    accepts_stores = False
    suffixes: tuple[str, ...] = ()

    def stream_paths(self, destination: str, streams: Sequence[str]) -> list[str]:
        """Files besides `destination` itself that recording `streams` would create."""
        return []

    def check_stream(self, spec: StreamSpec) -> None:
        """Raise ValueError saying what this writer stores if it cannot store frames of
        `spec.frame_shape` ((y, x), or (c, y, x) planes) and `spec.dtype`. Called before the
        recording starts (for the format its steps make of a blank frame) and at the first
        frame, so a recording never fails at its end for a format. The default takes any."""

    def open(self, destination: Any, metadata: dict[str, Any], streams: Sequence[str]) -> None:
        raise NotImplementedError

    def add_stream(self, spec: StreamSpec) -> StreamWriter:
        raise NotImplementedError

    def add_image(self, stream: str, name: str, image: np.ndarray, spec: StreamSpec) -> None:
        """An image a step made (e.g. the max projection of `stream`)."""
        raise NotImplementedError

    def add_table(self, name: str, table: Table) -> None:
        """Rows of a table beside the images (a datastream: time, frame, value), appended to
        what earlier calls with the same name gave (called as the recording goes)."""
        raise NotImplementedError

    def checkpoint(self, progress: dict[str, Any]) -> None:
        """At least every second: the recording's progress ({"state": "recording",
        "frames_written": {stream: n}, "updated": epoch seconds}), for a reader of a dataset
        whose recording never closed. The default does nothing."""

    def discard(self) -> None:
        """The recording could not start (nothing was recorded): remove what `open` made, so
        the same destination can be used again. The default closes with an error result."""
        self.close({"result": {"error": "the recording could not start"}})

    def close(self, metadata: dict[str, Any]) -> str:
        """Store the final metadata and make everything durable; return where it went."""
        raise NotImplementedError


class Step:
    """A processing step; one instance per camera stream, called from one thread. A step that
    changes the pixel size (binning) says by how much in `pixel_scale`.

    `process` gets a read-only view of the camera's buffer: keep it at most until the next call
    (the previous frame, for a difference), and copy anything kept longer (`np.array(frame)`,
    e.g. a background taken from the first frame); the buffer reuses its memory oldest first."""

    name = "step"
    pixel_scale = 1.0

    def process(self, frame: np.ndarray, info: FrameInfo) -> np.ndarray | None:
        raise NotImplementedError

    def finish(self) -> dict[str, np.ndarray]:
        """Images of its own to store at the end ({"max": projection}); most steps have none."""
        return {}

    def describe(self) -> dict[str, Any]:
        """The step and its parameters, for the recording's metadata."""
        return {"step": self.name}
