"""One OME-Zarr (NGFF 0.5) store per acquisition: bioformats2raw multi-position layout, each
position an image with the t, c, z, y, x axes the sequence uses, a per-frame table and the
sequence itself in the root attributes so the run can be repeated."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import zarr

STACK_AXES = ("t", "c", "z")  # the axes before y, x, in NGFF order
_UNITS = {"t": ("time", "second"), "c": ("channel", None), "z": ("space", "micrometer")}


def _axis(name: str) -> dict[str, str]:
    kind, unit = _UNITS.get(name, ("space", "micrometer"))
    return {"name": name, "type": kind, **({"unit": unit} if unit else {})}


class DatasetWriter:
    """Writes frames by their event index; `finalize` writes the frame table (a run cut short
    still leaves a readable store: the arrays and metadata exist from the start)."""

    def __init__(self, path: str | Path, *, positions: list[str], sizes: dict[str, int], shape: tuple[int, int],
                 dtype: Any, channels: list[str], scale: dict[str, float], sequence_json: str) -> None:  # fmt: skip
        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(f"acquire: the dataset path {str(self.path)!r} exists; choose a new path")
        self.axes = [a for a in STACK_AXES if sizes.get(a, 0) > 0]
        self.root = zarr.open_group(str(self.path), mode="w-", zarr_format=3)
        self.root.attrs["ome"] = {"version": "0.5", "bioformats2raw.layout": 3}
        self.root.attrs["mmkernel"] = {"sequence": json.loads(sequence_json), "frames": []}
        self.root.create_group("OME").attrs["ome"] = {
            "version": "0.5",
            "series": [str(i) for i in range(len(positions))],
        }
        self.arrays: list[zarr.Array] = []
        full = [sizes[a] for a in self.axes] + list(shape)
        names = [*self.axes, "y", "x"]
        scales = [scale.get(a, 1.0) for a in names]
        level = [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": scales}]}]
        for i, name in enumerate(positions):
            group = self.root.create_group(str(i))
            group.attrs["ome"] = {
                "version": "0.5",
                "multiscales": [{"name": name, "axes": [_axis(a) for a in names],
                                 "datasets": level}],
                **({"omero": {"channels": [_channel(c, dtype) for c in channels]}} if "c" in self.axes else {}),
            }  # fmt: skip
            chunks = [1] * len(self.axes) + list(shape)
            array = group.create_array("0", shape=full, chunks=chunks, dtype=dtype, fill_value=0, dimension_names=names)
            self.arrays.append(array)
        self.frames: list[dict[str, Any]] = []

    def write(self, p: int, index: dict[str, int], image: np.ndarray, row: dict[str, Any]) -> None:
        """Store one frame at its (t, c, z) place in position `p` and add its table row."""
        self.arrays[p][tuple(index.get(a, 0) for a in self.axes)] = image
        self.frames.append(row)

    def finalize(self, reason: str) -> None:
        """Write the per-frame table and why the run ended."""
        meta = dict(self.root.attrs["mmkernel"])
        meta.update(frames=self.frames, finished=reason)
        self.root.attrs["mmkernel"] = meta


def _channel(name: str, dtype: Any) -> dict[str, Any]:
    top = float(np.iinfo(dtype).max) if np.issubdtype(dtype, np.integer) else 1.0
    return {"label": name, "color": "FFFFFF", "active": True,
            "window": {"start": 0.0, "end": top, "min": 0.0, "max": top}}  # fmt: skip


class AcquisitionData:
    """Reads a dataset back: `data.image(p=0)[t, c, z]`, `data.frames` (the table), `data.sequence`."""

    def __init__(self, path: str | Path) -> None:
        self.root = zarr.open_group(str(path), mode="r")
        self.series: list[str] = self.root["OME"].attrs["ome"]["series"]
        self.names = [self.root[s].attrs["ome"]["multiscales"][0].get("name") for s in self.series]
        meta = self.root.attrs["mmkernel"]
        self.frames: list[dict[str, Any]] = meta["frames"]
        self.sequence: dict[str, Any] = meta["sequence"]
        self.finished: str | None = meta.get("finished")

    def image(self, p: int | str = 0) -> zarr.Array:
        """The array of position `p` (its index or its name)."""
        if isinstance(p, str) and p not in self.series:
            if p not in self.names:
                raise KeyError(f"position {p!r} is not in this dataset; it has {self.names}")
            p = self.names.index(p)
        return self.root[str(p)]["0"]


def open_acquisition(path: str | Path) -> AcquisitionData:
    """Open a dataset `kernel.acquire` wrote."""
    return AcquisitionData(path)
