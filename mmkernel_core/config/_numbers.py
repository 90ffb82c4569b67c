"""Numbers a configuration holds, checked for what each one is.

The parser makes sure a number field is a number; here it is checked for what it means: a
state position or a focus direction is a whole number, and a calibration is finite (a NaN pixel
size would reach every recording's metadata as invalid JSON). A bad one is a ConfigError saying
what is allowed, so a `.cfg` line holding it is a problem of that line, never a raw
OverflowError.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

from mmkernel_sdk.errors import ConfigError

POSITION = "a whole number from 0 (a position of the device)"
FOCUS_DIRECTION = "-1, 0 or 1"


def whole(text: str, what: str, allowed: str) -> int:
    """A field that must be a whole number (a `Label` position, a `FocusDirection` sign)."""
    value = float(text)  # the parser has checked that it is a number
    if not math.isfinite(value) or not value.is_integer():
        raise ConfigError(f"{what} {text!r} is not allowed; allowed: {allowed}")
    return int(value)


# PixelSizeConfig field -> (what it is, what is allowed, the least value allowed)
CALIBRATION = {
    "pixel_size_um": ("pixel size", "a finite number of um >= 0 (0: not calibrated)", 0.0),
    "affine": ("affine transform", "six finite numbers", -math.inf),
    "angle_dxdz": ("angle dxdz", "a finite number", -math.inf),
    "angle_dydz": ("angle dydz", "a finite number", -math.inf),
    "optimal_z_um": ("optimal Z step", "a finite number of um", -math.inf),
}


def calibration(resolution: str, name: str, value: Any) -> Any:
    """`value` for field `name` of a pixel size configuration, as floats, or a ConfigError
    naming the resolution and what is allowed."""
    what, allowed, least = CALIBRATION[name]
    numbers = value if name == "affine" else (value,)
    try:
        converted = [_finite(v) for v in numbers]
        if name == "affine" and len(converted) != 6:
            raise ValueError(value)
    except (TypeError, ValueError):
        converted = []
    if not converted or not all(v >= least for v in converted):
        where = f"pixel size configuration {resolution!r}"
        raise ConfigError(f"{where}: {what} {value!r} is not allowed; allowed: {allowed}")
    return tuple(converted) if name == "affine" else converted[0]


def _finite(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(value)
    return float(value)
