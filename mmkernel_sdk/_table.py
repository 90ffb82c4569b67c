"""PropertyTable: one device instance's properties (specs, stored values, getters, setters).

Specs are per instance, so an adapter can narrow limits or allowed values at initialize time
(MM's SetPropertyLimits / SetAllowedValues) and properties can be added at runtime.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ._spec import PropertySpec, type_name
from .errors import DeviceError, PropertyError

if TYPE_CHECKING:
    from ._owner import DeviceLike

Getter = Callable[[], Any]
Setter = Callable[[Any], None]


class PropertyTable:
    """Holds and applies property values; validation is the caller's job (see `coerce`)."""

    def __init__(self, device: DeviceLike) -> None:
        self._device = device
        self._specs: dict[str, PropertySpec] = {}
        self._values: dict[str, Any] = {}
        self._getters: dict[str, Getter] = {}
        self._setters: dict[str, Setter] = {}
        self._added: set[str] = set()  # added at runtime: these can be removed again

    def add(
        self, spec: PropertySpec, getter: Getter | None = None, setter: Setter | None = None, *, added: bool = False
    ) -> None:
        if spec.name in self._specs:
            raise PropertyError(
                f"device {self._device.label!r} already has a property {spec.name!r}",
                device=self._device.label,
                property=spec.name,
            )
        self._specs[spec.name] = spec
        if getter is not None:
            self._getters[spec.name] = getter
        else:
            self._values[spec.name] = None if spec.default is None else spec.coerce(spec.default, self._device.label)
        if setter is not None:
            self._setters[spec.name] = setter
        if added:
            self._added.add(spec.name)

    def remove(self, name: str) -> None:
        """Remove a property added at runtime (declared ones belong to the class)."""
        self.spec(name)
        if name not in self._added:
            label = self._device.label
            raise PropertyError(
                f"device {label!r}, property {name!r}: cannot be removed: it is declared by the adapter "
                f"class; only properties added with add_property() can be removed "
                f"({', '.join(sorted(self._added)) or 'none so far'})",
                device=label,
                property=name,
                allowed=", ".join(sorted(self._added)),
            )
        del self._specs[name]  # first: a reader on another thread now finds no such property
        self._added.discard(name)
        self._getters.pop(name, None)
        self._setters.pop(name, None)
        self._values.pop(name, None)

    # -- queries ----------------------------------------------------------------------------
    def names(self) -> list[str]:
        return sorted(self._specs)

    def __contains__(self, name: str) -> bool:
        return name in self._specs

    def spec(self, name: str, value: Any = None) -> PropertySpec:
        try:
            return self._specs[name]
        except KeyError:
            raise self.unknown(name, value) from None

    def unknown(self, name: str, value: Any = None) -> PropertyError:
        label = self._device.label
        close = difflib.get_close_matches(str(name), self._specs, n=3)
        hint = f" did you mean {', '.join(map(repr, close))}?" if close else ""
        setting = f" (cannot set it to {value!r})" if value is not None else ""
        return PropertyError(
            f"device {label!r} has no property {name!r}{setting};{hint} properties: {', '.join(self.names())}",
            device=label,
            property=name,
            value=value,
            allowed=", ".join(self.names()),
        )

    # -- values -----------------------------------------------------------------------------
    def get(self, name: str) -> Any:
        getter = self._getters.get(name)
        if getter is None:
            try:
                return self._values[name]
            except KeyError:
                raise self.unknown(name) from None
        value = getter()
        spec = self._specs[name]
        try:  # hardware may report values outside the limits; only the type must hold
            return spec._convert(value, self._device.label)
        except PropertyError:
            label = self._device.label
            raise DeviceError(
                label,
                f"get {name}",
                f"device {label!r}, property {name!r}: the adapter's getter returned {value!r}, "
                f"which is not a valid {type_name(spec.kind)}",
            ) from None

    def apply(self, name: str, value: Any) -> None:
        """Run the setter (if any) and store an already validated value."""
        setter = self._setters.get(name)
        if setter is not None:
            setter(value)
        if name not in self._getters:
            self._values[name] = value

    def store(self, name: str, value: Any) -> Any:
        """Record a value the hardware already has (no setter runs); returns it typed.
        Properties with a getter keep no stored value: the getter is the truth."""
        spec = self.spec(name, value)
        typed = spec._convert(value, self._device.label)
        if name not in self._getters:
            self._values[name] = typed
        return typed

    def coerce(self, name: str, value: Any, *, initialized: bool) -> Any:
        """Validate a value from outside: type, limits, allowed values, read-only, pre-init."""
        spec = self.spec(name, value)
        label = self._device.label
        if spec.read_only:
            raise spec.error(label, value, "cannot be set: the property is read-only")
        if initialized and spec.pre_init:
            raise spec.error(
                label,
                value,
                "cannot be set: it is a pre-initialization property and the device is "
                "already initialized (unload and load the device again to change it)",
            )
        return spec.coerce(value, label)

    def set_and_notify(self, name: str, value: Any) -> None:
        """Adapter code assigning a property: validate its type, apply it and notify the kernel."""
        spec = self.spec(name)
        typed = spec.coerce(value, self._device.label)
        self.apply(name, typed)
        self._device.notify(name, self.get(name))

    # -- narrowing at runtime ---------------------------------------------------------------
    def set_limits(self, name: str, lo: float, hi: float) -> None:
        self._specs[name] = self.spec(name).with_limits(lo, hi)

    def remove_limits(self, name: str) -> None:
        self._specs[name] = self.spec(name).evolve(limits=None)

    def set_allowed(self, name: str, values: Iterable[Any] | None) -> None:
        self._specs[name] = self.spec(name).with_allowed(None if values is None else tuple(values))

    def set_sequence_max(self, name: str, length: int) -> None:
        spec = self.spec(name)
        if isinstance(length, bool) or not isinstance(length, int) or length < 0:
            label = self._device.label
            raise ValueError(f"device {label!r}, property {name!r}: sequence_max {length!r} must be an integer >= 0")
        self._specs[name] = spec.evolve(sequence_max=length)
