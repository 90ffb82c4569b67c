"""Memorized properties: saved at every set and written back at initialize; a value no longer allowed
is skipped and said; a value set before initialize wins; the store is the serial number's even
when it was looked at before initialize; nothing is asked of the hardware when nothing is
memorized; pre-init and read-only properties cannot be memorized; and the testing harnesses never
write into the user's real store."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmkernel_core import Kernel
from mmkernel_sdk import Generic, prop
from mmkernel_sdk.resources import SerialPort
from mmkernel_sdk.testing import DirectHarness, expected_protocol
from mmkernel_sdk.testing import conformance as kit
from tests.support.calibration import Laser, scope


def test_memorized_properties_are_saved_and_written_back_at_initialize(tmp_path: Path) -> None:
    with Kernel(data_dir=tmp_path) as kernel:
        first = scope(kernel)
        kernel.set_property("Scope", "Focus", 12.5)
        assert first.focus_written == [12.5]
        assert kernel.calibration("Scope")["property Focus"] == 12.5
    with Kernel(data_dir=tmp_path) as kernel:
        second = scope(kernel)
        assert second.focus_written == [12.5]  # the hardware was told at initialize
        assert kernel.get_property("Scope", "Focus") == 12.5


def test_a_memorized_value_no_longer_allowed_is_skipped_and_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with Kernel(data_dir=tmp_path) as kernel:
        scope(kernel)
        kernel.calibration("Scope")["property Focus"] = 500.0  # outside today's limits
        kernel.unload("Scope")
        device = scope(kernel)
        kernel.events.flush()
    assert device.focus_written == []
    assert "memorized 'Focus' = 500.0 not restored" in caplog.text


class Dimmer(Generic):
    """A setting that may be given before initialize and is remembered"""

    Level = prop(float, default=1.0, limits=(0.0, 10.0), before_init=True, memorized=True)


def test_a_value_set_before_initialize_is_not_overwritten_by_the_memorized_one(tmp_path: Path) -> None:
    """`before_init=True, memorized=True`: a configuration (or a script) sets Level = 2 before
    initialize; at initialize `restore_memorized` writes last session's 5 over it, silently.
    What the user asked for in this session should win (and be memorized)."""
    with Kernel(data_dir=tmp_path) as kernel:
        kernel.load_device("Dimmer", Dimmer())
        kernel.initialize("Dimmer")
        kernel.set_property("Dimmer", "Level", 5.0)
    with Kernel(data_dir=tmp_path) as kernel:
        kernel.load_device("Dimmer", Dimmer())
        kernel.set_property("Dimmer", "Level", 2.0)  # before initialize: allowed for before_init
        kernel.initialize("Dimmer")
        assert kernel.get_property("Dimmer", "Level") == 2.0


# Not tests.support.calibration.Scope: this one can read its serial number only after initialize.
class Scope(Generic):
    """Its serial number is read from the hardware, so only after initialize()"""

    serial_number_property = "SerialNumber"
    Offset = prop(float, default=0.0, limits=(-100.0, 100.0), units="um", memorized=True)

    def __init__(self) -> None:
        self.opened = False

    def initialize(self) -> None:
        self.opened = True

    @prop(str, read_only=True)
    def SerialNumber(self) -> str:
        if not self.opened:
            raise RuntimeError("the hardware is not open yet")
        return "SN-7"


def test_looking_at_the_store_before_initialize_does_not_move_it(tmp_path: Path) -> None:
    """`kernel.calibration("Scope")` before `initialize` (the serial number cannot be read yet)
    opens the label's store, and `Device.calibration` caches it for the device's lifetime: the
    memorized Offset set after initialize goes to 'label Scope.json'. The next session (store
    first opened after initialize) uses 'serial SN-7.json' and Offset comes back 0.0. The store
    should be re-resolved once the serial number is known (or not cached before initialize)."""
    with Kernel(data_dir=tmp_path) as kernel:
        kernel.load_device("Scope", Scope())
        kernel.calibration("Scope")  # e.g. a script printing what is stored
        kernel.initialize("Scope")
        kernel.set_property("Scope", "Offset", 2.5)
    with Kernel(data_dir=tmp_path) as kernel:
        kernel.load_device("Scope", Scope())
        kernel.initialize("Scope")
        assert kernel.get_property("Scope", "Offset") == 2.5


class Meter(Generic):
    """Names its serial number, has no memorized property, never uses calibration"""

    port = SerialPort(terminator="\r")
    serial_number_property = "SerialNumber"
    SerialNumber = prop(str, query="SN?")


def test_initialize_does_not_ask_for_the_serial_number_when_nothing_is_memorized() -> None:
    """`restore_memorized` opens the calibration store at every initialize, even when the
    device has no memorized property; opening it reads `serial_number_property`, which for a
    command property is one more query on the wire. The wire test for initialize must list
    `SN?` twice ('the device sent b'SN?\\r' after the last expected exchange') and real
    hardware gets an extra round trip. Open the store only when something is memorized."""
    with expected_protocol(Meter, [("SN?\r", "123\r")]):  # the kernel's read of every property
        pass


def test_pre_init_properties_cannot_be_memorized() -> None:
    with pytest.raises(ValueError, match="pre-init properties cannot be memorized"):

        class Bad(Generic):
            Port = prop(str, default="", pre_init=True, memorized=True)

        Bad()


def test_a_read_only_property_cannot_be_declared_memorized() -> None:
    """`prop(..., read_only=True, memorized=True)` is accepted, but a read-only property is never
    set, so nothing is ever memorized (and restoring one would write to a read-only property).
    `pre_init` + `memorized` is refused with a clear message at declaration; so should this."""
    with pytest.raises((ValueError, TypeError)):

        class Gauge(Generic):
            """d"""

            Reading = prop(float, default=1.0, read_only=True, memorized=True)


def test_the_conformance_kit_does_not_write_into_the_users_real_calibration_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An adapter author adds `memorized=True` (as docs/sdk.md suggests) and runs the template's
    tests. `ConformanceTests.harness()` and `expected_protocol` build `DirectHarness(device)`,
    whose data_dir defaults to the user's real data directory (the generated projects have no
    conftest setting MMKERNEL_DATA_DIR). The kit's round trips set Power to 0, 50 and 100 mW and
    every set is memorized there; the next initialize of the *real* laser restores the kit's
    value. It also makes tests depend on each other and on the machine (a wire test gets an
    unexpected restore command). The testing harnesses should default to a throwaway store."""
    monkeypatch.delenv("MMKERNEL_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "home-data"))  # where platformdirs puts the user's store
    kit.check_round_trips(lambda: DirectHarness(Laser()))
    written = sorted(p.relative_to(tmp_path) for p in (tmp_path / "home-data").rglob("*.json"))
    assert written == [], f"the conformance kit wrote into the user's calibration store: {written}"


class RangedLaser(Generic):
    """Power's limits follow Range: up to 10 mW in Low, 100 mW in High"""

    Power = prop(float, default=1.0, limits=(0.0, 10.0), units="mW", memorized=True)
    Range = prop(str, default="Low", allowed=("Low", "High"), memorized=True)

    @Range.setter
    def Range(self, value: str) -> None:
        self.set_limits("Power", 0.0, 100.0 if value == "High" else 10.0)


class Attenuated(Generic):
    """Setting Filter resets Amplitude on the hardware (it says so: affects=)"""

    Amplitude = prop(float, default=0.0, limits=(0.0, 1.0), memorized=True)
    Filter = prop(int, default=0, allowed=(0, 1), memorized=True, affects=("Amplitude",))

    @Filter.setter
    def Filter(self, value: int) -> None:
        self._props.store("Amplitude", 0.0)


@pytest.mark.parametrize(
    ("kind", "settings"),
    [(RangedLaser, {"Range": "High", "Power": 80.0}), (Attenuated, {"Filter": 1, "Amplitude": 0.5})],
)
def test_memorized_values_that_depend_on_each_other_come_back_together(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, kind: type, settings: dict[str, object]
) -> None:
    """Power=80 is allowed only once Range=High is back (whatever order the names sort in);
    Amplitude restored before Filter would be reset by it."""
    with Kernel(data_dir=tmp_path) as kernel:
        kernel.load_device("Dev", kind())
        kernel.initialize("Dev")
        for name, value in settings.items():
            kernel.set_property("Dev", name, value)
    with Kernel(data_dir=tmp_path) as kernel:
        kernel.load_device("Dev", kind())
        kernel.initialize("Dev")
        assert {name: kernel.get_property("Dev", name) for name in settings} == settings
        kernel.events.flush()
    assert "not restored" not in caplog.text
