"""The DAutoFocus the plugin offers: autofocus.py's behaviour plus the HubID every DemoCamera
peripheral has (kept apart so autofocus.py stays the behaviour's only home)."""

from __future__ import annotations

from ._peripheral import HubPeripheral
from .autofocus import DemoAutoFocus


class DemoAutoFocusPeripheral(HubPeripheral, DemoAutoFocus):
    """Demo auto-focus adapter"""
