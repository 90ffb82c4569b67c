"""What a recording's arrays hold: each camera's frame format after its steps, checked against
the writer before anything is written.

A camera or a step gives frames as (y, x) or, for colour, (y, x, components) (cameras give
BGRA); they are stored as (y, x) or (c, y, x) planes. The format is known from the camera and
the steps run over a blank frame before the recording starts, so a format the writer cannot
store (a 1-d output, float16 in OME-TIFF) is refused then, with nothing made; a step whose
output depends on the pixels is checked again at its first frame.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np

from mmkernel_sdk.errors import RecordingError
from mmkernel_sdk.recording import FrameInfo, Step, StreamSpec, Writer

NUMERIC_KINDS = "biufc"  # bool, signed and unsigned integers, floats, complex
FRAMES = "a numpy array of numbers, (y, x) or colour (y, x, components), none of them 0"


def to_planes(frame: np.ndarray) -> np.ndarray:
    """A colour frame (y, x, components; cameras give BGRA) as (c, y, x) RGB planes."""
    if frame.ndim != 3:
        return frame
    if frame.shape[2] == 4:
        frame = frame[..., 2::-1]
    return np.ascontiguousarray(np.moveaxis(frame, -1, 0))


def as_frame(value: Any) -> Any:
    """A step's output as an array: numpy arrays as they are, numpy scalars and array-likes
    (`__array__`) through np.asarray; anything else stays what it is (and is refused)."""
    if isinstance(value, np.ndarray) or value is None:
        return value
    if isinstance(value, np.generic) or (hasattr(value, "__array__") and not isinstance(value, (str, bytes))):
        return np.asarray(value)
    return value


def describe(value: Any) -> str:
    """How an error names what a step returned."""
    if isinstance(value, np.ndarray):
        return f"{tuple(value.shape)} {value.dtype}"
    return f"a {type(value).__name__} ({value!r:.40})"


def frame_problem(value: Any) -> str | None:
    """Why `value` cannot be a frame in any format (None: it can)."""
    if not isinstance(value, np.ndarray):
        return f"they are {describe(value)}, not arrays"
    if value.ndim not in (2, 3):
        return f"they are {value.ndim}-d, {describe(value)}"
    if 0 in value.shape:
        return f"they are empty, {describe(value)}"
    if value.dtype.kind not in NUMERIC_KINDS or value.dtype.fields is not None:
        return f"their dtype is {value.dtype}, not a number"
    return None


def channel_names(planes: int) -> tuple[str, ...]:
    return ("R", "G", "B") if planes == 3 else tuple(f"C{index}" for index in range(planes))


def spec_for(base: StreamSpec, shape: tuple[int, ...], dtype: np.dtype) -> StreamSpec:
    """The array of frames of (stored) `shape` and `dtype`; the rest from `base`."""
    channels = base.channel_names if len(shape) == 2 else channel_names(shape[0])
    return StreamSpec(base.name, tuple(shape), np.dtype(dtype), base.count, base.pixel_size_um, base.interval_s,
                      channels)  # fmt: skip


def refusal(
    camera: str, step: str, value: Any, writer: Writer, base: StreamSpec, frame: int | None = None
) -> RecordingError | None:
    """A RecordingError if `value` (a frame as a camera or the last step `step` gives it) cannot
    be recorded by `writer`: names the camera, the step, the shape and dtype, and what is taken."""
    where = f"camera {camera!r}" + (f", step {step!r}" if step else "")
    what = "its frames" if not step else "the frames it returns"
    problem = frame_problem(value)
    if problem is None:
        planes = to_planes(value)
        try:
            writer.check_stream(spec_for(base, planes.shape, planes.dtype))
        except (TypeError, ValueError) as error:
            problem = f"they are {describe(value)}; {error}"
    else:
        problem = f"{problem}; a frame is {FRAMES}"
    if problem is None:
        return None
    at = f" (frame {frame})" if frame is not None else ""
    return RecordingError(f"{where}: {what} cannot be recorded{at}: {problem}", camera, frame)


def blank_output(shape: tuple[int, ...], dtype: np.dtype, steps: Sequence[Step]) -> tuple[Any, str] | None:
    """What copies of `steps` (their state stays as it is) make of a blank frame of the camera's
    format, and the name of the last step; None if they cannot tell (a step that fails on a
    blank frame, or drops it, or cannot be copied): the first real frame will."""
    blank = np.zeros(shape, dtype)
    blank.setflags(write=False)  # as the camera's frames are
    out: Any = blank
    name = ""
    try:
        for step in copy.deepcopy(list(steps)):
            name = step.name
            out = step.process(out, FrameInfo(0, 0.0, None, {}))
            if out is None:
                return None
    except Exception:  # noqa: BLE001 - a step that needs real pixels: checked at the first frame instead
        return None
    return as_frame(out), name
