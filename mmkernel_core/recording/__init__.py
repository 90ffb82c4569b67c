"""Recording inside the kernel: camera buffers -> processing steps -> OME-Zarr or OME-TIFF.

`kernel.record(...)` returns a `Recording`; `open_recording(path)` reads back what was
written (frames, per-frame table, datastreams, projections, metadata). Formats and steps are
plugins (`mmkernel_sdk.recording`); the built-in ones are `ome-zarr`, `ome-tiff` and the steps
in `mmkernel_core.recording.steps`. See docs/recording.md.

Internally: `plan_recording` checks every argument before anything starts; `Recording` checks
each camera's format after its steps against the writer (`_formats`), then runs a `CameraPipe`
per camera (frames taken from the camera's FrameBuffer in runs, through the steps (`_kept`: the
frames they hold), across a bounded `_handoff`, into the writer). OME-Zarr: `zarr_writer`,
`_zarr_stream`, `_zarr_tables`, `_zarr_pending` (a shard still filling), `_zarr_store`.
It uses the kernel's verbs and `kernel.internals`, never its underscores.
May import: `runtime`, `frames`, `mmkernel_sdk`. Not verbs, config or the CLI.
"""

from ._plan import RecordingPlan, plan_recording
from ._recording import CameraProgress, Recording, RecordingProgress, RecordingResult
from .reader import RecordedData, open_recording

__all__ = [
    "CameraProgress",
    "RecordedData",
    "Recording",
    "RecordingPlan",
    "RecordingProgress",
    "RecordingResult",
    "open_recording",
    "plan_recording",
]
