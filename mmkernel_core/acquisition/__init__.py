"""Acquisition engine: useq-schema multi-dimensional acquisitions run inside the kernel.

Lives here: the software-timed engine (`_engine`), where its events come from (`_source`: a
sequence, or an adaptive run's iterable), what one event does to the devices
(`_steps`, shared by both engines), the plan that merges events into hardware-sequenced runs
(`_plan`) and one such run's load, start, stream and stop (`_hwrun`, shared by both engines),
`MMKernelEngine` for pymmcore-plus's MDARunner (`_pmda`, no import of pymmcore_plus until its
runner asks for events), the writer thread frames cross to the dataset on, a bounded hand-off
with its overflow policy and the writer options (`_writer_thread`), the datastreams recorded at
every frame and change (`_streams`), each frame's row and what it changed (`_rows`), what the
dataset is made of from the sequence (`_layout`),
the OME-Zarr multi-position dataset (`_dataset`) or the OME-TIFF file (`_tiff`; its pages and
description written so it stays valid if killed: `_tiffpages`) with the frame and datastream
tables both append as they write (`_table`), and their readers.

May import: `runtime` (its threads) and `mmkernel_sdk.errors`; the kernel through its public
verbs, `kernel.internals.frame_format`, `kernel.internals.find` and `kernel.internals.cache`
(its reads, and its change listeners for the datastreams, as recordings have them); never
underscore attributes of the kernel or of other packages. `useq` is imported lazily so that
`import mmkernel_core` never needs the `acquisition` extra.
"""

from __future__ import annotations

from ._dataset import AcquisitionData, open_acquisition
from ._engine import Acquisition, AcquisitionResult, start_acquisition
from ._plan import Run, plan_of
from ._pmda import MMKernelEngine
from ._source import as_sequence

__all__ = [
    "Acquisition",
    "AcquisitionData",
    "AcquisitionResult",
    "MMKernelEngine",
    "Run",
    "as_sequence",
    "open_acquisition",
    "plan_of",
    "start_acquisition",
]
