"""Hardware sequences of C++ devices through MMCore's own calls, against the stand-in and the real
DemoCamera: the lengths MMCore reports (and their changes with a setting such as DStage's
UseSequences), load/start/stop reaching loadStageSequence, loadPropertySequence,
loadExposureSequence and loadXYStageSequence with the kernel's values, MM's errors as
DeviceErrors, too-long sequences refused before C++ sees them, and the value read again after a
stop."""

from __future__ import annotations

import time
from typing import Any

import pytest

from mmkernel_core import Kernel
from mmkernel_sdk.errors import DeviceError, PropertyError

from .conftest import load_demo as _load
from .standin import StandInCore


def _core(k: Kernel, label: str) -> Any:
    return k.internals.device_object(label).core


def _calls(k: Kernel, label: str, mm: str) -> list[tuple[Any, ...]] | None:
    """What reached the stand-in's sequence calls for `label` (None with the real adapters)."""
    if mm != "standin":
        return None
    return [call for call in _core(k, label).sequence_calls if call[1] == label]


def _spy(monkeypatch: pytest.MonkeyPatch, core: Any, call: str) -> list[tuple[Any, ...]]:
    """Record the calls of `call` on `core` (the real CMMCore too) and pass them on."""
    seen: list[tuple[Any, ...]] = []
    original = getattr(core, call)

    def spy(*args: Any) -> Any:
        seen.append(args)
        return original(*args)

    monkeypatch.setattr(core, call, spy)
    return seen


def test_sequence_max_length_is_what_mmcore_says_and_follows_the_switching_setting(k: Kernel) -> None:
    z, cam = _load(k, "Z", "DStage"), _load(k, "Cam", "DCam")
    obj, xy = _load(k, "Obj", "DObjective"), _load(k, "XY", "DXYStage")
    assert k.sequence_max_length(z, "Position") == 0
    assert k.sequence_max_length(cam, "Exposure") == 0
    assert k.sequence_max_length(obj, "State") == 10 and k.sequence_max_length(obj, "Label") == 10
    assert k.sequence_max_length(xy, "XYPosition") == 0  # DemoCamera's DXYStage cannot sequence
    assert k.sequence_max_length(cam, "Gain") == 0
    k.set_property(z, "UseSequences", "Yes")
    k.set_property(cam, "UseExposureSequences", "Yes")
    assert k.sequence_max_length(z, "Position") == 2000
    assert k.sequence_max_length(cam, "Exposure") == 100
    k.set_property(z, "UseSequences", "No")
    assert k.sequence_max_length(z, "Position") == 0
    with pytest.raises(PropertyError, match=r"'Z'.*'Position'.*cannot run a hardware sequence"):
        k.load_property_sequence(z, "Position", [1.0, 2.0])


def test_a_stage_sequence_reaches_mmcores_stage_calls_and_the_position_is_read_after_the_stop(
    k: Kernel, mm: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    z = _load(k, "Z", "DStage")
    k.set_property(z, "UseSequences", "Yes")
    k.set_position(z, 5.0)
    core = _core(k, z)
    loads = _spy(monkeypatch, core, "loadStageSequence")
    k.load_property_sequence(z, "Position", [0, 1.5, 3.0])
    k.start_property_sequence(z, "Position")
    assert loads == [(z, [0.0, 1.5, 3.0])]
    if mm == "standin":
        core.step(z)
        core.step(z)  # two TTL pulses: the stage is at 1.5 and nobody announced it
        assert k.get_position(z, from_cache=True) == 5.0
    k.stop_property_sequence(z, "Position")
    assert k.get_position(z, from_cache=True) == pytest.approx(float(core.getPosition(z)))
    if mm == "standin":
        assert k.get_position(z, from_cache=True) == 1.5
        assert _calls(k, z, mm) == [("load", z, "Position", [0.0, 1.5, 3.0]), ("start", z, "Position"),
                                    ("stop", z, "Position")]  # fmt: skip


def test_a_property_sequence_loads_mms_strings_and_the_turrets_trigger_steps_it(k: Kernel, mm: str) -> None:
    obj = _load(k, "Obj", "DObjective")
    core = _core(k, obj)
    with pytest.raises(DeviceError, match=r"'Obj'.*set Trigger.*Cannot set property \"Trigger\"") as caught:
        k.set_property(obj, "Trigger", "+")  # DObjective refuses a trigger without a started sequence
    assert caught.value.device == obj
    k.load_property_sequence(obj, "State", [3, 5])
    k.start_property_sequence(obj, "State")
    k.set_property(obj, "Trigger", "+")
    assert int(core.getState(obj)) == 3
    k.set_property(obj, "Trigger", "+")
    assert int(core.getState(obj)) == 5
    k.stop_property_sequence(obj, "State")
    assert k.get_property(obj, "State", from_cache=True) == 5
    assert k.get_property(obj, "Label") == "Objective-F"
    if mm == "standin":
        assert _calls(k, obj, mm) == [("load", obj, "State", ["3", "5"]), ("start", obj, "State"),
                                      ("stop", obj, "State")]  # fmt: skip


def test_an_exposure_sequence_reaches_mmcores_exposure_calls(k: Kernel, monkeypatch: pytest.MonkeyPatch) -> None:
    cam = _load(k, "Cam", "DCam")
    k.set_property(cam, "UseExposureSequences", "Yes")
    core = _core(k, cam)
    loads = _spy(monkeypatch, core, "loadExposureSequence")
    starts = _spy(monkeypatch, core, "startExposureSequence")
    stops = _spy(monkeypatch, core, "stopExposureSequence")
    k.load_property_sequence(cam, "Exposure", [1, 2.5, 4])
    k.start_property_sequence(cam, "Exposure")
    k.stop_property_sequence(cam, "Exposure")
    assert (loads, starts, stops) == ([(cam, [1.0, 2.5, 4.0])], [(cam,)], [(cam,)])
    assert k.get_property(cam, "Exposure", from_cache=True) == pytest.approx(float(core.getExposure(cam)))


def test_an_xy_sequence_reaches_loadxystagesequence_as_two_lists(mm: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if mm != "standin":
        pytest.skip("DemoCamera's DXYStage cannot sequence (isXYStageSequenceable is false)")
    monkeypatch.setattr(StandInCore, "xy_sequence_max", 50)
    with Kernel(timeout=10) as k:
        xy = _load(k, "XY", "DXYStage")
        assert k.sequence_max_length(xy, "XYPosition") == 50
        k.load_property_sequence(xy, "XYPosition", [(1, 2), (3.5, 4)])
        k.start_property_sequence(xy, "XYPosition")
        core = _core(k, xy)
        core.step(xy)
        k.stop_property_sequence(xy, "XYPosition")
        assert k.get_xy_position(xy, from_cache=True) == (1.0, 2.0)
        assert _calls(k, xy, mm) == [("load", xy, "XYPosition", [(1.0, 2.0), (3.5, 4.0)]),
                                     ("start", xy, "XYPosition"), ("stop", xy, "XYPosition")]  # fmt: skip
        with pytest.raises(PropertyError, match="1 to 50 values"):
            k.load_property_sequence(xy, "XYPosition", [(0, 0)] * 51)


def test_a_cpp_sequence_error_is_a_device_error_naming_the_device_and_the_call(k: Kernel) -> None:
    z = _load(k, "Z", "DStage")
    k.set_property(z, "UseSequences", "Yes")
    _core(k, z).setProperty(z, "UseSequences", "No")  # behind the kernel's back: C++ no longer sequences
    with pytest.raises(DeviceError, match=r"'Z'.*loadStageSequence.*Unsupported device command") as caught:
        k.load_property_sequence(z, "Position", [1.0, 2.0])
    assert caught.value.device == z and caught.value.operation == "loadStageSequence"
    obj = _load(k, "Obj", "DObjective")
    device = k.internals.device_object(obj)
    with pytest.raises(DeviceError, match=r"'Obj'.*loadPropertySequence Trigger.*not sequenceable") as caught:
        device.load_property_sequence("Trigger", ["+"])  # straight to the device: MMCore refuses
    assert caught.value.operation == "loadPropertySequence Trigger"


def test_a_too_long_sequence_is_refused_by_the_kernel_before_cpp_sees_it(
    k: Kernel, monkeypatch: pytest.MonkeyPatch
) -> None:
    z, obj = _load(k, "Z", "DStage"), _load(k, "Obj", "DObjective")
    k.set_property(z, "UseSequences", "Yes")
    stage = _spy(monkeypatch, _core(k, z), "loadStageSequence")
    prop = _spy(monkeypatch, _core(k, obj), "loadPropertySequence")
    with pytest.raises(PropertyError, match=r"'Z'.*2001 values.*1 to 2000 values"):
        k.load_property_sequence(z, "Position", [1.0] * 2001)
    with pytest.raises(PropertyError, match=r"'Obj'.*11 values.*1 to 10 values"):
        k.load_property_sequence(obj, "State", [1] * 11)
    with pytest.raises(PropertyError, match=r"index 1 of 2"):
        k.load_property_sequence(obj, "State", [1, 6])  # 6 positions: 0..5
    time.sleep(0.05)
    assert stage == [] and prop == []


def test_a_setting_that_switches_a_property_sequence_is_followed(real: str) -> None:
    with Kernel(timeout=10) as k:
        device = _load(k, "SD", "DStateDevice")  # the real one: the stand-in has no DStateDevice
        assert k.sequence_max_length(device, "State") == 0
        k.set_property(device, "Sequence", "On")
        assert k.sequence_max_length(device, "State") == 50
        k.load_property_sequence(device, "State", [1, 2, 3])
        k.start_property_sequence(device, "State")
        k.stop_property_sequence(device, "State")
        k.set_property(device, "Sequence", "Off")
        assert k.sequence_max_length(device, "State") == 0


def test_a_z_stack_on_a_sequencing_cpp_stage_is_one_hardware_run(k: Kernel, tmp_path: Any) -> None:
    useq = pytest.importorskip("useq")
    from mmkernel_core.acquisition import plan_of

    _load(k, "Cam", "DCam")
    _load(k, "Z", "DStage")
    k.set_role("Camera", "Cam")
    k.set_role("Focus", "Z")
    k.set_property("Cam", "Exposure", 1)
    stack = useq.MDASequence(z_plan={"range": 4, "step": 1})
    assert not any(run.hardware for run in plan_of(k, stack))
    k.set_property("Z", "UseSequences", "Yes")
    (run,) = plan_of(k, stack)
    assert run.hardware and len(run.events) == 5
    result = k.acquire(stack, tmp_path / "run.ome.zarr").wait(60)
    assert (result.reason, result.frames, result.error) == ("completed", 5, None)
