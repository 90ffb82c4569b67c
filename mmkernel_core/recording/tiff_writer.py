"""OME-TIFF recordings (tifffile): BigTIFF, contiguous pixel data, OME-XML written at the end.

Frames are appended as they come (the count may be open-ended), contiguous, so the file reads
with any TIFF reader and memory-maps; at the end the OME-XML (written first as a placeholder)
is replaced by the real one: the image's shape, pixel size, time increment and channel names,
and a CommentAnnotation (namespace "mmkernel") holding the recording's metadata, its per-frame
table and its datastreams as JSON. Images steps made (projections) follow as further images.
Several cameras go to one file each: `run.ome.tif` -> `run.Cam1.ome.tif`, `run.Cam2.ome.tif`.

A file whose recording never closed (the process was killed) has all its frames, but reads as
one page until re-indexed: OME-Zarr has no such weakness.
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
from ._tables import _plain, first_rows, frame_interval

PLACEHOLDER = "OME-XML placeholder, replaced when the recording closes"
NAMESPACE = "mmkernel"


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


class OmeTiffWriter(Writer):
    """`format="ome-tiff"`. No options."""

    suffixes = (".ome.tif", ".ome.tiff")

    def __init__(self) -> None:
        self.destination = ""
        self.metadata: dict[str, Any] = {}
        self.streams: dict[str, TiffStream] = {}
        self.tables: dict[str, Table] = {}
        self.files: dict[str, BinaryIO] = {}  # reserved at open, handed to each stream
        self.several = False

    def options(self) -> dict[str, Any]:
        return {}

    def stream_paths(self, destination: str, streams: Sequence[str]) -> list[str]:
        """The files a recording of `streams` makes (one per camera when there are several)."""
        return [str(stream_path(destination, name, len(streams) > 1)) for name in streams]

    def open(self, destination: Any, metadata: dict[str, Any], streams: Sequence[str]) -> None:
        self.destination = os.fspath(destination)
        self.metadata = metadata
        self.several = len(streams) > 1
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

    def _unreserve(self) -> None:
        for file in self.files.values():
            file.close()
            Path(file.name).unlink(missing_ok=True)
        self.files.clear()

    def add_stream(self, spec: StreamSpec) -> TiffStream:
        path = stream_path(self.destination, spec.name, self.several)
        stream = TiffStream(path, spec, self.files.pop(spec.name, None))
        self.streams[spec.name] = stream
        return stream

    def add_image(self, stream: str, name: str, image: np.ndarray, spec: StreamSpec) -> None:
        self.streams[stream].images[name] = image

    def add_table(self, name: str, table: Table) -> None:
        self.tables[name] = table

    def close(self, metadata: dict[str, Any]) -> str:
        errors: list[BaseException] = []
        datastreams = {name: _columns(table) for name, table in self.tables.items()}
        for stream in self.streams.values():
            try:
                stream.finish(metadata, datastreams)
            except BaseException as error:  # noqa: BLE001 - every file gets its chance
                errors.append(error)
        self._unreserve()  # a camera that never got a stream: an empty file is no TIFF
        if errors:
            raise errors[0]
        paths = [str(stream.path) for stream in self.streams.values()]
        return paths[0] if len(paths) == 1 else ", ".join(paths)


class TiffStream(StreamWriter):
    def __init__(self, path: Path, spec: StreamSpec, file: BinaryIO | None = None) -> None:
        import tifffile

        self.path, self.spec = path, spec
        self.file = file if file is not None else open(path, "xb")
        self.tiff = tifffile.TiffWriter(self.file, bigtiff=True, ome=False)
        self.images: dict[str, np.ndarray] = {}
        self.table = Table()
        self._written = 0
        self._bytes = 0

    def write(self, runs: Sequence[np.ndarray]) -> int:
        for run in runs:
            for frame in run:
                first = self._written == 0
                self.tiff.write(frame, contiguous=True, photometric="minisblack", metadata=None,
                                description=PLACEHOLDER if first else None)  # fmt: skip
                self._written += 1
                self._bytes += frame.nbytes
        return self._written

    @property
    def written(self) -> int:
        return self._written

    @property
    def bytes_written(self) -> int:
        return self._bytes

    def close(self, table: Table) -> int:
        self.table = table
        return self._written

    def finish(self, metadata: dict[str, Any], datastreams: dict[str, Any]) -> None:
        """The projections, then the real OME-XML over the placeholder; then close and sync."""
        import tifffile

        spec, n = self.spec, self._written
        try:
            if n == 0:  # nothing came: an empty image would not be a TIFF; one blank page, described as 0 frames
                self.tiff.write(np.zeros(spec.frame_shape, spec.dtype), contiguous=True, metadata=None,
                                photometric="minisblack", description=PLACEHOLDER)  # fmt: skip
            for image in self.images.values():
                self.tiff.write(image, contiguous=False, photometric="minisblack", metadata=None)
            xml = tifffile.OmeXml()
            frame_axes = "CYX" if len(spec.frame_shape) == 3 else "YX"
            planes = max(n, 1) * (spec.frame_shape[0] if len(spec.frame_shape) == 3 else 1)
            document = {
                "mmkernel": metadata,
                "frames": _columns(first_rows(self.table, n)),
                "datastreams": datastreams,
                "frames_written": n,
            }
            xml.addimage(
                dtype=spec.dtype, shape=(max(n, 1), *spec.frame_shape),
                storedshape=(planes, 1, 1, spec.frame_shape[-2], spec.frame_shape[-1], 1), axes="T" + frame_axes,
                Name=spec.name, **_physical(spec, frame_interval(self.table, spec.interval_s)),
                CommentAnnotation={"Namespace": NAMESPACE, "Value": json.dumps(document, default=_plain)},
            )  # fmt: skip
            for name, image in self.images.items():
                axes = "CYX" if image.ndim == 3 else "YX"
                stored = (image.shape[0] if image.ndim == 3 else 1, 1, 1, image.shape[-2], image.shape[-1], 1)
                xml.addimage(dtype=image.dtype, shape=image.shape, storedshape=stored, axes=axes,
                             Name=f"{spec.name} {name}", **_physical(spec, 0.0))  # fmt: skip
            self.tiff.overwrite_description(xml.tostring(declaration=True).encode())
        finally:
            try:
                self.tiff.close()
            finally:
                self.file.close()
        sync_tree(self.path)


def _physical(spec: StreamSpec, interval_s: float) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if spec.pixel_size_um > 0:
        meta.update(PhysicalSizeX=spec.pixel_size_um, PhysicalSizeXUnit="µm",
                    PhysicalSizeY=spec.pixel_size_um, PhysicalSizeYUnit="µm")  # fmt: skip
    if interval_s > 0:
        meta.update(TimeIncrement=interval_s, TimeIncrementUnit="s")
    if spec.channel_names:
        meta["Channel"] = {"Name": list(spec.channel_names)}
    return meta


def _columns(table: Table) -> dict[str, list[Any]]:
    return {name: np.asarray(column).tolist() for name, column in table.columns.items()}
