"""PropertySpec: what a property is and which values it accepts.

Specs are immutable data so the kernel can validate a value on the caller's thread, before any
adapter code runs, without touching the device's runner.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ._wire_text import control_byte
from .errors import PropertyError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
SUPPORTED_TYPES = (int, float, str, bool)


def type_name(kind: type) -> str:
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return f"{kind.__name__} (enum)"
    return {int: "integer", float: "number", str: "string", bool: "boolean"}[kind]


def _format_number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(x)


@dataclass(frozen=True)
class PropertySpec:
    """The declared shape of one property; `coerce` turns input into an allowed typed value."""

    name: str
    kind: type
    default: Any = None
    limits: tuple[float, float] | None = None
    allowed: tuple[Any, ...] | None = None
    units: str = ""
    read_only: bool = False
    pre_init: bool = False
    before_init: bool = False  # settable before initialize() too (not only pre_init ones)
    memorized: bool = False  # saved in the calibration store on every set, restored at initialize
    sequence_max: int = 0
    doc: str = ""
    affects: tuple[str, ...] = field(default=())
    wire_text: bool = False  # a command property's text goes on the wire: no control bytes in it
    kernel_setting: bool = False  # MMKernel's own, not the device's: a saved file names it only when not default

    def __post_init__(self) -> None:
        is_enum = isinstance(self.kind, type) and issubclass(self.kind, enum.Enum)
        if self.kind not in SUPPORTED_TYPES and not is_enum:
            raise TypeError(
                f"property {self.name!r}: type {self.kind!r} is not supported; "
                "use int, float, str, bool or an Enum subclass"
            )
        if self.limits is not None:
            lo, hi = self.limits
            if self.kind not in (int, float):
                raise TypeError(f"property {self.name!r}: limits need an int or float type")
            if lo > hi:
                raise ValueError(f"property {self.name!r}: limits ({lo}, {hi}) are reversed")
        if self.memorized and self.pre_init:
            why = "pre-init properties cannot be memorized (configurations hold them)"
            raise ValueError(f"property {self.name!r}: {why}")
        if self.memorized and self.read_only:
            why = "read-only properties cannot be memorized (they are never set, and could not be restored)"
            raise ValueError(f"property {self.name!r}: {why}")
        if self.kernel_setting and not self.pre_init:
            why = "kernel_setting=True needs pre_init=True (a saved configuration holds only pre-init settings)"
            raise ValueError(f"property {self.name!r}: {why}")
        if is_enum and self.allowed is None:
            object.__setattr__(self, "allowed", tuple(self.kind))
        if self.allowed is not None:
            typed = tuple(self._convert(v, "<declaration>") for v in self.allowed)
            object.__setattr__(self, "allowed", typed)

    # -- description ------------------------------------------------------------------------
    def describe_allowed(self) -> str:
        """Human text for what this property accepts, used in every rejection message."""
        if self.read_only:
            return "nothing (read-only)"
        unit = f" {self.units}" if self.units else ""
        if self.allowed is not None:
            shown = ", ".join(repr(_public(v)) for v in self.allowed)
            return f"one of [{shown}]" if self.allowed else "no values (empty allowed list)"
        if self.wire_text and self.kind is str and self.allowed is None:
            return "text without control characters (no line breaks, terminators or NUL)"
        if self.limits is not None:
            lo, hi = self.limits
            return f"{type_name(self.kind)} within [{_format_number(lo)}, {_format_number(hi)}]{unit}"
        return f"any {type_name(self.kind)}{unit}"

    def with_limits(self, lo: float, hi: float) -> PropertySpec:
        if self.kind not in (int, float):
            return replace(self, limits=(lo, hi))  # __post_init__ says why not
        if lo > hi:
            raise ValueError(f"property {self.name!r}: limits ({lo}, {hi}) are reversed")
        return self.evolve(limits=(lo, hi))

    def with_allowed(self, values: tuple[Any, ...] | None) -> PropertySpec:
        if values is None:
            return replace(self, allowed=None)  # an Enum's members come back (__post_init__)
        values = tuple(values)
        if self.kind in (str, int) and set(map(type, values)) <= {self.kind}:
            return self.evolve(allowed=values)  # already of the kind: nothing to convert
        return self.evolve(allowed=tuple(self._convert(v, "<declaration>") for v in values))

    def evolve(self, **changes: Any) -> PropertySpec:
        """A copy with `changes` taken as they are (already checked by the caller): a state
        device renaming a position, or an adapter narrowing limits at initialize, makes a spec
        per call, and `dataclasses.replace` checking every field again made that the cost of
        a load."""
        copy = object.__new__(PropertySpec)
        copy.__dict__.update(self.__dict__, **changes)
        return copy

    # -- validation -------------------------------------------------------------------------
    def coerce(self, value: Any, device: str = "?") -> Any:
        """Return `value` as this property's type, or raise PropertyError saying what is allowed."""
        typed = self._convert(value, device)
        if self.kind is float and not math.isfinite(typed):
            raise self.error(device, value, "is not a finite number")
        if self.wire_text and isinstance(typed, str) and (found := control_byte(typed)):
            raise self.error(device, value, f"holds {found}, which would end the command on the wire")
        if self.allowed is not None and typed not in self.allowed:
            raise self.error(device, value, "is not one of the allowed values")
        if self.limits is not None and not (self.limits[0] <= typed <= self.limits[1]):
            raise self.error(device, value, "is out of range")
        return typed

    def error(self, device: str, value: Any, reason: str) -> PropertyError:
        allowed = self.describe_allowed()
        return PropertyError(
            f"device {device!r}, property {self.name!r}: value {value!r} {reason}; allowed: {allowed}",
            device=device,
            property=self.name,
            value=value,
            allowed=allowed,
        )

    def _convert(self, value: Any, device: str) -> Any:
        kind = self.kind
        exact = type(value)
        if exact is kind and (exact is str or exact is int):  # the common case, as below but without the checks
            return value
        try:
            if isinstance(kind, type) and issubclass(kind, enum.Enum):
                return _to_enum(kind, value)
            if kind is bool:
                return _to_bool(value)
            if kind is int:
                return _to_int(value)
            if kind is float:
                return _to_float(value)
            if isinstance(value, enum.Enum):
                return str(value.value)
            if isinstance(value, (str, int, float, bool)):
                return str(value)
        except (ValueError, TypeError, KeyError, OverflowError):
            pass
        raise self.error(device, value, f"is not a valid {type_name(kind)}")


def _public(value: Any) -> Any:
    return value.name if isinstance(value, enum.Enum) else value


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise ValueError(value)


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)  # exact, even beyond 2**53
        except ValueError:
            value = text  # "2.0" is still an integer
    number = float(value)
    if not number.is_integer():
        raise ValueError(value)
    return int(number)


def _to_float(value: Any) -> float:
    if isinstance(value, (bool, enum.Enum)):
        raise TypeError(value)
    number = float(value.strip()) if isinstance(value, str) else float(value)
    if math.isnan(number):
        raise ValueError(value)
    return number


def _to_enum(kind: type[enum.Enum], value: Any) -> enum.Enum:
    if isinstance(value, kind):
        return value
    if isinstance(value, str) and value in kind.__members__:
        return kind[value]
    return kind(value)
