"""Reading back a recording: frames, the per-frame table, datastreams, projections, metadata.

    data = open_recording("run.ome.zarr")
    data.images["Camera"][10]          # frame 10 (zarr array or memory-mapped TIFF pages)
    data.frames("Camera")["number"]    # camera frame numbers; "changes": what changed per frame
    data.datastreams["Z-Position"]     # {"time", "frame", "value"}
    data.metadata["system_state"]      # the whole system when the recording started
    data.finished, data.frames_valid   # False for a recording that never closed; frames readable

A recording whose process was killed reads too: its arrays hold the frames written up to its
last checkpoint (at most about a second before the kill; a sharded array's whole shards plus the
frames of the shard being filled, kept beside it), `finished` is False, and `frames_valid`
says how many frames (with their rows) each camera has. A table's rows are as many as its
shortest column has (a kill between two columns' lengths leaves the others a block ahead).

Plain zarr, ome-zarr/napari and tifffile read the same files without MMKernel; this is the
convenience (and what the tests use).
"""

from __future__ import annotations

import json
import logging
import os
import struct
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._tables import text_rows
from ._zarr_pending import PENDING
from ._zarr_tables import common_rows
from .tiff_writer import FRAME_TAG, NAMESPACE, RECORDING_TAG, stream_path

TIFF_SUFFIXES = (".tif", ".tiff")
BIGTIFF_HEADER = 16


@dataclass
class RecordedData:
    metadata: dict[str, Any]
    images: dict[str, Any]  # camera -> array-like (t, [c,] y, x)
    datastreams: dict[str, dict[str, Any]]
    _frames: dict[str, dict[str, Any]] = field(default_factory=dict)
    _projections: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    finished: bool = True  # False: the recording never closed (its process was killed, the disk filled)
    frames_valid: dict[str, int] = field(default_factory=dict)  # per camera: frames readable with their rows

    @property
    def cameras(self) -> list[str]:
        return list(self.images)

    def frames(self, camera: str | None = None) -> dict[str, Any]:
        """The per-frame table: number, received, camera_time (NaN: none), changes (dict or None)."""
        return self._frames[camera or self.cameras[0]]

    def projections(self, camera: str | None = None) -> dict[str, np.ndarray]:
        return self._projections.get(camera or self.cameras[0], {})


def open_recording(source: Any) -> RecordedData:
    """A recording written by `kernel.record`: a path (directory store or TIFF file), a zarr store
    URL, or a zarr store object."""
    if isinstance(source, (str, os.PathLike)) and "://" not in os.fspath(source):
        path = Path(source)
        if path.suffix.lower() in TIFF_SUFFIXES and not path.is_dir():
            return _open_tiff(path)
    return _open_zarr(source)


# -- zarr ------------------------------------------------------------------------------------
def _open_zarr(source: Any) -> RecordedData:
    import zarr

    root = zarr.open_group(source, mode="r")
    metadata = dict(root.attrs.get("mmkernel", {}))
    cameras = list(metadata.get("parameters", {}).get("cameras", []))
    if len(cameras) <= 1:  # one camera: the root is its image
        groups = {cameras[0] if cameras else "0": root}
    else:
        groups = {camera: root[camera] for camera in cameras if camera in root}
    finished = metadata.get("progress", {}).get("state") == "finished"  # none: killed as the store was made
    images = {camera: _image_array(group, finished) for camera, group in groups.items()}
    frames = {camera: _zarr_table(group, "mmkernel/frames", FRAME_COLUMNS) for camera, group in groups.items()}
    for table in frames.values():
        _decode(table, "changes")
    projections = {camera: _zarr_projections(group) for camera, group in groups.items()}
    datastreams: dict[str, dict[str, Any]] = {}
    if "mmkernel" in root and "datastreams" in root["mmkernel"]:
        for name in root["mmkernel/datastreams"].group_keys():
            table = _zarr_table(root, f"mmkernel/datastreams/{name}", ("time", "frame"))
            table.setdefault("value", np.zeros(0, np.float64))
            datastreams[name] = _in_time_order(_decode(table, "value"))
    valid = {camera: min(images[camera].shape[0], len(frames[camera]["number"])) for camera in images}
    return RecordedData(metadata, images, datastreams, frames, projections, finished, valid)


def _in_time_order(table: dict[str, Any]) -> dict[str, Any]:
    """Datastream rows are stored a checkpoint at a time; a change noted late can follow a row
    of a later time: sort them (stable)."""
    times = table.get("time")
    if times is None or len(times) < 2:
        return table
    order = np.argsort(np.asarray(times, np.float64), kind="stable")
    return {name: (np.asarray(column)[order] if not isinstance(column, list) else [column[i] for i in order])
            for name, column in table.items()}  # fmt: skip


def _no_rows() -> dict[str, Any]:
    """The per-frame table of a camera that stored no row yet."""
    empty = np.zeros(0, np.float64)
    return {"number": np.zeros(0, np.int64), "received": empty, "camera_time": empty,
            "changes": np.zeros(0, np.uint8), "changes_offsets": np.zeros(1, np.int64)}  # fmt: skip


FRAME_COLUMNS = ("number", "received", "camera_time", "changes")


def _image_array(group: Any, finished: bool) -> Any:
    """The image's array; a recording killed before its first frame has none yet: no frames.
    A killed sharded recording's frames of the shard being filled follow its whole shards."""
    try:
        image = group["0"]
    except KeyError:
        return np.zeros((0,), np.uint8)
    if finished:
        return image
    try:
        pending = group[PENDING]
    except KeyError:
        return image
    where = pending.attrs.get("mmkernel", {})
    first, count = int(where.get("first", -1)), min(int(where.get("frames", 0)), pending.shape[0])
    if first != image.shape[0] or count <= 0 or pending.shape[1:] != image.shape[1:]:
        return image  # nothing pending, or frames now in the image array
    return JoinedFrames(image, pending, count)


class JoinedFrames:
    """The image array's frames followed by the first `count` pending ones: an array-like of
    shape (frames, *frame) read on demand."""

    def __init__(self, image: Any, pending: Any, count: int) -> None:
        self.image, self.pending, self.count = image, pending, count
        self.dtype = image.dtype
        self.shape = (image.shape[0] + count, *image.shape[1:])
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        first, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        if first is Ellipsis:
            first, rest = slice(None), ((Ellipsis,) if isinstance(key, tuple) and len(key) > 1 else ())
        shown = self.image.shape[0]
        if isinstance(first, (int, np.integer)):
            index = int(first) + (len(self) if first < 0 else 0)
            if not 0 <= index < len(self):
                raise IndexError(f"frame {first} of {len(self)}")
            frame = self.image[index] if index < shown else self.pending[index - shown]
            return np.asarray(frame)[rest] if rest else np.asarray(frame)
        indices = range(len(self))[first]
        pieces = [np.asarray(self[int(i)]) for i in indices]
        stacked = np.stack(pieces) if pieces else np.zeros((0, *self.shape[1:]), self.dtype)
        return stacked[(slice(None), *rest)] if rest else stacked

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = self[:]
        return array.astype(dtype) if dtype is not None else array


def _zarr_table(group: Any, path: str, required: tuple[str, ...]) -> dict[str, Any]:
    """A stored table cut to the rows all its columns have (see common_rows); none if a column
    it needs is missing (killed as the table was made)."""
    try:
        table = group[path]
    except KeyError:
        table = None
    columns = {name: array[...] for name, array in table.arrays()} if table is not None else {}
    if any(name not in columns for name in required):
        return _no_rows() if "number" in required else {"time": np.zeros(0), "frame": np.zeros(0, np.int64)}
    rows = common_rows(columns)
    for name in list(columns):
        offsets = columns.get(f"{name}_offsets")
        if offsets is not None:
            columns[f"{name}_offsets"] = offsets[: rows + 1]
            columns[name] = columns[name][: int(offsets[rows]) if len(offsets) > rows else 0]
        elif not name.endswith("_offsets"):
            columns[name] = columns[name][:rows]
    return columns


def _zarr_projections(group: Any) -> dict[str, np.ndarray]:
    if "projections" not in group:
        return {}
    found = group["projections"]
    return {name: found[name]["0"][...] for name in found.group_keys()}


def _decode(table: dict[str, Any], name: str) -> dict[str, Any]:
    offsets = table.pop(f"{name}_offsets", None)
    if offsets is not None:
        table[name] = text_rows(table[name], offsets)
    return table


# -- TIFF ------------------------------------------------------------------------------------
def _open_tiff(path: Path) -> RecordedData:
    if path.exists():
        files = {None: path}
    else:  # several cameras: one file each beside the name given
        files = {}
        for candidate in sorted(path.parent.glob("*")):
            files.update(_stream_file(path, candidate))
        if not files:
            raise FileNotFoundError(f"no recording at {str(path)!r} (nor one file per camera beside it)")
    data = RecordedData({}, {}, {})
    for name, file in files.items():
        read = _read_tiff(file) if file.stat().st_size > BIGTIFF_HEADER else None
        if read is None:  # reserved, and killed before its first page was whole
            data.finished = False
            continue
        document, image, frames, streams, extra, finished = read
        data.metadata = document.get("mmkernel", data.metadata)
        camera = name if name is not None else _camera_of(document, file)
        data.images[camera] = image
        data._frames[camera] = frames
        data._projections[camera] = extra
        data.frames_valid[camera] = len(image)
        data.finished = data.finished and finished
        for key, (rows, kind) in streams.items():
            data.datastreams[key] = _in_time_order(_stream_columns(rows, kind))
    return data


def _stream_file(path: Path, candidate: Path) -> dict[str | None, Path]:
    for suffix in (".ome.tiff", ".ome.tif", ".tiff", ".tif"):
        if path.name.lower().endswith(suffix) and candidate.name.lower().endswith(suffix):
            stem, other = path.name[: -len(suffix)], candidate.name[: -len(suffix)]
            if other.startswith(stem + "."):
                name = other[len(stem) + 1 :]
                if stream_path(str(path), name, True) == candidate:
                    return {name: candidate}
    return {}


def _camera_of(document: dict[str, Any], file: Path) -> str:
    """The camera of a recording's only file."""
    cameras = document.get("mmkernel", {}).get("parameters", {}).get("cameras", [])
    return str(cameras[0]) if len(cameras) == 1 else file.stem


def _read_tiff(file: Path) -> tuple[dict[str, Any], Any, dict[str, Any], dict[str, Any], dict[str, Any], bool] | None:
    """(document, frames, per-frame table, datastreams {name: (rows, kind)}, projections,
    finished), or None if not even the first page is whole. Pages are read while complete: a
    file cut short (inside a page's pixels or its index entry) gives the frames before the cut."""
    import tifffile

    size = file.stat().st_size
    try:
        with _quiet("tifffile"), tifffile.TiffFile(file) as tiff:  # a cut file's last page link points past its end
            return _read_pages(tiff, file, size)
    except (tifffile.TiffFileError, ValueError, OSError, struct.error):
        return None  # the cut went through the first page's index entry


def _read_pages(tiff: Any, file: Path, size: int) -> tuple[Any, ...] | None:
    xml = tiff.ome_metadata or ""
    document = _annotation(xml)
    finished = bool(document)
    pages: list[int] = []
    rows: list[dict[str, Any]] = []
    streams: dict[str, list[Any]] = {}
    kinds: dict[str, str] = dict(document.get("kinds", {}))
    written = int(document["frames_written"]) if finished else None
    first: Any = None
    for index, page in enumerate(_whole_pages(tiff)):
        if written is not None and index >= max(written, 1):
            break
        first = page if first is None else first
        found = _page_content(page, size, first)
        if found is None:
            break  # the page the cut went through
        offset, content, started = found
        if index == 0 and not finished and started is not None:
            document = {"mmkernel": started}
        for key, found in content.get("datastreams", {}).items():
            streams.setdefault(key, []).extend(found)
        kinds.update(content.get("kinds", {}))
        if content.get("frame") is None:  # the blank page of a recording that got no frame
            continue
        rows.append(content["frame"])
        pages.append(offset)
    if first is None:
        return None
    if finished:
        for key, found in document.get("datastreams", {}).items():
            streams.setdefault(key, []).extend(found)
        names = _image_names(xml)[1:]
        images = [s.asarray() for s in tiff.series[1:]]
        extra = {name.split(" ", 1)[-1]: array for name, array in zip(names, images, strict=False)}
    else:
        extra = {}
    frames = PagedFrames(file, pages, tuple(first.shape), np.dtype(first.dtype))
    table = _columns(rows, "changes") or {**_no_rows(), "changes": []}
    table.pop("changes_offsets", None)
    with_kinds = {key: (found, kinds.get(key, "text")) for key, found in streams.items()}
    return document, frames, table, with_kinds, extra, finished


def _whole_pages(tiff: Any) -> Iterator[Any]:
    """The file's pages in order, until one whose index entry cannot be read (a cut file)."""
    import tifffile

    pages = iter(tiff.pages)
    while True:
        try:
            page = next(pages)
        except StopIteration:
            return
        except (tifffile.TiffFileError, ValueError, OSError, IndexError, struct.error):
            return
        if page is None:
            return
        yield page


def _page_content(page: Any, size: int, first: Any) -> tuple[int, dict[str, Any], Any] | None:
    """(where its pixels are, its tag 65000, the first page's tag 65001) of a whole page of
    the first page's format; None for a page the cut went through."""
    offset = _pixels_at(page, size)
    try:
        tag = page.tags.get(FRAME_TAG)
        if offset is None or tag is None or page.shape != first.shape or page.dtype != first.dtype:
            return None
        started = page.tags.get(RECORDING_TAG)
        return offset, json.loads(tag.value), (json.loads(started.value) if started is not None else None)
    except (ValueError, OSError, struct.error, UnicodeDecodeError):
        return None


def _pixels_at(page: Any, size: int) -> int | None:
    """Where a page's pixels lie, in one piece within the file's `size` bytes; None if not."""
    try:
        offsets, counts = page.dataoffsets, page.databytecounts
    except (AttributeError, ValueError):
        return None
    if not offsets or any(offset + count > size for offset, count in zip(offsets, counts, strict=True)):
        return None
    if any(offsets[i] + counts[i] != offsets[i + 1] for i in range(len(offsets) - 1)):
        return None  # not as this writer lays pages out
    return int(offsets[0])


class PagedFrames:
    """A recording's frames in a TIFF file, one page each, read on demand (memory-mapped): an
    array-like of shape (frames, *frame)."""

    def __init__(self, path: Path, offsets: list[int], frame_shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.path, self.offsets, self.frame_shape, self.dtype = path, offsets, frame_shape, dtype
        self.shape = (len(offsets), *frame_shape)
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return len(self.offsets)

    def _frame(self, index: int) -> np.ndarray:
        return np.memmap(self.path, self.dtype, mode="r", offset=self.offsets[index], shape=self.frame_shape)

    def __getitem__(self, key: Any) -> np.ndarray:
        first, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        if first is Ellipsis:
            first, rest = slice(None), ((Ellipsis,) if isinstance(key, tuple) and len(key) > 1 else ())
        if isinstance(first, (int, np.integer)):
            index = int(first) + (len(self) if first < 0 else 0)
            if not 0 <= index < len(self):
                raise IndexError(f"frame {first} of {len(self)}")
            return np.asarray(self._frame(index))[rest] if rest else np.asarray(self._frame(index))
        indices = range(len(self))[first]
        stacked = (
            np.stack([self._frame(i) for i in indices])
            if len(indices)
            else np.zeros((0, *self.frame_shape), self.dtype)
        )
        return stacked[(slice(None), *rest)] if rest else stacked

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = self[:]
        return array.astype(dtype) if dtype is not None else array


@contextmanager
def _quiet(logger: str) -> Iterator[None]:
    """Silence a library's error log while reading a file that may be cut short on purpose."""
    log = logging.getLogger(logger)
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        log.setLevel(level)


def _stream_columns(rows: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """A datastream's rows as columns, as a zarr store gives them: time, frame and, for a
    numeric property, its values as floats (strict JSON's "NaN" back to NaN)."""
    if kind == "number":
        columns = _columns(rows, "")
        if columns:
            columns["value"] = np.asarray(columns["value"], np.float64)
    else:
        columns = _columns(rows, "value")
    if not columns:
        return {"time": np.zeros(0), "frame": np.zeros(0, np.int64), "value": np.zeros(0) if kind == "number" else []}
    columns["time"] = np.asarray(columns["time"], np.float64)
    columns["frame"] = np.asarray(columns["frame"], np.int64)
    return columns


def _columns(rows: list[dict[str, Any]], text: str) -> dict[str, Any]:
    """Rows (dicts) as columns: numbers as numpy arrays (strict JSON's "NaN" back to NaN), the
    text column `text` as decoded values."""
    if not rows:
        return {}
    columns: dict[str, Any] = {}
    for name in rows[0]:
        values = [row.get(name) for row in rows]
        if name == text:
            columns[name] = values
        else:
            columns[name] = np.asarray([_number(v) for v in values])
    return columns


def _number(value: Any) -> Any:
    return float(value) if value in ("NaN", "Infinity", "-Infinity") else value


def _annotation(xml: str) -> dict[str, Any]:
    if not xml:
        return {}
    root = ElementTree.fromstring(xml)
    for element in root.iter():
        if element.tag.endswith("CommentAnnotation") and element.get("Namespace") == NAMESPACE:
            for value in element:
                if value.tag.endswith("Value") and value.text:
                    return dict(json.loads(value.text))
    return {}


def _image_names(xml: str) -> list[str]:
    if not xml:
        return []
    root = ElementTree.fromstring(xml)
    return [element.get("Name", "") for element in root if element.tag.endswith("Image")]
