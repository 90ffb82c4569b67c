"""One OME-TIFF file per acquisition: every frame one page, in the order it was taken, and an
OME-XML description (written when the run ends) whose images (one per position) map each
(t, c, z) plane to its page, so the same dimension order as the OME-Zarr dataset reads back
whatever order the events ran in.

Each frame's table row is appended to `<file>.frames.jsonl` as it is written (a run killed
midway still says which pages exist), its datastream rows to `<file>.datastreams.jsonl`; the
sequence, the caller's metadata, the table and the datastreams go into the OME-XML as a comment
annotation (JSON) at the end. A dropped frame has no page: its row says `"dropped": true`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from ._dataset import new_path
from ._table import FrameTable, StreamTable, read_rows, read_streams

_TYPES = {"uint8": "uint8", "uint16": "uint16", "uint32": "uint32", "int8": "int8", "int16": "int16",
          "int32": "int32", "float32": "float", "float64": "double"}  # fmt: skip


def table_path(path: Path) -> Path:
    return path.with_name(path.name + ".frames.jsonl")


def streams_path(path: Path) -> Path:
    return path.with_name(path.name + ".datastreams.jsonl")


class TiffDatasetWriter:
    """The OME-TIFF counterpart of `DatasetWriter`: `place(name)`, `write(...)`, `finalize(reason)`."""

    def __init__(self, path: str | Path, *, axes: list[str], sizes: dict[str, int], shape: tuple[int, int],
                 dtype: Any, channels: list[str], scale: dict[str, float], sequence_json: str | None,
                 metadata: dict[str, Any] | None = None, plate: dict[str, Any] | None = None,
                 datastreams: Sequence[str] = ()) -> None:  # fmt: skip
        import tifffile

        self.path = new_path(path)
        self.dtype = np.dtype(dtype)
        if self.dtype.name not in _TYPES:
            raise ValueError(f"acquire: OME-TIFF cannot hold {self.dtype} frames; allowed: {', '.join(_TYPES)}")
        self.shape, self.scale = tuple(shape), scale
        self.sizes = {a: max(1, sizes.get(a, 1)) for a in "tcz"}
        self.channels = list(channels)
        self.sequence = json.loads(sequence_json) if sequence_json is not None else None
        self.metadata = metadata or {}
        self.names: list[str] = []
        self.planes: list[list[tuple[int, int, int, int]]] = []  # per image: (t, c, z, page)
        self._pages = 0
        self._tiff = tifffile.TiffWriter(self.path, bigtiff=True)
        self.table = FrameTable(table_path(self.path))
        self.streams = StreamTable(streams_path(self.path), list(datastreams))

    def place(self, name: str) -> int:
        if name not in self.names:
            self.names.append(name)
            self.planes.append([])
        return self.names.index(name)

    def write(self, place: int, index: dict[str, int], image: np.ndarray | None, row: dict[str, Any],
              channel: str | None = None) -> None:  # fmt: skip
        """One frame as the next page (none for a dropped frame: its plane reads as zeros)."""
        if image is not None and image.shape != self.shape:
            raise ValueError(f"acquire: a frame of shape {image.shape} does not fit the dataset's {self.shape}")
        t, c, z = (int(index.get(a, 0)) for a in "tcz")
        for axis, i in zip("tcz", (t, c, z), strict=True):
            self.sizes[axis] = max(self.sizes[axis], i + 1)
        if channel is not None:
            while len(self.channels) <= c:
                self.channels.append(f"c{len(self.channels)}")
            if self.channels[c] == f"c{c}":
                self.channels[c] = channel
        if image is not None:
            description = "MMKernel acquisition: OME-XML is written when the run ends" if self._pages == 0 else None
            self._tiff.write(np.ascontiguousarray(image, self.dtype), photometric="minisblack",
                             description=description, metadata=None, contiguous=False)  # fmt: skip
            self.planes[place].append((t, c, z, self._pages))
            self._pages += 1
        self.table.append(row)

    def add_streams(self, rows: list[dict[str, Any]]) -> None:
        """Datastream rows, appended to their file as they come."""
        self.streams.append(rows)

    def finalize(self, reason: str) -> None:
        import tifffile

        self._tiff.close()
        self.table.close()
        self.streams.close()
        if self._pages:
            tifffile.tiffcomment(self.path, comment=self._ome_xml(reason).encode("utf-8"))
        with open(self.path, "rb+") as file:
            os.fsync(file.fileno())

    def _ome_xml(self, reason: str) -> str:
        note = {"sequence": self.sequence, "metadata": self.metadata, "finished": reason, "images": self.names,
                "frames": self.table.rows, "datastreams": self.streams.columns}  # fmt: skip
        height, width = self.shape
        px, dz = self.scale.get("x", 1.0), self.scale.get("z", 1.0)
        images = []
        for i, name in enumerate(self.names):
            names = [*self.channels, *(f"c{c}" for c in range(len(self.channels), self.sizes["c"]))]
            channels = "".join(f'<Channel ID="Channel:{i}:{c}" Name={quoteattr(names[c])} SamplesPerPixel="1"/>'
                               for c in range(self.sizes["c"]))  # fmt: skip
            tiffdata = "".join(f'<TiffData IFD="{page}" FirstT="{t}" FirstC="{c}" FirstZ="{z}" PlaneCount="1"/>'
                               for t, c, z, page in self.planes[i])  # fmt: skip
            sizes = f'SizeX="{width}" SizeY="{height}" SizeZ="{self.sizes["z"]}" SizeC="{self.sizes["c"]}"'
            images.append(
                f'<Image ID="Image:{i}" Name={quoteattr(name)}><Pixels ID="Pixels:{i}" DimensionOrder="XYZCT" '
                f'Type="{_TYPES[self.dtype.name]}" {sizes} SizeT="{self.sizes["t"]}" PhysicalSizeX="{px}" '
                f'PhysicalSizeY="{px}" PhysicalSizeZ="{dz}" BigEndian="false">{channels}{tiffdata}</Pixels></Image>'
            )
        annotation = (f'<StructuredAnnotations><CommentAnnotation ID="Annotation:mmkernel" Namespace="mmkernel">'
                      f"<Value>{escape(json.dumps(note, allow_nan=False))}</Value></CommentAnnotation>"
                      "</StructuredAnnotations>")  # fmt: skip
        return ('<?xml version="1.0" encoding="UTF-8"?>'
                '<OME xmlns="http://www.openmicroscopy.org/Schemas/OME/2016-06" Creator="MMKernel">'
                f'{"".join(images)}{annotation}</OME>')  # fmt: skip


class TiffAcquisitionData:
    """Reads an acquisition's OME-TIFF back: `image(p)` (t, c, z, y, x), `frames`, `sequence`,
    `datastreams` (as `AcquisitionData`'s)."""

    def __init__(self, path: str | Path) -> None:
        import tifffile

        self.path = Path(path)
        with tifffile.TiffFile(self.path) as tif:
            note = _annotation(tif.ome_metadata or "")
        self.finished: str | None = note.get("finished")
        self.names: list[str] = list(note.get("images", []))
        self.sequence: dict[str, Any] | None = note.get("sequence")
        self.metadata: dict[str, Any] = note.get("metadata", {})
        killed = self.finished is None  # no OME-XML yet: the table file says which pages exist
        self.frames: list[dict[str, Any]] = read_rows(table_path(self.path)) if killed else note["frames"]
        self.datastreams: dict[str, dict[str, list[Any]]] = (
            read_streams(streams_path(self.path), []) if killed else note.get("datastreams", {})
        )

    def image(self, p: int | str = 0) -> np.ndarray:
        """The (t, c, z, y, x) planes of position `p` (its index or its name)."""
        import tifffile

        if isinstance(p, str):
            if p not in self.names:
                raise KeyError(f"position {p!r} is not in this dataset; it has {self.names}")
            p = self.names.index(p)
        with tifffile.TiffFile(self.path) as tif:
            series = tif.series[p]
            sizes = dict(zip(series.get_axes(False), series.get_shape(False), strict=True))
            return series.asarray().reshape([sizes.get(axis, 1) for axis in "TCZYX"])


def _annotation(xml: str) -> dict[str, Any]:
    """MMKernel's JSON note from the OME-XML ({} when the run never ended)."""
    from xml.etree import ElementTree

    if not xml:
        return {}
    root = ElementTree.fromstring(xml)
    for element in root.iter():
        if element.tag.endswith("CommentAnnotation") and element.get("Namespace") == "mmkernel":
            value = next((child.text for child in element if child.tag.endswith("Value")), None)
            return dict(json.loads(value or "{}"))
    return {}
