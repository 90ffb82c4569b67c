"""What each kind of useq event does to the devices: autofocus plans (the correction follows the
position), keep_shutter_open, min_start_time waited before the moves, position sub-sequences,
the stages' actual positions in the frame table, and the run's events on the notification thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

useq = pytest.importorskip("useq")

from mmkernel_core import Kernel  # noqa: E402
from tests.support.acquisition import instant_rig  # noqa: E402


@pytest.fixture
def k() -> Iterator[Kernel]:
    with instant_rig() as (kernel, _):
        yield kernel


def test_an_autofocus_plan_moves_later_z_targets_at_its_position_by_what_it_found(k: Kernel, tmp_path: Any) -> None:
    seq = useq.MDASequence(
        stage_positions=[(0, 0, 0), (10, 10, 5)],
        z_plan={"range": 2, "step": 1},
        autofocus_plan={"autofocus_device_name": "Offset", "autofocus_motor_offset": 10, "axes": ("p",)},
    )
    data_path = tmp_path / "af.ome.zarr"
    result = k.acquire(seq, data_path).wait(60)
    assert result.frames == 6  # the autofocus events take no image
    from mmkernel_core.acquisition import open_acquisition

    rows = open_acquisition(data_path).frames
    assert [row["z_um"] for row in rows] == [1.0, 2.0, 3.0, 6.0, 7.0, 8.0]  # each z + the 2 um found
    assert [row["z_um_actual"] for row in rows] == [1.0, 2.0, 3.0, 6.0, 7.0, 8.0]
    assert k.get_position("Offset") == 10.0  # the offset motor went where the plan said


def test_keep_shutter_open_across_z_opens_once_per_stack_and_closes_at_its_end(k: Kernel) -> None:
    shutter = k.internals.device_object("Shutter")
    seq = useq.MDASequence(z_plan={"range": 2, "step": 1}, time_plan={"interval": 0, "loops": 2},
                           keep_shutter_open_across="z")  # fmt: skip
    k.acquire(seq).wait(60)
    assert shutter.calls == [True, False, True, False]  # type: ignore[attr-defined]
    assert k.get_shutter_open("Shutter") is False


def test_without_keep_shutter_open_the_auto_shutter_opens_and_closes_for_every_frame(k: Kernel) -> None:
    shutter = k.internals.device_object("Shutter")
    k.acquire(useq.MDASequence(z_plan={"range": 2, "step": 1})).wait(60)
    assert shutter.calls == [True, False] * 3  # type: ignore[attr-defined]


def test_min_start_time_is_waited_before_the_events_moves(k: Kernel) -> None:
    stage = k.internals.device_object("Z")
    seq = useq.MDASequence(time_plan={"interval": 0.3, "loops": 2}, z_plan={"range": 1, "step": 1}, axis_order="tz")
    started = time.monotonic()
    k.acquire(seq).wait(60)
    second_timepoint = [at for at, _ in stage.moves[2:]]  # type: ignore[attr-defined]
    assert second_timepoint and min(second_timepoint) - started >= 0.3  # its first move waited for its start time


def test_a_positions_own_sub_sequence_gets_its_planes_in_the_dataset(k: Kernel, tmp_path: Any) -> None:
    seq = useq.MDASequence(
        stage_positions=[(0, 0, 0), {"x": 1, "y": 1, "z": 0, "sequence": {"z_plan": {"range": 2, "step": 1}}}]
    )
    path = tmp_path / "sub.ome.zarr"
    assert k.acquire(seq, path).wait(60).frames == 4
    from mmkernel_core.acquisition import open_acquisition

    data = open_acquisition(path)
    assert data.image(p=1).shape[0] == 3  # three planes at the second position
    assert np.all(data.image(p=1)[2] == 3)


def test_the_run_tells_subscribers_on_the_notification_thread(k: Kernel) -> None:
    seen: list[tuple[str, Any]] = []
    threads: set[str] = set()
    finished = threading.Event()

    def note(kind: str) -> Any:
        def callback(acquisition: Any, *args: Any) -> None:
            threads.add(threading.current_thread().name)
            seen.append((kind, args[0] if args else None))
            if kind == "finished":
                finished.set()

        return callback

    events = k.events
    events.acquisition_started.connect(note("started"))
    events.acquisition_event_started.connect(note("event"))
    events.acquisition_frame_ready.connect(note("frame"))
    events.acquisition_finished.connect(note("finished"))
    seq = useq.MDASequence(z_plan={"range": 1, "step": 1})
    k.acquire(seq).wait(60)
    assert finished.wait(10)
    kinds = [kind for kind, _ in seen]
    assert kinds == ["started", "event", "frame", "event", "frame", "finished"]
    assert seen[-1][1].reason == "completed"
    assert threads == {"mmkernel-events"}


def test_pausing_and_resuming_are_announced_once_each(k: Kernel) -> None:
    paused: list[bool] = []
    k.events.acquisition_paused.connect(lambda acquisition, state: paused.append(state))
    acq = k.acquire(useq.MDASequence(time_plan={"interval": 0.05, "loops": 3}))
    acq.pause()
    acq.pause()  # already paused: nothing more to tell
    acq.resume()
    acq.wait(60)
    k.events.flush()
    assert paused == [True, False]


def test_xy_and_z_on_one_controllers_runner_move_together() -> None:
    """An XY stage and a focus drive of one hub share its runner: an event moving both must
    start both moves before waiting for either (a wait would hold the other move back)."""
    import threading

    from mmkernel_sdk import Camera, Hub, Stage, XYStage

    started = {"xy": threading.Event(), "z": threading.Event()}
    arrive = threading.Event()

    class Box(Hub):
        """A controller driving both stages"""

    class Table(XYStage):
        def set_xy_position(self, x_um: float, y_um: float) -> None:
            self.at = (x_um, y_um)
            started["xy"].set()

        def get_xy_position(self) -> tuple[float, float]:
            return getattr(self, "at", (0.0, 0.0))

        def busy(self) -> bool:
            return not arrive.is_set()

    class Focus(Stage):
        def set_position(self, um: float) -> None:
            self.z = um
            started["z"].set()

        def get_position(self) -> float:
            return getattr(self, "z", 0.0)

        def busy(self) -> bool:
            return not arrive.is_set()

    class Cam(Camera):
        def frame_shape(self) -> tuple[int, int]:
            return (2, 2)

        def frame_dtype(self) -> Any:
            return np.dtype(np.uint8)

        def read_frame(self, out: Any) -> None:
            out[...] = 1

    with Kernel(timeout=10) as k:
        k.load_device("Box", Box())
        k.load_device("XY", Table(), parent="Box")
        k.load_device("Z", Focus(), parent="Box")
        k.load_device("Camera", Cam())
        k.initialize_all()
        for role, label in (("Camera", "Camera"), ("Focus", "Z"), ("XYStage", "XY")):
            k.set_role(role, label)
        acq = k.acquire(useq.MDASequence(stage_positions=[(10.0, 20.0, 5.0)]))
        assert started["xy"].wait(10) and started["z"].wait(10)  # both moves began, neither has arrived
        arrive.set()
        assert acq.wait(30).frames == 1
