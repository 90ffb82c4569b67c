"""One OME-TIFF file per acquisition: every frame one page, in the order it was taken, and an
OME-XML description whose images (one per position) map each (t, c, z) plane to its page, so the
same dimension order as the OME-Zarr dataset reads back whatever order the events ran in.

The file is valid OME-TIFF from its first page on, so a run killed at any moment (SIGKILL,
SIGTERM) leaves one tifffile and Bio-Formats read: the first page carries the OME-XML of the
pages written so far (the images keep their planned t, c, z sizes; planes not yet written have
no TiffData and read as blank), rewritten as pages land and switched to only once whole
(`_tiffpages`), so it never maps a page that is not complete. Each frame's table row is appended
to `<file>.frames.jsonl` as it is written, its datastream rows to `<file>.datastreams.jsonl`;
the sequence, the caller's metadata and the images' names go into the OME-XML as a comment
annotation (JSON) from the start, and the table, the datastreams and why the run ended at the
end. A dropped frame has no page: its row says `"dropped": true`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from ._dataset import new_path
from ._layout import channel_colour, check_fits
from ._table import FrameTable, StreamTable, read_rows, read_streams, sync_path
from ._tiffpages import PageFile

_TYPES = {"uint8": "uint8", "uint16": "uint16", "uint32": "uint32", "int8": "int8", "int16": "int16",
          "int32": "int32", "float32": "float", "float64": "double"}  # fmt: skip
REWRITE_RATIO = 4  # the OME-XML is rewritten once the pixels written since reach 4 times its size ...
REWRITE_S = 1.0  # ... or this long after the last rewrite, at the next frame
RESERVE_MAX = 64 << 20  # the first page's room for the OME-XML (unwritten room is a hole in most file systems)


def table_path(path: Path) -> Path:
    return path.with_name(path.name + ".frames.jsonl")


def streams_path(path: Path) -> Path:
    return path.with_name(path.name + ".datastreams.jsonl")


class TiffDatasetWriter:
    """The OME-TIFF counterpart of `DatasetWriter`: `place(name)`, `write(...)`, `finalize(reason)`.

    The OME-XML is rewritten as pages land (each time the pixels written since the last rewrite
    reach `REWRITE_RATIO` times its size, or a second has passed), so it never maps a page that is
    not complete and lags the last page by little."""

    def __init__(self, path: str | Path, *, axes: list[str], sizes: dict[str, int], shape: tuple[int, int],
                 dtype: Any, channels: list[str], scale: dict[str, float], sequence_json: str | None,
                 metadata: dict[str, Any] | None = None, plate: dict[str, Any] | None = None,
                 datastreams: Sequence[str] = ()) -> None:  # fmt: skip
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
        self.planes: list[list[str]] = []  # per image: each written plane's TiffData element
        self._file = PageFile(self.path, self.shape, self.dtype)
        self.table = FrameTable(table_path(self.path))
        self.streams = StreamTable(streams_path(self.path), list(datastreams))
        self._described = 0  # the size of the OME-XML the file holds
        self._since = 0  # pixel bytes written since then
        self._at = time.monotonic()

    def place(self, name: str) -> int:
        if name not in self.names:
            self.names.append(name)
            self.planes.append([])
        return self.names.index(name)

    def write(self, place: int, index: dict[str, int], image: np.ndarray | None, row: dict[str, Any],
              channel: str | None = None) -> None:  # fmt: skip
        """One frame as the next page (none for a dropped frame: its plane reads as zeros)."""
        if image is not None:
            check_fits(image, self.shape, self.dtype)
        t, c, z = (int(index.get(a, 0)) for a in "tcz")
        for axis, i in zip("tcz", (t, c, z), strict=True):
            self.sizes[axis] = max(self.sizes[axis], i + 1)
        if channel is not None:
            while len(self.channels) <= c:
                self.channels.append(f"c{len(self.channels)}")
            if self.channels[c] == f"c{c}":
                self.channels[c] = channel
        if image is None:
            self.table.append(row)
            return
        page = self._file.pages
        self.planes[place].append(f'<TiffData IFD="{page}" FirstT="{t}" FirstC="{c}" FirstZ="{z}" PlaneCount="1"/>')
        try:
            if page == 0:  # the description the first page carries maps it; its slot holds the whole plan's
                xml = self._ome_xml(None)
                planned = self.sizes["t"] * self.sizes["c"] * self.sizes["z"] * len(self.names)
                self._file.append(image, xml, reserve=min(len(xml) + 96 * planned + 4096, RESERVE_MAX))
                self._described, self._at = len(xml), time.monotonic()
            else:
                self._file.append(image)
        except BaseException:  # not in the file: never mapped
            self.planes[place].pop()
            raise
        self.table.append(row)
        self._since += image.nbytes
        late = time.monotonic() - self._at >= REWRITE_S
        if page and (self._since >= REWRITE_RATIO * self._described or late):
            self._describe()

    def _describe(self) -> None:
        """The OME-XML of every page written so far, switched to once it is whole."""
        xml = self._ome_xml(None)
        self._file.describe(xml, spare=len(xml))
        self._described, self._since, self._at = len(xml), 0, time.monotonic()

    def add_streams(self, rows: list[dict[str, Any]]) -> None:
        """Datastream rows, appended to their file as they come."""
        self.streams.append(rows)

    def finalize(self, reason: str) -> None:
        try:
            self.table.close()
            self.streams.close()
            if self._file.pages:
                self._file.describe(self._ome_xml(reason))
            self._file.sync()
        finally:
            self._file.close()
        if self._file.pages:  # the table and the datastreams are in the OME-XML now: one file
            self.table.discard()
            self.streams.discard()
            sync_path(self.path.parent)

    def _ome_xml(self, reason: str | None) -> bytes:
        """The OME-XML of the pages written so far; MMKernel's note holds the table once the run ended
        (`reason`), until then how many pages the XML maps (the table file is appended as they land)."""
        note: dict[str, Any] = {"sequence": self.sequence, "metadata": self.metadata, "finished": reason,
                                "images": self.names}  # fmt: skip
        if reason is None:
            note["pages"] = sum(len(planes) for planes in self.planes)
        else:
            note["frames"] = self.table.rows
            note["datastreams"] = self.streams.columns
        height, width = self.shape
        px, dz = self.scale.get("x", 1.0), self.scale.get("z", 1.0)
        images = []
        for i, name in enumerate(self.names):
            if not self.planes[i]:  # OME-TIFF reads an image without TiffData as starting at page 0
                continue
            names = [*self.channels, *(f"c{c}" for c in range(len(self.channels), self.sizes["c"]))]
            channels = "".join(f'<Channel ID="Channel:{i}:{c}" Name={quoteattr(names[c])} SamplesPerPixel="1" '
                               f'Color="{_ome_colour(channel_colour(names[c], c))}"/>'
                               for c in range(self.sizes["c"]))  # fmt: skip
            tiffdata = "".join(self.planes[i])
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
                f'{"".join(images)}{annotation}</OME>').encode("ascii", "xmlcharrefreplace")  # fmt: skip


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
        if self.finished is None:  # killed: the table file's rows of the pages the OME-XML maps
            rows = read_rows(table_path(self.path))
            self.frames: list[dict[str, Any]] = _rows_of_pages(rows, note["pages"]) if "pages" in note else rows
            self.datastreams: dict[str, dict[str, list[Any]]] = read_streams(streams_path(self.path), [])
        else:
            self.frames = note["frames"]
            self.datastreams = note.get("datastreams", {})

    def image(self, p: int | str = 0) -> np.ndarray:
        """The (t, c, z, y, x) planes of position `p` (its index or its name); zeros for a
        position no frame reached."""
        import tifffile

        if isinstance(p, int):
            p = self.names[p]
        if p not in self.names:
            raise KeyError(f"position {p!r} is not in this dataset; it has {self.names}")
        with tifffile.TiffFile(self.path) as tif:
            found = {series.name: series for series in tif.series}
            series = found.get(p, tif.series[0])
            sizes = dict(zip(series.get_axes(False), series.get_shape(False), strict=True))
            planes = series.asarray().reshape([sizes.get(axis, 1) for axis in "TCZYX"])
            return planes if p in found else np.zeros_like(planes)


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


def _rows_of_pages(rows: list[dict[str, Any]], pages: int) -> list[dict[str, Any]]:
    """The rows up to the `pages`-th frame with a page (dropped frames have rows, no pages)."""
    kept = 0
    for end, row in enumerate(rows):
        if not row.get("dropped"):
            if kept == pages:
                return rows[:end]
            kept += 1
    return rows


def _ome_colour(rrggbb: str) -> int:
    """OME-XML's Color: RGBA packed in a signed 32-bit integer (opaque)."""
    value = int(rrggbb, 16) << 8 | 0xFF
    return value - (1 << 32) if value >= 1 << 31 else value
