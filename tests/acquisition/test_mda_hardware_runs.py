"""pymmcore-plus's MDARunner drives hardware-sequenced runs through MMKernelEngine: consecutive
events a piezo can sequence become one SequencedEvent streamed as one frame per event (each
frameReady with its own event, the pixels taken at its own z), the same images as software
timing; a cancel or a failing camera inside the run stops the piezo's sequence."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("pymmcore_plus", reason="pymmcore-plus is not installed (MMKernelEngine runs under its MDARunner)")
useq = pytest.importorskip("useq")

from pymmcore_plus.core import SequencedEvent  # noqa: E402
from pymmcore_plus.mda import FinishReason, MDARunner  # noqa: E402

from mmkernel_core import Kernel  # noqa: E402
from mmkernel_core.acquisition import MMKernelEngine  # noqa: E402
from tests.support.acquisition import Piezo, Wire, ZCamera, piezo_rig  # noqa: E402

CFG = Path(__file__).parents[2] / "plugins/mmkernel-adapter-demo/mmkernel_adapter_demo/MMConfig_demo.cfg"
Z = [-2.0, -1.0, 0.0, 1.0, 2.0]
WAIT = 30  # s: a generous deadline for what takes milliseconds


@pytest.fixture
def bench() -> Iterator[tuple[Kernel, Wire, Piezo, ZCamera]]:
    """A camera whose exposure-out steps a piezo; the pixels say the z each frame saw."""
    with piezo_rig() as made:
        yield made


def stack() -> Any:
    """Two timepoints of a five-plane z stack: ten frames, nothing but z changes."""
    return useq.MDASequence(z_plan={"range": 4, "step": 1}, time_plan={"interval": 0, "loops": 2}, axis_order="tz")


def recorded(kernel: Kernel, seq: Any) -> tuple[MDARunner, list[Any], list[tuple[Any, Any, dict]]]:
    """Run `seq` on a runner driving MMKernelEngine: the events it started and its frames."""
    runner = MDARunner()
    runner.set_engine(MMKernelEngine(kernel))
    started: list[Any] = []
    frames: list[tuple[Any, Any, dict]] = []
    runner.events.eventStarted.connect(started.append)
    runner.events.frameReady.connect(lambda image, event, meta: frames.append((image, event, meta)))
    runner.run(seq)
    return runner, started, frames


def test_a_z_stack_is_one_triggered_run_with_one_frame_ready_per_plane(bench) -> None:
    k, wire, piezo, camera = bench
    seq = stack()
    runner, started, frames = recorded(k, seq)
    assert runner.status.finish_reason == FinishReason.COMPLETED
    (merged,) = started  # one event for the runner: the whole stack, triggered
    assert isinstance(merged, SequencedEvent) and len(merged.events) == 10
    assert merged.z_sequence == tuple(Z + Z)
    assert piezo.loads == 1 and not wire.armed  # the table loaded once, stopped after the run
    assert camera.streamed == 10  # every frame from the camera's stream, none snapped
    assert [dict(event.index) for _, event, _ in frames] == [dict(e.index) for e in seq]
    for image, event, meta in frames:
        assert image.shape == (4, 4) and (image == 1000 + round(10 * event.z_pos)).all(), "taken at its own z"
        assert meta["hardware_triggered"] and meta["mda_event"] is event
    assert [m["runner_time_ms"] for *_, m in frames] == sorted(m["runner_time_ms"] for *_, m in frames)


def test_the_runners_sink_stores_every_triggered_frame(bench, tmp_path) -> None:
    zarr = pytest.importorskip("zarr")
    k, _, piezo, _ = bench
    runner = MDARunner()
    runner.set_engine(MMKernelEngine(k))
    runner.run(stack(), output=tmp_path / "hw.ome.zarr")
    assert piezo.loads == 1
    array = zarr.open_group(str(tmp_path / "hw.ome.zarr"), mode="r")["0"]  # t, z, y, x
    assert array.shape == (2, 5, 4, 4)
    assert [int(v) for v in array[:, :, 0, 0].ravel()] == [1000 + round(10 * z) for z in Z + Z]


def test_the_same_stack_on_a_piezo_that_cannot_sequence_gives_the_same_frames_in_software(bench) -> None:
    k, _, piezo, camera = bench
    _, _, triggered = recorded(k, stack())
    piezo.set_sequence_max("Position", 0)
    _, started, software = recorded(k, stack())
    assert len(started) == 10 and not any(isinstance(e, SequencedEvent) for e in started)
    assert piezo.loads == 1 and camera.streamed == 10  # nothing loaded or streamed the second time
    assert not any(meta.get("hardware_triggered") for *_, meta in software)
    assert [dict(e.index) for _, e, _ in software] == [dict(e.index) for _, e, _ in triggered]
    for (hw, *_), (sw, *_) in zip(triggered, software, strict=True):
        np.testing.assert_array_equal(hw, sw)


def test_cancel_inside_a_triggered_run_stops_the_stream_and_the_piezo_sequence(bench) -> None:
    k, wire, _, camera = bench
    camera.hold_at = 3  # the camera's fourth frame waits for the gate: the run is live at the cancel
    runner = MDARunner()
    runner.set_engine(MMKernelEngine(k))
    frames, canceled = [], []

    def on_frame(image, event, meta) -> None:
        frames.append(event)
        if len(frames) == 3:
            assert camera.reached.wait(WAIT) and wire.armed  # mid-run: streaming, the table armed
            runner.cancel()
            camera.gate.set()

    runner.events.frameReady.connect(on_frame)
    runner.events.sequenceCanceled.connect(canceled.append)
    runner.run(stack())
    assert runner.status.finish_reason == FinishReason.CANCELED and canceled
    assert len(frames) == 3, "no frame after the cancel"
    assert not wire.armed, "the piezo's sequence was stopped"
    assert not k.is_sequence_running("Camera"), "the camera's stream was stopped"
    assert k.snap().shape == (4, 4), "the camera is free again"


def test_a_pause_inside_a_triggered_run_holds_after_the_run(bench, caplog) -> None:
    k, _, _, _ = bench
    # each timepoint has its own start time: two triggered runs of five planes
    seq = useq.MDASequence(z_plan={"range": 4, "step": 1}, time_plan={"interval": 0.01, "loops": 2}, axis_order="tz")
    runner = MDARunner()
    runner.set_engine(MMKernelEngine(k))
    frames, first_run_done, next_frame, finished = [], threading.Event(), threading.Event(), threading.Event()

    def on_frame(image, event, meta) -> None:
        frames.append(event)
        if len(frames) == 2:
            runner.set_paused(True)  # inside the first run: it goes on to its end
        if len(frames) == 5:
            first_run_done.set()
        if len(frames) == 6:
            next_frame.set()

    runner.events.frameReady.connect(on_frame)
    runner.events.sequenceFinished.connect(lambda seq: finished.set())
    thread = threading.Thread(target=runner.run, args=(seq,), name="test-mda-runner", daemon=True)
    thread.start()
    assert first_run_done.wait(WAIT)
    assert not next_frame.wait(0.5), "no frame of the next run while paused"  # an observation window
    assert runner.is_paused() and len(frames) == 5
    runner.set_paused(False)
    assert finished.wait(WAIT)
    thread.join(WAIT)
    assert len(frames) == 10 and runner.status.finish_reason == FinishReason.COMPLETED
    assert "a pause takes effect after this hardware-sequenced run" in caplog.text


class FailingCamera(ZCamera):
    """A camera whose stream fails at its fourth frame."""

    def read_frame(self, out: np.ndarray) -> dict[str, Any]:
        if self.streamed == 3:
            raise OSError("the camera lost its trigger input")
        return super().read_frame(out)


def test_a_camera_failing_inside_a_triggered_run_is_reported_and_the_sequence_stopped() -> None:
    wire = Wire()
    with Kernel(timeout=10) as k:
        k.load_device("Camera", FailingCamera(wire))
        k.load_device("Z", Piezo(wire))
        k.initialize_all()
        k.set_role("Camera", "Camera")
        k.set_role("Focus", "Z")
        runner = MDARunner()
        runner.set_engine(MMKernelEngine(k))
        frames = []
        runner.events.frameReady.connect(lambda image, event, meta: frames.append(event))
        with pytest.raises(Exception, match="trigger input") as raised:
            runner.run(stack())
        assert any("while streaming events" in note for note in getattr(raised.value, "__notes__", ()))
        assert runner.status.finish_reason == FinishReason.ERRORED and len(frames) == 3
        assert not wire.armed, "the piezo's sequence was stopped"


class ExposureCamera(ZCamera):
    """A camera that steps its exposure per frame too."""

    exposure_sequence_max = 50

    def __init__(self, wire: Wire) -> None:
        super().__init__(wire)
        self.exposures_armed = False
        self.exposure_starts = 0

    def load_exposure_sequence(self, exposures_ms: list[float]) -> None:
        self.exposures = list(exposures_ms)

    def start_exposure_sequence(self) -> None:
        self.exposures_armed, self.exposure_starts = True, self.exposure_starts + 1

    def stop_exposure_sequence(self) -> None:
        self.exposures_armed = False


class JammedPiezo(Piezo):
    """A piezo whose controller refuses to start its table."""

    def start_position_sequence(self) -> None:
        raise OSError("the piezo controller is in local mode")


def test_a_sequence_that_fails_to_start_stops_those_started_and_names_the_event() -> None:
    wire = Wire()
    camera = ExposureCamera(wire)
    with Kernel(timeout=10) as k:
        k.load_device("Camera", camera)
        k.load_device("Z", JammedPiezo(wire))
        k.initialize_all()
        k.set_role("Camera", "Camera")
        k.set_role("Focus", "Z")
        events = [useq.MDAEvent(index={"z": i}, z_pos=z, exposure=10 + i) for i, z in enumerate(Z)]
        runner = MDARunner()
        runner.set_engine(MMKernelEngine(k))
        frames = []
        runner.events.frameReady.connect(lambda image, event, meta: frames.append(event))
        with pytest.raises(Exception, match="local mode") as raised:
            runner.run(events)
        assert any("while setting up event {'z': 0}" in note for note in getattr(raised.value, "__notes__", ()))
        assert runner.status.finish_reason == FinishReason.ERRORED and not frames
        assert camera.exposure_starts == 1 and camera.exposures == [10, 11, 12, 13, 14]
        assert not camera.exposures_armed, "the exposure sequence started before the failure was stopped"
        assert k.snap().shape == (4, 4), "the kernel stays usable"


def test_the_demo_focus_with_use_sequences_runs_a_z_stack_as_one_triggered_run() -> None:
    with Kernel(timeout=10) as k:
        k.load_config(CFG)
        seq = useq.MDASequence(z_plan={"range": 4, "step": 1})
        _, started, frames = recorded(k, seq)
        assert len(started) == 5 and len(frames) == 5  # UseSequences No: every plane in software
        k.set_property(k.roles.focus, "UseSequences", "Yes")
        runner, started, frames = recorded(k, seq)
        assert runner.status.finish_reason == FinishReason.COMPLETED
        (merged,) = started
        assert isinstance(merged, SequencedEvent) and merged.z_sequence == tuple(Z)
        assert [event.z_pos for _, event, _ in frames] == Z
        assert all(image.shape == (512, 512) for image, _, _ in frames)
        assert k.get_position(k.roles.focus) == pytest.approx(2.0)  # where the stepped table ended


def test_a_triggered_z_stack_follows_the_autofocus_correction_in_both_engines(bench) -> None:
    from tests.support.acquisition import FindsFocusHigher

    k, _, piezo, _ = bench
    k.load_device("AF", FindsFocusHigher())  # finds the sample 2 um above where the focus is
    k.initialize("AF")
    k.set_role("AutoFocus", "AF")

    def seq() -> Any:  # a new one per run: useq's autofocus plan remembers the last position it saw
        return useq.MDASequence(stage_positions=[{"z": 0}], z_plan={"range": 2, "step": 1},
                                autofocus_plan={"axes": ("p",)})  # fmt: skip

    _, started, frames = recorded(k, seq())
    assert any(isinstance(e, SequencedEvent) for e in started) and piezo.loads == 1
    assert [int(image[0, 0]) for image, _, _ in frames] == [1010, 1020, 1030]  # planes at 1, 2, 3 um
    k.set_position("Z", 0)
    acq = k.acquire(seq())
    acq.wait(60)
    assert any(run.hardware for run in acq.plan) and piezo.loads == 2
    assert [int(acq.images[(0, 0, 0, z)][0, 0]) for z in range(3)] == [1010, 1020, 1030]
