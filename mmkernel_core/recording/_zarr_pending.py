"""The frames of a shard still being filled, readable before the shard is written.

zarr writes a shard as one object, so a shard made visible at every checkpoint would be
rewritten from its start each time (write amplification growing with the square of the time a
shard takes to fill). Instead, at a checkpoint the frames of the shard being filled go to
`mmkernel/pending` beside the image: an unsharded array of one shard's frames, chunked like the
shard's inner chunks, each chunk written once (the last, partly filled one again at the next
checkpoint). Its attribute `mmkernel` = {"first": f, "frames": n} says that its first n frames
are frames f... of the image; the image array's stored shape grows a whole shard at a time.
`open_recording` shows them after the image's frames when `first` is where the image ends; a
plain zarr reader of a killed recording sees the whole shards. So each frame is written at most
twice, and a shard that fills between two checkpoints (a fast recording) only once. When the
recording closes, the last shard is written as it is and the pending array goes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ._zarr_stream import ZarrStream

PENDING = "mmkernel/pending"  # under the image group


class PendingShard:
    """One camera's pending region (made when first needed)."""

    def __init__(self, stream: ZarrStream, encode: Any) -> None:
        self.stream = stream
        self.encode = encode  # the inner chunks' compression (None: raw bytes)
        self.array: Any = None
        self.prefix = ""
        self.shard = -1  # the first frame of the shard whose frames the region holds
        self.whole = 0  # of those, frames in chunks written whole (never written again)
        self.published: tuple[int, int] = (-1, 0)

    def write(self, block: np.ndarray, first: int, fill: int) -> None:
        """Submit the chunks of the shard's first `fill` frames (in `block`) not yet written
        whole; the stream waits for them before the checkpoint says they are there."""
        stream = self.stream
        if fill == 0:
            return
        if self.array is None:
            self._create()
        if first != self.shard:
            self.shard, self.whole = first, 0
        per_chunk = stream.per_chunk
        for start in range(self.whole, fill, per_chunk):
            end = min(start + per_chunk, fill)
            frames = block[start:end]
            if end - start < per_chunk:  # the last chunk, partly filled: zeros after (written again later)
                frames = np.zeros((per_chunk, *block.shape[1:]), block.dtype)
                frames[: end - start] = block[start:end]
            data = np.frombuffer(self.encode(frames), np.uint8) if self.encode else frames.reshape(-1).view(np.uint8)
            key = self.prefix + self.array.metadata.encode_chunk_key((start // per_chunk, *stream.zeros))
            stream._submit(first + start, end - start, stream.writer.store.set(key, stream._buffer(data)), data.nbytes,
                           keeps=False)  # fmt: skip
        self.whole = fill - fill % per_chunk

    def publish(self, first: int, frames: int) -> None:
        """Say which frames the region holds (once they are written and their rows stored)."""
        if self.array is None or (first, frames) == self.published:
            return
        self.stream.writer.io_run(self.array.update_attributes({"mmkernel": {"first": first, "frames": frames}}))
        self.published = (first, frames)

    def remove(self) -> None:
        """The recording closed: every frame is in the image array."""
        if self.array is not None:
            self.stream.writer.io_run(self.stream.writer.store.delete_dir(self.array.path))
            self.array = None

    def _create(self) -> None:
        stream = self.stream
        writer = stream.writer
        group = writer.mmkernel_group(stream.group)
        shape = (writer.shard_frames, *stream.spec.frame_shape)
        self.array = writer.io_run(
            group.create_array("pending", shape=shape, dtype=stream.dtype, chunks=(stream.per_chunk, *shape[1:]),
                               compressors=stream.compressors, fill_value=0, dimension_names=stream.axes,
                               chunk_key_encoding={"name": "default", "separator": "."},
                               attributes={"mmkernel": {"first": 0, "frames": 0}},
                               config={"write_empty_chunks": True})
        )  # fmt: skip
        self.prefix = f"{self.array.path}/"
