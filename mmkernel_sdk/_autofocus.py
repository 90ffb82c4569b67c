"""AutoFocus: hardware or software focus finding."""

from __future__ import annotations

from ._abstract import must_override
from ._device import Device


class AutoFocus(Device):
    """Implement the focus calls your hardware supports; the rest report they are missing."""

    device_type = "AutoFocus"

    def full_focus(self) -> None:
        must_override(self, "full_focus")

    def incremental_focus(self) -> None:
        must_override(self, "incremental_focus")

    def set_continuous_focusing(self, on: bool) -> None:
        must_override(self, "set_continuous_focusing")

    def is_continuous_focus_enabled(self) -> bool:
        """Whether continuous focusing is switched on (MMCore's GetContinuousFocusing)."""
        must_override(self, "is_continuous_focus_enabled")

    def is_continuous_focus_locked(self) -> bool:
        """Whether continuous focusing has found and holds focus."""
        must_override(self, "is_continuous_focus_locked")

    def get_offset(self) -> float:
        must_override(self, "get_offset")

    def set_offset(self, offset: float) -> None:
        must_override(self, "set_offset")

    def focus_score(self) -> float:
        must_override(self, "focus_score")
