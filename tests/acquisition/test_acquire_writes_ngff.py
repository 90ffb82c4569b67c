"""kernel.acquire runs a useq sequence on the demo devices and writes one valid NGFF 0.5 store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

useq = pytest.importorskip("useq")
yaozarrs = pytest.importorskip("yaozarrs")
zarr = pytest.importorskip("zarr")

from mmkernel_core import Kernel  # noqa: E402
from mmkernel_core.acquisition import open_acquisition  # noqa: E402

CFG = Path(__file__).parents[2] / "plugins/mmkernel-adapter-demo/mmkernel_adapter_demo/MMConfig_demo.cfg"


@pytest.fixture(scope="module")
def kernel():
    with Kernel(timeout=10) as k:
        k.load_config(CFG)
        yield k


def test_tcz_per_position_dataset_validates_and_reads_with_plain_zarr(kernel, tmp_path):
    seq = useq.MDASequence(
        stage_positions=[{"x": 0, "y": 0, "z": 1, "name": "A"}, {"x": 10, "y": 20, "z": 2, "name": "B"}],
        channels=[{"config": "DAPI", "exposure": 1}, {"config": "FITC", "exposure": 2}],
        z_plan={"range": 2, "step": 1},
        time_plan={"interval": 0, "loops": 2},
    )
    out = tmp_path / "run.ome.zarr"
    result = kernel.acquire(seq, out).wait(60)
    assert result.reason == "completed" and result.frames == 2 * 2 * 2 * 3
    yaozarrs.validate_zarr_store(str(out))
    plain = zarr.open_group(str(out), mode="r")
    assert plain["1"]["0"].shape[:3] == (2, 2, 3)
    data = open_acquisition(out)
    assert data.image(p="B")[1, 1, 2].shape == (512, 512)
    assert np.any(data.image(p="A")[0, 0, 0])
    assert len(data.frames) == 24 and data.frames[-1]["channel"] == "FITC"
    assert useq.MDASequence.model_validate(data.sequence) == seq
    channels = plain["0"].attrs["ome"]["omero"]["channels"]
    assert [(c["label"], c["color"]) for c in channels] == [("DAPI", "0000FF"), ("FITC", "00FF00")]


def test_grid_plan_gives_one_image_per_tile(kernel, tmp_path):
    seq = useq.MDASequence(stage_positions=[(0, 0)], grid_plan={"rows": 1, "columns": 2})
    out = tmp_path / "grid.ome.zarr"
    kernel.acquire(seq, out).wait(60)
    data = open_acquisition(out)
    assert len(data.series) == 2
    xs = [f["x_um"] for f in data.frames]
    assert xs[1] - xs[0] == pytest.approx(512 * kernel.pixel_size_um())
    assert seq.grid_plan.fov_width is None, "the caller's sequence is theirs: acquire works on a copy"


def test_a_grid_steps_by_the_frames_footprint_through_the_pixel_size_affine(tmp_path):
    """A camera mounted rotated by 90 degrees: its frame's height lies along the stage's x."""
    rotated = "PixelSize_um,Res10x,1.0\nPixelSizeAffine,Res10x,0,1,0,-1,0,0"
    text = CFG.read_text().replace("PixelSize_um,Res10x,1.0", rotated)
    (tmp_path / "rotated.cfg").write_text(text)
    with Kernel(timeout=10) as k:
        assert k.pixel_size_affine() == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)  # no resolution matches: the identity
        k.load_config(tmp_path / "rotated.cfg")
        assert k.pixel_size_affine() == (0.0, 1.0, 0.0, -1.0, 0.0, 0.0)
        k.set_property(k.roles.camera, "OnCameraCCDYSize", 256)  # 512 wide, 256 high
        seq = useq.MDASequence(stage_positions=[(0, 0)], grid_plan={"rows": 2, "columns": 2})
        acq = k.acquire(seq)
        acq.wait(60)
        xs = sorted({event.x_pos for event in acq.events})
        ys = sorted({event.y_pos for event in acq.events})
        assert xs[1] - xs[0] == pytest.approx(256) and ys[1] - ys[0] == pytest.approx(512)


def test_cancel_finalizes_the_dataset(kernel, tmp_path):
    seq = useq.MDASequence(time_plan={"interval": 0.5, "loops": 50})
    out = tmp_path / "cancel.ome.zarr"
    acq = kernel.acquire(seq, out)
    acq.cancel()
    assert acq.wait(60).reason == "cancelled"
    assert open_acquisition(out).finished == "cancelled"
    yaozarrs.validate_zarr_store(str(out))


def test_pause_holds_then_resume_completes(kernel):
    seq = useq.MDASequence(time_plan={"interval": 0.01, "loops": 200})  # at least 2 s of events
    acq = kernel.acquire(seq)
    acq.pause()
    assert acq.paused
    held_at = acq.progress.events_done
    assert not acq.ended(0.5), "a paused run does not go on to the end"  # an observation window
    assert acq.progress.events_done <= held_at + 1  # at most the event in progress completed
    acq.resume()
    result = acq.wait(60)
    assert result.reason == "completed" and len(acq.images) == 200


def test_a_failing_event_is_named(kernel, tmp_path):
    seq = useq.MDASequence(channels=["NoSuchPreset"])
    with pytest.raises(Exception, match="event 0"):
        kernel.acquire(seq, tmp_path / "bad.ome.zarr").wait(60)
    assert open_acquisition(tmp_path / "bad.ome.zarr").finished == "failed"


def test_each_frame_is_taken_after_the_events_stage_and_channel_have_settled():
    from mmkernel_sdk import Camera, StateDevice
    from mmkernel_sdk.testing import SimShutter, SimStage, SimXYStage

    class SlowWheel(StateDevice):
        num_positions = 4

        def __init__(self) -> None:
            self.arrive = 0.0

        def set_state(self, position: int) -> None:
            import time

            self.position, self.arrive = position, time.monotonic() + 0.02

        def get_state(self) -> int:
            return getattr(self, "position", 0)

        def busy(self) -> bool:
            import time

            return time.monotonic() < self.arrive

    seen: list[tuple[float, int, bool]] = []

    class Witness(Camera):
        """Records, at each exposure, where the focus and the wheel are and whether either still moves."""

        def frame_shape(self) -> tuple[int, int]:
            return (8, 8)

        def frame_dtype(self) -> np.dtype:
            return np.dtype(np.uint16)

        def read_frame(self, out: np.ndarray) -> None:
            k = self.kernel
            moving = k.busy("Z") or k.busy("Filter")
            seen.append((k.get_position("Z"), k.get_state("Filter"), moving))
            out[...] = 1

    with Kernel(timeout=10) as k:
        for label, device in (("Camera", Witness()), ("Z", SimStage(move_s=0.02)), ("XY", SimXYStage(move_s=0.02)),
                              ("Shutter", SimShutter()), ("Filter", SlowWheel())):  # fmt: skip
            k.load_device(label, device)
        k.initialize_all()
        for role, label in (("Camera", "Camera"), ("Focus", "Z"), ("XYStage", "XY"), ("Shutter", "Shutter")):
            k.set_role(role, label)
        for position, name in enumerate(("DAPI", "FITC")):
            k.define_state_label("Filter", position, name)
            k.define_config("Channel", name, "Filter", "Label", name)
        seq = useq.MDASequence(channels=["DAPI", "FITC"], z_plan={"range": 2, "step": 1}, axis_order="tcz")
        k.acquire(seq).wait(60)
    expected = [(e.z_pos, 0 if e.channel.config == "DAPI" else 1, False) for e in seq]
    assert seen == expected


def test_a_well_plate_is_written_as_an_ngff_plate_of_wells_and_fields(kernel, tmp_path):
    fields = useq.GridRowsColumns(rows=1, columns=2, fov_width=10, fov_height=10)
    plan = useq.WellPlatePlan(plate="96-well", a1_center_xy=(0, 0), selected_wells=([0, 1], [0, 2]),
                              well_points_plan=fields)  # fmt: skip
    seq = useq.MDASequence(stage_positions=plan, channels=["DAPI"])
    out = tmp_path / "plate.ome.zarr"
    assert kernel.acquire(seq, out).wait(60).frames == 4
    yaozarrs.validate_zarr_store(str(out))
    plain = zarr.open_group(str(out), mode="r")
    plate = plain.attrs["ome"]["plate"]
    assert [w["path"] for w in plate["wells"]] == ["A/1", "B/3"] and plate["field_count"] == 2
    assert len(plate["rows"]) == 8 and len(plate["columns"]) == 12
    assert [i["path"] for i in plain["B/3"].attrs["ome"]["well"]["images"]] == ["0", "1"]
    assert plain["B/3/1/0"].shape == (1, 512, 512)  # c, y, x of the second field of well B3
    data = open_acquisition(out)
    assert data.image(p="B3_0001").shape == (1, 512, 512) and np.any(data.image(p="B/3/1")[0])
