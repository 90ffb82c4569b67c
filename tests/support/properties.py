"""Shared by the property tests (through the kernel and on PropertySpec alone): an enum kind, the
largest int a float holds exactly, and equality that treats NaN as equal to itself."""

from __future__ import annotations

import enum
import math
from typing import Any

MAX_EXACT_INT = 2**53  # every int up to here survives a round trip through a float


class Mode(enum.Enum):
    FAST = 1
    SLOW = 2


def same(a: Any, b: Any) -> bool:
    """Equality that also treats NaN as equal to itself (for `PropertyError.value`)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b
