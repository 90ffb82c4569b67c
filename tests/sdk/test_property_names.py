"""The normalized property-name registry: contents, warnings, the CLI and the conformance hook."""

from __future__ import annotations

import tomllib
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mmkernel_core.cli import app
from mmkernel_sdk import Camera, Generic, Stage, prop
from mmkernel_sdk.names import PropertyNameWarning, canonical, normalize, problem, registry
from mmkernel_sdk.testing import DirectHarness
from mmkernel_sdk.testing import conformance as kit

# Every property keyword (MM::g_Keyword_*) of Micro-Manager's MMDevice/MMDeviceConstants.h,
# including the Core device's and the pump keywords.
MM_KEYWORDS = """Name Description CameraName CameraID CameraChannelName CameraChannelIndex Binning Exposure
ActualExposure ActualInterval-ms Interval-ms ElapsedTime-ms PixelType ReadoutTime ReadoutMode Gain EMGain
Offset CCDTemperature CCDTemperatureSetPoint State Label Position Type Delay_ms BaudRate DataBits StopBits
Parity Handshaking DelayBetweenCharsMs Port AnswerTimeout Speed Initialize Camera Shutter XYStage Focus
AutoFocus AutoShutter ChannelGroup ImageProcessor SLM Galvo PressurePump VolumetricPump TimeoutMs Channel
Version ColorMode TransposeXY TransposeMirrorX TransposeMirrorY TransposeCorrection ClosedPosition HubID
Volume_uL Min_Volume_uL Max_Volume_uL Flowrate_uL_per_sec Pressure_Imposed Pressure_Measured""".split()
MM_KEYWORDS = [keyword.replace("_", " ") if keyword.startswith("Pressure") else keyword for keyword in MM_KEYWORDS]
COMMON = {"Wavelength": "nm", "Intensity": "%", "Power": "mW", "Voltage": "V", "Temperature": "degC",
          "Velocity": "mm/s", "Acceleration": "mm/s^2", "SerialNumber": "", "FirmwareVersion": ""}  # fmt: skip


def test_every_micro_manager_keyword_is_canonical() -> None:
    missing = [k for k in MM_KEYWORDS if k not in registry()]
    assert missing == []
    assert all(registry()[k].micro_manager for k in MM_KEYWORDS)


def test_common_instrument_names_have_their_units() -> None:
    assert {name: registry()[name].units for name in COMMON} == COMMON


def test_entries_are_complete_and_synonyms_unambiguous() -> None:
    seen: dict[str, str] = {}
    for entry in registry().values():
        assert entry.type in ("int", "float", "str", "bool", "number", "any") and entry.meaning and entry.device_types
        for spelling in (entry.name, *entry.synonyms):
            other = seen.setdefault(normalize(spelling), entry.name)
            assert other == entry.name, f"{spelling!r} means both {other!r} and {entry.name!r}"
    assert registry()["Exposure"].sfnc.startswith("ExposureTime")
    assert registry()["Binning"].ome == "DetectorSettings.Binning"


@pytest.mark.parametrize("synonym", ["exposure_ms", "ExposureTime", "Exp", "exposure", "Exposure-ms"])
def test_declaring_a_synonym_warns_at_class_definition(synonym: str) -> None:
    message = rf"property '{synonym}' is a synonym of the canonical name 'Exposure' \[ms\]"
    with pytest.warns(PropertyNameWarning, match=message):

        class Cam(Generic):
            x = prop(float, name=synonym, units="ms")


def test_declaring_a_canonical_name_with_other_units_warns() -> None:
    with pytest.warns(PropertyNameWarning, match=r"'Wavelength' is declared in 'um'; its canonical units are 'nm'"):

        class Laser(Generic):
            Wavelength = prop(float, default=0.5, units="um")


def test_runtime_properties_are_checked_too() -> None:
    class Box(Generic):
        def __init__(self) -> None:
            self.add_property("laser_power", float, default=1.0, units="mW")

    with pytest.warns(PropertyNameWarning, match=r"'laser_power' is a synonym of the canonical name 'Power' \[mW\]"):
        Box()


def test_canonical_and_unknown_names_are_fine() -> None:
    assert problem("Exposure", "ms") == problem("Photon Flux") == problem("Gain") == ""
    assert canonical("EXPOSURE").name == "Exposure"  # type: ignore[union-attr]
    assert canonical("Mode") is None


class Renamer(Camera):
    """A camera that says ExposureTime"""

    def frame_shape(self) -> tuple[int, ...]:
        return (4, 4)

    def frame_dtype(self) -> object:
        return "uint8"

    def read_frame(self, out: object) -> None:
        pass


def test_the_conformance_kit_reports_non_canonical_names() -> None:
    def make() -> DirectHarness:
        harness = DirectHarness(Renamer())
        with pytest.warns(PropertyNameWarning):
            harness.device.add_property("ExposureTime", float, default=10.0)
        return harness

    with pytest.raises(kit.ConformanceError, match="'ExposureTime' is a synonym of the canonical name 'Exposure'"):
        kit.check_names(make, kit.conformance_checker)


def test_the_cli_lists_and_searches_the_registry() -> None:
    runner = CliRunner()
    every = runner.invoke(app, ["names"], env={"COLUMNS": "250"})
    assert every.exit_code == 0 and "Exposure" in every.output and "Wavelength" in every.output
    found = runner.invoke(app, ["names", "ExposureTime", "--wide"], env={"COLUMNS": "250"})
    assert found.exit_code == 0 and "Exposure" in found.output and "Plane.ExposureTime" in found.output
    assert "Wavelength" not in found.output
    none = runner.invoke(app, ["names", "zzz-nothing"])
    assert none.exit_code == 1 and "no canonical name matches 'zzz-nothing'" in none.output


def caught_while(define) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        define()
    return [str(w.message) for w in caught if issubclass(w.category, PropertyNameWarning)]


def test_a_synonym_declared_on_a_mixin_warns_at_class_definition() -> None:
    """A family of devices shares properties through a mixin (a plain class with `prop`s).
    `_collect_props` picks the mixin's props up, but `__init_subclass__` checks only
    `vars(cls)`, so `exposure_ms` on the mixin never warns at class definition (only the
    conformance kit notices, later). Check every collected prop not inherited from a Device
    base that was already checked."""

    class ExposureMixin:
        exposure_ms = prop(float, default=10.0, units="ms")

    def define() -> None:
        class Sensor(ExposureMixin, Camera):
            """A camera whose exposure property comes from a mixin"""

    assert any("exposure_ms" in text for text in caught_while(define))


@pytest.mark.parametrize(
    ("name", "units", "kind"),
    [
        ("Exposure_us", "us", Camera),  # GenICam's own unit for exposure
        ("ExposureTime_s", "s", Camera),
        ("Position_mm", "mm", Stage),
        ("Wavelength_um", "um", Generic),
    ],
)
def test_a_canonical_name_with_other_units_in_the_name_warns(name: str, units: str, kind: type) -> None:
    """`Exposure_ms`, `Position_um`, `Wavelength_nm` warn (synonyms), and `Exposure` declared in
    'us' warns (other units), but `Exposure_us` / `Position_mm` - the same quantity in other
    units, the case metadata export most needs to catch - are accepted silently: the
    normal form `exposureus` is simply not in the table. Strip a trailing unit from the name
    and compare the rest (then warn with the canonical units)."""

    def define() -> None:
        type("Device", (kind,), {"__doc__": "d", "value": prop(float, default=1.0, units=units, name=name)})

    assert caught_while(define), f"{name!r} [{units}] declared without a PropertyNameWarning"


def test_no_two_canonical_names_export_under_the_same_standard_name() -> None:
    """The registry's counterparts are there "so metadata can be exported under standard names
    later", but several canonical names share one: SFNC DeviceModelName <- Name, Model and
    CameraName; SFNC DeviceVersion <- Description and Version (a description is not a version);
    EPICS Model <- Name, Model, CameraName; EPICS SerialNumber <- SerialNumber and CameraID.
    An export would write one key several times with different values (a camera's "DCam"
    device name as its model). Each standard name should stand for one canonical name."""
    from collections import defaultdict

    from mmkernel_sdk.names import registry

    shared = []
    for field in ("ome", "sfnc", "epics"):
        owners: dict[str, list[str]] = defaultdict(list)
        for entry in registry().values():
            if getattr(entry, field):
                owners[getattr(entry, field)].append(entry.name)
        shared += [f"{field} {name!r}: {names}" for name, names in owners.items() if len(names) > 1]
    assert shared == [], "\n".join(shared)


def declared_warnings(*declarations: tuple[str, str], kind: type = Generic) -> dict[str, list[str]]:
    """The PropertyNameWarnings each `(name, units)` declaration gives at class definition."""
    found = {}
    for name, units in declarations:
        attributes = {"__doc__": "d", "value": prop(float, default=1.0, units=units, name=name)}
        found[name] = caught_while(lambda: type("Device", (kind,), attributes))  # noqa: B023 - called at once
    return found


def test_channel_letters_and_minimums_are_not_read_as_units() -> None:
    """A lone capital letter after a separator is a channel or axis (amperes, metres, Celsius
    only in brackets), and Min/min is a minimum (minutes only in brackets)."""
    names = ["Intensity A", "Temperature_A", "Voltage_A", "Power_A", "Power M", "Temperature C", "Velocity X",
             "TemperatureMin", "ExposureMin", "Voltage min", "CCDTemperatureMin"]  # fmt: skip
    warned = {name: texts for name, texts in declared_warnings(*((n, "") for n in names)).items() if texts}
    assert warned == {}


def test_a_unit_in_brackets_or_parentheses_warns_like_one_after_an_underscore() -> None:
    names = ["Position (mm)", "Exposure [us]", "Wavelength (um)", "Velocity (micron/s)", "Temperature(degC)",
             "Exposure-Time [s]", "Power (W)"]  # fmt: skip
    silent = [name for name, texts in declared_warnings(*((n, "") for n in names)).items() if not texts]
    assert silent == []
    assert problem("Position (mm)").startswith(
        "property 'Position (mm)' is the canonical 'Position' [um] in 'mm' with its unit in the name: "
        "declare it as 'Position' in 'um'"
    )


def test_a_speed_setting_is_not_taken_for_a_velocity() -> None:
    """Micro-Manager's Prior adapter has MaxSpeed, a 1-100 % setting: not Velocity in mm/s."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", PropertyNameWarning)

        class Prior(Stage):
            """A stage with a speed setting"""

            max_speed = prop(int, default=20, limits=(1, 100), name="MaxSpeed")


def test_a_name_carrying_another_quantitys_unit_is_not_that_quantity() -> None:
    """Names like "Power %" and "Current (%)" are fractions (not milliwatts, milliamperes); a synonym of Power
    declared in % is not Power either."""
    found = declared_warnings(("Power %", ""), ("Current (%)", ""), ("Exposure Time (%)", ""), ("LaserPower", "%"))
    assert {name: texts for name, texts in found.items() if texts} == {}


def test_other_spellings_of_the_canonical_units_are_the_canonical_units() -> None:
    found = declared_warnings(("Position", "µm"), ("Temperature", "°C"), ("Exposure", "msec"), ("FrameRate", "hz"))
    assert {name: texts for name, texts in found.items() if texts} == {}
    assert problem("Exposure", "us") and problem("Position", "mm")  # other units still warn


def test_every_canonical_unit_measures_a_known_quantity() -> None:
    from mmkernel_sdk.names import quantity_of

    unknown = {entry.name: entry.units for entry in registry().values() if entry.units and not quantity_of(entry.units)}
    assert unknown == {}


MICRO_MANAGER = tomllib.loads((Path(__file__).with_name("micro_manager_property_names.toml")).read_text("utf-8"))


def test_real_micro_manager_names_without_a_canonical_unit_give_no_warning() -> None:
    """Names real adapters use (see micro_manager_property_names.toml) that carry no unit, or
    the unit of another quantity than the canonical name they start with."""
    quiet = MICRO_MANAGER["no_unit"] + MICRO_MANAGER["another_quantity"]
    assert len(quiet) > 300
    false_alarms = {name: problem(name) for name in quiet if problem(name)}
    assert false_alarms == {}, f"{len(false_alarms)} of {len(quiet)} real names warned"


def test_real_micro_manager_names_with_their_unit_or_a_synonym_warn() -> None:
    silent = [name for name in MICRO_MANAGER["units_in_name"] + MICRO_MANAGER["synonyms"] if not problem(name)]
    assert silent == []


def test_name_check_false_exempts_one_property_everywhere() -> None:
    def define() -> type:
        class Box(Generic):
            """d"""

            value = prop(float, default=1.0, units="us", name="Exposure_us", name_check=False)
            other = prop(float, default=1.0, name="exposure_ms")

            def __init__(self) -> None:
                self.add_property("Position (mm)", float, default=0.0, name_check=False)

        return Box

    texts = caught_while(define)
    assert len(texts) == 1 and "'exposure_ms'" in texts[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PropertyNameWarning)
        box = define()
    problems = kit.conformance_checker(DirectHarness(box()))
    assert len(problems) == 1 and "'exposure_ms'" in problems[0]


def test_a_device_class_with_name_check_false_is_not_checked() -> None:
    def define() -> type:
        class Vendor(Generic):
            """A vendor's own names, kept as its manual spells them"""

            name_check = False
            value = prop(float, default=1.0, units="us", name="Exposure_us")

            def __init__(self) -> None:
                self.add_property("laser_power", float, default=1.0)

        return Vendor

    assert caught_while(define) == []
    kit.check_names(lambda: DirectHarness(define()()), kit.conformance_checker)
