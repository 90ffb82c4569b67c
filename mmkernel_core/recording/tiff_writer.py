"""OME-TIFF recordings (tifffile): BigTIFF, a page per frame, each with its own index entry.
Colour frames are one RGB page each (three samples per pixel, stored as planes).

Every frame is a page written with its IFD right away, so a file cut short (the disk filled,
the process was killed) reads as a multi-page TIFF of every frame written until then. Each page
carries its row of the per-frame table (and the datastream rows that came since the page
before) as JSON in a private tag, so nothing accumulates in memory however long the recording
runs. The first page also carries the recording's metadata as it started, and an
ImageDescription of reserved room: when the recording closes, the OME-XML (shape, pixel size,
time increment, channel names, and a CommentAnnotation of namespace "mmkernel" holding the
final metadata) is written over it in place, so closing needs no further disk space. Images
steps made (projections) follow as further images. Several cameras go to one file each:
`run.ome.tif` -> `run.Cam1.ome.tif`, `run.Cam2.ome.tif`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from mmkernel_sdk.recording import StreamSpec, StreamWriter, Table, Writer

from ._durable import sync_tree
from ._json import strict_json
from ._tables import frame_interval, text_rows

NAMESPACE = "mmkernel"
FRAME_TAG = 65000  # each page: {"frame": its row, "datastreams": rows since the page before, "kinds": theirs}
RECORDING_TAG = 65001  # the first page: the recording's metadata when it started
UNFINISHED = "MMKernel recording in progress: not OME-TIFF until it closes; each page's tag 65000 has its frame"
RESERVE_MIN = 64 << 10  # bytes kept for the final OME-XML beyond the metadata's own size
INTERVAL_SAMPLES = 4096  # receive times kept to estimate the time increment
DTYPES = ("uint8", "uint16", "uint32", "int8", "int16", "int32", "float32", "float64", "complex64", "complex128")


def stream_path(destination: str, name: str, several: bool) -> Path:
    """Where one camera's file goes."""
    path = Path(destination)
    if not several:
        return path
    text = path.name
    for suffix in (".ome.tiff", ".ome.tif", ".tiff", ".tif"):
        if text.lower().endswith(suffix):
            return path.with_name(f"{text[: -len(suffix)]}.{name}{text[-len(suffix) :]}")
    return path.with_name(f"{text}.{name}.ome.tif")


def ascii_json(value: Any) -> str:
    """Strict JSON in 7-bit ASCII (what a TIFF ASCII tag holds)."""
    return json.dumps(strict_json(value), separators=(",", ":"), allow_nan=False, ensure_ascii=True)


class OmeTiffWriter(Writer):
    """`format="ome-tiff"`. No options."""

    suffixes = (".ome.tif", ".ome.tiff")

    def __init__(self) -> None:
        self.destination = ""
        self.metadata: dict[str, Any] = {}
        self.streams: dict[str, TiffStream] = {}
        self.files: dict[str, BinaryIO] = {}  # reserved at open, handed to each stream
        self.several = False
        self.first: str | None = None  # the stream whose pages carry the datastream rows

    def options(self) -> dict[str, Any]:
        return {}

    def stream_paths(self, destination: str, streams: Sequence[str]) -> list[str]:
        """The files a recording of `streams` makes (one per camera when there are several)."""
        return [str(stream_path(destination, name, len(streams) > 1)) for name in streams]

    def open(self, destination: Any, metadata: dict[str, Any], streams: Sequence[str]) -> None:
        self.destination = os.fspath(destination)
        self.metadata = metadata
        self.several = len(streams) > 1
        self.first = streams[0] if streams else None
        for name in streams:  # made now, exclusively: a second recording to the same path fails here
            path = stream_path(self.destination, name, self.several)
            try:
                self.files[name] = open(path, "xb")
            except FileExistsError:
                self._unreserve()
                raise FileExistsError(f"{str(path)!r} exists; a recording never overwrites data") from None
            except BaseException:
                self._unreserve()
                raise

    def discard(self) -> None:
        """Nothing was recorded: the files reserved at open go."""
        self._unreserve()

    def _unreserve(self) -> None:
        for file in self.files.values():
            file.close()
            Path(file.name).unlink(missing_ok=True)
        self.files.clear()

    def check_stream(self, spec: StreamSpec) -> None:
        """What OME-TIFF pages hold (and a reader maps as they lie): OME's pixel types but bit
        (TIFF packs bool to bits), grey (y, x) or RGB frames."""
        dtype = np.dtype(spec.dtype)
        shape = spec.frame_shape
        if dtype.name not in DTYPES or dtype.fields is not None:
            raise ValueError(f"ome-tiff stores frames of {', '.join(DTYPES)}, not {dtype} (use format='ome-zarr', "
                             "or a step that converts them, e.g. frame.astype(np.uint8) for bool)")  # fmt: skip
        if len(shape) == 3 and shape[0] != 3:
            raise ValueError(f"ome-tiff stores grey (y, x) or RGB (y, x, 3) frames, not {shape[0]} components "
                             "(use format='ome-zarr', which stores any number of channels)")  # fmt: skip

    def add_stream(self, spec: StreamSpec) -> TiffStream:
        path = stream_path(self.destination, spec.name, self.several)
        stream = TiffStream(path, spec, self.metadata, self.files.pop(spec.name, None))
        self.streams[spec.name] = stream
        return stream

    def add_image(self, stream: str, name: str, image: np.ndarray, spec: StreamSpec) -> None:
        self.streams[stream].images[name] = image

    def add_table(self, name: str, table: Table) -> None:
        """Datastream rows ride on the next page of the first camera's file (or, at the end, in
        its closing metadata)."""
        target = self.streams.get(self.first or "") or next(iter(self.streams.values()), None)
        if target is not None:
            target.datastream_rows.setdefault(name, []).extend(_rows(table))
            target.kinds[name] = "text" if "value_offsets" in table.columns else "number"

    def close(self, metadata: dict[str, Any]) -> str:
        errors: list[BaseException] = []
        for stream in self.streams.values():
            try:
                stream.finish(metadata)
            except BaseException as error:  # noqa: BLE001 - every file gets its chance
                errors.append(error)
        self._unreserve()  # a camera that never got a stream: an empty file is no TIFF
        if errors:
            raise errors[0]
        paths = [str(stream.path) for stream in self.streams.values()]
        return paths[0] if len(paths) == 1 else ", ".join(paths)


class TiffStream(StreamWriter):
    def __init__(self, path: Path, spec: StreamSpec, metadata: dict[str, Any], file: BinaryIO | None = None) -> None:
        import tifffile

        self.path, self.spec = path, spec
        self.file = file if file is not None else open(path, "xb")
        self.tiff = tifffile.TiffWriter(self.file, bigtiff=True, ome=False)
        self.started = ascii_json(metadata)
        self.reserve = len(self.started) + len(self.started) // 4 + RESERVE_MIN  # the final OME-XML fits here
        self.images: dict[str, np.ndarray] = {}
        self.datastream_rows: dict[str, list[dict[str, Any]]] = {}  # rows not yet on a page
        self.kinds: dict[str, str] = {}  # each datastream's values: "number" (NaN as in JSON) or "text"
        self._received_times: list[float] = []  # the first frames' receive times: the time increment
        self._written = 0
        self._bytes = 0

    def write(self, runs: Sequence[np.ndarray], rows: Table) -> int:
        frames = [frame for run in runs for frame in run]
        row_values = _rows(rows)
        for frame, row in zip(frames, row_values, strict=True):
            self._page(frame, row)
        if len(self._received_times) < INTERVAL_SAMPLES and len(rows):
            self._received_times += np.asarray(rows.columns["received"], np.float64).tolist()
        return self._written

    def _page(self, frame: np.ndarray, row: dict[str, Any] | None, counts: bool = True) -> None:
        document: dict[str, Any] = {"frame": row}
        if self.datastream_rows:
            document["datastreams"], self.datastream_rows = self.datastream_rows, {}
            document["kinds"] = {name: self.kinds[name] for name in document["datastreams"]}
        tags = [(FRAME_TAG, "s", 0, ascii_json(document), True)]
        description = None
        if self._written == 0:
            tags.append((RECORDING_TAG, "s", 0, self.started, True))
            description = UNFINISHED.ljust(self.reserve)
        self.tiff.write(frame, contiguous=False, metadata=None, description=description, extratags=tags,
                        **_photometric(frame))  # fmt: skip
        if counts:
            self._written += 1
            self._bytes += frame.nbytes

    @property
    def written(self) -> int:
        return self._written

    @property
    def bytes_written(self) -> int:
        return self._bytes

    def checkpoint(self) -> int:
        """Pages are complete as they are written; flushed here, so they reach the disk."""
        self.file.flush()
        return self._written

    def close(self) -> int:
        return self._written

    def _interval(self) -> float:
        received = {"received": np.asarray(self._received_times, np.float64)}
        return frame_interval(Table(received), self.spec.interval_s)

    def finish(self, metadata: dict[str, Any]) -> None:
        """The projections, then the OME-XML over the reserved description; close and sync."""
        import tifffile

        spec, n = self.spec, self._written
        try:
            if n == 0:  # nothing came: an empty image would not be a TIFF; one blank page, described as 0 frames
                self._page(np.zeros(spec.frame_shape, spec.dtype), None, counts=False)
            for image in self.images.values():
                self.tiff.write(image, contiguous=False, metadata=None, **_photometric(image))
            xml = tifffile.OmeXml()
            frame_axes = "CYX" if len(spec.frame_shape) == 3 else "YX"
            document = {"mmkernel": metadata, "frames_written": n, "datastreams": self.datastream_rows,
                        "kinds": self.kinds}  # fmt: skip
            frames = max(n, 1)
            xml.addimage(
                dtype=spec.dtype, shape=(frames, *spec.frame_shape), storedshape=_stored(frames, spec.frame_shape),
                axes="T" + frame_axes, Name=spec.name, **_physical(spec, self._interval()),
                CommentAnnotation={"Namespace": NAMESPACE, "Value": ascii_json(document)},
            )  # fmt: skip
            for name, image in self.images.items():
                xml.addimage(dtype=image.dtype, shape=image.shape, storedshape=_stored(1, image.shape),
                             axes="CYX" if image.ndim == 3 else "YX", Name=f"{spec.name} {name}",
                             **_physical(spec, 0.0))  # fmt: skip
            self.tiff.overwrite_description(xml.tostring(declaration=True).encode())
        finally:
            try:
                self.tiff.close()
            finally:
                self.file.close()
        sync_tree(self.path)


def _rows(table: Table) -> list[dict[str, Any]]:
    """A table's rows as JSON-ready lists (text columns decoded)."""
    columns = table.columns
    names = [name for name in columns if not name.endswith("_offsets")]
    values: list[Any] = []
    for name in names:
        offsets = columns.get(f"{name}_offsets")
        column = text_rows(columns[name], offsets) if offsets is not None else np.asarray(columns[name]).tolist()
        values.append(column)
    if not values:
        return []
    return [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)]  # type: ignore[misc]


def _photometric(image: np.ndarray) -> dict[str, str]:
    """How a page holds `image`: RGB (one page of three samples, as planes) or grey."""
    if image.ndim == 3 and image.shape[0] == 3:
        return {"photometric": "rgb", "planarconfig": "separate"}
    return {"photometric": "minisblack"}


def _stored(pages: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    """OME's stored shape (pages, separate samples, depth, y, x, contiguous samples): RGB is
    one page per frame with three samples per pixel (OME: SamplesPerPixel 3)."""
    if len(shape) == 3 and shape[0] == 3:
        return (pages, 3, 1, shape[-2], shape[-1], 1)
    planes = shape[0] if len(shape) == 3 else 1
    return (pages * planes, 1, 1, shape[-2], shape[-1], 1)


def _physical(spec: StreamSpec, interval_s: float) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if spec.pixel_size_um > 0:
        meta.update(PhysicalSizeX=spec.pixel_size_um, PhysicalSizeXUnit="µm",
                    PhysicalSizeY=spec.pixel_size_um, PhysicalSizeYUnit="µm")  # fmt: skip
    if interval_s > 0:
        meta.update(TimeIncrement=interval_s, TimeIncrementUnit="s")
    if spec.channel_names:
        rgb = len(spec.frame_shape) == 3 and spec.frame_shape[0] == 3  # one channel of three samples
        meta["Channel"] = {"Name": ["".join(spec.channel_names)] if rgb else list(spec.channel_names)}
    return meta
