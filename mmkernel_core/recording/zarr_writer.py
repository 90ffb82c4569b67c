"""OME-Zarr (zarr v3, NGFF 0.5) recordings, at disk speed.

What makes zarr-python fast enough (measured on this machine class, see docs/recording.md):
- frames of one chunk go straight to the store (`store.set`, zero-copy from the camera's
  buffer), with a few writes in flight on an event loop of the recording's own;
- chunk keys use the "." separator (`c.17.0.0`: no two directories created per frame);
- `write_empty_chunks` on (zarr's check for all-fill chunks costs ~13 ms CPU per 8 MiB frame);
- no compression unless asked (zarr's default zstd caps at ~12 frames/s of 2048x2048);
- the time axis grows in large steps and shrinks once at the end, without zarr's scan that
  deletes every chunk key outside the new shape;
- small frames share a chunk (a chunk per 8 KiB frame is filesystem metadata, not data), and a
  sharded array is written a whole shard at a time (never read-modify-write).

Layout: one camera makes the store's root an NGFF image (array "0"); several cameras make one
image group per camera label. Each image group holds `mmkernel/frames/...` (the per-frame table)
and `projections/<name>` (images steps made); the root holds `mmkernel/datastreams/<name>/...`
and the attribute "mmkernel" (system state, configuration, parameters, result).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np

from mmkernel_sdk.recording import StreamSpec, StreamWriter, Table, Writer

from ..runtime import is_whole
from ._durable import sync_tree
from ._io_loop import IoLoop
from ._ngff import axes_for, image_metadata
from ._tables import first_rows, frame_interval

SMALL_CHUNK_BYTES = 4 << 20  # frames smaller than this share a chunk of about this size
CHUNK_SPAN_S = 1.0  # ...but in a slow recording (a time-lapse) a chunk spans at most this long
SLOW_INTERVAL_S = 0.1  # 10 frames/s or fewer (by interval_ms, else exposure) is slow
GROW_FRAMES = 1024  # an open-ended time axis grows by at least this much at a time
WRITE_DEPTH = 3  # chunk writes in flight per stream
COMPRESSIONS = ("none", "blosc-lz4", "blosc-zstd")
TABLE_CHUNK_ROWS = 1 << 16


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
        self.io = IoLoop("mmkernel-record-io")
        try:
            self.root = self.io.run(za.open_group(store=destination, mode="w-", zarr_format=3))
            self.store = self.root.store
            self.store_copies = _copies_what_it_is_given(self.store)
            self.io.run(self.root.update_attributes({"mmkernel": metadata}))
            if len(streams) == 1:
                self.images[streams[0]] = self.root
            else:
                for name in streams:
                    self.images[name] = self.io.run(self.root.create_group(name))
        except BaseException:
            self.io.close()
            raise

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
        group = self.io_run(self.root.require_group("mmkernel"))
        group = self.io_run(group.require_group("datastreams"))
        self.write_table(self.io_run(group.create_group(name)), table)

    def write_table(self, group: Any, table: Table) -> None:
        for column, values in table.columns.items():
            values = np.ascontiguousarray(values)
            chunk = max(1, min(len(values), TABLE_CHUNK_ROWS if values.dtype != np.uint8 else 1 << 22))
            array = self.io_run(
                group.create_array(column, shape=values.shape, dtype=values.dtype, chunks=(chunk,), compressors=None,
                                   fill_value=0, config={"write_empty_chunks": True})
            )  # fmt: skip
            if len(values):
                self.io_run(array.setitem(Ellipsis, values))

    def close(self, metadata: dict[str, Any]) -> str:
        try:
            self.io_run(self.root.update_attributes({"mmkernel": metadata}))
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


class ZarrStream(StreamWriter):
    """One camera's array. Frames of one chunk each are written zero-copy with `write_depth`
    writes in flight; smaller frames are copied into chunk (or shard) blocks, written whole."""

    def __init__(self, writer: OmeZarrWriter, group: Any, spec: StreamSpec) -> None:
        from zarr.codecs import BloscCodec

        self.writer, self.group, self.spec = writer, group, spec
        self.dtype = np.dtype(spec.dtype).newbyteorder("<")
        self.frame_bytes = math.prod(spec.frame_shape) * self.dtype.itemsize
        per_chunk = writer.frames_per_chunk or _default_frames_per_chunk(self.frame_bytes, spec.interval_s)
        if writer.shard_frames is not None and writer.shard_frames % per_chunk:
            per_chunk = math.gcd(per_chunk, writer.shard_frames)
        self.per_chunk = per_chunk
        self.block_frames = writer.shard_frames or per_chunk  # the unit written at once
        self.axes = axes_for(len(spec.frame_shape))
        self.capacity = spec.count if spec.count else max(GROW_FRAMES, self.block_frames)
        self.capacity = -(-self.capacity // self.block_frames) * self.block_frames
        compressors: Any = None
        self._encode: Any = None
        if writer.compression != "none":
            cname = writer.compression.split("-", 1)[1]
            compressors = [BloscCodec(cname=cname, clevel=writer.clevel, shuffle="bitshuffle",
                                      typesize=self.dtype.itemsize)]  # fmt: skip
            if writer.shard_frames is None:  # chunks are encoded here, shards by zarr
                from numcodecs import Blosc

                blosc = Blosc(cname=cname, clevel=writer.clevel, shuffle=Blosc.BITSHUFFLE)
                self._encode = lambda frames: blosc.encode(np.ascontiguousarray(frames, self.dtype))
        shards = (writer.shard_frames, *spec.frame_shape) if writer.shard_frames else None
        self.array = writer.io_run(
            group.create_array("0", shape=(self.capacity, *spec.frame_shape), dtype=self.dtype,
                               chunks=(per_chunk, *spec.frame_shape), shards=shards, compressors=compressors,
                               fill_value=0, dimension_names=self.axes,
                               chunk_key_encoding={"name": "default", "separator": "."},
                               config={"write_empty_chunks": True})
        )  # fmt: skip
        writer.io_run(group.update_attributes({"ome": self._ome(spec.interval_s)}))
        self.prefix = f"{self.array.path}/" if self.array.path else ""
        self.zeros = (0,) * len(spec.frame_shape)
        self.received = 0  # frames handed to write()
        self._done = 0  # frames stored, contiguous from the first
        self._bytes = 0
        # (first frame, frames, bytes, the write, whether it writes the caller's memory)
        self._inflight: deque[tuple[int, int, int, Future[Any], bool]] = deque()
        self._block: np.ndarray | None = None
        self._block_fill = 0
        self._spare_blocks: list[np.ndarray] = []
        self._failure: BaseException | None = None
        self._ratio: float | None = None

    def _ome(self, interval_s: float) -> dict[str, Any]:
        spec = self.spec
        return image_metadata(spec.name, self.axes, spec.pixel_size_um, interval_s, spec.channel_names)

    # -- writing -----------------------------------------------------------------------------
    def write(self, runs: Sequence[np.ndarray]) -> int:
        self._settle(wait=False)  # writes that finished meanwhile free their frames
        if self.block_frames == 1:
            for run in runs:
                for frame in run:
                    self._grow_for(self.received)
                    self._put_frame(self.received, frame)
                    self.received += 1
            return self._done
        whole = self.block_frames
        direct = self.writer.shard_frames is None
        for run in runs:
            start, count = 0, len(run)
            while start < count:
                if direct and self._block_fill == 0 and count - start >= whole:
                    chunk = run[start : start + whole]
                    if chunk.dtype == self.dtype and chunk.flags.c_contiguous:  # a whole chunk as it lies in memory
                        self._grow_for(self.received + whole - 1)
                        self._put_chunk(self.received, whole, chunk, None)
                        self.received += whole
                        start += whole
                        continue
                block = self._current_block()
                take = min(count - start, self.block_frames - self._block_fill)
                block[self._block_fill : self._block_fill + take] = run[start : start + take]  # one copy per piece
                self._block_fill += take
                self.received += take
                start += take
                if self._block_fill == self.block_frames:
                    self._flush_block()
        self._settle(wait=False)
        pinned = [first for first, _, _, _, keeps in self._inflight if keeps]
        return pinned[0] if pinned else self.received  # frames of zero-copy writes in flight stay held

    def _put_frame(self, index: int, frame: np.ndarray) -> None:

        if self._encode is not None:
            data = np.frombuffer(self._encode(frame), np.uint8)
        else:
            if frame.dtype != self.dtype or not frame.flags.c_contiguous:
                frame = np.ascontiguousarray(frame, self.dtype)
            data = frame.reshape(-1).view(np.uint8)
        key = self.prefix + self.array.metadata.encode_chunk_key((index, *self.zeros))
        self._submit(index, 1, self.writer.store.set(key, self._buffer(data)), data.nbytes)

    def _put_chunk(self, first: int, count: int, frames: np.ndarray, block: np.ndarray | None) -> None:
        """One chunk's frames to the store: encoded, or their bytes as they lie (zero-copy: the
        frames, a block of ours or a span of the camera's buffer, stay untouched until written)."""

        data = np.frombuffer(self._encode(frames), np.uint8) if self._encode else frames.reshape(-1).view(np.uint8)
        key = self.prefix + self.array.metadata.encode_chunk_key((first // self.per_chunk, *self.zeros))
        keeps = block is None and self._encode is None  # the camera's own memory is being written
        self._submit(first, count, self.writer.store.set(key, self._buffer(data)), data.nbytes, block, keeps)

    def _buffer(self, data: np.ndarray) -> Any:
        """The bytes for store.set: zero-copy when the store copies them (files, fsspec), else
        a copy of our own, since a store that keeps what it is given (zarr's MemoryStore, an
        unknown one) would see the camera's buffer and our blocks reused under it."""
        from zarr.core.buffer import cpu

        return cpu.Buffer.from_array_like(data if self.writer.store_copies else data.copy())

    def _current_block(self) -> np.ndarray:
        if self._block is None:
            shape = (self.block_frames, *self.spec.frame_shape)
            self._block = self._spare_blocks.pop() if self._spare_blocks else np.zeros(shape, self.dtype)
            self._block_fill = 0
        return self._block

    def _flush_block(self) -> None:
        block, count = self._block, self._block_fill
        if block is None or count == 0:
            return
        first = self.received - count
        self._grow_for(first + count - 1)
        self._block = None
        if self.writer.shard_frames is None:  # the block is one chunk: its bytes go straight to the store
            if count < self.block_frames:
                block[count:] = 0  # the end of a last, partial chunk: fill, not a reused block's old frames
            self._put_chunk(first, count, block, block)
            return
        array = self.array  # a shard: zarr lays out its chunks and index, written whole in one set
        selection = (slice(first, first + count), *(slice(None) for _ in self.spec.frame_shape))

        async def put() -> None:
            await array.setitem(selection, block[:count])

        self._submit(first, count, put(), count * self.frame_bytes, block, keeps=False)

    def _submit(
        self, first: int, count: int, coroutine: Any, nbytes: int, block: np.ndarray | None = None, keeps: bool = True
    ) -> None:
        io = self.writer.io
        assert io is not None
        future = io.submit(coroutine)
        if block is not None:
            future.add_done_callback(lambda _: self._spare_blocks.append(block))
        self._inflight.append((first, count, nbytes, future, keeps))
        self._settle(wait=len(self._inflight) > self.writer.write_depth)

    def _settle(self, wait: bool) -> None:
        """Count finished writes (in order); wait for the oldest when too many are in flight.
        A failed write raises here, once; later frames are not counted as written."""
        inflight = self._inflight
        while inflight:
            first, count, nbytes, future, _ = inflight[0]
            if not future.done():
                if not wait:
                    return
                future.exception()  # waits
            inflight.popleft()
            wait = len(inflight) > self.writer.write_depth
            error = future.exception()
            if error is not None:
                if self._failure is None:
                    self._failure = error
                    raise error
                continue
            if self._failure is None and first == self._done:
                self._done = first + count
                self._bytes += nbytes

    def _grow_for(self, index: int) -> None:
        if index < self.capacity:
            return
        step = max(self.capacity, GROW_FRAMES)
        self.capacity = -(-(index + step) // self.block_frames) * self.block_frames
        self.writer.io_run(self.array.resize((self.capacity, *self.spec.frame_shape)))

    # -- state -------------------------------------------------------------------------------
    @property
    def written(self) -> int:
        return self._done

    @property
    def bytes_written(self) -> int:
        return self._bytes

    @property
    def compression_ratio(self) -> float | None:
        """Raw bytes / stored bytes, once closed (None when uncompressed)."""
        return self._ratio

    async def _stored_bytes(self) -> int:
        store, total, chunks = self.writer.store, 0, self.prefix + "c"
        async for key in store.list_prefix(self.prefix):
            if key.startswith(chunks):
                total += await store.getsize(key)
        return total

    # -- the end -----------------------------------------------------------------------------
    def close(self, table: Table) -> int:
        """Write what is left, wait for every write, shrink the time axis to the frames written,
        store the per-frame table and the final NGFF metadata (time scale from the frames'
        receive times). Runs after a failure too: what was written stays readable."""
        if self._failure is None:
            try:
                self._flush_block()
            except BaseException as error:  # noqa: BLE001 - reported by the caller, like a write error
                self._failure = error
        while self._inflight:
            try:
                self._settle(wait=True)
            except BaseException:  # noqa: BLE001 - the first failure was raised by write() already
                pass
        written = self._done
        shape = (written, *self.spec.frame_shape)
        self.writer.io_run(self.array.resize(shape, delete_outside_chunks=False))
        rows = first_rows(table, written)
        group = self.writer.io_run(self.group.require_group("mmkernel"))
        self.writer.write_table(self.writer.io_run(group.create_group("frames")), rows)
        if self.writer.compression != "none" and written:
            stored = self.writer.io_run(self._stored_bytes())
            self._bytes = stored
            self._ratio = written * self.frame_bytes / stored if stored else None
        interval = frame_interval(rows, self.spec.interval_s)
        self.writer.io_run(self.group.update_attributes({"ome": self._ome(interval)}))
        return written


def _copies_what_it_is_given(store: Any) -> bool:
    """LocalStore writes the bytes to a file and FsspecStore hands them to fsspec, which copies;
    anything else may keep the buffer itself (MemoryStore does)."""
    from zarr.storage import FsspecStore, LocalStore

    return isinstance(store, (LocalStore, FsspecStore))


def _default_frames_per_chunk(frame_bytes: int, interval_s: float) -> int:
    """About 4 MiB of frames, but no more than CHUNK_SPAN_S of them: frames wait in memory until
    their chunk is written, and a slow time-lapse must not keep minutes of them there."""
    frames = max(1, min(4096, -(-SMALL_CHUNK_BYTES // max(1, frame_bytes))))
    if interval_s >= SLOW_INTERVAL_S:
        frames = min(frames, max(1, int(CHUNK_SPAN_S / interval_s)))
    return frames
