"""DAutoFocus: remembers its offset and whether continuous focus is on."""

from __future__ import annotations

from mmkernel_sdk import AutoFocus

from ._peripheral import HubPeripheral


class DemoAutoFocus(HubPeripheral, AutoFocus):
    """Demo auto-focus adapter"""

    def __init__(self) -> None:
        self._offset = 0.0
        self._continuous = False

    def full_focus(self) -> None:
        """Nothing to find in a simulation: focus is always perfect."""

    def incremental_focus(self) -> None:
        """Nothing to find in a simulation: focus is always perfect."""

    def set_continuous_focusing(self, on: bool) -> None:
        self._continuous = on

    def is_continuous_focus_enabled(self) -> bool:
        return self._continuous

    def is_continuous_focus_locked(self) -> bool:
        """As DemoAutoFocus: locked the moment it is switched on."""
        return self._continuous

    def get_offset(self) -> float:
        return self._offset

    def set_offset(self, offset: float) -> None:
        self._offset = offset

    def focus_score(self) -> float:
        return 1.0  # DemoAutoFocus's current focus score
