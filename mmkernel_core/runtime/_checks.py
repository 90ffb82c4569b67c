"""Argument checks shared by the verbs: numpy integers count as whole numbers, bools never do,
and a number must be finite (NaN passes every `<` test and would reach a queue timeout)."""

from __future__ import annotations

import math
import numbers
from typing import Any


def is_whole(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_finite_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
