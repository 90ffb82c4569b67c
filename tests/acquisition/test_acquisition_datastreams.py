"""kernel.acquire(..., datastreams=...): each (label, property) is recorded at every frame, with
the frame's event number, and at every change between frames, with times, into the dataset
(OME-Zarr and OME-TIFF, read back by open_acquisition) as in kernel.record; an unknown device
or property is refused, naming both, before anything starts."""

from __future__ import annotations

import json
import queue
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

useq = pytest.importorskip("useq")
pytest.importorskip("tifffile")

from mmkernel_core import Kernel  # noqa: E402
from mmkernel_core.acquisition import open_acquisition  # noqa: E402
from mmkernel_core.acquisition._dataset import DatasetWriter  # noqa: E402
from tests.support.acquisition import instant_rig  # noqa: E402

STREAMS = [("Z", "Position"), ("XY", "XYPosition")]


@pytest.fixture
def rig() -> Iterator[Kernel]:
    with instant_rig() as (kernel, _):
        yield kernel


def _run_with_a_change_between_frames(k: Kernel, path: Path | None, fmt: str = "ome-zarr") -> Any:
    """Three events: the second moves XY; between the first and second frames Z is moved from
    outside the run; the third sets Z through its properties."""
    feed: queue.Queue[Any] = queue.Queue()
    seen: queue.Queue[int] = queue.Queue()
    k.events.acquisition_frame_ready.connect(lambda acq, event, image, row: seen.put(row["event"]))
    acq = k.acquire(iter(feed.get, None), path, format=fmt, datastreams=STREAMS)
    feed.put(useq.MDAEvent(index={"t": 0}))
    assert seen.get(timeout=30) == 0
    k.set_position("Z", 5.0)  # from this thread, between two frames
    feed.put(useq.MDAEvent(index={"t": 1}, x_pos=10.0, y_pos=20.0))
    feed.put(useq.MDAEvent(index={"t": 2}, properties=[("Z", "Position", 7.0)]))
    feed.put(None)
    acq.wait(60)
    return acq


def _check(streams: dict[str, dict[str, list[Any]]]) -> None:
    z, xy = streams["Z-Position"], streams["XY-XYPosition"]
    assert list(zip(z["event"], z["value"], strict=True)) == [(-1, 0.0), (0, 0.0), (-1, 5.0), (1, 5.0), (-1, 7.0),
                                                                (2, 7.0)]  # fmt: skip
    assert xy["event"] == [-1, 0, -1, 1, 2] and xy["value"][2:] == [[10.0, 20.0]] * 3
    assert z["time"] == sorted(z["time"]) and all(isinstance(t, float) for t in z["time"])


@pytest.mark.parametrize(("fmt", "name"), [("ome-zarr", "run.ome.zarr"), ("ome-tiff", "run.ome.tiff")])
def test_datastreams_hold_a_value_at_every_frame_and_every_change_and_read_back_in_both_formats(
    rig: Kernel, tmp_path: Path, fmt: str, name: str
) -> None:
    acq = _run_with_a_change_between_frames(rig, tmp_path / name, fmt)
    _check(acq.datastreams)
    data = open_acquisition(tmp_path / name)
    assert data.datastreams == acq.datastreams
    _check(data.datastreams)
    json.dumps(data.datastreams, allow_nan=False)  # strict JSON


def test_datastreams_of_a_run_that_never_finished_are_read_from_their_file(
    rig: Kernel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def killed_before_finalizing(self: DatasetWriter, reason: str) -> None:
        self.table.close()  # what was appended stays; nothing is put into the attributes
        self.streams.close()

    monkeypatch.setattr(DatasetWriter, "finalize", killed_before_finalizing)
    out = tmp_path / "killed.ome.zarr"
    _run_with_a_change_between_frames(rig, out)
    lines = (out / "mmkernel-datastreams.jsonl").read_text(encoding="utf-8").splitlines()
    assert {json.loads(line)["stream"] for line in lines} == {"Z-Position", "XY-XYPosition"}
    data = open_acquisition(out)
    assert data.finished is None
    _check(data.datastreams)


def test_a_finished_dataset_keeps_its_tables_in_its_attributes_and_plain_zarr_walks_it_without_a_warning(
    rig: Kernel, tmp_path: Path
) -> None:
    import warnings

    import zarr

    out = tmp_path / "done.ome.zarr"
    _run_with_a_change_between_frames(rig, out)
    assert not list(out.glob("*.jsonl"))  # their rows are in the attributes: the files went
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # zarr warns of any object it does not know
        members = dict(zarr.open_group(str(out), mode="r").members(max_depth=None))
    assert "OME" in members and "0" in members
    data = open_acquisition(out)
    assert data.finished == "completed" and len(data.frames) == 3
    _check(data.datastreams)


def test_datastreams_are_kept_with_no_path_too(rig: Kernel) -> None:
    acq = _run_with_a_change_between_frames(rig, None)
    _check(acq.datastreams)


@pytest.mark.parametrize(
    ("streams", "error", "match"),
    [
        ([("Nope", "Position")], LookupError, "datastream device 'Nope', property 'Position': no device loaded"),
        ([("Z", "Nope")], ValueError, "datastream device 'Z', property 'Nope': device 'Z' has no property 'Nope'"),
        ([("Camera", "XYPosition")], ValueError, "device 'Camera' is a Camera device, not an XY stage"),
        ([("Z",)], TypeError, r"datastream \('Z',\) is not allowed; allowed: a \(device label, property name\)"),
        ("Z-Position", TypeError, "datastreams must be .device label, property name. pairs"),
    ],
)
def test_unknown_datastreams_are_refused_naming_device_and_property_before_anything_starts(
    rig: Kernel, tmp_path: Path, streams: Any, error: type, match: str
) -> None:
    out = tmp_path / "bad.ome.zarr"
    with pytest.raises(error, match=match):
        rig.acquire(useq.MDASequence(), out, datastreams=streams)
    assert not out.exists()


def test_a_datastream_of_a_device_unloaded_mid_run_has_no_value_after_it(rig: Kernel) -> None:
    feed: queue.Queue[Any] = queue.Queue()
    seen: queue.Queue[int] = queue.Queue()
    rig.events.acquisition_frame_ready.connect(lambda acq, event, image, row: seen.put(row["event"]))
    acq = rig.acquire(iter(feed.get, None), None, datastreams=[("Offset", "Position")])
    feed.put(useq.MDAEvent(index={"t": 0}))
    assert seen.get(timeout=30) == 0
    rig.unload("Offset")  # between two frames
    feed.put(useq.MDAEvent(index={"t": 1}))
    feed.put(None)
    assert acq.wait(60).reason == "completed"
    stream = acq.datastreams["Offset-Position"]
    assert list(zip(stream["event"], stream["value"], strict=True)) == [(-1, 0.0), (0, 0.0), (-1, None), (1, None)]
