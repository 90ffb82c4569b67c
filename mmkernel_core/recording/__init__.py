"""Recording inside the kernel: camera buffers -> processing steps -> OME-Zarr or OME-TIFF.

`kernel.record(...)` returns a `Recording`; `open_recording(path)` reads back what was
written (frames, per-frame table, datastreams, projections, metadata). Formats and steps are
plugins (`mmkernel_sdk.recording`); the built-in ones are `ome-zarr`, `ome-tiff` and the steps
in `mmkernel_core.recording.steps`. See docs/recording.md.
"""

from ._recording import CameraProgress, Recording, RecordingProgress, RecordingResult
from .reader import RecordedData, open_recording

__all__ = [
    "CameraProgress",
    "RecordedData",
    "Recording",
    "RecordingProgress",
    "RecordingResult",
    "open_recording",
]
