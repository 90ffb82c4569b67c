"""Autofocus verbs (MMCore's fullFocus, incrementalFocus, setAutoFocusOffset, ...).

Each takes the AutoFocus device's label, or uses the system's AutoFocus role when none is
given. As in MMCore, asking a system without an autofocus device to focus is an error, while
switching continuous focus off, or asking whether it is on or locked, is not.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mmkernel_sdk import PropertySpec
from mmkernel_sdk.errors import DeviceStateError

from ..devices import LoadedDevice, Roles
from ..runtime import Request
from ._base import KernelBase
from ._faces import verb

_OFFSET = PropertySpec(name="auto-focus offset", kind=float)


class FocusVerbs(KernelBase):
    roles: Roles

    def _autofocus(self, label: str | None, verb_name: str) -> LoadedDevice | None:
        """The device `label`, else the AutoFocus role's device, else None."""
        label = label if label is not None else self.roles.autofocus
        if not label:
            return None
        loaded = self._loaded(label)
        loaded.require_type("AutoFocus", verb_name)
        if not loaded.initialized:
            raise DeviceStateError(f"device {label!r} is not initialized; {verb_name}() needs an initialized device")
        return loaded

    def _focus_call(self, label: str | None, verb_name: str, method: str, *args: Any, timeout: float | None) -> Request:
        loaded = self._autofocus(label, verb_name)
        if loaded is None:
            raise DeviceStateError(
                f"{verb_name}(): no autofocus device; pass its label or set the role with "
                "set_role('AutoFocus', label) (MM's Property,Core,AutoFocus,<label>)"
            )
        return self._call(loaded, verb_name, getattr(loaded.device, method), *args, timeout=timeout)

    def _focus_query(self, label: str | None, verb_name: str, method: str, timeout: float | None) -> Request:
        """A yes/no question: with no autofocus device the answer is no, as in MMCore."""
        loaded = self._autofocus(label, verb_name)
        if loaded is None:
            return Request.completed("Core", verb_name, False)
        return self._call(loaded, verb_name, lambda: bool(getattr(loaded.device, method)()), timeout=timeout)

    @verb
    def full_focus(self, label: str | None = None, *, timeout: float | None = None) -> Request:
        """Run a full focus search (MMCore's fullFocus)."""
        return self._focus_call(label, "full_focus", "full_focus", timeout=timeout)

    @verb
    def incremental_focus(self, label: str | None = None, *, timeout: float | None = None) -> Request:
        """Refine focus near where it is (MMCore's incrementalFocus)."""
        return self._focus_call(label, "incremental_focus", "incremental_focus", timeout=timeout)

    @verb
    def set_auto_focus_offset(
        self, offset: float, label: str | None = None, *, timeout: float | None = None
    ) -> Request:
        """Set the offset the autofocus holds focus at (MMCore's setAutoFocusOffset)."""
        value = _OFFSET.coerce(offset, label or self.roles.autofocus or "Core")
        return self._focus_call(label, "set_auto_focus_offset", "set_offset", value, timeout=timeout)

    @verb
    def get_auto_focus_offset(self, label: str | None = None, *, timeout: float | None = None) -> Request:
        return self._focus_call(label, "get_auto_focus_offset", "get_offset", timeout=timeout)

    @verb
    def get_current_focus_score(self, label: str | None = None, *, timeout: float | None = None) -> Request:
        """The focus score now (MMCore's getCurrentFocusScore)."""
        return self._focus_call(label, "get_current_focus_score", "focus_score", timeout=timeout)

    @verb
    def enable_continuous_focus(self, on: bool, label: str | None = None, *, timeout: float | None = None) -> Request:
        """Switch continuous focusing on or off; off with no autofocus device is fine (as MMCore)."""
        if not isinstance(on, (bool, np.bool_)):
            raise TypeError(f"enable_continuous_focus(): on must be True or False, not {on!r}")
        on = bool(on)
        if not on and self._autofocus(label, "enable_continuous_focus") is None:
            return Request.completed("Core", "enable_continuous_focus", None)
        return self._focus_call(label, "enable_continuous_focus", "set_continuous_focusing", on, timeout=timeout)

    @verb
    def is_continuous_focus_enabled(self, label: str | None = None, *, timeout: float | None = None) -> Request:
        return self._focus_query(label, "is_continuous_focus_enabled", "is_continuous_focus_enabled", timeout)

    @verb
    def is_continuous_focus_locked(self, label: str | None = None, *, timeout: float | None = None) -> Request:
        return self._focus_query(label, "is_continuous_focus_locked", "is_continuous_focus_locked", timeout)
