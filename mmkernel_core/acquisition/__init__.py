"""Acquisition engine: useq-schema multi-dimensional acquisitions run inside the kernel.

Lives here: the software-timed engine (`_engine`), the OME-Zarr multi-position dataset it
writes (`_dataset`) and its reader. Imports `runtime` (its threads) and the kernel's public verbs (never underscore
attributes of the kernel or of other packages); `useq` is imported lazily so that
`import mmkernel_core` never needs the `acquisition` extra.
"""

from __future__ import annotations

from ._dataset import AcquisitionData, open_acquisition
from ._engine import Acquisition, AcquisitionResult, as_sequence, start_acquisition

__all__ = [
    "Acquisition",
    "AcquisitionData",
    "AcquisitionResult",
    "as_sequence",
    "open_acquisition",
    "start_acquisition",
]
