"""Sequences have owners: a stream or a recording only ever stops the sequence it started, and
a count recording whose sequence is stopped from outside says it ended early."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from mmkernel_core import Kernel, RecordingError
from mmkernel_core.recording import open_recording
from tests.support.recording import PatternCamera


@pytest.fixture
def k() -> Iterator[Kernel]:
    with Kernel(timeout=10, buffer_mb=16) as kernel:
        kernel.load_device("Cam", PatternCamera())
        kernel.initialize("Cam")
        yield kernel


def test_a_live_view_leaving_its_block_does_not_stop_a_recording_started_meanwhile(k: Kernel, tmp_path: Path) -> None:
    """A GUI's live view (its own sequence over), then the Record button: when the live view's
    `with` block exits it must leave the recording's sequence alone."""
    with k.stream("Cam", count=5) as live:
        assert len([frame.meta.number for frame in live]) == 5
        recording = k.record("Cam", tmp_path / "rec.ome.zarr", count=50, interval_ms=2)
    result = recording.wait(30)
    assert result.frames_written == {"Cam": 50} and result.errors == []


def test_an_async_live_view_leaving_its_block_does_not_stop_a_recording_started_meanwhile(
    k: Kernel, tmp_path: Path
) -> None:
    async def live_then_record() -> object:
        async with k.aio.stream("Cam", count=5) as live:
            frames = [frame.meta.number async for frame in live]
            assert frames == [0, 1, 2, 3, 4]
            recording = await k.aio.record("Cam", tmp_path / "rec.ome.zarr", count=50, interval_ms=2)
        return recording

    recording = asyncio.run(live_then_record())
    assert recording.wait(30).frames_written == {"Cam": 50}  # type: ignore[attr-defined]


def test_a_stream_still_stops_its_own_sequence(k: Kernel) -> None:
    with k.stream("Cam") as live:  # until stopped
        next(iter(live)).release()
    assert not k.is_sequence_running("Cam")


def test_a_finished_recording_stopped_late_leaves_a_later_sequence_alone(k: Kernel, tmp_path: Path) -> None:
    recording = k.record("Cam", tmp_path / "a.ome.zarr", count=5)
    recording.wait(30)
    k.start_sequence("Cam", overflow="block")
    recording.stop()  # a Stop button pressed late
    for _ in range(50):  # the sequence goes on (a stopped one would end these pops with StreamEnded)
        k.pop_next("Cam", timeout=5).release()
    assert k.is_sequence_running("Cam")
    k.stop_sequence("Cam")


def test_a_count_recording_stopped_from_outside_says_it_ended_early(k: Kernel, tmp_path: Path) -> None:
    camera = PatternCamera(signal_at=3)
    k.load_device("Sig", camera)
    k.initialize("Sig")
    path = tmp_path / "short.ome.zarr"
    recording = k.record("Sig", path, count=100_000, interval_ms=1)
    assert camera.reached.wait(10)
    k.stop_sequence("Sig")  # someone else's Stop
    with pytest.raises(RecordingError, match=r"ended from outside the recording .* of 100000 frames"):
        recording.wait(30)
    result = recording.result
    assert result is not None and result.errors and 3 <= result.frames_written["Sig"] < 100_000
    assert open_recording(path).frames_valid["Sig"] == result.frames_written["Sig"]  # what was written reads
