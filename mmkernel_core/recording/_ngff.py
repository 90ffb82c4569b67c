"""OME-NGFF 0.5 image metadata (the `ome` attribute of an image group on zarr v3).

Axes come in the order the spec requires (time, channel, space); space axes are in
micrometer, time in seconds; one `scale` transform per dataset, as long as the axes.
"""

from __future__ import annotations

from typing import Any

NGFF_VERSION = "0.5"
COLOURS = ("FFFFFF", "00FF00", "FF00FF", "00FFFF", "FFFF00", "FF0000", "0000FF")


def axes_for(frame_ndim: int) -> tuple[str, ...]:
    """Axis names of a recorded array: t, then c for colour frames, then y, x."""
    return ("t", "c", "y", "x") if frame_ndim == 3 else ("t", "y", "x")


def image_metadata(
    name: str,
    axes: tuple[str, ...],
    pixel_size_um: float,
    interval_s: float,
    channel_names: tuple[str, ...] = (),
    window: tuple[float, float] = (0.0, 65535.0),
    path: str = "0",
) -> dict[str, Any]:
    """The `ome` attribute of one image group with a single resolution level at `path`."""
    kinds = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}
    units = {"t": "second", "z": "micrometer", "y": "micrometer", "x": "micrometer"}
    scale_of = {"t": interval_s if interval_s > 0 else 1.0, "c": 1.0}
    space = pixel_size_um if pixel_size_um > 0 else 1.0
    axis_entries = []
    for axis in axes:
        entry: dict[str, Any] = {"name": axis, "type": kinds[axis]}
        if axis in units:
            entry["unit"] = units[axis]
        axis_entries.append(entry)
    scale = [scale_of.get(axis, space) for axis in axes]
    ome: dict[str, Any] = {
        "version": NGFF_VERSION,
        "multiscales": [
            {
                "name": name,
                "axes": axis_entries,
                "datasets": [{"path": path, "coordinateTransformations": [{"type": "scale", "scale": scale}]}],
            }
        ],
    }
    if channel_names:
        ome["omero"] = {
            "channels": [
                {
                    "label": label,
                    "color": COLOURS[index % len(COLOURS)],
                    "active": True,
                    "window": {"start": window[0], "end": window[1], "min": window[0], "max": window[1]},
                }
                for index, label in enumerate(channel_names)
            ]
        }
    return ome
