"""Hardware-sequenced acquisitions: consecutive events whose changes every device can sequence
run as one triggered stream (frame k taken at value k), giving the same dataset a software run
gives; the plan says why the other events run in software; cancel stops within a frame."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

useq = pytest.importorskip("useq")

from mmkernel_core import Kernel  # noqa: E402
from mmkernel_core.acquisition import open_acquisition  # noqa: E402
from mmkernel_sdk import Camera, Stage  # noqa: E402

CFG = Path(__file__).parents[2] / "plugins/mmkernel-adapter-demo/mmkernel_adapter_demo/MMConfig_demo.cfg"


class Wire:
    """The camera's exposure-out TTL to the piezo: stepped once per streamed frame."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.table: list[float] = []
        self.armed = False
        self.at = 0
        self.z = 0.0

    def pulse(self) -> None:
        with self.lock:
            if self.armed and self.at + 1 < len(self.table):
                self.at += 1
                self.z = self.table[self.at]


class Piezo(Stage):
    """A focus drive that runs a table of positions, one step per camera frame"""

    position_sequence_max = 50

    def __init__(self, wire: Wire) -> None:
        self.wire = wire
        self.loads = 0

    def set_position(self, um: float) -> None:
        with self.wire.lock:
            self.wire.z = um

    def get_position(self) -> float:
        with self.wire.lock:
            return self.wire.z

    def load_position_sequence(self, positions: list[float]) -> None:
        with self.wire.lock:
            self.wire.table, self.loads = list(positions), self.loads + 1

    def start_position_sequence(self) -> None:
        with self.wire.lock:
            self.wire.armed, self.wire.at = True, 0
            self.wire.z = self.wire.table[0]

    def stop_position_sequence(self) -> None:
        with self.wire.lock:
            self.wire.armed = False


class ZCamera(Camera):
    """Each frame's pixels are the focus position it was exposed at (x10); streamed frames
    step the piezo after their exposure. `hold_at` makes one frame wait for `gate`."""

    def __init__(self, wire: Wire) -> None:
        self.wire = wire
        self.hold_at: int | None = None
        self.gate = threading.Event()
        self.reached = threading.Event()
        self.streamed = 0

    def frame_shape(self) -> tuple[int, int]:
        return (4, 4)

    def frame_dtype(self) -> np.dtype:
        return np.dtype(np.uint16)

    def snap(self, out: np.ndarray) -> dict[str, Any]:
        with self.wire.lock:
            out[...] = round(self.wire.z * 10) + 1000
        return {}

    def start_sequence(self, count: int | None, interval_ms: float) -> None:
        self.streamed = 0

    def read_frame(self, out: np.ndarray) -> dict[str, Any]:
        """A streamed frame: exposed, then its exposure-out steps the piezo."""
        if self.hold_at is not None and self.streamed == self.hold_at:
            self.reached.set()
            self.gate.wait(10)
        meta = self.snap(out)
        self.streamed += 1
        self.wire.pulse()
        return meta


@pytest.fixture
def rig() -> Iterator[tuple[Kernel, Wire, Piezo, ZCamera]]:
    wire = Wire()
    piezo, camera = Piezo(wire), ZCamera(wire)
    with Kernel(timeout=10) as k:
        k.load_device("Camera", camera)
        k.load_device("Z", piezo)
        k.initialize_all()
        k.set_role("Camera", "Camera")
        k.set_role("Focus", "Z")
        yield k, wire, piezo, camera


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
