"""Cancelling a call: a future or an awaited call cancelled before it starts never runs, a started
call cannot be cancelled and completes, and verbs that span devices or act at once cannot be
cancelled at all."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from mmkernel_core import Kernel
from mmkernel_sdk import Hub
from mmkernel_sdk.testing import Gate
from tests.support.devices import Held, Holdable, Live, RecordingStage, hold_runner


@pytest.fixture
def held_hub(kernel: Kernel, gate: Gate) -> tuple[Holdable, RecordingStage, Any]:
    """A hub runner held busy by a stuck read of H; Z, on the same runner, waits behind it."""
    held, stage = Holdable(gate), RecordingStage()
    kernel.load_device("Hub", Hub())
    kernel.load_device("H", held, parent="Hub")
    kernel.load_device("Z", stage, parent="Hub")
    kernel.initialize_all()
    held.hold = True
    blocker = kernel.submit.get_property("H", "Value")
    gate.wait_entered()
    return held, stage, blocker


def test_a_future_cancelled_before_it_starts_never_runs(kernel: Kernel, gate: Gate, held_hub: Any) -> None:
    held, stage, blocker = held_hub
    queued = kernel.submit.set_position("Z", 7.0)
    assert queued.cancel() and queued.cancelled()
    started = kernel.submit.set_position("Z", 8.0)
    held.hold = False
    gate.release.set()
    assert blocker.result(5) == 1
    assert started.result(5) is None
    assert started.cancel() is False  # done: too late
    assert stage.moves == [8.0]


def test_an_awaited_call_cancelled_before_it_starts_never_runs(kernel: Kernel, gate: Gate, held_hub: Any) -> None:
    held, stage, blocker = held_hub

    async def scenario() -> None:
        task = asyncio.ensure_future(kernel.aio.set_position("Z", 7.0))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    held.hold = False
    gate.release.set()
    assert blocker.result(5) == 1
    kernel.wait_for("Z")
    assert stage.moves == []


def test_a_started_call_cannot_be_cancelled_and_completes(kernel: Kernel, gate: Gate) -> None:
    held = Holdable(gate)
    kernel.load_device("H", held)
    kernel.initialize("H")
    held.hold = True
    running = kernel.submit.get_property("H", "Value")
    gate.wait_entered()
    assert running.cancel() is False
    held.hold = False
    gate.release.set()
    assert running.result(5) == 1


def test_verbs_that_span_devices_or_act_at_once_cannot_be_cancelled(tmp_path: Path) -> None:
    with Kernel(timeout=5, buffer_mb=1) as kernel:
        device, camera = Held(), Live()
        kernel.load_device("D", device)
        kernel.load_device("Cam", camera)
        kernel.initialize_all()
        kernel.start_sequence("Cam", overflow="overwrite")
        running = hold_runner(kernel, "D", device)
        submit = kernel.submit
        for future in (submit.initialize_all(), submit.update_cache(), submit.stop_sequence("Cam")):
            assert future.cancel() is False and not future.cancelled()
        config = tmp_path / "x.cfg"
        config.write_text("Device,Z,Test,Stage\n")
        assert kernel.submit.load_config(config).cancel() is False
        device.gate.release.set()
        running.result(5)
