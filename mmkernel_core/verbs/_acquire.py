"""Acquisition verb: `kernel.acquire(sequence, path)` runs a useq MDASequence in the kernel.
The engine lives in mmkernel_core.acquisition; this verb only starts it (three faces)."""

from __future__ import annotations

from typing import Any

from ..runtime import Request
from ._faces import verb


class AcquireVerbs:
    @verb
    def acquire(self, sequence: Any, path: Any = None, *, format: str = "ome-zarr",  # noqa: A002
                metadata: dict[str, Any] | None = None, hardware_sequencing: bool = True) -> Request:  # fmt: skip
        """Run `sequence` (a useq.MDASequence, its dict, JSON or a YAML/JSON file, or an iterable
        of useq.MDAEvent the caller may keep feeding) and return the running `Acquisition`
        (`progress`, `pause()`, `resume()`, `cancel()`, `wait()`). `path`: a new OME-Zarr
        directory, or None to keep frames in memory; `metadata`: a JSON object stored with it;
        `hardware_sequencing`: merge events into triggered runs where the devices can (see
        `Acquisition.plan`)."""
        from ..acquisition import start_acquisition

        request = Request("Core", "acquire")
        try:
            request.finish(start_acquisition(self, sequence, path, metadata, hardware_sequencing, format))
        except BaseException as error:  # noqa: BLE001 - handed to the caller
            request.finish(exception=error)
        return request
