"""format="ome-tiff": one OME-TIFF file whose images map every (t, c, z) plane to the page it
was written on, so it reads back in the OME-Zarr dataset's dimension order whatever order the
events ran in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

useq = pytest.importorskip("useq")
tifffile = pytest.importorskip("tifffile")

from mmkernel_core import Kernel  # noqa: E402
from mmkernel_core.acquisition import open_acquisition  # noqa: E402
from mmkernel_sdk import Camera  # noqa: E402
from mmkernel_sdk.testing import SimStage, SimWheel, SimXYStage  # noqa: E402


class Counter(Camera):
    """Each frame's pixels are its number: the table says which event it was."""

    def __init__(self) -> None:
        self.count = 0

    def frame_shape(self) -> tuple[int, int]:
        return (3, 5)

    def frame_dtype(self) -> np.dtype:
        return np.dtype(np.uint16)

    def read_frame(self, out: np.ndarray) -> None:
        out[...] = self.count
        self.count += 1


@pytest.fixture
def k():
    with Kernel(timeout=10) as kernel:
        for label, device in (("Camera", Counter()), ("Z", SimStage()), ("XY", SimXYStage()), ("Filter", SimWheel())):
            kernel.load_device(label, device)
        kernel.initialize_all()
        for role, label in (("Camera", "Camera"), ("Focus", "Z"), ("XYStage", "XY")):
            kernel.set_role(role, label)
        for position, name in enumerate(("DAPI", "FITC")):
            kernel.define_state_label("Filter", position, name)
            kernel.define_config("Channel", name, "Filter", "Label", name)
        yield kernel


# channels innermost: the frames do not come in t, c, z order
SEQ = useq.MDASequence(stage_positions=[(0, 0, 0), (5, 5, 0)], channels=["DAPI", "FITC"],
                       z_plan={"range": 2, "step": 1}, time_plan={"interval": 0, "loops": 2},
                       axis_order="tpzc")  # fmt: skip


@pytest.mark.parametrize(("fmt", "name"), [("ome-tiff", "run.ome.tiff"), ("ome-zarr", "run.ome.zarr")])
def test_every_plane_is_where_its_event_put_it_in_both_formats(k: Kernel, tmp_path: Path, fmt: str, name: str) -> None:
    out = tmp_path / name
    assert k.acquire(SEQ, out, format=fmt).wait(60).frames == 24
    data = open_acquisition(out)
    assert data.finished == "completed" and len(data.frames) == 24
    for number, row in enumerate(data.frames):
        plane = np.asarray(data.image(row["p"]))
        at = (row["t"], row["c"], row["z"])
        assert np.all(plane[at] == number), (row, plane[at][0, 0])


def test_the_ome_tiff_is_ome_with_one_image_per_position_named_and_sized(k: Kernel, tmp_path: Path) -> None:
    out = tmp_path / "run.ome.tiff"
    k.acquire(SEQ, out, format="ome-tiff", metadata={"sample": "HeLa"}).wait(60)
    with tifffile.TiffFile(out) as tif:
        assert tif.is_ome and [s.shape for s in tif.series] == [(2, 2, 3, 3, 5)] * 2
        assert 'Name="DAPI" SamplesPerPixel="1" Color="65535"' in tif.ome_metadata  # blue, opaque
        assert 'Name="FITC" SamplesPerPixel="1" Color="16711935"' in tif.ome_metadata  # green
    data = open_acquisition(out)
    assert data.names == ["p0", "p1"] and data.metadata == {"sample": "HeLa"}
    assert useq.MDASequence.model_validate(data.sequence) == SEQ
    assert [f.name for f in tmp_path.iterdir()] == ["run.ome.tiff"]  # one file: the table is in its OME-XML
    assert len(data.frames) == 24


def test_an_unknown_format_is_refused_naming_the_ones_allowed(k: Kernel, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="format 'tiff' is not supported; allowed: 'ome-zarr', 'ome-tiff'"):
        k.acquire(SEQ, tmp_path / "x.tif", format="tiff")
    assert not (tmp_path / "x.tif").exists()
