"""One OME-Zarr (NGFF 0.5) store per acquisition: bioformats2raw multi-position layout, each
position an image with the t, c, z, y, x axes the sequence uses, a per-frame table (appended as
frames are written, and in the root attributes at the end) and the sequence itself so the run
can be repeated."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from ._layout import channel_colour, check_fits
from ._table import FrameTable, StreamTable, read_rows, read_streams, sync_path

STACK_AXES = ("t", "c", "z")  # the axes before y, x, in NGFF order
_UNITS = {"t": ("time", "second"), "c": ("channel", None), "z": ("space", "micrometer")}


def _axis(name: str) -> dict[str, str]:
    kind, unit = _UNITS.get(name, ("space", "micrometer"))
    return {"name": name, "type": kind, **({"unit": unit} if unit else {})}


TABLE = "mmkernel-frames.jsonl"  # one JSON object per frame, appended as each frame is written
STREAMS = "mmkernel-datastreams.jsonl"  # one JSON object per datastream row, appended likewise


class DatasetWriter:
    """Writes frames by their event index into one image per place (position, grid tile).

    Places and channels may be given up front or appear as events bring them (adaptive runs);
    an array grows when an index goes past it. Each frame's table row is appended to
    `mmkernel-frames.jsonl` as it is written, so a run killed midway still says which frames
    exist, and its datastream rows to `mmkernel-datastreams.jsonl`; `finalize` puts the table,
    the datastreams and why the run ended into the root attributes."""

    def __init__(self, path: str | Path, *, axes: list[str], sizes: dict[str, int], shape: tuple[int, int],
                 dtype: Any, channels: list[str], scale: dict[str, float], sequence_json: str | None,
                 metadata: dict[str, Any] | None = None, plate: dict[str, Any] | None = None,
                 datastreams: Sequence[str] = ()) -> None:  # fmt: skip
        self.path = new_path(path)
        self.axes = [a for a in STACK_AXES if a in axes]
        self.sizes = {a: max(1, sizes.get(a, 1)) for a in self.axes}
        self.shape, self.dtype, self.scale = tuple(shape), np.dtype(dtype), scale
        self.channels = list(channels)
        self.root = zarr.open_group(str(self.path), mode="w-", zarr_format=3)
        self.plate = plate  # {"name", "rows", "columns"}: an NGFF plate, its images the wells' fields
        self.wells: dict[str, list[str]] = {}  # "A/1" -> its fields' paths
        sequence = json.loads(sequence_json) if sequence_json is not None else None
        self._meta = {"sequence": sequence, "metadata": metadata or {}, "images": [], "frames": [],
                      "datastreams": {key: {} for key in datastreams}}  # fmt: skip
        self.root.attrs["mmkernel"] = self._meta
        self._ome = None if plate is not None else self.root.create_group("OME")
        self.names: list[str] = []
        self.paths: list[str] = []  # each image's group path
        self.arrays: list[zarr.Array] = []
        self._series()
        self.table = FrameTable(self.path / TABLE)
        self.streams = StreamTable(self.path / STREAMS, list(datastreams))
        self._written: list[Path] = []  # chunk files, made durable (fsync) at the end

    # -- places -----------------------------------------------------------------------------
    def place(self, name: str) -> int:
        """The index of the image named `name`, made on first use."""
        if name in self.names:
            return self.names.index(name)
        index = len(self.names)
        path = self._plate_path(name) if self.plate is not None else str(index)
        group = self.root.require_group(path)
        names = [*self.axes, "y", "x"]
        full = [self.sizes[a] for a in self.axes] + list(self.shape)
        chunks = [1] * len(self.axes) + list(self.shape)
        # uncompressed, as recordings are by default: the disk's speed, not a compressor's
        array = group.create_array("0", shape=full, chunks=chunks, dtype=self.dtype, fill_value=0,
                                   compressors=None, dimension_names=names)  # fmt: skip
        self.names.append(name)
        self.paths.append(path)
        self.arrays.append(array)
        self._describe(index)
        self._series()
        return index

    def _plate_path(self, name: str) -> str:
        """Where a well plate's position goes: useq names them "<row><column>_<field>" (B3_0001)."""
        found = re.fullmatch(r"([A-Za-z]+)(\d+)(?:_(\d+))?", name)
        if found is None:
            raise ValueError(f"acquire: position {name!r} of a well plate does not name a well (like 'B3_0000')")
        well = f"{found[1].upper()}/{int(found[2])}"
        fields = self.wells.setdefault(well, [])
        fields.append(str(len(fields)))
        self.root.require_group(well).attrs["ome"] = {"version": "0.5",
                                                      "well": {"images": [{"path": f} for f in fields]}}  # fmt: skip
        return f"{well}/{fields[-1]}"

    def _describe(self, index: int) -> None:
        names = [*self.axes, "y", "x"]
        scales = [self.scale.get(a, 1.0) for a in names]
        level = [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": scales}]}]
        channels = self.channels + [f"c{i}" for i in range(len(self.channels), self.sizes.get("c", 0))]
        self.root[self.paths[index]].attrs["ome"] = {
            "version": "0.5",
            "multiscales": [{"name": self.names[index], "axes": [_axis(a) for a in names], "datasets": level}],
            **(
                {"omero": {"channels": [_channel(c, i, self.dtype) for i, c in enumerate(channels)]}}
                if "c" in self.axes
                else {}
            ),
        }

    def _series(self) -> None:
        """The images' index: bioformats2raw's series, or the plate's wells; and MMKernel's own
        list of (name, path) the reader uses either way."""
        self._meta = {
            **self._meta,
            "images": [{"name": n, "path": p} for n, p in zip(self.names, self.paths, strict=True)],
        }
        self.root.attrs["mmkernel"] = self._meta
        if self._ome is not None:
            self.root.attrs["ome"] = {"version": "0.5", "bioformats2raw.layout": 3}
            self._ome.attrs["ome"] = {"version": "0.5", "series": list(self.paths)}
            return
        plate = self.plate or {}
        rows, columns = list(plate.get("rows", [])), list(plate.get("columns", []))
        wells = []
        for well in self.wells:
            row, column = well.split("/")
            rows += [row] if row not in rows else []
            columns += [column] if column not in columns else []
            wells.append({"path": well, "rowIndex": rows.index(row), "columnIndex": columns.index(column)})
        self.root.attrs["ome"] = {"version": "0.5", "plate": {
            "name": str(plate.get("name", "plate")), "rows": [{"name": r} for r in rows],
            "columns": [{"name": c} for c in columns], "wells": wells,
            "field_count": max((len(f) for f in self.wells.values()), default=0)}}  # fmt: skip

    # -- frames -----------------------------------------------------------------------------
    def write(self, place: int, index: dict[str, int], image: np.ndarray | None, row: dict[str, Any],
              channel: str | None = None) -> None:  # fmt: skip
        """Store one frame at its (t, c, z) place in image `place`; append its table row. No
        image (a dropped frame): the plane stays empty (zeros), its row says so."""
        at = tuple(int(index.get(a, 0)) for a in self.axes)
        self._fit(at, channel)
        if image is not None:
            self._put(place, at, image)
        self.table.append(row)

    def add_streams(self, rows: list[dict[str, Any]]) -> None:
        """Datastream rows, appended to their file as they come."""
        self.streams.append(rows)

    def _put(self, place: int, at: tuple[int, ...], image: np.ndarray) -> None:
        """One frame is one chunk, stored uncompressed (zarr's `bytes` codec, little-endian): its
        bytes are written to the chunk's file as they lie, at the disk's speed (zarr's own
        write path costs several times the write itself for a 2048x2048 frame)."""
        check_fits(image, self.shape, self.dtype)
        array = self.arrays[place]
        data = np.ascontiguousarray(image, dtype=self.dtype.newbyteorder("<"))
        file = self.path / self.paths[place] / "0" / array.metadata.encode_chunk_key((*at, *([0] * len(self.shape))))
        file.parent.mkdir(parents=True, exist_ok=True)
        with open(file, "wb") as out:
            out.write(memoryview(data).cast("B"))
        self._written.append(file)

    def _fit(self, at: tuple[int, ...], channel: str | None) -> None:
        """Grow every image past an index an adaptive run reached; name a channel first seen."""
        grown = False
        for axis, i in zip(self.axes, at, strict=True):
            if i >= self.sizes[axis]:
                self.sizes[axis], grown = i + 1, True
        if "c" in self.axes and channel is not None:
            c = at[self.axes.index("c")]
            while len(self.channels) <= c:
                self.channels.append(f"c{len(self.channels)}")
            if self.channels[c] != channel and self.channels[c] == f"c{c}":
                self.channels[c], grown = channel, True
        if grown:
            for i, array in enumerate(self.arrays):
                array.resize([self.sizes[a] for a in self.axes] + list(self.shape))
                self._describe(i)

    def finalize(self, reason: str) -> None:
        """Make the frames durable (fsync), then write the per-frame table, the datastreams and
        why the run ended into the root attributes; once those are durable, the table files go
        (plain zarr warns of any file it does not know when it walks the hierarchy)."""
        for file in dict.fromkeys(self._written):
            sync_path(file)
        self.table.close()
        self.streams.close()
        self._meta = {**self._meta, "frames": self.table.rows, "datastreams": self.streams.columns, "finished": reason}
        self.root.attrs["mmkernel"] = self._meta
        sync_path(self.path / "zarr.json")
        self.table.discard()
        self.streams.discard()
        sync_path(self.path)


def new_path(path: str | Path) -> Path:
    """Where a dataset goes: a path nothing is at yet (a run never writes over another)."""
    found = Path(path)
    if found.exists():
        raise FileExistsError(f"acquire: the dataset path {str(found)!r} exists; choose a new path")
    return found


def _channel(name: str, index: int, dtype: Any) -> dict[str, Any]:
    top = float(np.iinfo(dtype).max) if np.issubdtype(dtype, np.integer) else 1.0
    return {"label": name, "color": channel_colour(name, index), "active": True,
            "window": {"start": 0.0, "end": top, "min": 0.0, "max": top}}  # fmt: skip


class AcquisitionData:
    """Reads a dataset back: `data.image(p=0)[t, c, z]`, `data.frames` (the table), `data.sequence`,
    `data.datastreams["Z-Position"]` ({"time", "event", "value"}: event -1 for a change)."""

    def __init__(self, path: str | Path) -> None:
        self.root = zarr.open_group(str(path), mode="r")
        meta = self.root.attrs["mmkernel"]
        images = meta.get("images") or [{"path": s} for s in self.root["OME"].attrs["ome"]["series"]]
        self.series: list[str] = [image["path"] for image in images]
        self.names = [self.root[s].attrs["ome"]["multiscales"][0].get("name") for s in self.series]
        self.finished: str | None = meta.get("finished")
        self.frames: list[dict[str, Any]] = (
            meta["frames"] if self.finished is not None else read_rows(Path(path) / TABLE)
        )
        self.sequence: dict[str, Any] | None = meta["sequence"]
        self.metadata: dict[str, Any] = meta.get("metadata", {})
        streams = meta.get("datastreams", {})
        self.datastreams: dict[str, dict[str, list[Any]]] = (
            streams if self.finished is not None else read_streams(Path(path) / STREAMS, list(streams))
        )

    def image(self, p: int | str = 0) -> zarr.Array:
        """The array of position `p`: its index, its name, or its group path ("B/3/0")."""
        if isinstance(p, str):
            if p in self.series:
                return self.root[p]["0"]
            if p not in self.names:
                raise KeyError(f"position {p!r} is not in this dataset; it has {self.names}")
            p = self.names.index(p)
        return self.root[self.series[p]]["0"]


def open_acquisition(path: str | Path) -> Any:
    """Open a dataset `kernel.acquire` wrote: an OME-Zarr directory or an OME-TIFF file."""
    if str(path).lower().endswith((".tif", ".tiff")):
        from ._tiff import TiffAcquisitionData

        return TiffAcquisitionData(path)
    return AcquisitionData(path)
