"""The recording formats and steps that come with the kernel (plugins add more)."""

from __future__ import annotations

from typing import Any

from .steps import STEPS as _STEPS


def _ome_zarr(**options: Any) -> Any:
    from .zarr_writer import OmeZarrWriter  # zarr is imported when a recording needs it

    return OmeZarrWriter(**options)


def _ome_tiff(**options: Any) -> Any:
    from .tiff_writer import OmeTiffWriter

    return OmeTiffWriter(**options)


WRITERS: dict[str, Any] = {"ome-zarr": _ome_zarr, "ome-tiff": _ome_tiff}
STEPS: dict[str, Any] = dict(_STEPS)
