"""A run of Label lines of one state device is defined in one runner hop, and still behaves as
the lines one by one: each bad line reported with its number, the others defined, the cached
Label (and its one event) the last name of the current position, and an adapter raising
anything failing its line or, for what is no load problem, the whole load with the previous
system back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mmkernel_core import ConfigError, Kernel
from mmkernel_sdk.plugin import AdapterSpec, DeviceSpec, hookimpl
from mmkernel_sdk.testing import SimWheel


class Refusal(BaseException):
    """What an adapter may raise that is no Exception (not a load problem)."""


class PickyWheel(SimWheel):
    """Refuses one name: with an Exception, or with a BaseException subclass."""

    raising: type[BaseException] = RuntimeError

    def define_label(self, position: int, label: str) -> None:
        if label == "Bad":
            raise self.raising("the controller refused the name 'Bad'")
        super().define_label(position, label)


class Plugin:
    @hookimpl
    def mmkernel_adapters(self) -> list[AdapterSpec]:
        return [AdapterSpec("Sim", "", [DeviceSpec("Wheel", "State", "", PickyWheel)])]


@pytest.fixture
def k() -> Iterator[Kernel]:
    PickyWheel.raising = RuntimeError
    with Kernel(plugins=[Plugin()], discover=False, timeout=5) as kernel:
        yield kernel


def write(tmp_path: Path, text: str, name: str = "system.cfg") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


LINES = "Device,W,Sim,Wheel\nDevice,V,Sim,Wheel\nProperty,Core,Initialize,1\n"


def test_a_run_defines_every_label_and_reads_label_once_with_one_event(k: Kernel, tmp_path: Path) -> None:
    seen: list[tuple[str, str, object]] = []
    k.events.property_changed.connect(lambda label, name, value: seen.append((label, name, value)))
    text = LINES + "Label,W,0,First\nLabel,W,1,Green\nLabel,W,0,Open\nLabel,V,1,Blue\nLabel,W,2,Red\n"
    k.load_config(write(tmp_path, text))
    k.events.flush()
    assert k.state_labels("W")[:3] == ["Open", "Green", "Red"]
    assert k.state_labels("V")[:2] == ["State-0", "Blue"]
    assert k.get_property("W", "Label", from_cache=True) == "Open" == k.get_property("W", "Label")
    labels = [event for event in seen if event[1] == "Label"]
    assert labels.count(("W", "Label", "Open")) == 1  # the last name of position 0, told once
    assert ("W", "Label", "First") not in labels  # renamed again in the same run: no step back and forth
    assert not any(event[0] == "V" for event in labels)  # its current position kept its name


def test_a_bad_line_in_a_run_is_reported_with_its_line_and_the_others_are_defined(k: Kernel, tmp_path: Path) -> None:
    text = LINES + "Label,W,0,Closed\nLabel,W,1,Bad\nLabel,W,9,Nine\nLabel,W,2,Red\n"
    report = k.load_config(write(tmp_path, text), partial=True)
    failed = {problem.line: problem.message for problem in report.failed}
    assert sorted(failed) == [5, 6]
    assert "refused the name 'Bad'" in failed[5]
    assert "out of range" in failed[6]
    assert k.state_labels("W")[:3] == ["Closed", "State-1", "Red"]
    assert k.get_property("W", "Label", from_cache=True) == "Closed"


@pytest.mark.parametrize("raising", [RuntimeError, Refusal])
def test_an_adapter_raising_in_a_run_fails_the_load_and_the_previous_system_is_back(
    k: Kernel, tmp_path: Path, raising: type[BaseException]
) -> None:
    k.load_config(write(tmp_path, "Device,Old,Sim,Wheel\nProperty,Core,Initialize,1\nLabel,Old,1,Kept\n", "old.cfg"))
    PickyWheel.raising = raising
    failing = write(tmp_path, LINES + "Label,W,0,Closed\nLabel,W,1,Bad\nLabel,W,2,Red\n")
    with pytest.raises(ConfigError) as caught:
        k.load_config(failing)
    message = str(caught.value)
    assert f"line 5: device 'W': define_state_label failed: {raising.__name__}: the controller refused" in message
    assert "Label,W,1,Bad" in message and "the previous system was restored" in message
    assert k.devices() == ["Old", "Core"]
    assert k.state_labels("Old")[1] == "Kept"
    assert k.get_property("Old", "Label", from_cache=True) == k.get_property("Old", "Label")


def test_a_run_for_a_device_that_is_no_state_device_fails_each_line(tmp_path: Path) -> None:
    from mmkernel_sdk.testing import SimStage

    class StagePlugin:
        @hookimpl
        def mmkernel_adapters(self) -> list[AdapterSpec]:
            return [AdapterSpec("Sim", "", [DeviceSpec("Stage", "Stage", "", SimStage)])]

    with Kernel(plugins=[StagePlugin()], discover=False, timeout=5) as kernel:
        text = "Device,Z,Sim,Stage\nProperty,Core,Initialize,1\nLabel,Z,0,A\nLabel,Z,1,B\n"
        report = kernel.load_config(write(tmp_path, text), partial=True)
        assert [problem.line for problem in report.failed] == [3, 4]
        assert all("State" in problem.message for problem in report.failed)
