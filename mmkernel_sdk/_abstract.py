"""A clear error when an adapter forgets a method its device type needs."""

from __future__ import annotations

from typing import Any, NoReturn


def must_override(device: Any, method: str, why: str = "") -> NoReturn:
    kind = type(device)
    reason = f" ({why})" if why else ""
    raise NotImplementedError(
        f"adapter class {kind.__module__}.{kind.__qualname__} ({kind.device_type}) must implement {method}(){reason}"
    )


def check_sequence_max(owner: type, attribute: str) -> None:
    """A class's <x>_sequence_max declaration (hardware sequences): an integer >= 0."""
    value = getattr(owner, attribute)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{owner.__module__}.{owner.__qualname__}.{attribute} = {value!r}: it must be an integer >= 0")
