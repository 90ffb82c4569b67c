"""Pause, resume and cancel from other threads at any moment: a cancelled run always ends
(`wait()` returns), and no frame is stored twice or lost, in software and hardware runs."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

useq = pytest.importorskip("useq")

from mmkernel_core.acquisition import open_acquisition  # noqa: E402
from mmkernel_core.acquisition._dataset import DatasetWriter  # noqa: E402
from tests.support.acquisition import instant_rig, piezo_rig  # noqa: E402
from tests.support.frame_buffers import wait_until  # noqa: E402


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Threads switch as often as Python allows: races show in a few tries."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def _long_run() -> Any:
    return useq.MDASequence(time_plan={"interval": 0, "loops": 100_000})


def test_a_pause_after_cancel_does_not_hold_the_run_and_wait_returns() -> None:
    with instant_rig() as (k, _):
        acq = k.acquire(_long_run(), hardware_sequencing=False)
        acq.cancel()
        acq.pause()  # too late: the run is ending
        result = acq.wait(30)
        assert result.reason == "cancelled" and not acq.paused


def _stack(planes: int) -> Any:
    return useq.MDASequence(z_plan={"range": planes - 1, "step": 1}, time_plan={"interval": 0, "loops": 2},
                            axis_order="tz")  # fmt: skip


def _hammer(acq: Any, stop: threading.Event) -> threading.Thread:
    """Pauses and resumes `acq` as fast as it can until `stop`, then leaves it running."""

    def run() -> None:
        while not stop.is_set() and not acq.ended(0):
            acq.pause()
            acq.resume()
        acq.resume()

    thread = threading.Thread(target=run, name="hammer")
    thread.start()
    return thread


@pytest.mark.parametrize("kept", [False, True], ids=["dataset", "in-memory"])
def test_pauses_and_resumes_hammered_inside_a_hardware_run_store_every_frame_once_at_its_own_z(
    fast_switching: None, tmp_path: Path, kept: bool
) -> None:
    expected = [1000 + 10 * z for z in (-2, -1, 0, 1, 2)]
    with piezo_rig() as (k, wire, _, _):
        for attempt in range(5):
            path = None if kept else tmp_path / f"run{attempt}.ome.zarr"
            acq = k.acquire(_stack(5), path)
            stop = threading.Event()
            hammer = _hammer(acq, stop)
            try:
                result = acq.wait(60)
            finally:
                stop.set()
                hammer.join(30)
            assert result.reason == "completed" and result.frames == 10 and not wire.armed
            if kept:
                planes = {key: int(image[0, 0]) for key, image in acq.images.items()}
                assert planes == {(0, t, 0, z): expected[z] for t in range(2) for z in range(5)}
            else:
                dataset = open_acquisition(path)
                assert [row["event"] for row in dataset.frames] == list(range(10))
                assert [list(dataset.image(0)[t, :, 0, 0]) for t in range(2)] == [expected, expected]


def test_pause_and_cancel_together_inside_a_hardware_run_always_end_the_run(
    fast_switching: None, tmp_path: Path
) -> None:
    with piezo_rig() as (k, wire, _, camera):
        for attempt in range(10):
            camera.hold_at, camera.reached, camera.gate = 2 + attempt % 3, threading.Event(), threading.Event()
            path = tmp_path / f"run{attempt}.ome.zarr"
            acq = k.acquire(_stack(20), path)
            assert camera.reached.wait(30)
            start = threading.Barrier(2)
            both = [threading.Thread(target=lambda f=f, s=start: (s.wait(), f())) for f in (acq.pause, acq.cancel)]
            for thread in both:
                thread.start()
            camera.gate.set()
            for thread in both:
                thread.join(30)
            result = acq.wait(30)
            assert result.reason == "cancelled" and not wire.armed
            rows = [row["event"] for row in open_acquisition(path).frames]
            assert rows == list(range(len(rows))) and len(rows) == result.frames


def test_an_event_cancelled_while_it_waits_for_its_start_time_is_not_counted_done() -> None:
    with instant_rig() as (k, _):
        acq = k.acquire(useq.MDASequence(time_plan={"interval": 30, "loops": 3}))
        wait_until(lambda: acq.progress.frames == 1, 30)  # the second event now waits 30 s to start
        acq.cancel()
        result = acq.wait(30)
        assert result.reason == "cancelled" and result.frames == 1
        assert acq.progress.events_done == 1, "the second event never ran"


def test_a_pause_at_the_last_frame_of_a_hardware_run_completes_it_and_leaves_it_not_paused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = threading.Event(), threading.Event()
    original = DatasetWriter.write

    def write(writer: Any, place: int, index: dict[str, int], *args: Any) -> None:
        if index == {"t": 1, "z": 3}:  # the ninth frame: the engine then waits with the last one
            entered.set()
            assert release.wait(30), "the test never released the writer"
        original(writer, place, index, *args)

    monkeypatch.setattr(DatasetWriter, "write", write)
    with piezo_rig() as (k, wire, piezo, _):
        paused: list[bool] = []
        k.events.acquisition_paused.connect(lambda acq, state: paused.append(state))
        acq = k.acquire(_stack(5), tmp_path / "run.ome.zarr", writer_options={"handoff_bytes": 0})
        assert entered.wait(30)
        wait_until(lambda: acq.progress.writer_behind, 30)  # the engine holds the run's last frame
        acq.pause()
        release.set()
        result = acq.wait(30)
        assert result.reason == "completed" and result.frames == 10 and piezo.loads == 1 and not wire.armed
        assert [row["event"] for row in open_acquisition(tmp_path / "run.ome.zarr").frames] == list(range(10))
        assert not acq.paused, "an ended run is not paused"
        k.events.flush()
        assert paused == [True, False]  # subscribers see the pause end with the run
