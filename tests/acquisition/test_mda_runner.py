"""pymmcore-plus's MDARunner drives MMKernel's demo devices through MMKernelEngine: its signals,
cancel and pause, its output sink, and a device failing mid-run."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pymmcore_plus", reason="pymmcore-plus is not installed (MMKernelEngine runs under its MDARunner)")
useq = pytest.importorskip("useq")

from pymmcore_plus.mda import FinishReason, MDARunner  # noqa: E402

from mmkernel_core import DeviceError, Kernel  # noqa: E402
from mmkernel_core.acquisition import MMKernelEngine  # noqa: E402
from mmkernel_sdk import Generic, prop  # noqa: E402

CFG = Path(__file__).parents[2] / "plugins/mmkernel-adapter-demo/mmkernel_adapter_demo/MMConfig_demo.cfg"
WAIT = 30  # s: a generous deadline for what takes milliseconds


@pytest.fixture(scope="module")
def kernel():
    with Kernel(timeout=10) as k:
        k.load_config(CFG)
        yield k


def runner_for(kernel: Kernel) -> MDARunner:
    runner = MDARunner()
    runner.set_engine(MMKernelEngine(kernel))
    return runner


def run_in_thread(runner: MDARunner, sequence) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def main() -> None:
        try:
            runner.run(sequence)
        except BaseException as exc:  # noqa: BLE001 - the test looks at it
            errors.append(exc)

    thread = threading.Thread(target=main, name="test-mda-runner", daemon=True)
    thread.start()
    return thread, errors


SEQUENCE = useq.MDASequence(
    stage_positions=[{"x": 0, "y": 0, "z": 1, "name": "A"}, {"x": 10, "y": 20, "z": 2, "name": "B"}],
    channels=[{"config": "DAPI", "exposure": 2}, {"config": "FITC", "exposure": 3}],
    z_plan={"range": 2, "step": 1},
    axis_order="pcz",
)


def test_runner_applies_every_event_and_emits_each_frame(kernel):
    runner = runner_for(kernel)
    started, frames, finished = [], [], threading.Event()
    caller = threading.current_thread()
    runner.events.sequenceStarted.connect(lambda seq, meta: started.append(meta))
    runner.events.frameReady.connect(
        lambda img, event, meta: frames.append((img, event, meta, threading.current_thread()))
    )
    runner.events.sequenceFinished.connect(lambda seq: finished.set())

    runner.run(SEQUENCE)

    events = list(SEQUENCE)
    assert finished.is_set() and runner.status.finish_reason == FinishReason.COMPLETED
    assert len(frames) == len(events) == 2 * 2 * 3
    assert [dict(f[1].index) for f in frames] == [dict(e.index) for e in events]
    info = started[0]["image_infos"][0]
    for img, event, meta, thread in frames:
        assert img.shape == (info["height"], info["width"]) == (512, 512) and img.dtype == np.dtype(info["dtype"])
        assert meta["exposure_ms"] == event.exposure and meta["camera_device"] == "Camera"
        assert meta["position"]["z"] == pytest.approx(event.z_pos), "the frame was taken where the event said"
        assert (meta["position"]["x"], meta["position"]["y"]) == pytest.approx((event.x_pos, event.y_pos))
        assert {v["dev"]: v["val"] for v in meta["property_values"]}["Emission"] == (
            "Chroma-HQ620" if event.channel.config == "DAPI" else "Chroma-HQ535"
        )
        assert thread is caller, "handlers run on the thread that called run(), never on a kernel thread"
    assert [m["runner_time_ms"] for *_, m, _ in frames] == sorted(m["runner_time_ms"] for *_, m, _ in frames)
    assert kernel.get_position("Z") == pytest.approx(events[-1].z_pos)
    assert kernel.get_xy_position("XY") == pytest.approx((10, 20))
    assert kernel.current_config("Channel") == "FITC" and kernel.get_property("Emission", "Label") == "Chroma-HQ535"
    assert float(kernel.get_property("Camera", "Exposure")) == 3


def test_runner_output_path_stores_the_frames_it_emitted(kernel, tmp_path):
    zarr = pytest.importorskip("zarr")
    yaozarrs = pytest.importorskip("yaozarrs")
    seq = useq.MDASequence(channels=["DAPI", "FITC"], z_plan={"range": 1, "step": 1})  # c, z: one image
    runner = runner_for(kernel)
    frames = {}
    runner.events.frameReady.connect(
        lambda img, event, meta: frames.update({(event.index["c"], event.index["z"]): img})
    )
    out = tmp_path / "run.ome.zarr"
    runner.run(seq, output=out)
    yaozarrs.validate_zarr_store(str(out))
    array = zarr.open_group(str(out), mode="r")["0"]  # pymmcore-plus's sink: one image, c, z, y, x
    assert array.shape == (2, 2, 512, 512) and len(frames) == 4
    for (c, z), img in frames.items():
        np.testing.assert_array_equal(array[c, z], img)


def test_grid_without_field_of_view_steps_by_the_camera_frame(kernel):
    seq = useq.MDASequence(stage_positions=[(0, 0)], grid_plan={"rows": 1, "columns": 2})
    runner = runner_for(kernel)
    xs = []
    runner.events.frameReady.connect(lambda img, event, meta: xs.append(meta["position"]["x"]))
    runner.run(seq)
    assert xs[1] - xs[0] == pytest.approx(512 * (kernel.pixel_size_um() or 1.0))


def test_cancel_stops_at_the_event_boundary(kernel):
    seq = useq.MDASequence(time_plan={"interval": 0, "loops": 50})
    runner = runner_for(kernel)
    first, cancel_sent, finished, canceled = threading.Event(), threading.Event(), threading.Event(), threading.Event()
    frames = []

    def on_frame(img, event, meta) -> None:
        frames.append(event)
        first.set()
        assert cancel_sent.wait(WAIT)  # hold the runner in its first frame until cancel is asked

    runner.events.frameReady.connect(on_frame)
    runner.events.sequenceCanceled.connect(lambda seq: canceled.set())
    runner.events.sequenceFinished.connect(lambda seq: finished.set())
    thread, errors = run_in_thread(runner, seq)
    assert first.wait(WAIT)
    runner.cancel()
    cancel_sent.set()
    thread.join(WAIT)
    assert not thread.is_alive() and not errors
    assert canceled.is_set() and finished.is_set() and runner.status.finish_reason == FinishReason.CANCELED
    assert len(frames) == 1, "no event starts after cancel"
    assert kernel.snap().shape == (512, 512), "the kernel is free again"


def test_pause_holds_until_resumed(kernel):
    seq = useq.MDASequence(time_plan={"interval": 0, "loops": 5})
    runner = MDARunner()
    runner.set_engine(MMKernelEngine(kernel, hardware_sequencing=False))  # a hardware run pauses at its end
    second, pause_sent, finished = threading.Event(), threading.Event(), threading.Event()
    third = threading.Event()
    frames, toggles = [], []

    def on_frame(img, event, meta) -> None:
        frames.append(event)
        if len(frames) == 2:
            second.set()
            assert pause_sent.wait(WAIT)  # hold the runner in its second frame until the pause is asked
        if len(frames) == 3:
            third.set()

    runner.events.frameReady.connect(on_frame)
    runner.events.sequencePauseToggled.connect(toggles.append)
    runner.events.sequenceFinished.connect(lambda seq: finished.set())
    thread, errors = run_in_thread(runner, seq)
    assert second.wait(WAIT)
    runner.set_paused(True)
    pause_sent.set()
    assert not third.wait(0.5), "no frame while paused"  # an observation window, not a synchronisation
    assert len(frames) == 2 and runner.is_running()
    runner.set_paused(False)
    assert finished.wait(WAIT)
    thread.join(WAIT)
    assert not errors and len(frames) == 5 and toggles == [True, False]
    assert runner.status.finish_reason == FinishReason.COMPLETED


class Lamp(Generic):
    """A lamp controller that refuses one of its modes (a device error mid-run)."""

    Mode = prop(str, default="dim", allowed=["dim", "bright", "broken"])

    @Mode.setter
    def Mode(self, value: str) -> None:
        if value == "broken":
            raise OSError(f"the lamp controller refused mode {value!r}")


def test_a_device_error_mid_run_is_reported_and_the_kernel_stays_usable(tmp_path):
    with Kernel(timeout=10) as kernel:
        kernel.load_config(CFG)
        kernel.load_device("Lamp", Lamp())
        kernel.initialize("Lamp")
        kernel.define_config("Lamp", "Dim", "Lamp", "Mode", "dim")
        kernel.define_config("Lamp", "Broken", "Lamp", "Mode", "broken")
        seq = useq.MDASequence(
            channels=[{"group": "Lamp", "config": "Dim"}, {"group": "Lamp", "config": "Broken"}],
            time_plan={"interval": 0, "loops": 2},
        )
        runner = runner_for(kernel)
        frames, finished = [], threading.Event()
        runner.events.frameReady.connect(lambda img, event, meta: frames.append(event))
        runner.events.sequenceFinished.connect(lambda seq: finished.set())

        with pytest.raises(DeviceError, match="Lamp") as raised:
            runner.run(seq)

        assert "broken" in str(raised.value) and "refused" in str(raised.value)
        assert any("{'t': 0, 'c': 1}" in note for note in raised.value.__notes__), "the note names the event"
        assert finished.is_set() and runner.status.finish_reason == FinishReason.ERRORED
        assert [dict(e.index) for e in frames] == [{"t": 0, "c": 0}]
        assert kernel.snap().shape == (512, 512)
        kernel.set_config("Lamp", "Dim")
        ok = useq.MDASequence(channels=[{"group": "Lamp", "config": "Dim"}], time_plan={"interval": 0, "loops": 2})
        runner.run(ok)
        assert runner.status.finish_reason == FinishReason.COMPLETED and len(frames) == 3


def test_importing_the_kernel_does_not_import_pymmcore_plus():
    code = "import sys, mmkernel_core, mmkernel_core.acquisition; print('pymmcore_plus' in sys.modules)"
    root = Path(__file__).parents[2]
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True)
    assert done.stdout.strip() == "False"


def test_the_runner_gets_autofocus_corrections_and_a_shutter_held_open_across_z() -> None:
    from tests.support.acquisition import instant_rig

    with instant_rig() as (k, devices):
        zs: list[float] = []
        runner = runner_for(k)
        runner.events.frameReady.connect(lambda image, event, meta: zs.append(meta["position"]["z"]))
        seq = useq.MDASequence(stage_positions=[(0, 0, 0)], z_plan={"range": 2, "step": 1},
                               autofocus_plan={"axes": ("p",)}, keep_shutter_open_across="z")  # fmt: skip
        runner.run(seq)
        assert zs == [1.0, 2.0, 3.0]  # each plane 2 um above the plan: what the autofocus found
        assert devices["Shutter"].calls == [True, False]  # one opening for the stack, closed after it
