"""What a camera says its frames look like, checked before any memory is laid out for them.

`frame_shape()` and `frame_dtype()` are adapter output: a float in the shape or an object dtype
would otherwise build arrays over raw buffer memory (numpy happily makes an object array over
bytes, and the process crashes when it is read).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from mmkernel_sdk.errors import DeviceError

PLAIN_KINDS = "biufc"  # bool, signed and unsigned integers, floats, complex
MAX_COMPONENTS = 4  # BGRA


def frame_format(device: Any, camera: str) -> tuple[tuple[int, ...], np.dtype]:
    """The camera's (shape, dtype), or a DeviceError naming camera, value and what is allowed."""
    return checked_shape(device.frame_shape(), camera), checked_dtype(device.frame_dtype(), camera)


def checked_shape(shape: Any, camera: str) -> tuple[int, ...]:
    allowed = f"(height, width) or (height, width, components <= {MAX_COMPONENTS}) of whole numbers >= 1"
    try:
        dims = tuple(shape)
    except TypeError:
        raise _bad(camera, "frame_shape", shape, allowed) from None
    good = len(dims) in (2, 3) and all(
        isinstance(d, numbers.Integral) and not isinstance(d, (bool, np.bool_)) and d >= 1 for d in dims
    )
    if not good or (len(dims) == 3 and dims[2] > MAX_COMPONENTS):
        raise _bad(camera, "frame_shape", shape, allowed)
    return tuple(int(d) for d in dims)


def checked_dtype(dtype: Any, camera: str) -> np.dtype:
    allowed = "a plain numeric or bool dtype (e.g. uint8, uint16, float32)"
    try:
        typed = np.dtype(dtype)
    except (TypeError, ValueError):
        raise _bad(camera, "frame_dtype", dtype, allowed) from None
    if typed.hasobject or typed.fields is not None or typed.subdtype is not None or typed.kind not in PLAIN_KINDS:
        raise _bad(camera, "frame_dtype", dtype, allowed)
    return typed


def _bad(camera: str, method: str, value: Any, allowed: str) -> DeviceError:
    return DeviceError(camera, method, f"camera {camera!r}: {method}() returned {value!r}; allowed: {allowed}")
