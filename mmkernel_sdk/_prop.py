"""`prop`: declare a device property in one line, the way Python's `property` works.

exposure = prop(float, default=10.0, limits=(0, 10_000), units="ms")   # stored value

@prop(float, units="um")                                              # getter
def position(self): return self.port.query("P?")

@position.setter
def position(self, value): self.port.write(f"P{value}")

speed = prop(int, query="speed?", write="speed={}", allowed=(0, 1))  # a command property:
# read with the device's ask("speed?"), written with tell("speed=1"); most properties of an
# ASCII instrument are one such line. `mapping={"Slow": 0, "Fast": 1}` names wire values.
"""

from __future__ import annotations

import copy
import enum
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ._spec import PropertySpec
from .errors import ReplyError

if TYPE_CHECKING:
    from ._owner import DeviceLike


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
        before_init: bool = False,
        memorized: bool = False,
        sequence_max: int = 0,
        name: str | None = None,
        doc: str = "",
        affects: Iterable[str] = (),
        query: str | None = None,
        write: str | None = None,
        mapping: dict[Any, Any] | None = None,
        parse: Callable[[str], Any] | None = None,
        name_check: bool = True,
        kernel_setting: bool = False,
    ) -> None:
        self.kind = kind
        self.default = default
        self.limits = None if limits is None else (limits[0], limits[1])
        if mapping is not None and allowed is None:
            allowed = tuple(mapping)
        self.allowed = None if allowed is None else tuple(allowed)
        self.query = query  # command properties: what to ask the instrument ...
        self.write_command = write  # ... and how to tell it a value ("speed={}")
        self.mapping = None if mapping is None else dict(mapping)
        self.parse = parse
        self.units = units
        self.read_only = read_only
        self.pre_init = pre_init
        self.before_init = before_init  # usable before initialize() and after (MM: made in the constructor)
        self.memorized = memorized  # kept in the calibration store, written back at initialize
        if memorized and (read_only or pre_init):  # refused where it is written, not when a device is made
            what = "read-only" if read_only else "pre-init"
            raise ValueError(f"prop(name={name!r}): {what} properties cannot be memorized")
        self.sequence_max = sequence_max
        self.public_name = name
        self.doc = doc
        self.affects = tuple(affects)
        self.name_check = name_check  # False: the name registry does not check this name (another quantity)
        # A pre-init setting of MMKernel's own (which core a bridged device joins): a saved
        # configuration leaves it out while it has its default, so Micro-Manager can load the file.
        self.kernel_setting = kernel_setting
        self.fget: Callable[[Any], Any] | None = None
        self.fset: Callable[[Any, Any], None] | None = None
        self.attr: str | None = None

    # -- decorator protocol -----------------------------------------------------------------
    def __call__(self, fget: Callable[[Any], Any]) -> prop:
        """Use `@prop(type, ...)` on a method: it becomes the getter."""
        return self.getter(fget)

    def _copy(self) -> prop:
        new = copy.copy(self)
        new.__dict__.pop("_spec_cache", None)  # the copy's spec is built from its own fields
        return new

    def getter(self, fget: Callable[[Any], Any]) -> prop:
        new = self._copy()
        new.fget = fget
        new.doc = self.doc or (fget.__doc__ or "").strip()
        return new

    def setter(self, fset: Callable[[Any, Any], None]) -> prop:
        new = self._copy()
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
        reads = self.fget is not None or self.query is not None
        writes = self.fset is not None or self.write_command is not None
        read_only = self.read_only or (reads and not writes)
        key = (self.name, read_only)
        cached = self.__dict__.get("_spec_cache")
        if cached is not None and cached[0] == key:  # every device instance asks: build it once
            return cached[1]  # type: ignore[no-any-return]
        spec = PropertySpec(
            name=self.name,
            kind=self.kind,
            default=self.default,
            limits=self.limits,
            allowed=self.allowed,
            units=self.units,
            read_only=read_only,
            pre_init=self.pre_init,
            before_init=self.before_init,
            memorized=self.memorized,
            sequence_max=self.sequence_max,
            doc=self.doc,
            affects=self.affects,
            wire_text=self.write_command is not None and self.mapping is None,
            kernel_setting=self.kernel_setting,
        )
        self.__dict__["_spec_cache"] = (key, spec)
        return spec

    # -- binding to a device (what the property table calls) --------------------------------
    def bound_getter(self, device: DeviceLike) -> Callable[[], Any] | None:
        if self.fget is not None:
            return self.fget.__get__(device)  # type: ignore[no-any-return]
        if self.query is not None:
            return lambda: self._read_reply(device)
        return None

    def bound_setter(self, device: DeviceLike) -> Callable[[Any], None] | None:
        if self.fset is not None:
            return self.fset.__get__(device)  # type: ignore[no-any-return]
        if self.write_command is not None:
            return lambda value: device.tell(self.command_for(value))
        return None

    def command_for(self, value: Any) -> str:
        """The command that sets `value` (already validated): `write` formatted with the wire
        value (mapped, bools as 0/1, enums by value)."""
        assert self.write_command is not None
        if self.mapping is not None:
            wire = self.mapping[value]
        elif isinstance(value, bool):
            wire = int(value)
        elif isinstance(value, enum.Enum):
            wire = value.value
        else:
            wire = value
        return self.write_command.format(wire)

    def _read_reply(self, device: DeviceLike) -> Any:
        assert self.query is not None
        reply = device.ask(self.query)
        text = reply.strip() if isinstance(reply, str) else reply
        try:
            if self.mapping is not None:
                for name, wire in self.mapping.items():
                    if str(wire) == str(text):
                        return name
                raise ValueError(f"not one of {', '.join(repr(str(w)) for w in self.mapping.values())}")
            if self.parse is not None:
                return self.parse(text)
            if self.kind is bool:
                return bool(int(text))
            if isinstance(self.kind, type) and issubclass(self.kind, enum.Enum):
                return _enum_member(self.kind, str(text))
            return self.kind(text)
        except (ValueError, TypeError, KeyError) as error:
            raise ReplyError(
                device.label,
                f"get {self.name}",
                f"device {device.label!r}, property {self.name!r}: reply {reply!r} to {self.query!r} "
                f"cannot be read as {getattr(self.kind, '__name__', self.kind)}: {error}",
            ) from None

    # -- attribute access from adapter code -------------------------------------------------
    def __get__(self, obj: DeviceLike | None, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return obj._props.get(self.name)

    def __set__(self, obj: DeviceLike, value: Any) -> None:
        """Adapter code assigning `self.x = v`: validate, apply, and tell the kernel."""
        obj._props.set_and_notify(self.name, value)


def _enum_member(kind: type[enum.Enum], text: str) -> enum.Enum:
    """The member written as `text`: enums go on the wire by value (see command_for), so "1"
    reads back as the member whose value is 1; a member's name is accepted too."""
    for member in kind:
        if str(member.value) == text:
            return member
    if text in kind.__members__:
        return kind[text]
    shown = ", ".join(f"{m.value!r} ({m.name})" for m in kind)
    raise ValueError(f"not one of {shown}")
