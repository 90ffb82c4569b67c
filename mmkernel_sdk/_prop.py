"""`prop`: declare a device property in one line, the way Python's `property` works.

exposure = prop(float, default=10.0, limits=(0, 10_000), units="ms")   # stored value

@prop(float, units="um")                                              # getter
def position(self): return self.port.query("P?")

@position.setter
def position(self, value): self.port.write(f"P{value}")
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ._spec import PropertySpec

if TYPE_CHECKING:
    from ._device import Device


class prop:  # noqa: N801 - lower case on purpose: it reads like `property`
    """A device property descriptor; the kernel validates every value against its spec."""

    def __init__(
        self,
        kind: type,
        *,
        default: Any = None,
        limits: tuple[float, float] | None = None,
        allowed: Iterable[Any] | None = None,
        units: str = "",
        read_only: bool = False,
        pre_init: bool = False,
        sequence_max: int = 0,
        name: str | None = None,
        doc: str = "",
        affects: Iterable[str] = (),
    ) -> None:
        self.kind = kind
        self.default = default
        self.limits = None if limits is None else (limits[0], limits[1])
        self.allowed = None if allowed is None else tuple(allowed)
        self.units = units
        self.read_only = read_only
        self.pre_init = pre_init
        self.sequence_max = sequence_max
        self.public_name = name
        self.doc = doc
        self.affects = tuple(affects)
        self.fget: Callable[[Any], Any] | None = None
        self.fset: Callable[[Any, Any], None] | None = None
        self.attr: str | None = None

    # -- decorator protocol -----------------------------------------------------------------
    def __call__(self, fget: Callable[[Any], Any]) -> prop:
        """Use `@prop(type, ...)` on a method: it becomes the getter."""
        return self.getter(fget)

    def getter(self, fget: Callable[[Any], Any]) -> prop:
        new = copy.copy(self)
        new.fget = fget
        new.doc = self.doc or (fget.__doc__ or "").strip()
        return new

    def setter(self, fset: Callable[[Any, Any], None]) -> prop:
        new = copy.copy(self)
        new.fset = fset
        return new

    def __set_name__(self, owner: type, attr: str) -> None:
        self.attr = attr
        if self.public_name is None:
            self.public_name = attr

    # -- spec -------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.public_name or self.attr or "?"

    def spec(self) -> PropertySpec:
        """The immutable spec; a getter without a setter makes the property read-only."""
        read_only = self.read_only or (self.fget is not None and self.fset is None)
        return PropertySpec(
            name=self.name,
            kind=self.kind,
            default=self.default,
            limits=self.limits,
            allowed=self.allowed,
            units=self.units,
            read_only=read_only,
            pre_init=self.pre_init,
            sequence_max=self.sequence_max,
            doc=self.doc,
            affects=self.affects,
        )

    # -- attribute access from adapter code -------------------------------------------------
    def __get__(self, obj: Device | None, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return obj._props.get(self.name)

    def __set__(self, obj: Device, value: Any) -> None:
        """Adapter code assigning `self.x = v`: validate, apply, and tell the kernel."""
        obj._props.set_and_notify(self.name, value)
