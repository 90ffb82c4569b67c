"""OME-Zarr (zarr v3, NGFF 0.5) recordings, at disk speed.

What makes zarr-python fast enough (measured on this machine class, see docs/recording.md):
- frames of one chunk go straight to the store (`store.set`, zero-copy from the camera's
  buffer), with a few writes in flight on an event loop of the recording's own;
- chunk keys use the "." separator (`c.17.0.0`: no two directories created per frame);
- `write_empty_chunks` on (zarr's check for all-fill chunks costs ~13 ms CPU per 8 MiB frame);
- no compression unless asked (zarr's default zstd caps at ~12 frames/s of 2048x2048);
- chunks are written ahead of the stored shape, which grows only at checkpoints (at least
  every second) to the frames written by then, without zarr's scan that deletes every chunk
  key outside the new shape;
- small frames share a chunk (a chunk per 8 KiB frame is filesystem metadata, not data), and a
  sharded array is written a whole shard at a time (never read-modify-write; the frames of a
  shard still filling at a checkpoint go to a pending region once, see _zarr_pending).

Layout: one camera makes the store's root an NGFF image (array "0"); several cameras make one
image group per camera label. Each image group holds `mmkernel/frames/...` (the per-frame table)
and `projections/<name>` (images steps made); the root holds `mmkernel/datastreams/<name>/...`
and the attribute "mmkernel" (system state, configuration, parameters, result, and "progress":
state "recording" or "finished", frames written per camera), made with the root itself.

A recording whose process is killed at any moment (SIGKILL, an out-of-memory kill) leaves a
dataset whose arrays hold only frames that were written (their stored shape is the last
checkpoint's), whose tables reach that checkpoint, and whose progress says "recording":
metadata files are replaced atomically, and a checkpoint's datastream rows, chunks and
per-frame rows are in the store before the shapes that show them. Checkpoints do not wait for
the disk (a power cut is not covered); closing syncs everything.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mmkernel_sdk.recording import StreamSpec, Table, Writer

from ..runtime import is_whole
from ._durable import sync_tree
from ._io_loop import IoLoop
from ._json import strict_json
from ._ngff import image_metadata
from ._zarr_stream import ZarrStream
from ._zarr_tables import GrowingTable

WRITE_DEPTH = 3  # chunk writes in flight per stream
COMPRESSIONS = ("none", "blosc-lz4", "blosc-zstd")


class OmeZarrWriter(Writer):
    """`format="ome-zarr"`. Options: `compression` ("none", "blosc-lz4" or "blosc-zstd", with
    bitshuffle), `clevel`, `frames_per_chunk` (default: 1 for frames of 4 MiB or more, else
    enough frames for about 4 MiB, and in a recording of 10 frames/s or fewer no more than a
    second of them, so a time-lapse's frames do not wait in memory), `shard_frames` (frames per shard; a multiple of
    frames_per_chunk), `write_depth` (chunk writes in flight)."""

    suffixes = (".zarr",)
    accepts_stores = True

    def __init__(
        self,
        compression: str = "none",
        clevel: int = 1,
        frames_per_chunk: int | None = None,
        shard_frames: int | None = None,
        write_depth: int = WRITE_DEPTH,
    ) -> None:
        if compression not in COMPRESSIONS:
            raise ValueError(f"ome-zarr: compression {compression!r} is not one of {', '.join(COMPRESSIONS)}")
        if not is_whole(clevel) or not 0 <= clevel <= 9:
            raise ValueError(f"ome-zarr: clevel must be a whole number from 0 to 9, not {clevel!r}")
        for name, value in (("frames_per_chunk", frames_per_chunk), ("shard_frames", shard_frames)):
            if value is not None and (not is_whole(value) or value < 1):
                raise ValueError(f"ome-zarr: {name} must be a whole number >= 1, not {value!r}")
        if shard_frames is not None and frames_per_chunk is not None and shard_frames % frames_per_chunk:
            raise ValueError(
                f"ome-zarr: shard_frames ({shard_frames}) must be a multiple of frames_per_chunk ({frames_per_chunk})"
            )
        if not is_whole(write_depth) or write_depth < 1:
            raise ValueError(f"ome-zarr: write_depth must be a whole number >= 1, not {write_depth!r}")
        self.compression, self.clevel = compression, int(clevel)
        self.frames_per_chunk = None if frames_per_chunk is None else int(frames_per_chunk)
        self.shard_frames = None if shard_frames is None else int(shard_frames)
        self.write_depth = int(write_depth)
        self.io: IoLoop | None = None
        self.root: Any = None
        self.store: Any = None
        self.store_copies = False  # whether store.set copies the bytes (then they go zero-copy)
        self.images: dict[str, Any] = {}
        self.streams: list[ZarrStream] = []
        self.metadata: dict[str, Any] = {}
        self.made: Path | None = None  # the directory open() made
        self.tables: dict[str, GrowingTable] = {}
        self._lock = threading.Lock()  # the root's attributes and groups: streams run on threads of their own

    def options(self) -> dict[str, Any]:
        return {
            "compression": self.compression,
            "clevel": self.clevel,
            "frames_per_chunk": self.frames_per_chunk,
            "shard_frames": self.shard_frames,
            "write_depth": self.write_depth,
        }

    # -- the store ---------------------------------------------------------------------------
    def open(self, destination: Any, metadata: dict[str, Any], streams: Sequence[str]) -> None:
        import zarr.api.asynchronous as za

        if self.compression != "none":
            import numcodecs.blosc

            numcodecs.blosc.use_threads = True  # zarr calls codecs off the main thread
        self.made = _reserve(destination)
        self.io = IoLoop("mmkernel-record-io")
        try:
            self.metadata = strict_json(metadata)
            progress = {"state": "recording", "frames_written": {name: 0 for name in streams}}
            store = destination
            if self.made is not None:
                from ._zarr_store import RecordingStore

                store = RecordingStore(self.made)
            self.root = self.io.run(za.open_group(store=store, mode="w-", zarr_format=3,
                                                  attributes={"mmkernel": self._state(progress)}))  # fmt: skip
            self.store = self.root.store
            self.store_copies = _copies_what_it_is_given(self.store)
            if len(streams) == 1:
                self.images[streams[0]] = self.root
            else:
                for name in streams:
                    self.images[name] = self.io.run(self.root.create_group(name))
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        """Nothing was recorded: remove the store this recording made (a directory it created,
        or what it put in a store object), so the destination can be used again."""
        try:
            if self.root is not None and self.made is None:
                self.io_run(self.store.delete_dir(""))
        finally:
            if self.io is not None:
                self.io.close()
            if self.made is not None:
                shutil.rmtree(self.made, ignore_errors=True)

    def check_stream(self, spec: StreamSpec) -> None:
        dtype = np.dtype(spec.dtype)
        if dtype.kind not in "biufc" or dtype.fields is not None:
            raise ValueError(f"ome-zarr stores frames of numbers (bool, integers, floats, complex), not {dtype}")

    def add_stream(self, spec: StreamSpec) -> ZarrStream:
        stream = ZarrStream(self, self.images[spec.name], spec)
        self.streams.append(stream)
        return stream

    def add_image(self, stream: str, name: str, image: np.ndarray, spec: StreamSpec) -> None:
        group = self.io_run(self.images[stream].require_group("projections"))
        target = self.io_run(group.create_group(name))
        axes = ("c", "y", "x") if image.ndim == 3 else ("y", "x")
        array = self.io_run(
            target.create_array("0", shape=image.shape, dtype=image.dtype, chunks=image.shape, compressors=None,
                                fill_value=0, dimension_names=axes)
        )  # fmt: skip
        self.io_run(array.setitem(Ellipsis, image))
        ome = image_metadata(f"{spec.name} {name}", axes, spec.pixel_size_um, 0.0)
        self.io_run(target.update_attributes({"ome": ome}))

    def add_table(self, name: str, table: Table) -> None:
        with self._lock:
            growing = self.tables.get(name)
            if growing is None:
                group = self.io_run(self.root.require_group("mmkernel"))
                group = self.io_run(group.require_group("datastreams"))
                growing = self.tables[name] = GrowingTable(self.io_run(group.create_group(name)), self.io_run)
        growing.append(table)

    def table_group(self, group: Any, name: str) -> GrowingTable:
        """A growing table `name` under `group`'s "mmkernel" group (a camera's per-frame table)."""
        with self._lock:
            parent = self.io_run(group.require_group("mmkernel"))
            return GrowingTable(self.io_run(parent.create_group(name)), self.io_run)

    def mmkernel_group(self, group: Any) -> Any:
        """`group`'s "mmkernel" group (made if need be)."""
        with self._lock:
            return self.io_run(group.require_group("mmkernel"))

    def checkpoint(self, progress: dict[str, Any]) -> None:
        with self._lock:
            self.io_run(self.root.update_attributes({"mmkernel": self._state(progress)}))

    def _state(self, progress: dict[str, Any]) -> dict[str, Any]:
        """The root's "mmkernel" attribute: the metadata and the progress (a store without it is
        unfinished: the group is made with it)."""
        return {**self.metadata, "progress": strict_json({**progress, "updated": time.time()})}

    def close(self, metadata: dict[str, Any]) -> str:
        try:
            self.metadata = strict_json(metadata)
            written = {stream.spec.name: stream.written for stream in self.streams}
            self.checkpoint({"state": "finished", "frames_written": written})
            root = getattr(self.store, "root", None)
            if isinstance(root, Path):
                sync_tree(root)
            return str(root) if isinstance(root, Path) else repr(self.store)
        finally:
            if self.io is not None:
                self.io.close()

    def io_run(self, coroutine: Any) -> Any:
        assert self.io is not None
        return self.io.run(coroutine)


def _reserve(destination: Any) -> Path | None:
    """A local path is made here, exclusively: of two recordings started to one path at once,
    the second is refused clearly (zarr's own message is about "mode 'w-'"). Returns it."""
    if not isinstance(destination, (str, os.PathLike)) or "://" in os.fspath(destination):
        return None
    path = Path(destination)
    try:
        path.mkdir()
    except FileExistsError:
        raise FileExistsError(f"{str(path)!r} exists (another recording made it just now); a recording never "
                              "overwrites data") from None  # fmt: skip
    return path


def _copies_what_it_is_given(store: Any) -> bool:
    """LocalStore writes the bytes to a file and FsspecStore hands them to fsspec, which copies;
    anything else may keep the buffer itself (MemoryStore does)."""
    from zarr.storage import FsspecStore, LocalStore

    return isinstance(store, (LocalStore, FsspecStore))
