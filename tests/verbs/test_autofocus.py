"""Autofocus verbs over the SDK's AutoFocus: the AutoFocus role's device by default, MMCore's
answers when there is none, clear errors, and all three faces."""

from __future__ import annotations

import asyncio

import pytest

from mmkernel_core import Kernel
from mmkernel_sdk import AutoFocus
from mmkernel_sdk.errors import DeviceError, DeviceStateError, DeviceTypeError
from mmkernel_sdk.testing import SimShutter


class CountingFocus(AutoFocus):
    """Remembers what it was asked, so tests see the call reached this device."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.offset = 0.0
        self.on = False

    def full_focus(self) -> None:
        self.calls.append("full")

    def incremental_focus(self) -> None:
        self.calls.append("incremental")

    def set_continuous_focusing(self, on: bool) -> None:
        self.on = on

    def is_continuous_focus_enabled(self) -> bool:
        return self.on

    def is_continuous_focus_locked(self) -> bool:
        return False  # switched on but never finds focus

    def get_offset(self) -> float:
        return self.offset

    def set_offset(self, offset: float) -> None:
        self.offset = offset

    def focus_score(self) -> float:
        return 0.25


class MinimalFocus(AutoFocus):
    """A beginner's adapter that only implements full_focus."""

    def full_focus(self) -> None:
        raise RuntimeError("focus motor stalled")


def test_the_demo_autofocus_is_the_default_role_and_behaves_as_dautofocus(k: Kernel) -> None:
    k.load_config("demo")
    assert k.roles.autofocus == "Autofocus"
    z = k.get_position("Z")
    k.full_focus()
    k.incremental_focus()
    assert k.get_position("Z") == z  # DAutoFocus does not move the stage
    assert k.get_auto_focus_offset() == 0.0
    k.set_auto_focus_offset(-3.5)
    assert k.get_auto_focus_offset() == -3.5
    assert not k.is_continuous_focus_enabled() and not k.is_continuous_focus_locked()
    k.enable_continuous_focus(True)
    assert k.is_continuous_focus_enabled() and k.is_continuous_focus_locked()  # locked at once
    assert k.get_current_focus_score() == 1.0
    assert set(k.property_names("Autofocus")) >= {"Name", "Description"}


def test_a_label_picks_another_autofocus_device(k: Kernel) -> None:
    k.load_device("A", CountingFocus())
    k.load_device("B", CountingFocus())
    k.initialize_all()
    assert k.roles.autofocus == "A"
    k.full_focus("B")
    k.incremental_focus()
    assert k.internals.device("B").device.calls == ["full"]  # type: ignore[attr-defined]
    assert k.internals.device("A").device.calls == ["incremental"]  # type: ignore[attr-defined]
    k.set_auto_focus_offset(2, "B")
    assert k.get_auto_focus_offset("B") == 2.0 and k.get_auto_focus_offset() == 0.0
    k.enable_continuous_focus(True, "B")
    assert k.is_continuous_focus_enabled("B") and not k.is_continuous_focus_locked("B")


def test_without_an_autofocus_device_focusing_is_an_error_but_questions_answer_no(k: Kernel) -> None:
    for call in (k.full_focus, k.incremental_focus, k.get_auto_focus_offset, lambda: k.set_auto_focus_offset(1.0)):
        with pytest.raises(DeviceStateError, match=r"no autofocus device.*set_role"):
            call()
    with pytest.raises(DeviceStateError, match="no autofocus device"):
        k.enable_continuous_focus(True)
    k.enable_continuous_focus(False)  # as MMCore: switching off nothing is fine
    assert k.is_continuous_focus_enabled() is False and k.is_continuous_focus_locked() is False


def test_bad_input_names_the_device_and_the_value(k: Kernel) -> None:
    k.load_device("S", SimShutter())
    k.load_device("A", CountingFocus())
    with pytest.raises(DeviceStateError, match="'A' is not initialized"):
        k.full_focus("A")
    k.initialize_all()
    with pytest.raises(DeviceTypeError, match="'S' is a Shutter device; full_focus"):
        k.full_focus("S")
    with pytest.raises((TypeError, ValueError), match="far"):
        k.set_auto_focus_offset("far")  # type: ignore[arg-type]
    assert k.get_auto_focus_offset() == 0.0
    with pytest.raises(TypeError, match="True or False"):
        k.enable_continuous_focus("yes")  # type: ignore[arg-type]


def test_adapter_failures_and_missing_methods_are_device_errors(k: Kernel) -> None:
    k.load_device("M", MinimalFocus())
    k.initialize_all()
    with pytest.raises(DeviceError, match="stalled") as caught:
        k.full_focus()
    assert "'M'" in str(caught.value)
    with pytest.raises(DeviceError, match="must implement is_continuous_focus_enabled"):
        k.is_continuous_focus_enabled()
    k.load_device("A", CountingFocus())
    k.initialize("A")
    k.set_role("AutoFocus", "A")
    k.full_focus()  # the kernel still works


def test_futures_and_asyncio_faces(k: Kernel) -> None:
    k.load_device("A", CountingFocus())
    k.initialize_all()
    k.submit.set_auto_focus_offset(4.0).result(5)
    assert k.submit.get_auto_focus_offset().result(5) == 4.0

    async def main() -> float:
        await k.aio.full_focus()
        return await k.aio.get_current_focus_score()

    assert asyncio.run(main()) == 0.25
