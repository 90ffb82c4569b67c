"""Hardware sequences on the demo devices, as Micro-Manager's DemoCamera offers them (DStage's
UseSequences, D-DA, DObjective, DStateDevice's Sequence, DCam's UseExposureSequences; DXYStage's
UseSequences is an MMKernel addition), stepped by the demo camera's frames: once per frame,
through TriggerDevice's '+' or the trigger line, with the kernel's cache and events following."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from mmkernel_adapter_demo.stages import DemoStage

from mmkernel_core import Kernel, PropertyError
from mmkernel_sdk.testing import ConcurrencyProbe


@pytest.fixture
def k() -> Iterator[Kernel]:
    with Kernel(timeout=10) as kernel:
        kernel.load_device("Cam", "DemoCamera", "DCam")
        kernel.initialize("Cam")
        kernel.set_property("Cam", "Exposure", 0)
        yield kernel


def load(k: Kernel, label: str, name: str) -> str:
    k.load_device(label, "DemoCamera", name)
    k.initialize(label)
    return label


def frames(k: Kernel, count: int) -> list[dict[str, Any]]:
    """Run a sequence of `count` frames; their metadata."""
    with k.stream("Cam", count=count) as stream:
        return [dict(frame.meta.metadata) for frame in stream]


def changes(k: Kernel, label: str, name: str) -> list[Any]:
    seen: list[Any] = []
    k.events.property_changed.connect(
        lambda lbl, prop, value: seen.append(value) if (lbl, prop) == (label, name) else None
    )
    return seen


def test_what_each_demo_device_can_sequence(k: Kernel) -> None:
    for label, name in (("Z", "DStage"), ("XY", "DXYStage"), ("DA", "D-DA"), ("Obj", "DObjective"),
                        ("SD", "DStateDevice"), ("Wheel", "DWheel")):  # fmt: skip
        load(k, label, name)
    assert k.sequence_max_length("Z", "Position") == 0  # UseSequences No, as in DemoCamera
    k.set_property("Z", "UseSequences", "Yes")
    assert k.sequence_max_length("Z", "Position") == 2000  # CDemoStage::GetStageSequenceMaxLength
    assert k.sequence_max_length("XY", "XYPosition") == 0
    k.set_property("XY", "UseSequences", "Yes")
    assert k.sequence_max_length("XY", "XYPosition") == 2000
    assert k.sequence_max_length("DA", "Voltage") == 256
    assert k.sequence_max_length("Obj", "State") == 10
    assert k.sequence_max_length("SD", "State") == 0
    k.set_property("SD", "Sequence", "On")
    assert k.sequence_max_length("SD", "State") == 50
    assert k.sequence_max_length("Wheel", "State") == 0
    assert k.sequence_max_length("Cam", "Exposure") == 0
    k.set_property("Cam", "UseExposureSequences", "Yes")
    assert k.sequence_max_length("Cam", "Exposure") == 100
    k.set_property("Z", "UseSequences", "No")
    with pytest.raises(PropertyError, match="'Position': cannot run a hardware sequence"):
        k.load_property_sequence("Z", "Position", [1.0])


def test_sequencing_switched_off_before_the_load_runs_refuses_it(k: Kernel) -> None:
    """Checked on the caller's thread and again on the runner: the switch queued first wins."""
    load(k, "Z", "DStage")
    k.set_property("Z", "UseSequences", "Yes")
    off = k.submit.set_property("Z", "UseSequences", "No")
    with pytest.raises(PropertyError, match="'Position': cannot run a hardware sequence"):
        k.load_property_sequence("Z", "Position", [1.0, 2.0])
    off.result(5)


def test_a_z_sequence_steps_once_per_camera_frame(k: Kernel) -> None:
    load(k, "Z", "DStage")
    k.set_property("Z", "UseSequences", "Yes")
    seen = changes(k, "Z", "Position")
    positions = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    k.load_property_sequence("Z", "Position", positions)
    k.start_property_sequence("Z", "Position")
    assert k.get_position("Z") == 0.0  # started, not yet triggered
    assert len(frames(k, 5)) == 5
    assert k.get_position("Z") == 5.0
    k.wait_for("Z", timeout=5)
    k.events.flush(timeout=2)
    assert seen == positions[:5]  # one step per frame, each announced once
    assert k.get_position("Z", from_cache=True) == 5.0
    k.stop_property_sequence("Z", "Position")


def test_stopping_mid_way_leaves_the_cache_right_and_the_stage_still(k: Kernel) -> None:
    load(k, "Z", "DStage")
    k.set_property("Z", "UseSequences", "Yes")
    k.load_property_sequence("Z", "Position", [10, 20, 30, 40, 50])
    k.start_property_sequence("Z", "Position")
    frames(k, 2)
    k.stop_property_sequence("Z", "Position")
    assert k.get_position("Z", from_cache=True) == 20.0
    frames(k, 2)  # stopped: frames no longer move it
    assert k.get_position("Z") == 20.0
    k.start_property_sequence("Z", "Position")  # again from the first value
    frames(k, 1)
    assert k.get_position("Z") == 10.0


def test_a_bad_position_is_refused_and_nothing_is_loaded(k: Kernel) -> None:
    load(k, "Z", "DStage")
    k.set_property("Z", "UseSequences", "Yes")
    with pytest.raises(PropertyError, match=r"value 400.0 is out of range; allowed: a position within \[-300, 300\]"):
        k.load_property_sequence("Z", "Position", [1, 2, 400])
    k.start_property_sequence("Z", "Position")  # nothing loaded: nothing runs
    frames(k, 2)
    assert k.get_position("Z") == 0.0


def test_the_trigger_device_steps_the_da_once_per_frame(k: Kernel) -> None:
    load(k, "DA", "D-DA")
    with pytest.raises(PropertyError, match="sequence is not running"):
        k.set_property("DA", "Trigger", "+")  # as in DemoCamera: no sequence runs
    k.set_property("Cam", "TriggerDevice", "DA")
    seen = changes(k, "DA", "Voltage")
    k.load_property_sequence("DA", "Voltage", [1, 2, 3])
    k.start_property_sequence("DA", "Voltage")
    frames(k, 4)  # '+' before each frame (and not the trigger line as well)
    assert k.get_property("DA", "Voltage") == 1.0  # wrapped round: 1, 2, 3, 1
    assert k.get_property("DA", "Real Voltage") == 1.0
    k.events.flush(timeout=2)
    assert seen == [1.0, 2.0, 3.0, 1.0]
    k.set_property("DA", "Trigger", "+")  # by hand too
    assert k.get_property("DA", "Voltage", from_cache=True) == 2.0
    k.stop_property_sequence("DA", "Voltage")
    with pytest.raises(PropertyError, match="sequence is not running"):
        k.set_property("DA", "Trigger", "+")


def test_state_sequences_of_the_objective_and_the_state_device(k: Kernel) -> None:
    load(k, "Obj", "DObjective")
    load(k, "SD", "DStateDevice")
    k.set_property("SD", "Sequence", "On")
    with pytest.raises(PropertyError, match=r"value 7 is not a position of this device; allowed: a position 0..5"):
        k.load_property_sequence("Obj", "State", [1, 7])
    with pytest.raises(PropertyError, match=r"a sequence of 11 values is not allowed; allowed: 1 to 10 values"):
        k.load_property_sequence("Obj", "State", [1] * 11)
    k.load_property_sequence("Obj", "State", [1, 3, 5])
    k.load_property_sequence("SD", "State", [9, 8])
    k.start_property_sequence("Obj", "State")
    k.start_property_sequence("SD", "State")
    frames(k, 2)
    assert k.get_state("Obj") == 3 and k.get_state_label("Obj") == "Objective-D"
    assert k.get_state("SD") == 8
    k.stop_property_sequence("Obj", "State")
    k.stop_property_sequence("SD", "State")
    assert k.get_state_label("Obj", from_cache=True) == "Objective-D"


def test_an_xy_sequence_follows_the_frames(k: Kernel) -> None:
    load(k, "XY", "DXYStage")
    k.set_property("XY", "UseSequences", "Yes")
    seen: list[tuple[float, float]] = []
    k.events.xy_stage_position_changed.connect(lambda label, x, y: seen.append((x, y)))
    k.load_property_sequence("XY", "XYPosition", [(1, 2), (3, 4), (5, 6)])
    k.start_property_sequence("XY", "XYPosition")
    frames(k, 2)
    assert k.get_xy_position("XY") == (3.0, 4.0)
    k.stop_property_sequence("XY", "XYPosition")
    k.events.flush(timeout=2)
    # Each step invalidates the position and the kernel reads it again on the stage's runner: a
    # read that comes after the next step already sees that one, so (1, 2) may go unseen on a
    # busy machine, but what is seen comes in order, once each, and ends where the stage is.
    assert seen in ([(1.0, 2.0), (3.0, 4.0)], [(3.0, 4.0)])
    assert k.get_xy_position("XY", from_cache=True) == (3.0, 4.0)


def test_an_exposure_sequence_gives_each_frame_its_exposure(k: Kernel) -> None:
    k.set_property("Cam", "UseExposureSequences", "Yes")
    k.load_property_sequence("Cam", "Exposure", [1, 2, 3])
    k.start_property_sequence("Cam", "Exposure")
    tags = [meta["Exposure-ms"] for meta in frames(k, 4)]
    assert tags == [1.0, 2.0, 3.0, 1.0]
    k.stop_property_sequence("Cam", "Exposure")
    assert k.get_property("Cam", "Exposure") == 0.0  # the property itself never changed


class ProbedStage(DemoStage):
    """DStage counting who is inside its state (under its lock, as the demo keeps it)."""

    def __init__(self) -> None:
        super().__init__()
        self.probe = ConcurrencyProbe()

    def _step(self, um: float) -> dict[str, Any]:  # the camera's thread, under the lock
        with self.probe.enter():
            return super()._step(um)

    def get_position(self) -> float:
        with self.sequence.lock, self.probe.enter():
            return super().get_position()

    def load_position_sequence(self, positions: list[float]) -> None:
        with self.sequence.lock, self.probe.enter():
            super().load_position_sequence(positions)

    def start_position_sequence(self) -> None:
        with self.sequence.lock, self.probe.enter():
            super().start_position_sequence()

    def stop_position_sequence(self) -> None:
        with self.sequence.lock, self.probe.enter():
            super().stop_position_sequence()


def test_callers_racing_a_running_sequence_never_overlap_in_the_stage(k: Kernel) -> None:
    stage = ProbedStage()
    k.load_device("Z", stage)
    k.initialize("Z")
    k.set_property("Z", "UseSequences", "Yes")
    k.load_property_sequence("Z", "Position", [1, 2, 3])
    k.start_property_sequence("Z", "Position")
    errors: list[BaseException] = []
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)

    def caller(index: int) -> None:
        try:
            for n in range(30):
                k.load_property_sequence("Z", "Position", [index, n, -index])
                k.start_property_sequence("Z", "Position")
                k.get_position("Z")
                if n % 4 == 0:
                    k.stop_property_sequence("Z", "Position")
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    try:
        k.start_sequence("Cam", None, overflow="overwrite")  # frames (and steps) until stopped
        callers = [threading.Thread(target=caller, args=(i,)) for i in range(4)]
        for thread in callers:
            thread.start()
        for thread in callers:
            thread.join(60)
        steps_seen = stage.probe.entries
        time.sleep(0.05)
    finally:
        k.stop_sequence("Cam")
        sys.setswitchinterval(old)
    assert errors == []
    assert stage.probe.violations == 0
    assert len(stage.probe.threads) >= 2  # the runner and the camera's thread both came in
    assert steps_seen > 4 * 30 * 3
    k.stop_property_sequence("Z", "Position")
    k.wait_for("Z", timeout=5)
    assert k.get_position("Z", from_cache=True) == stage.get_position()


def test_the_demo_configuration_sequences_on_the_hubs_one_thread() -> None:
    """In MMConfig_demo.cfg the camera, Z and the objective are DHub's peripherals: one runner,
    so the frames' triggers step them inline (no hop, no deadlock)."""
    with Kernel(timeout=10) as k:
        k.load_config("demo")
        runners = {k.internals.device(label).runner for label in ("Camera", "Z", "Objective")}
        assert len(runners) == 1
        k.set_property("Camera", "Exposure", 0)
        k.set_property("Z", "UseSequences", "Yes")
        k.set_property("Camera", "TriggerDevice", "Objective")
        seen = changes(k, "Z", "Position")
        k.load_property_sequence("Z", "Position", [5, 6, 7])
        k.load_property_sequence("Objective", "State", [2, 4])
        k.start_property_sequence("Z", "Position")
        k.start_property_sequence("Objective", "State")
        with k.stream("Camera", count=3) as stream:
            assert len(list(stream)) == 3
        assert k.get_position("Z") == 7.0
        assert k.get_state("Objective") == 2  # 2, 4, 2: through its Trigger, once per frame
        k.events.flush(timeout=2)
        assert seen == [5.0, 6.0, 7.0]
        k.unload("Z")  # its shutdown takes it off the trigger line
        with k.stream("Camera", count=2) as stream:
            assert len(list(stream)) == 2
        assert k.get_state("Objective") == 2  # 4, 2
