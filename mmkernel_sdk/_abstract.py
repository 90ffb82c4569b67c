"""A clear error when an adapter forgets a method its device type needs."""

from __future__ import annotations

from typing import Any, NoReturn


def must_override(device: Any, method: str) -> NoReturn:
    kind = type(device)
    raise NotImplementedError(
        f"adapter class {kind.__module__}.{kind.__qualname__} ({kind.device_type}) must implement {method}()"
    )
