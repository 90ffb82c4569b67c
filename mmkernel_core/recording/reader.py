"""Reading back a recording: frames, the per-frame table, datastreams, projections, metadata.

    data = open_recording("run.ome.zarr")
    data.images["Camera"][10]          # frame 10 (zarr array or memory-mapped TIFF pages)
    data.frames("Camera")["number"]    # camera frame numbers; "changes": what changed per frame
    data.datastreams["Z-Position"]     # {"time", "frame", "value"}
    data.metadata["system_state"]      # the whole system when the recording started

Plain zarr, ome-zarr/napari and tifffile read the same files without MMKernel; this is the
convenience (and what the tests use).
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._tables import text_rows
from .tiff_writer import NAMESPACE, stream_path

TIFF_SUFFIXES = (".tif", ".tiff")


@dataclass
class RecordedData:
    metadata: dict[str, Any]
    images: dict[str, Any]  # camera -> array-like (t, [c,] y, x)
    datastreams: dict[str, dict[str, Any]]
    _frames: dict[str, dict[str, Any]] = field(default_factory=dict)
    _projections: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

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
    if "ome" in root.attrs:
        groups = {cameras[0] if cameras else "0": root}
    else:
        groups = {camera: root[camera] for camera in cameras}
    images = {camera: group["0"] for camera, group in groups.items()}
    frames = {camera: _zarr_table(group, "mmkernel/frames") for camera, group in groups.items()}
    for table in frames.values():
        _decode(table, "changes")
    projections = {camera: _zarr_projections(group) for camera, group in groups.items()}
    datastreams: dict[str, dict[str, Any]] = {}
    if "mmkernel" in root and "datastreams" in root["mmkernel"]:
        for name in root["mmkernel/datastreams"].group_keys():
            datastreams[name] = _decode(_zarr_table(root, f"mmkernel/datastreams/{name}"), "value")
    return RecordedData(metadata, images, datastreams, frames, projections)


def _zarr_table(group: Any, path: str) -> dict[str, Any]:
    try:
        table = group[path]
    except KeyError:
        return {}
    return {name: array[...] for name, array in table.arrays()}


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
    metadata: dict[str, Any] = {}
    images: dict[str, Any] = {}
    frames: dict[str, dict[str, Any]] = {}
    projections: dict[str, dict[str, np.ndarray]] = {}
    datastreams: dict[str, dict[str, Any]] = {}
    for name, file in files.items():
        document, image, extra = _read_tiff(file)
        metadata = document.get("mmkernel", {})
        camera = name if name is not None else _camera_of(document, file)
        images[camera] = image
        frames[camera] = _decode({k: np.asarray(v) for k, v in document.get("frames", {}).items()}, "changes")
        projections[camera] = extra
        for name, columns in document.get("datastreams", {}).items():
            datastreams[name] = _decode({k: np.asarray(v) for k, v in columns.items()}, "value")
    return RecordedData(metadata, images, datastreams, frames, projections)


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


def _read_tiff(file: Path) -> tuple[dict[str, Any], Any, dict[str, np.ndarray]]:
    import tifffile

    with tifffile.TiffFile(file) as tiff:
        xml = tiff.ome_metadata or ""
        series = tiff.series
        document = _annotation(xml)
        written = int(document.get("frames_written", series[0].shape[0] if series else 0))
        images = [s.asarray() for s in series[1:]]
        names = _image_names(xml)[1:]
        blank = None if written else series[0].asarray()  # the one page an empty recording has
    extra = {name.split(" ", 1)[-1]: array for name, array in zip(names, images, strict=False)}
    if blank is not None:
        frame_ndim = 3 if _channels(xml) > 1 else 2
        return document, np.zeros((0, *blank.shape[-frame_ndim:]), blank.dtype), extra
    return document, tifffile.memmap(file, series=0, mode="r")[:written], extra


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


def _channels(xml: str) -> int:
    """SizeC of the recording's image (the first Image's Pixels)."""
    if xml:
        for element in ElementTree.fromstring(xml).iter():
            if element.tag.endswith("Pixels"):
                return int(element.get("SizeC", "1"))
    return 1


def _image_names(xml: str) -> list[str]:
    if not xml:
        return []
    root = ElementTree.fromstring(xml)
    return [element.get("Name", "") for element in root if element.tag.endswith("Image")]
