"""Every argument of a recording is checked before anything starts, a start that fails leaves
nothing behind, racing starts to one path get a clear answer, errors keep their size however
often they are asked for, and what is written is strict JSON (RFC 8259) for every reader."""

from __future__ import annotations

import json
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
import zarr

from mmkernel_core import Kernel, PropertyError, RecordingError
from mmkernel_core.recording import open_recording
from mmkernel_sdk import prop
from mmkernel_sdk.testing import SimStage
from tests.support.recording import FailingStore, PatternCamera


def strict(text: str | bytes) -> Any:
    """Parse as RFC 8259 JSON: NaN and infinities are refused."""

    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


class RefusesToStart(PatternCamera):
    def __init__(self) -> None:
        super().__init__()
        self.refuse = True

    def start_sequence(self, count: int | None, interval_ms: float) -> None:
        if self.refuse:
            raise RuntimeError("the frame grabber is not ready")
        super().start_sequence(count, interval_ms)


class UnconnectedSensor(PatternCamera):
    """Tags whose values are not numbers (a sensor that is not connected)."""

    def read_frame(self, out: Any) -> dict[str, Any]:
        tags = super().read_frame(out)
        return {**tags, "SensorTemperature": float("nan"), "Drift": float("inf"), "Offsets": [0.0, float("-inf")]}


@pytest.fixture
def k() -> Iterator[Kernel]:
    with Kernel(timeout=10, buffer_mb=16) as kernel:
        kernel.load_device("Cam", PatternCamera())
        kernel.load_device("Cam2", PatternCamera())
        kernel.load_device("Z", SimStage())
        kernel.load_device("Sensor", UnconnectedSensor())
        kernel.initialize_all()
        yield kernel


def test_a_path_below_a_regular_file_is_refused_before_anything_starts(k: Kernel, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    for fmt, name in (("ome-zarr", "run.ome.zarr"), ("ome-tiff", "run.ome.tif")):
        with pytest.raises(PropertyError, match=r"notes\.txt' is not a directory"):
            k.record("Cam", tmp_path / "notes.txt" / name, count=2, format=fmt)
        with pytest.raises(PropertyError, match="is not a directory"):
            k.record("Cam", tmp_path / "notes.txt" / "deeper" / name, count=2, format=fmt)
    assert not k.is_sequence_running("Cam")


@pytest.mark.parametrize("name", ["retry.ome.zarr", "retry.ome.tif"])
def test_a_start_that_fails_leaves_nothing_and_the_same_path_works_next(tmp_path: Path, name: str) -> None:
    camera = RefusesToStart()
    with Kernel(timeout=10, buffer_mb=16) as k:
        k.load_device("Cam", camera)
        k.initialize("Cam")
        path = tmp_path / name
        fmt = "ome-tiff" if name.endswith(".tif") else "ome-zarr"
        with pytest.raises(Exception, match="frame grabber is not ready"):
            k.record("Cam", path, count=3, format=fmt)
        assert not path.exists()  # no stub that "never overwrites data" would refuse
        camera.refuse = False
        assert k.record("Cam", path, count=3, format=fmt).wait(30).frames_written == {"Cam": 3}


def test_two_recordings_racing_for_one_path_one_wins_the_other_is_told_why(k: Kernel, tmp_path: Path) -> None:
    path = tmp_path / "race.ome.zarr"
    start = threading.Barrier(2)
    outcomes: dict[str, Any] = {}

    def record(camera: str) -> None:
        start.wait()
        try:
            outcomes[camera] = k.record(camera, path, count=5).wait(30)
        except Exception as error:  # noqa: BLE001 - the outcome is what the test checks
            outcomes[camera] = error

    threads = [threading.Thread(target=record, args=(camera,)) for camera in ("Cam", "Cam2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    errors = [o for o in outcomes.values() if isinstance(o, BaseException)]
    assert len(errors) == 1, outcomes
    assert "never overwrites data" in str(errors[0]) and "mode 'w-'" not in str(errors[0])
    winner = next(o for o in outcomes.values() if not isinstance(o, BaseException))
    assert sum(winner.frames_written.values()) == 5 and open_recording(path).finished


def test_asking_a_failed_recording_for_its_error_again_and_again_does_not_grow_it(k: Kernel, tmp_path: Path) -> None:
    store = FailingStore(tmp_path / "full.ome.zarr", allow=2)
    recording = k.record("Cam", store, count=20, writer_options={"frames_per_chunk": 1})
    lengths = []
    for _ in range(1000):
        with pytest.raises(RecordingError) as caught:
            recording.wait(30)
        lengths.append(len(traceback.extract_tb(caught.value.__traceback__)))
    assert lengths[-1] == lengths[0]


@pytest.mark.parametrize("fmt", ["ome-zarr", "ome-tiff"])
def test_what_a_recording_writes_is_strict_json_even_for_values_that_are_not_numbers(
    k: Kernel, tmp_path: Path, fmt: str
) -> None:
    path = tmp_path / ("nan.ome.zarr" if fmt == "ome-zarr" else "nan.ome.tif")
    k.record("Sensor", path, count=4, format=fmt).wait(30)
    if fmt == "ome-zarr":
        for document in path.rglob("zarr.json"):
            strict(document.read_text())
        group = zarr.open_group(path, mode="r")["mmkernel/frames"]
        data, offsets = bytes(group["changes"][:]), group["changes_offsets"][:]
        rows = [strict(data[offsets[i] : offsets[i + 1]]) for i in range(4)]
    else:
        with tifffile.TiffFile(path) as tiff:
            rows = [strict(page.tags[65000].value)["frame"]["changes"] for page in tiff.pages[:4]]
            xml = tiff.ome_metadata
        start = xml.index("<Value>") + len("<Value>")
        strict(xml[start : xml.index("</Value>", start)].replace("&quot;", '"').replace("&amp;", "&"))
    for row in rows:  # the documented rule: such values are the strings JavaScript spells them with
        assert row["SensorTemperature"] == "NaN" and row["Drift"] == "Infinity" and row["Offsets"] == [0.0, "-Infinity"]
    assert open_recording(path).frames("Sensor")["changes"][0]["SensorTemperature"] == "NaN"


def test_a_core_property_records_as_a_datastream(k: Kernel, tmp_path: Path) -> None:
    """`devices()` lists Core, so its properties (roles, AutoShutter) can be recorded too."""
    camera = PatternCamera(signal_at=3)
    k.load_device("Sig", camera)
    k.initialize("Sig")
    path = tmp_path / "core.ome.zarr"
    recording = k.record("Sig", path, count=400, interval_ms=2, datastreams=[("Core", "AutoShutter")])
    assert camera.reached.wait(10)
    k.set_property("Core", "AutoShutter", 0)
    recording.wait(30)
    stream = open_recording(path).datastreams["Core-AutoShutter"]
    assert stream["value"][0] == 1 and stream["value"][-1] == 0
    changes = [frame for frame, value in zip(stream["frame"], stream["value"], strict=True) if value == 0]
    assert -1 in changes  # the change itself, between frames


def test_numpy_scalars_in_metadata_are_stored_as_the_numbers_they_are(k: Kernel, tmp_path: Path) -> None:
    metadata = {"n": np.int64(3), "gain": np.float32(0.5), "flags": [np.bool_(True)], "nested": {"t": (np.uint8(1), 2)}}
    k.record("Cam", tmp_path / "np.ome.zarr", count=2, metadata=metadata).wait(30)
    stored = open_recording(tmp_path / "np.ome.zarr").metadata["user"]
    assert stored == {"n": 3, "gain": 0.5, "flags": [True], "nested": {"t": [1, 2]}}
    assert type(stored["n"]) is int and type(stored["flags"][0]) is bool
    with pytest.raises(PropertyError, match=r"metadata\['x'\] is nan: JSON has no NaN"):
        k.record("Cam", tmp_path / "nan.ome.zarr", count=2, metadata={"x": np.float32("nan")})  # strict JSON still


@pytest.mark.parametrize("fmt", ["ome-zarr", "ome-tiff"])
@pytest.mark.parametrize(
    ("labels", "said"),
    [
        (["A/B", "C"], "camera='A/B'"),
        (["..", "C"], "camera='..'"),
        (["mmkernel", "C"], "camera='mmkernel'"),
        (["__meta", "C"], "camera='__meta'"),
        (["Left", "left"], "'left' and another label differ only in case"),
    ],
    ids=["slash", "dots", "mmkernel", "dunder", "case"],
)
def test_camera_labels_that_cannot_name_a_group_or_file_are_refused_for_every_format(
    tmp_path: Path, fmt: str, labels: list[str], said: str
) -> None:
    """With several cameras each label names a zarr group or a file: the same rule for both."""
    path = tmp_path / ("run.ome.zarr" if fmt == "ome-zarr" else "run.ome.tif")
    with Kernel(timeout=10, buffer_mb=8) as k:
        for label in labels:
            k.load_device(label, PatternCamera())
        k.initialize_all()
        with pytest.raises(PropertyError, match="can name a file and a zarr group") as caught:
            k.record(labels, path, count=3, format=fmt)
        assert said in str(caught.value)
        assert list(tmp_path.iterdir()) == [] and not any(k.is_sequence_running(label) for label in labels)
        assert k.record(labels[1:], path, count=3, format=fmt).wait(30).frames_written == {labels[1]: 3}


class UnreadableGain(PatternCamera):
    @prop(float)
    def Gain(self) -> float:
        return float("nan")  # a reading the hardware could not make


def test_a_numeric_datastream_of_values_that_are_not_numbers_reads_back_alike_from_both_formats(tmp_path: Path) -> None:
    with Kernel(timeout=10, buffer_mb=8) as k:
        k.load_device("Cam", UnreadableGain())
        k.initialize("Cam")
        for name, fmt in (("g.ome.zarr", "ome-zarr"), ("g.ome.tif", "ome-tiff")):
            k.record("Cam", tmp_path / name, count=4, format=fmt, datastreams=[("Cam", "Gain")]).wait(30)
    streams = [open_recording(tmp_path / name).datastreams["Cam-Gain"] for name in ("g.ome.zarr", "g.ome.tif")]
    for stream in streams:  # the start value and one per frame, each NaN as a number
        assert stream["value"].dtype == np.float64 and len(stream["value"]) == 5 and np.isnan(stream["value"]).all()
        assert stream["frame"].tolist() == [-1, 0, 1, 2, 3] and stream["frame"].dtype == np.int64
