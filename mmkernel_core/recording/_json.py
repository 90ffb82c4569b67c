"""Strict JSON (RFC 8259) for everything a recording writes: what strict readers accept.

Python's json writes NaN and infinities as bare `NaN` / `Infinity`, which is not JSON: web
viewers, tensorstore and Java or Rust zarr readers refuse the whole file. The rule here: the
kernel's own values (property values in the system state, per-frame changes, datastreams) that
are not finite numbers are written as the strings "NaN", "Infinity" and "-Infinity"; numpy
scalars and arrays become plain numbers and lists; enums their names; sets sorted lists;
anything else its text. A user's `metadata` is checked instead (`check_json`, after `plain`
turned numpy scalars into numbers): a non-finite number there is refused, naming where it is.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


def strict_json(value: Any) -> Any:
    """`value` with everything strict JSON cannot hold replaced by the rule above."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else ("NaN" if number != number else NON_FINITE[number])
    if isinstance(value, Mapping):
        return {str(key): strict_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(item) for item in value]
    if isinstance(value, np.ndarray):
        return strict_json(value.tolist())
    if isinstance(value, (set, frozenset)):
        return [strict_json(item) for item in sorted(value, key=str)]
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, np.generic):
        return strict_json(value.item())
    return str(value)


def dumps(value: Any) -> str:
    """Compact strict JSON text of `value` (after `strict_json`)."""
    return json.dumps(strict_json(value), separators=(",", ":"), allow_nan=False)


def plain(value: Any) -> Any:
    """A copy of `value` with numpy scalars as the Python numbers they are (np.int64(3) -> 3,
    np.float32(0.5) -> 0.5, np.bool_ -> bool) and tuples as lists; anything else as it is, for
    `check_json` to judge (a NaN stays a NaN, and is refused there)."""
    if isinstance(value, np.generic) and isinstance(value, (np.number, np.bool_)):
        return value.item()
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def check_json(value: Any, where: str = "metadata") -> None:
    """Raise ValueError naming the first place in `value` strict JSON cannot hold as it is: a
    non-finite number, a key that is not text, or a value of a kind JSON has not."""
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where} is {value!r}: JSON has no NaN or infinity (use null, or a string)")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where} has the key {key!r}: JSON keys are text")
            check_json(item, f"{where}[{key!r}]")
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            check_json(item, f"{where}[{index}]")
        return
    raise ValueError(
        f"{where} is {value!r} ({type(value).__name__}): allowed are JSON values "
        "(dicts with text keys, lists, text, finite numbers, true/false, null)"
    )
