"""StateDevice: a device with N discrete positions (filter wheel, turret, light path)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from ._device import Device
from ._prop import prop


class StateDevice(Device):
    """N positions with labels; State and Label always agree.

    Set `num_positions` on the class (or call `set_num_positions` in initialize). Override
    `set_state(position)` / `get_state()` to talk to hardware; the defaults just remember it.
    """

    device_type = "State"
    num_positions: ClassVar[int] = 2

    State = prop(int, default=0, affects=("Label",), doc="Position index, 0..N-1.")
    Label = prop(str, affects=("State",), doc="Label of the current position.")

    def __new__(cls, *args: Any, **kwargs: Any) -> StateDevice:
        self = super().__new__(cls, *args, **kwargs)
        self._position = 0
        self._held_position: int | None = None
        self.set_num_positions(cls.num_positions)
        return self  # type: ignore[return-value]

    @State.getter
    def State(self) -> int:  # noqa: N802 - Micro-Manager's property name
        return self._current()

    @State.setter
    def State(self, value: int) -> None:  # noqa: N802
        self.set_state(value)

    @Label.getter
    def Label(self) -> str:  # noqa: N802 - Micro-Manager's property name
        return self._labels[self._current()]

    @contextmanager
    def refreshing(self) -> Iterator[None]:
        """State and Label come from one position query: a refresh asks the hardware once."""
        self._held_position = self.get_state()
        try:
            yield
        finally:
            self._held_position = None

    def _current(self) -> int:
        held = self._held_position
        return self.get_state() if held is None else held

    @Label.setter
    def Label(self, value: str) -> None:  # noqa: N802
        self.set_state(self._labels.index(value))

    # -- what authors override --------------------------------------------------------------
    def set_state(self, position: int) -> None:
        self._position = position

    def get_state(self) -> int:
        return self._position

    # -- labels -----------------------------------------------------------------------------
    @property
    def labels(self) -> list[str]:
        return list(self._labels)

    def set_num_positions(self, count: int) -> None:
        """Resize to `count` positions with default labels "State-0".."State-<count-1>"."""
        if count < 1:
            raise ValueError(f"a state device needs at least one position, not {count}")
        self._labels = [f"State-{i}" for i in range(count)]
        self.set_limits("State", 0, count - 1)
        self.set_allowed("Label", self._labels)

    def define_label(self, position: int, label: str) -> None:
        """Name a position; labels must be unique (they select positions)."""
        if not 0 <= position < len(self._labels):
            raise ValueError(f"device {self.label!r}: position {position} is out of range 0..{len(self._labels) - 1}")
        if label in self._labels and self._labels.index(label) != position:
            raise ValueError(
                f"device {self.label!r}: label {label!r} is already used by position {self._labels.index(label)}"
            )
        self._labels[position] = label
        self.set_allowed("Label", self._labels)
