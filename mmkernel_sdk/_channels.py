"""Channel families: one set of properties for each channel of an instrument (the LEDs of a light
source, the outputs of a DAC), declared once instead of once per channel or with lambdas.

    class Led(Channel):
        Intensity = prop(float, query="I{ch}?", write="I{ch} {}", limits=(0, 100), units="%")

        @prop(float, units="degC")
        def Temperature(self) -> float:  # self is the channel: self.id, self.device
            return float(self.device.ask(f"T{self.id}?"))

    class Source(Generic):
        port = SerialPort()
        leds = channels(Led, ["A", "B"])  # properties "Intensity A", "Temperature B", ...

`{ch}` in a command is the channel's id; `name="LED{ch} {name}"` chooses the public names. In
adapter code `self.leds["A"].Intensity` reads one channel's property and assigning it sets it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ._prop import prop

if TYPE_CHECKING:
    from ._owner import DeviceLike


class Channel:
    """Base class of one channel's properties; its methods see `self.id` and `self.device`."""

    def __init__(self, device: DeviceLike, channel_id: Any, names: dict[str, str]) -> None:
        self.device = device
        self.id = channel_id
        self._props = _ChannelProperties(device, names)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id!r} of {self.device.label!r}>"


class _ChannelProperties:
    """What a channel's `prop` descriptors reach: the device's properties, under the channel's names."""

    def __init__(self, device: DeviceLike, names: dict[str, str]) -> None:
        self._device = device
        self._names = names

    def get(self, name: str) -> Any:
        return self._device._props.get(self._names[name])

    def set_and_notify(self, name: str, value: Any) -> None:
        self._device._props.set_and_notify(self._names[name], value)


class channels:  # noqa: N801 - lower case on purpose: it reads like `prop`
    """Declare `kind`'s properties once per id in `ids`, named by `name` ({name} and {ch})."""

    def __init__(self, kind: type[Channel], ids: Iterable[Any], *, name: str = "{name} {ch}") -> None:
        if not (isinstance(kind, type) and issubclass(kind, Channel)):
            raise TypeError(f"channels({kind!r}, ...): the first argument must be a Channel subclass")
        self.kind = kind
        self.ids = tuple(ids)
        if len(set(map(str, self.ids))) != len(self.ids) or not self.ids:
            raise ValueError(f"channels({kind.__name__}, {self.ids!r}): channel ids must be distinct, and at least one")
        if "{name}" not in name or "{ch}" not in name:
            raise ValueError(f"channels(name={name!r}): the name must hold both {{name}} and {{ch}}")
        self.pattern = name
        self.attr = "?"

    def names_of(self, channel_id: Any) -> dict[str, str]:
        """Property name in the Channel class -> public name of this channel's property."""
        return {p.name: self.pattern.format(name=p.name, ch=channel_id) for p in _declared(self.kind)}

    def __set_name__(self, owner: type, attr: str) -> None:
        self.attr = attr
        taken = {v.name for k in owner.__mro__ for v in vars(k).values() if isinstance(v, prop)}
        for channel_id in self.ids:
            names = self.names_of(channel_id)
            for template in _declared(self.kind):
                public = names[template.name]
                if public in taken:
                    raise ValueError(
                        f"{owner.__qualname__}.{attr}: channel {channel_id!r} property {public!r} is already a "
                        "property of the class; choose another name= pattern"
                    )
                taken.add(public)
                generated = self._for_channel(template, channel_id, names)
                generated.attr = f"_{attr}_{channel_id}_{template.name}"
                setattr(owner, generated.attr, generated)

    def _for_channel(self, template: prop, channel_id: Any, names: dict[str, str]) -> prop:
        made = template._copy()
        made.public_name = names[template.name]
        made.affects = tuple(names.get(other, other) for other in template.affects)
        ch = str(channel_id)
        if template.query is not None:
            made.query = template.query.replace("{ch}", ch)
        if template.write_command is not None:
            made.write_command = template.write_command.replace("{ch}", ch)
        channel_of = self._channel_getter(channel_id)
        if template.fget is not None:
            fget = template.fget
            made.fget = lambda device: fget(channel_of(device))
        if template.fset is not None:
            fset = template.fset
            made.fset = lambda device, value: fset(channel_of(device), value)
        return made

    def _channel_getter(self, channel_id: Any) -> Callable[[DeviceLike], Channel]:
        return lambda device: self.__get__(device)[channel_id]

    def __get__(self, device: DeviceLike | None, owner: type | None = None) -> Any:
        if device is None:
            return self
        key = f"_channels_{self.attr}"
        made = device.__dict__.get(key)
        if made is None:
            made = device.__dict__[key] = {i: self.kind(device, i, self.names_of(i)) for i in self.ids}
        return made


def _declared(kind: type) -> list[prop]:
    """The props of a Channel class and its bases, subclasses overriding by name."""
    found: dict[str, prop] = {}
    for klass in reversed(kind.__mro__):
        for value in vars(klass).values():
            if isinstance(value, prop):
                found[value.name] = value
    return list(found.values())
