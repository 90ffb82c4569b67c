"""One camera's array of an OME-Zarr recording: frames to chunks (or shards) at disk speed.

Frames of one chunk each are written zero-copy with a few writes in flight; smaller frames are
copied into chunk (or shard) blocks, written whole. Chunks go to the store ahead of the stored
shape, which grows only at checkpoints to the frames written by then (see zarr_writer).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import numpy as np

from mmkernel_sdk.recording import StreamSpec, StreamWriter, Table

from ._ngff import axes_for, image_metadata
from ._tables import concat_rows, frame_interval, head_rows
from ._zarr_pending import PendingShard
from ._zarr_tables import with_shape

if TYPE_CHECKING:
    from .zarr_writer import OmeZarrWriter

SMALL_CHUNK_BYTES = 4 << 20  # frames smaller than this share a chunk of about this size
CHUNK_SPAN_S = 1.0  # ...but in a slow recording (a time-lapse) a chunk spans at most this long
SLOW_INTERVAL_S = 0.1  # 10 frames/s or fewer (by interval_ms, else exposure) is slow
GROW_FRAMES = 1024  # an open-ended time axis grows by at least this much at a time
INTERVAL_SAMPLES = 4096  # receive times kept to estimate the time step for the NGFF scale


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
        self.capacity = 0  # frames the writing handle's shape covers (the stored shape: frames checkpointed)
        self.sharded = writer.shard_frames is not None
        self.compressors: Any = None
        encode: Any = None  # chunks are encoded here (shards by zarr, their pending frames here too)
        if writer.compression != "none":
            from numcodecs import Blosc

            cname = writer.compression.split("-", 1)[1]
            self.compressors = [BloscCodec(cname=cname, clevel=writer.clevel, shuffle="bitshuffle",
                                           typesize=self.dtype.itemsize)]  # fmt: skip
            blosc = Blosc(cname=cname, clevel=writer.clevel, shuffle=Blosc.BITSHUFFLE)
            encode = lambda frames: blosc.encode(np.ascontiguousarray(frames, self.dtype))  # noqa: E731
        self._encode: Any = None if self.sharded else encode
        self.pending = PendingShard(self, encode)
        shards = (writer.shard_frames, *spec.frame_shape) if writer.shard_frames else None
        self.array = writer.io_run(
            group.create_array("0", shape=(0, *spec.frame_shape), dtype=self.dtype,
                               chunks=(per_chunk, *spec.frame_shape), shards=shards, compressors=self.compressors,
                               fill_value=0, dimension_names=self.axes,
                               chunk_key_encoding={"name": "default", "separator": "."},
                               config={"write_empty_chunks": True})
        )  # fmt: skip
        self._writing = self.array  # the same array with room for frames not checkpointed yet (shards)
        writer.io_run(group.update_attributes({"ome": self._ome(spec.interval_s)}))
        self.table = writer.table_group(group, "frames")
        self.rows = 0  # per-frame table rows stored
        self._pending_rows: list[Table] = []  # rows of frames handed to write() since the last checkpoint
        self._received_times: list[float] = []  # the first frames' receive times: the time step
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
        self._shown = 0  # frames the stored shape shows

    def _ome(self, interval_s: float) -> dict[str, Any]:
        spec = self.spec
        return image_metadata(spec.name, self.axes, spec.pixel_size_um, interval_s, spec.channel_names)

    # -- writing -----------------------------------------------------------------------------
    def write(self, runs: Sequence[np.ndarray], rows: Table) -> int:
        self._pending_rows.append(rows)
        self._settle(wait=False)  # writes that finished meanwhile free their frames
        if self.block_frames == 1 and not self.sharded:
            for run in runs:
                for frame in run:
                    self._grow_for(self.received)
                    self._put_frame(self.received, frame)
                    self.received += 1
            return self._done
        whole = self.block_frames
        direct = not self.sharded
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

    def _put_chunk(
        self, first: int, count: int, frames: np.ndarray, block: np.ndarray | None, keeps: bool | None = None
    ) -> None:
        """One chunk's frames to the store: encoded, or their bytes as they lie (zero-copy: the
        frames, a block of ours or a span of the camera's buffer, stay untouched until written)."""

        data = np.frombuffer(self._encode(frames), np.uint8) if self._encode else frames.reshape(-1).view(np.uint8)
        key = self.prefix + self.array.metadata.encode_chunk_key((first // self.per_chunk, *self.zeros))
        if keeps is None:
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

    def _flush_block(self, partial: bool = False) -> None:
        """Write the block of frames being filled. A `partial` flush (a checkpoint of an
        unsharded array) writes a copy of what it holds so far and keeps filling it; its chunk
        is written again, whole, later. A shard is written once, whole (or at the end as far as
        it is filled)."""
        block, count = self._block, self._block_fill
        if block is None or count == 0:
            return
        first = self.received - count
        self._grow_for(first + count - 1)
        if partial:
            block = block.copy()
        else:
            self._block = None
        if not self.sharded:  # the block is one chunk: its bytes go straight to the store
            if count < self.block_frames:
                block[count:] = 0  # the end of a partial chunk: fill, not a reused block's old frames
            self._put_chunk(first, count, block, None if partial else block, keeps=False)
            return
        array = self._writing  # a shard: zarr lays out its chunks and index, written whole in one set
        selection = (slice(first, first + count), *(slice(None) for _ in self.spec.frame_shape))

        async def put() -> None:
            await array.setitem(selection, block[:count])

        self._submit(first, count, put(), count * self.frame_bytes, None if partial else block, keeps=False)

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
            if self._failure is None and first <= self._done < first + count:  # (a chunk may be written twice)
                self._bytes += nbytes * (first + count - self._done) // count
                self._done = first + count

    def _grow_for(self, index: int) -> None:
        """Room for frame `index` in the writing handle (shard writes check it): in memory only,
        the stored shape grows at checkpoints."""
        if index < self.capacity:
            return
        step = max(self.capacity, GROW_FRAMES)
        self.capacity = -(-(index + step) // self.block_frames) * self.block_frames
        if self.writer.shard_frames is not None:
            self._writing = with_shape(self.array, (self.capacity, *self.spec.frame_shape))

    def checkpoint(self) -> int:
        """Make every frame handed to write() so far durable and visible: the block being filled
        is written as it is, every write is waited for, the rows are stored, then the stored
        shape grows to the frames written (the order a reader of a killed recording relies on).
        A sharded array shows whole shards; the frames of the shard being filled go to its
        pending region (see _zarr_pending)."""
        if self.sharded:
            return self._checkpoint_shards()
        if self._failure is None:
            self._flush_block(partial=True)
        self._settle_all()
        self._store_rows(self._done)
        self._show(self._done)
        return self._done

    def _checkpoint_shards(self) -> int:
        self._settle_all()  # the whole shards handed to zarr are written
        fill = self._block_fill if self._block is not None else 0
        whole = self.received - fill
        if whole > self._shown:  # shown first (rows before frames): then the pending region is the next shard's
            self._store_rows(self._done)
            self._show(min(whole, self._done))
        if self._failure is None and fill:
            assert self._block is not None
            self.pending.write(self._block, whole, fill)
            self._settle_all()
        self._store_rows(self._done)
        self.pending.publish(whole, max(0, min(fill, self._done - whole)))
        return self._done

    def _settle_all(self) -> None:
        while self._inflight:
            self._settle(wait=True)  # a failed write raises here, once, like in write()

    def _store_rows(self, written: int) -> None:
        """The rows of frames written (rows past them, of frames a failed write lost, are not)."""
        rows = head_rows(concat_rows(self._pending_rows), max(0, written - self.rows))
        self._pending_rows = []
        if len(rows):
            self.table.append(rows)
            self.rows += len(rows)
            if len(self._received_times) < INTERVAL_SAMPLES:
                received = rows.columns["received"][: INTERVAL_SAMPLES - len(self._received_times)]
                self._received_times += np.asarray(received, np.float64).tolist()

    def _show(self, frames: int) -> None:
        if frames != self._shown:
            self.writer.io_run(self.array.resize((frames, *self.spec.frame_shape), delete_outside_chunks=False))
            self._shown = frames

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
    def close(self) -> int:
        """Write what is left, wait for every write, store the last rows, show the frames
        written, and the final NGFF metadata (time scale from the frames' receive times). Runs
        after a failure too: what was written stays readable."""
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
        self._store_rows(written)
        self._show(written)
        if self._failure is None:
            self.pending.remove()
        if self.writer.compression != "none" and written:
            stored = self.writer.io_run(self._stored_bytes())
            self._bytes = stored
            self._ratio = written * self.frame_bytes / stored if stored else None
        received = {"received": np.asarray(self._received_times, np.float64)}
        interval = frame_interval(Table(received), self.spec.interval_s)
        self.writer.io_run(self.group.update_attributes({"ome": self._ome(interval)}))
        return written


def _default_frames_per_chunk(frame_bytes: int, interval_s: float) -> int:
    """About 4 MiB of frames, but no more than CHUNK_SPAN_S of them: frames wait in memory until
    their chunk is written, and a slow time-lapse must not keep minutes of them there."""
    frames = max(1, min(4096, -(-SMALL_CHUNK_BYTES // max(1, frame_bytes))))
    if interval_s >= SLOW_INTERVAL_S:
        frames = min(frames, max(1, int(CHUNK_SPAN_S / interval_s)))
    return frames
