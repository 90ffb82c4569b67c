"""Micro-Manager .cfg files: parsing, loading, every problem with its line, nothing half-loaded."""

from __future__ import annotations

import _thread
import threading
from pathlib import Path

import pytest

from mmkernel_core import AdapterRegistry, ConfigError, Kernel, PropertyError, UnknownDeviceError
from mmkernel_core.config import parse
from mmkernel_sdk import Generic, prop
from mmkernel_sdk.plugin import AdapterSpec, DeviceSpec, hookimpl
from mmkernel_sdk.testing import Gate, SimShutter, SimStage, SimWheel


class SimPlugin:
    """Offers the simulated devices as adapter 'Sim', without entry points."""

    @hookimpl
    def mmkernel_adapters(self) -> list[AdapterSpec]:
        return [
            AdapterSpec(
                "Sim",
                "simulated",
                [
                    DeviceSpec("Stage", "Stage", "", SimStage),
                    DeviceSpec("Shutter", "Shutter", "", SimShutter),
                    DeviceSpec("Wheel", "State", "", SimWheel),
                ],
            )
        ]


@pytest.fixture
def kernel() -> Kernel:
    with Kernel(plugins=[SimPlugin()], discover=False, timeout=5) as k:
        yield k


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "system.cfg"
    path.write_text(text)
    return path


GOOD = """# a comment
Property,Core,Initialize,0
Device,Z,Sim,Stage
Device,Shutter,Sim,Shutter
Device,Filter,Sim,Wheel
Property,Core,Initialize,1
Delay,Shutter,15
FocusDirection,Z,-1
Property,Core,Focus,Z
Property,Core,Shutter,Shutter
Property,Core,AutoShutter,0
Property,Core,TimeoutMs,7000
Label,Filter,1,GFP filter
Label,Filter,2,mCherry
ConfigGroup,Channel
ConfigGroup,Channel,GFP,Filter,Label,GFP filter
ConfigGroup,Channel,GFP,Shutter,State,1
ConfigGroup,Channel,Cherry,Filter,Label,mCherry
ConfigGroup,System,Startup,Z,Position,12.5
ConfigPixelSize,Res,Filter,State,1
PixelSize_um,Res,0.65
PixelSizeAffine,Res,0.65,0.0,0.0,0.0,0.65,0.0
PixelSizeAngle_dxdz,Res,1.5
PixelSizeOptimalZ_Um,Res,2.0
"""


def test_a_complete_configuration_loads(kernel: Kernel, tmp_path: Path) -> None:
    loaded = []
    kernel.events.system_loaded.connect(lambda: loaded.append(True))
    kernel.load_config(write(tmp_path, GOOD))
    assert kernel.devices() == ["Filter", "Shutter", "Z", "Core"]
    assert (kernel.roles.focus, kernel.roles.shutter, kernel.roles.auto_shutter) == ("Z", "Shutter", False)
    assert kernel.default_timeout == 7.0
    assert kernel.get_device_delay("Shutter") == 15
    assert kernel.focus_direction("Z") == -1
    assert kernel.state_labels("Filter")[:3] == ["State-0", "GFP filter", "mCherry"]
    assert kernel.config_groups() == ["Channel", "System"]
    assert kernel.config_presets("Channel") == ["Cherry", "GFP"]
    assert kernel.config_settings("Channel", "GFP") == [("Filter", "Label", "GFP filter"), ("Shutter", "State", "1")]
    assert kernel.get_position("Z") == 12.5  # System/Startup was applied
    config = kernel.pixel_size_config("Res")
    assert (config.pixel_size_um, config.angle_dxdz, config.optimal_z_um) == (0.65, 1.5, 2.0)
    assert config.affine == (0.65, 0.0, 0.0, 0.0, 0.65, 0.0)
    kernel.events.flush()
    assert loaded == [True]


def test_presets_apply_and_are_recognised(kernel: Kernel, tmp_path: Path) -> None:
    kernel.load_config(write(tmp_path, GOOD))
    applied = []
    kernel.events.config_set.connect(lambda group, preset: applied.append((group, preset)))
    assert kernel.current_config("Channel") == ""
    kernel.set_config("Channel", "GFP")
    assert kernel.get_state_label("Filter") == "GFP filter" and kernel.get_shutter_open("Shutter")
    assert kernel.current_config("Channel") == "GFP"
    assert kernel.pixel_size_um() == 0.65
    kernel.set_config("Channel", "Cherry")
    assert kernel.current_config("Channel") == "Cherry"
    assert kernel.pixel_size_um() == 0.0
    kernel.events.flush()
    assert applied == [("Channel", "GFP"), ("Channel", "Cherry")]


def test_a_preset_with_a_bad_value_changes_nothing(kernel: Kernel, tmp_path: Path) -> None:
    kernel.load_config(write(tmp_path, GOOD))
    kernel.define_config("Channel", "Broken", "Shutter", "State", "1")
    kernel.define_config("Channel", "Broken", "Filter", "State", "99")
    with pytest.raises(Exception, match="'Filter', property 'State': value '99' is out of range"):
        kernel.set_config("Channel", "Broken")
    assert kernel.get_shutter_open("Shutter") is False  # the valid half was not applied either


def test_unknown_preset_lists_the_presets(kernel: Kernel, tmp_path: Path) -> None:
    kernel.load_config(write(tmp_path, GOOD))
    with pytest.raises(UnknownDeviceError, match="has no preset 'DAPI'; presets: Cherry, GFP"):
        kernel.set_config("Channel", "DAPI")


class Narrowing(Generic):
    """Mode 'fast' narrows Gain to [0, 4]; the setter records every Gain it receives."""

    Mode = prop(str, default="normal", allowed=("normal", "fast"))
    Gain = prop(int, default=0, limits=(0, 10))

    def __init__(self) -> None:
        self.gains: list[int] = []

    @Mode.setter
    def Mode(self, value: str) -> None:
        self.set_limits("Gain", 0, 4 if value == "fast" else 10)

    @Gain.setter
    def Gain(self, value: int) -> None:
        self.gains.append(value)


def test_a_preset_is_validated_again_when_each_value_is_applied(kernel: Kernel) -> None:
    device = Narrowing()
    kernel.load_device("N", device)
    kernel.initialize("N")
    kernel.define_config("Speed", "Fast", "N", "Mode", "fast")
    kernel.define_config("Speed", "Fast", "N", "Gain", "8")  # allowed now; not once Mode is fast
    gain_message = r"device 'N', property 'Gain': value 8 is out of range; allowed: .*\[0, 4\]"
    with pytest.raises(PropertyError, match=gain_message):
        kernel.set_config("Speed", "Fast")
    assert device.gains == []


def test_syntax_problems_are_all_reported_with_line_numbers_before_anything_loads(
    kernel: Kernel, tmp_path: Path
) -> None:
    text = "Device,Z,Sim,Stage\nDevise,X,Sim,Stage\nDelay,Z,fast\nLabel,Z,1\nProperty,Core,Initialize,1\n"
    with pytest.raises(ConfigError) as info:
        kernel.load_config(write(tmp_path, text))
    message = str(info.value)
    assert "line 2: unknown command 'Devise'" in message
    assert "line 3: Delay: field 3 must be a number, not 'fast'" in message
    assert "line 4: Label takes the form Label,stateDevice,position,label" in message
    assert [p.line for p in info.value.problems] == [2, 3, 4]
    assert kernel.devices() == ["Core"]


def test_a_failing_command_brings_the_previous_system_back_and_names_its_line(kernel: Kernel, tmp_path: Path) -> None:
    kernel.load_device("Old", SimStage())
    text = "Device,Z,Sim,Stage\nDevice,S,Sim,Shutter\nProperty,Core,Initialize,1\nProperty,Z,Position,9000\n"
    with pytest.raises(ConfigError, match=r"line 4: .*'Z', property 'Position': value '9000' is out of range") as info:
        kernel.load_config(write(tmp_path, text))
    assert "the previous system was restored" in str(info.value)
    assert kernel.devices() == ["Old", "Core"]  # no half of the new system: the old one, as it was
    assert kernel.roles.focus == "" and not kernel.device_info("Old").initialized


class StagePlugin:
    @hookimpl
    def mmkernel_adapters(self) -> list[AdapterSpec]:
        return [AdapterSpec("Sim", "", [DeviceSpec("Stage", "Stage", "", SimStage)])]


def test_a_failing_startup_preset_rolls_everything_back(tmp_path: Path) -> None:
    config = tmp_path / "system.cfg"
    config.write_text(
        "Device,Z,Sim,Stage\nProperty,Core,Initialize,1\nProperty,Core,Focus,Z\nProperty,Core,TimeoutMs,250\n"
        "ConfigGroup,System,Startup,Z,Position,99999\n"
    )
    with Kernel(plugins=[StagePlugin()], discover=False, timeout=3) as kernel:
        with pytest.raises(ConfigError, match=r"after the last line: .*'Z', property 'Position': value '99999'"):
            kernel.load_config(config)
        assert kernel.devices() == ["Core"] and kernel.roles.focus == ""
        assert kernel.default_timeout == 3


def test_a_failing_unload_during_rollback_does_not_hide_the_config_error(tmp_path: Path) -> None:
    class Stubborn(SimStage):
        def shutdown(self) -> None:
            raise RuntimeError("port already gone")

    class Plugin:
        @hookimpl
        def mmkernel_adapters(self) -> list[AdapterSpec]:
            return [AdapterSpec("Sim", "", [DeviceSpec("Stage", "Stage", "", Stubborn)])]

    config = tmp_path / "system.cfg"
    config.write_text("Device,Z,Sim,Stage\nProperty,Core,Initialize,1\nProperty,Z,Position,5000\n")
    with Kernel(plugins=[Plugin()], discover=False) as kernel:
        with pytest.raises(ConfigError, match="line 3") as info:
            kernel.load_config(config)
        assert "could not be restored completely" in str(info.value) and "port already gone" in str(info.value)
        assert kernel.devices() == ["Core"]


def test_unknown_adapter_in_a_config(kernel: Kernel, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"line 1: no adapter named 'Simm' \(did you mean 'Sim'\?\)"):
        kernel.load_config(write(tmp_path, "Device,Z,Simm,Stage\n"))


def test_a_delay_line_with_nan_is_a_config_error(kernel: Kernel, tmp_path: Path) -> None:
    registry = AdapterRegistry()
    registry.register("Test", SimShutter, "Shutter")
    config = tmp_path / "nan.cfg"
    config.write_text("Device,S,Test,Shutter\nDelay,S,nan\n")
    with Kernel(adapters=registry) as k, pytest.raises(ConfigError, match=r"line 2.*finite"):
        k.load_config(config)


def test_roles_must_name_a_device_of_the_right_type(kernel: Kernel, tmp_path: Path) -> None:
    text = "Device,S,Sim,Shutter\nProperty,Core,Initialize,1\nProperty,Core,Focus,S\n"
    expected = (
        r"line 3: device 'Core', property 'Focus': value 'S' is not allowed: 'S' is a Shutter device; "
        r"Focus needs a Stage device; allowed: one of \[''\]"
    )
    with pytest.raises(ConfigError, match=expected):
        kernel.load_config(write(tmp_path, text))


def test_missing_file(kernel: Kernel, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is neither a file nor the name of an example configuration"):
        kernel.load_config(tmp_path / "missing.cfg")


def test_parse_rules_comments_empty_fields_and_significant_spaces() -> None:
    commands, problems = parse("# comment\n\nLabel,W,1,My Label \r\nProperty,Cam,Gain,,3\n  # not a comment\n")
    assert [c.fields for c in commands] == [("Label", "W", "1", "My Label "), ("Property", "Cam", "Gain", "3")]
    assert len(problems) == 1 and problems[0].line == 5 and "unknown command '  # not a comment'" in problems[0].message


def test_parent_moves_a_device_onto_its_hubs_runner(tmp_path: Path) -> None:
    from mmkernel_sdk import Hub

    class Box(Hub):
        """A hub."""

    class HubPlugin:
        @hookimpl
        def mmkernel_adapters(self) -> list[AdapterSpec]:
            return [AdapterSpec("Box", "", [DeviceSpec("Hub", "Hub", "", Box), DeviceSpec("Z", "Stage", "", SimStage)])]

    text = "Device,H,Box,Hub\nDevice,Z,Box,Z\nParent,Z,H\nProperty,Core,Initialize,1\n"
    with Kernel(plugins=[HubPlugin()], discover=False) as kernel:
        kernel.load_config(write(tmp_path, text))
        assert kernel.device_info("Z").parent == "H"
        assert kernel._loaded("Z").runner is kernel._loaded("H").runner


# -- file encoding and line endings ------------------------------------------------------------
def test_a_byte_order_mark_is_ignored(kernel: Kernel, tmp_path: Path) -> None:
    path = tmp_path / "bom.cfg"
    path.write_bytes(b"\xef\xbb\xbfDevice,Z,Sim,Stage\r\nProperty,Core,Initialize,1\r\n")
    kernel.load_config(path)
    assert kernel.devices() == ["Z", "Core"]


def test_undecodable_bytes_are_a_config_error_naming_the_line(kernel: Kernel, tmp_path: Path) -> None:
    path = tmp_path / "latin1.cfg"
    path.write_bytes("Device,Z,Sim,Stage\n# fine\nLabel,Filter,0,Gr\u00fcn\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"line 3: byte\(s\) b'\\xfc' at column 18 are not UTF-8") as info:
        kernel.load_config(path)
    assert [p.line for p in info.value.problems] == [3]
    assert kernel.devices() == ["Core"]  # nothing was loaded (never silently replaced)


def test_an_unreadable_file_is_a_config_error(kernel: Kernel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "Device,Z,Sim,Stage\n")

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(ConfigError, match="cannot be read: Permission denied"):
        kernel.load_config(path)


@pytest.mark.parametrize("separator", ["\u2028", "\x0c", "\x1c", "\x85"])
def test_lines_end_only_at_newlines(kernel: Kernel, tmp_path: Path, separator: str) -> None:
    text = f"Device,Filter,Sim,Wheel\nProperty,Core,Initialize,1\nLabel,Filter,1,Red{separator}Filter\n"
    kernel.load_config(write(tmp_path, text))
    assert kernel.state_labels("Filter")[1] == f"Red{separator}Filter"


# -- queued lines, concurrent loads, interruptions ---------------------------------------------
GATE = Gate()


class GatedWheel(SimWheel):
    """A wheel whose constructor waits at GATE (a slow USB enumeration)."""

    def __init__(self) -> None:
        super().__init__()
        GATE.hold()


class GatedPlugin:
    @hookimpl
    def mmkernel_adapters(self) -> list[AdapterSpec]:
        return [AdapterSpec("Gated", "slow to construct", [DeviceSpec("Wheel", "State", "", GatedWheel)])]


def test_a_label_line_right_after_its_device_line_loads(kernel: Kernel, tmp_path: Path) -> None:
    kernel.load_config(write(tmp_path, "Device,F,Sim,Wheel\nLabel,F,1,GFP\nProperty,Core,Initialize,1\n"))
    assert kernel.state_labels("F")[1] == "GFP"


def test_a_label_for_a_device_that_failed_is_skipped(kernel: Kernel, tmp_path: Path) -> None:
    report = kernel.load_config(write(tmp_path, "Device,F,Sim,Whel\nLabel,F,1,GFP\n"), partial=True)
    assert [p.line for p in report.failed] == [1] and [s.line for s in report.skipped] == [2]


def test_a_second_device_line_for_a_label_keeps_the_first_ones_place(kernel: Kernel, tmp_path: Path) -> None:
    text = "Device,A,Sim,Shutter\nDevice,B,Sim,Shutter\nDevice,A,Sim,Shutter\nProperty,Core,Initialize,1\n"
    report = kernel.load_config(write(tmp_path, text), partial=True)
    assert [p.line for p in report.failed] == [3]
    assert report.loaded == ["A", "B"] and kernel.roles.shutter == "A"


def test_two_threads_loading_at_once_take_turns(kernel: Kernel, tmp_path: Path) -> None:
    path = write(tmp_path, "Device,Z,Sim,Stage\nDevice,F,Sim,Wheel\nLabel,F,1,GFP\nProperty,Core,Initialize,1\n")
    errors: list[BaseException] = []

    def load() -> None:
        try:
            kernel.load_config(path)
        except BaseException as error:  # noqa: BLE001 - collected for the assertion
            errors.append(error)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert kernel.devices() == ["F", "Z", "Core"] and kernel.state_labels("F")[1] == "GFP"


def test_ctrl_c_during_a_load_brings_the_previous_system_back(tmp_path: Path) -> None:
    GATE.entered.clear()
    GATE.release.clear()
    with Kernel(plugins=[SimPlugin(), GatedPlugin()], discover=False, timeout=10) as kernel:
        kernel.load_config(write(tmp_path, "Device,Z,Sim,Stage\nProperty,Core,Initialize,1\n"))
        slow = "".join(f"Device,W{i},Gated,Wheel\n" for i in range(3)) + "Property,Core,Initialize,1\n"

        def press_ctrl_c() -> None:
            GATE.wait_entered()
            _thread.interrupt_main()  # the user presses Ctrl-C while the load waits
            GATE.release.set()

        threading.Thread(target=press_ctrl_c).start()
        with pytest.raises(KeyboardInterrupt):
            kernel.load_config(write(tmp_path, slow))
        assert kernel.devices() == ["Z", "Core"]  # queued loads ended, then the previous system came back
        assert kernel.device_info("Z").initialized
