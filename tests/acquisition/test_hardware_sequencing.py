"""Hardware-sequenced acquisitions: consecutive events whose changes every device can sequence
run as one triggered stream (frame k taken at value k), giving the same dataset a software run
gives; the plan says why the other events run in software; cancel stops within a frame."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

useq = pytest.importorskip("useq")

from mmkernel_core import Kernel  # noqa: E402
from mmkernel_core.acquisition import open_acquisition  # noqa: E402
from tests.support.acquisition import Piezo, Wire, ZCamera, piezo_rig  # noqa: E402
from tests.support.frame_buffers import wait_until  # noqa: E402

CFG = Path(__file__).parents[2] / "plugins/mmkernel-adapter-demo/mmkernel_adapter_demo/MMConfig_demo.cfg"


@pytest.fixture
def rig() -> Iterator[tuple[Kernel, Wire, Piezo, ZCamera]]:
    with piezo_rig() as made:
        yield made


def _stack(planes: int) -> Any:
    return useq.MDASequence(z_plan={"range": planes - 1, "step": 1}, time_plan={"interval": 0, "loops": 2},
                            axis_order="tz")  # fmt: skip


def test_a_z_stack_on_a_sequenceable_focus_is_one_triggered_run_and_gives_the_software_runs_dataset(
    rig: tuple[Kernel, Wire, Piezo, ZCamera], tmp_path: Path
) -> None:
    k, wire, piezo, _ = rig
    seq = _stack(5)
    acq = k.acquire(seq, tmp_path / "hw.ome.zarr")
    acq.wait(60)
    assert [run.hardware for run in acq.plan] == [True]  # ten frames, one stream
    assert piezo.loads == 1 and not wire.armed  # loaded once, stopped after the run
    k.acquire(seq, tmp_path / "sw.ome.zarr", hardware_sequencing=False).wait(60)
    hardware, software = open_acquisition(tmp_path / "hw.ome.zarr"), open_acquisition(tmp_path / "sw.ome.zarr")
    assert np.array_equal(hardware.image(0)[:], software.image(0)[:])
    planes = hardware.image(0)[0, :, 0, 0]  # t=0: each plane exposed at its own z
    assert list(planes) == [1000 + 10 * z for z in (-2, -1, 0, 1, 2)]
    assert all(row["hardware_sequenced"] for row in hardware.frames)
    assert not any(row["hardware_sequenced"] for row in software.frames)


def test_the_plan_says_why_events_run_in_software(rig: tuple[Kernel, Wire, Piezo, ZCamera]) -> None:
    k, _, piezo, _ = rig
    too_long = k.acquire(_stack(60), hardware_sequencing=True)
    too_long.cancel()
    too_long.wait(60)
    first = too_long.plan[0]
    assert first.hardware and len(first.events) == 50 and first.reason == "Z sequences at most 50 values of Position"
    assert "hardware-sequenced, 50 frames (Z.Position); ends: Z sequences at most 50" in first.describe()
    piezo.set_sequence_max("Position", 0)  # as a setting that switches the controller's tables off
    try:
        flat = k.acquire(_stack(3))
        flat.wait(60)
        assert {run.reason for run in flat.plan} == {"Z cannot sequence Position", ""}
        assert "software (Z cannot sequence Position)" in flat.plan[0].describe()
    finally:
        piezo.set_sequence_max("Position", 50)
    spaced = k.acquire(useq.MDASequence(time_plan={"interval": 0.01, "loops": 3}))
    spaced.wait(60)
    assert "the next event has its own start time" in {run.reason for run in spaced.plan}
    off = k.acquire(_stack(3), hardware_sequencing=False)
    off.wait(60)
    assert not any(run.hardware for run in off.plan) and "hardware sequencing is off" in off.plan[0].reason


def test_cancel_inside_a_hardware_run_stops_within_a_frame_and_stops_the_sequence(
    rig: tuple[Kernel, Wire, Piezo, ZCamera], tmp_path: Path
) -> None:
    k, wire, _, camera = rig
    camera.hold_at = 3
    acq = k.acquire(_stack(20), tmp_path / "cut.ome.zarr")
    assert camera.reached.wait(30)
    acq.cancel()
    camera.gate.set()
    result = acq.wait(60)
    assert result.reason == "cancelled" and 1 <= result.frames <= 5  # of 40: it stopped at the held frame
    assert not wire.armed
    assert len(open_acquisition(tmp_path / "cut.ome.zarr").frames) == result.frames


def test_the_demo_focus_sequences_a_z_stack_once_use_sequences_is_on(tmp_path: Path) -> None:
    with Kernel(timeout=10) as k:
        k.load_config(CFG)
        seq = useq.MDASequence(z_plan={"range": 4, "step": 1})
        plain = k.acquire(seq)
        plain.wait(60)
        assert not any(run.hardware for run in plain.plan)  # UseSequences is No: every plane in software
        k.set_property(k.roles.focus, "UseSequences", "Yes")
        acq = k.acquire(seq, tmp_path / "demo.ome.zarr")
        assert acq.wait(60).frames == 5
        assert [run.hardware for run in acq.plan] == [True]
        assert k.get_position(k.roles.focus) == pytest.approx(2.0)  # where the stepped table ended


def test_a_pause_inside_a_hardware_run_stops_the_stream_and_resume_goes_on_where_it_stopped(
    rig: tuple[Kernel, Wire, Piezo, ZCamera], tmp_path: Path
) -> None:
    k, wire, piezo, camera = rig
    camera.hold_at = 3
    seq = _stack(20)  # 40 events, one triggered run
    acq = k.acquire(seq, tmp_path / "paused.ome.zarr")
    assert camera.reached.wait(30)
    acq.pause()
    camera.hold_at = None
    camera.gate.set()
    wait_until(lambda: not wire.armed, 30)  # the pause stopped the run's sequence, not its end
    held = acq.progress.frames
    assert 1 <= held < 40 and acq.paused and not acq.ended(0.2)  # an observation window
    assert acq.progress.frames == held, "no frame while paused"
    acq.resume()
    result = acq.wait(60)
    assert result.reason == "completed" and result.frames == 40
    assert piezo.loads == 2  # the rest of the run loaded again from the first event not taken
    k.acquire(seq, tmp_path / "sw.ome.zarr", hardware_sequencing=False).wait(60)
    paused, software = open_acquisition(tmp_path / "paused.ome.zarr"), open_acquisition(tmp_path / "sw.ome.zarr")
    assert np.array_equal(paused.image(0)[:], software.image(0)[:])  # every plane at its own z, none twice
    assert [row["event"] for row in paused.frames] == list(range(40))
