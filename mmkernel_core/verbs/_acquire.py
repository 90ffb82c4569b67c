"""Acquisition verb: `kernel.acquire(sequence, path)` runs a useq MDASequence in the kernel.
The engine lives in mmkernel_core.acquisition; this verb only starts it (three faces)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..runtime import Request
from ._faces import verb


class AcquireVerbs:
    @verb
    def acquire(self, sequence: Any, path: Any = None, *, format: str = "ome-zarr",  # noqa: A002
                overflow: str = "block", metadata: dict[str, Any] | None = None,
                datastreams: Sequence[tuple[str, str]] = (), writer_options: dict[str, Any] | None = None,
                hardware_sequencing: bool = True) -> Request:  # fmt: skip
        """Run `sequence` (a useq.MDASequence, its dict, JSON or a YAML/JSON file, or an iterable
        of useq.MDAEvent the caller may keep feeding) and return the running `Acquisition`
        (`progress`, `pause()`, `resume()`, `cancel()`, `wait()`). `path`: a new OME-Zarr
        directory (or OME-TIFF file, `format="ome-tiff"`), or None to keep frames in memory;
        frames go to the dataset on a writer thread, across a hand-off of at most
        `writer_options["handoff_bytes"]` (256 MiB): `overflow="block"` waits when it is full,
        `"drop"` drops the frame (counted; its table row says `dropped: true`). `metadata`: a
        JSON object stored with it; `datastreams`: (label, property) pairs recorded at every
        frame and every change, as in `record`; `hardware_sequencing`: merge events into
        triggered runs where the devices can (see `Acquisition.plan`). Every argument is checked
        before anything starts."""
        from ..acquisition import start_acquisition

        request = Request("Core", "acquire")
        try:
            acquisition = start_acquisition(self, sequence, path, metadata, hardware_sequencing, format, overflow,
                                            datastreams, writer_options)  # fmt: skip
            request.finish(acquisition)
        except BaseException as error:  # noqa: BLE001 - handed to the caller
            request.finish(exception=error)
        return request
