"""The conformance kit checks what matters: it moves every stage (within a travel the author can
narrow) and reads the position back; it holds cameras to the frame formats the kernel accepts;
checks that do not apply are reported as skipped, not passed; and a thread left behind is found
by identity, whatever it is named. Each check is shown catching a seeded bug."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mmkernel_core import DeviceError
from mmkernel_core.frames import frame_format
from mmkernel_core.testing import KernelHarness
from mmkernel_sdk import Camera, Generic, Stage, XYStage
from mmkernel_sdk.testing import DirectHarness, SimStage, SimWheel, SimXYStage
from mmkernel_sdk.testing import conformance as kit
from tests.support.paths import ROOT

HARNESSES: dict[str, Callable[[Any], Any]] = {"directly": DirectHarness, "in a kernel": KernelHarness}


# -- stages are moved, and must arrive --------------------------------------------------------
class NeverMoves(Stage):
    """Accepts every move and stays where it is (it declares no limits: the default)."""

    def __init__(self) -> None:
        self._z = 0.0

    def set_position(self, um: float) -> None:
        """Forgets to send the move."""

    def get_position(self) -> float:
        return self._z


class WrongSteps(Stage):
    """Sends 10 motor steps per um, but divides by 20 when it reads the position back."""

    def __init__(self) -> None:
        self._steps = 0

    def set_position(self, um: float) -> None:
        self._steps = round(um * 10)

    def get_position(self) -> float:
        return self._steps / 20


class NeverBusy(Stage):
    """Returns before the move ends and never says it is busy: each read finds it halfway closer."""

    def __init__(self) -> None:
        self._z = self._target = 0.0

    def set_position(self, um: float) -> None:
        self._target = um

    def get_position(self) -> float:
        self._z += (self._target - self._z) / 2
        return self._z

    def busy(self) -> bool:
        return False


class SwappedAxes(XYStage):
    """Moves X where Y was asked and Y where X was."""

    def __init__(self) -> None:
        self._xy = (0.0, 0.0)

    def set_xy_position(self, x_um: float, y_um: float) -> None:
        self._xy = (y_um, x_um)

    def get_xy_position(self) -> tuple[float, float]:
        return self._xy


class XYNeverMoves(XYStage):
    """An XY stage that stays where it is."""

    def set_xy_position(self, x_um: float, y_um: float) -> None:
        """Forgets to send the move."""

    def get_xy_position(self) -> tuple[float, float]:
        return (0.0, 0.0)


class RecordsMoves(Stage):
    """A good stage that remembers every target it was sent."""

    def __init__(self, start: float = 100.0) -> None:
        self._z = start
        self.targets: list[float] = []

    def set_position(self, um: float) -> None:
        self.targets.append(um)
        self._z = um

    def get_position(self) -> float:
        return self._z


@pytest.mark.parametrize("where", HARNESSES)
@pytest.mark.parametrize(
    ("device_class", "message"),
    [
        (NeverMoves, r"'Position': moved to 10 um from 0 um, but it did not move"),
        (WrongSteps, r"'Position': moved to 10 um from 0 um, read back 5 um"),
        (NeverBusy, r"still moving after busy\(\) said the move had ended"),
        (SwappedAxes, r"XY position: moved to \(10, -10\) um from \(0, 0\) um, read back \(-10, 10\) um"),
        (XYNeverMoves, r"XY position: moved to \(10, -10\) um from \(0, 0\) um, but it did not move"),
    ],
)
def test_check_all_moves_every_stage_and_catches_one_that_does_not_arrive(
    device_class: type, message: str, where: str
) -> None:
    with pytest.raises(kit.ConformanceError, match=message):
        kit.check_all(lambda: HARNESSES[where](device_class()))


class StaysBusy(Stage):
    """Once it has moved, busy() never becomes False again."""

    def __init__(self) -> None:
        self._z = 0.0

    def set_position(self, um: float) -> None:
        self._z = um

    def get_position(self) -> float:
        return self._z

    def busy(self) -> bool:
        return self._z != 0.0


@pytest.mark.parametrize("where", HARNESSES)
def test_check_all_catches_a_stage_whose_busy_never_settles_after_a_move(where: str) -> None:
    with pytest.raises(kit.ConformanceError, match=r"busy\(\) never settles after a move to 10 um"):
        kit.check_all(lambda: HARNESSES[where](StaysBusy()), busy_timeout_s=0.05)  # it never settles at all


def test_good_stages_pass_busy_while_they_move_or_not() -> None:
    for make in (SimStage, lambda: SimStage(move_s=0.005), SimXYStage, lambda: SimXYStage(move_s=0.005)):
        kit.check_all(lambda make=make: DirectHarness(make()))
        kit.check_all(lambda make=make: KernelHarness(make()))


def test_the_kit_moves_a_stage_only_within_the_travel_it_is_given_and_puts_it_back() -> None:
    stage = RecordsMoves(start=100.0)
    kit.check_motion(lambda: DirectHarness(stage))
    assert stage.targets and all(90.0 <= t <= 110.0 for t in stage.targets)  # the default: 10 um either way
    assert stage.targets[-1] == 100.0

    stage = RecordsMoves(start=100.0)
    kit.check_all(lambda: DirectHarness(stage), stage_travel_um=(0.0, 2.0))  # e.g. only away from the sample
    assert stage.targets and all(100.0 <= t <= 102.0 for t in stage.targets), stage.targets

    class TestNarrowTravel(kit.ConformanceTests):
        device_class = RecordsMoves
        stage_travel_um = (-1.0, 0.0)

        def harness(self) -> DirectHarness:
            return DirectHarness(moved)

    moved = RecordsMoves(start=100.0)
    TestNarrowTravel().test_motion()
    assert moved.targets and all(99.0 <= t <= 100.0 for t in moved.targets), moved.targets


def test_a_stage_that_fails_the_motion_check_is_put_back_where_it_started() -> None:
    class ReadsHalf(RecordsMoves):
        def get_position(self) -> float:
            return self._z if self._z == 100.0 else self._z / 2

    stage = ReadsHalf(start=100.0)
    with pytest.raises(kit.ConformanceError, match=r"moved to 110 um from 100 um, read back 55 um"):
        kit.check_motion(lambda: DirectHarness(stage))
    assert stage.targets == [110.0, 100.0]


def test_the_kit_stays_within_declared_limits_and_never_moves_a_stage_given_no_travel() -> None:
    stage = RecordsMoves(start=0.0)
    stage.set_limits("Position", 0.0, 50.0)
    kit.check_motion(lambda: DirectHarness(stage))
    assert stage.targets and all(0.0 <= t <= 10.0 for t in stage.targets), stage.targets

    still = RecordsMoves()
    report = kit.check_all(lambda: DirectHarness(still), stage_travel_um=(0.0, 0.0))
    assert set(still.targets) == {100.0}  # the round trips set Position to where it is; nothing moved it
    assert "check_motion" in report.skipped and "no travel" in report.skipped["check_motion"]


def test_a_position_within_the_tolerance_passes_and_the_tolerance_can_be_widened() -> None:
    class CoarseSteps(Stage):
        """0.2 um steps: a target lands on the nearest step."""

        def __init__(self) -> None:
            self._steps = 0

        def set_position(self, um: float) -> None:
            self._steps = round(um / 0.2)

        def get_position(self) -> float:
            return self._steps * 0.2

    kit.check_motion(lambda: DirectHarness(CoarseSteps()), stage_travel_um=(-9.9, 9.9))  # within 0.25 um
    with pytest.raises(kit.ConformanceError, match=r"tolerance 0.05 um"):
        kit.check_motion(lambda: DirectHarness(CoarseSteps()), stage_travel_um=(-9.9, 9.9), position_tolerance_um=0.05)


# -- frames the kernel would refuse -------------------------------------------------------------
class DeclaresFormat(Camera):
    """A camera whose frames are whatever it declares: the kit must judge the declaration itself."""

    shape: tuple[int, ...] = (8, 8)
    dtype: Any = np.uint16

    def frame_shape(self) -> tuple[int, ...]:
        return self.shape

    def frame_dtype(self) -> np.dtype:
        return self.dtype  # type: ignore[no-any-return]

    def read_frame(self, out: np.ndarray) -> None:
        out[...] = out.dtype.type(1) if out.dtype.kind != "U" else "ab"


def camera(shape: tuple[int, ...], dtype: Any) -> type[DeclaresFormat]:
    return type("Cam", (DeclaresFormat,), {"shape": shape, "dtype": dtype, "__doc__": "A seeded camera"})


@pytest.mark.parametrize(
    ("shape", "dtype", "message"),
    [
        ((8, 8), "<U4", r"frame_dtype\(\) returned '<U4'.*plain numeric"),
        ((16,), np.uint16, r"frame_shape\(\) returned \(16,\).*\(height, width\)"),
        ((8, 8, 5), np.uint8, r"frame_shape\(\) returned \(8, 8, 5\).*components <= 4"),
    ],
)
def test_check_all_refuses_a_camera_whose_frames_the_kernel_would_refuse(
    shape: tuple[int, ...], dtype: Any, message: str
) -> None:
    with pytest.raises(kit.ConformanceError, match=message):
        kit.check_all(lambda: DirectHarness(camera(shape, dtype)()))


def test_the_kits_frame_rule_is_the_kernels() -> None:
    """The SDK cannot import the kernel, so it states the rule again; both must agree."""
    shapes: list[Any] = [(8, 8), (8, 8, 1), (8, 8, 4), (8, 8, 5), (16,), (2, 2, 2, 2), (0, 8), (8, 8.0), (8, True)]
    shapes += [(np.int64(4), 4), "ab", None]
    dtypes: list[Any] = [np.uint8, np.uint16, np.int32, np.float32, np.complex64, bool, "<U4", "S4", object]
    dtypes += ["M8[s]", np.dtype([("a", "u1")]), np.dtype(("u1", (2,))), "not a dtype", None]
    for shape in shapes:
        for dtype in dtypes:
            device = camera(shape, dtype)()
            try:
                frame_format(device, "Cam")
                kernel_accepts = True
            except DeviceError:
                kernel_accepts = False
            assert (kit.frame_format_problem(shape, dtype) is None) == kernel_accepts, (shape, dtype)


def test_good_cameras_pass_directly_and_in_a_kernel() -> None:
    for shape, dtype in [((8, 8), np.uint16), ((4, 6, 3), np.uint8), ((4, 6, 4), np.float32)]:
        good = camera(shape, dtype)
        kit.check_camera_frames(lambda good=good: DirectHarness(good()))
        kit.check_camera_frames(lambda good=good: KernelHarness(good()))


# -- what does not apply is skipped, not passed ---------------------------------------------------
def test_check_all_reports_the_checks_that_do_not_apply_as_skipped() -> None:
    stage = kit.check_all(lambda: DirectHarness(SimStage()))
    assert {"check_camera_frames", "check_state_labels"} <= set(stage.skipped)
    assert "check_motion" in stage.passed and "check_camera_frames" not in stage.passed
    assert "not a camera" in stage.skipped["check_camera_frames"]

    cam = kit.check_all(lambda: KernelHarness(camera((8, 8), np.uint16)()))
    assert {"check_motion", "check_state_labels"} <= set(cam.skipped)
    assert "check_camera_frames" in cam.passed

    wheel = kit.check_all(lambda: DirectHarness(SimWheel()), names=None)
    assert "check_state_labels" in wheel.passed
    assert "check_names" in wheel.skipped  # no name registry given
    assert set(wheel.passed) | set(wheel.skipped) == set(kit.CHECKS)
    assert "skipped" in str(wheel) and "check_camera_frames" in str(wheel)


def test_pytest_reports_the_checks_that_do_not_apply_as_skipped(tmp_path: Path) -> None:
    (tmp_path / "test_stage_conformance.py").write_text(
        textwrap.dedent(
            """
            from mmkernel_sdk.testing import SimStage
            from mmkernel_sdk.testing.conformance import ConformanceTests


            class TestStageConformance(ConformanceTests):
                device_class = SimStage
            """
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(tmp_path)],
        capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    outcomes = dict(
        line.split("::")[-1].split()[:2] for line in done.stdout.splitlines() if "::TestStageConformance::" in line
    )
    assert outcomes["test_camera_frames"] == "SKIPPED" and outcomes["test_state_labels"] == "SKIPPED", outcomes
    assert outcomes["test_motion"] == "PASSED" and outcomes["test_round_trips"] == "PASSED", outcomes


# -- threads left behind, by identity ------------------------------------------------------------
class LeaksAKernelNamedThread(Generic):
    """Starts a poller named like one of the kernel's threads and never stops it."""

    stops: list[threading.Event] = []

    def initialize(self) -> None:
        stop = threading.Event()
        self.stops.append(stop)
        threading.Thread(target=stop.wait, name="mmkernel-poller", daemon=True).start()

    def shutdown(self) -> None:
        """Forgets to stop the poller."""


@pytest.fixture
def pollers() -> Iterator[None]:
    yield
    for stop in LeaksAKernelNamedThread.stops:
        stop.set()


@pytest.mark.usefixtures("pollers")
@pytest.mark.parametrize("where", HARNESSES)
def test_a_thread_left_behind_is_caught_whatever_it_is_named(where: str) -> None:
    leaked = r"after shutdown \(cycle 1\) these were left behind: threads: mmkernel-poller"
    with pytest.raises(kit.ConformanceError, match=leaked):
        kit.check_lifecycle(lambda: HARNESSES[where](LeaksAKernelNamedThread()))


def test_the_kernels_own_threads_are_not_taken_for_the_devices() -> None:
    """A kernel starts threads of its own (runners, events, callbacks, parked runner threads, a
    camera's memory): the kernel's harness names them by what they run, so a good device passes."""
    for _ in range(3):
        kit.check_lifecycle(lambda: KernelHarness(camera((8, 8), np.uint16)()), cycles=3)
        kit.check_lifecycle(lambda: KernelHarness(SimXYStage(move_s=0.001)), cycles=3)
