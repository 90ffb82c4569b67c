"""A camera whose frame format changes during a run (an adaptive run changes the ROI, binning
or pixel type between events): the dataset never holds a cut-down frame, and the run fails
with an error naming the event and what no longer fits, both formats, the frames before kept."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

useq = pytest.importorskip("useq")
pytest.importorskip("tifffile")

from mmkernel_core import Kernel  # noqa: E402
from mmkernel_core.acquisition import open_acquisition  # noqa: E402
from mmkernel_sdk import Camera  # noqa: E402

FORMATS = [("ome-zarr", "run.ome.zarr"), ("ome-tiff", "run.ome.tiff")]


class Switchable(Camera):
    """Frames of `shape` and `dtype`, as the test sets them; every pixel is 1000."""

    def __init__(self) -> None:
        self.shape: tuple[int, int] = (4, 4)
        self.dtype = np.dtype(np.uint8)

    def frame_shape(self) -> tuple[int, int]:
        return self.shape

    def frame_dtype(self) -> np.dtype:
        return self.dtype

    def read_frame(self, out: np.ndarray) -> None:
        out[...] = min(1000, np.iinfo(out.dtype).max)


@pytest.fixture
def rig() -> Iterator[tuple[Kernel, Switchable]]:
    camera = Switchable()
    with Kernel(timeout=10) as kernel:
        kernel.load_device("Camera", camera)
        kernel.initialize_all()
        kernel.set_role("Camera", "Camera")
        yield kernel, camera


def _changing(camera: Switchable, **change: Any) -> Iterator[Any]:
    """Two events; the camera's format changes between them (as a user's adaptive run may)."""
    yield useq.MDAEvent(index={"t": 0})
    for name, value in change.items():
        setattr(camera, name, value)
    yield useq.MDAEvent(index={"t": 1})


@pytest.mark.parametrize(("fmt", "name"), FORMATS)
def test_a_pixel_type_going_up_mid_run_fails_naming_the_event_instead_of_cutting_the_pixels(
    rig: tuple[Kernel, Switchable], tmp_path: Path, fmt: str, name: str
) -> None:
    k, camera = rig
    acq = k.acquire(_changing(camera, dtype=np.dtype(np.uint16)), tmp_path / name, format=fmt)
    with pytest.raises(RuntimeError, match=r"event 1 \{'t': 1\}.*uint16 pixels does not fit the dataset's uint8"):
        acq.wait(30)
    dataset = open_acquisition(tmp_path / name)
    assert [row["t"] for row in dataset.frames] == [0]  # the frame before the change is kept
    assert dataset.image(0)[0].max() == 255 and not dataset.image(0)[1:].any()  # never a wrapped 1000


@pytest.mark.parametrize(("fmt", "name"), FORMATS)
def test_a_frame_changing_shape_mid_run_fails_naming_the_event_and_both_shapes(
    rig: tuple[Kernel, Switchable], tmp_path: Path, fmt: str, name: str
) -> None:
    k, camera = rig
    acq = k.acquire(_changing(camera, shape=(2, 2)), tmp_path / name, format=fmt)
    with pytest.raises(RuntimeError, match=r"event 1 \{'t': 1\}.*shape \(2, 2\) does not fit the dataset's \(4, 4\)"):
        acq.wait(30)
    assert [row["t"] for row in open_acquisition(tmp_path / name).frames] == [0]


def test_a_pixel_type_going_down_mid_run_is_stored_as_taken(rig: tuple[Kernel, Switchable], tmp_path: Path) -> None:
    k, camera = rig
    camera.dtype = np.dtype(np.uint16)
    result = k.acquire(_changing(camera, dtype=np.dtype(np.uint8)), tmp_path / "run.ome.zarr").wait(30)
    assert result.reason == "completed" and result.frames == 2
    assert list(open_acquisition(tmp_path / "run.ome.zarr").image(0)[:, 0, 0, 0, 0]) == [1000, 255]
