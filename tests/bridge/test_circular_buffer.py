"""MMCore's circular buffer for a bridged camera's stream: 256 frames by default, capped at 512 MB
(MMCore allocates it all when a sequence starts); `MMKERNEL_MM_BUFFER_FRAMES` taken as asked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from mmkernel_adapter_micromanager.camera import circular_buffer_mb

from mmkernel_core import Kernel
from mmkernel_sdk.errors import DeviceError

FRAME_2048 = 2048 * 2048 * 2


@pytest.fixture
def k(mm: str) -> Iterator[Kernel]:
    with Kernel(timeout=10) as kernel:
        yield kernel


def _core(k: Kernel) -> Any:
    from mmkernel_adapter_micromanager import core_groups

    return core_groups().group("main", [], k).core


def test_the_default_holds_256_frames_up_to_512_mb() -> None:
    assert circular_buffer_mb(512 * 512 * 2, None, "Cam") == 128
    assert circular_buffer_mb(FRAME_2048, None, "Cam") == 512  # 64 frames
    assert circular_buffer_mb(64 * 64, "", "Cam") == 16  # at least 16 MB


def test_frames_asked_for_are_given_beyond_the_default_cap() -> None:
    assert circular_buffer_mb(FRAME_2048, "300", "Cam") == 2400


@pytest.mark.parametrize("asked", ["lots", "0", "-5", "2.5"])
def test_a_bad_frame_count_is_refused_naming_the_variable(asked: str) -> None:
    with pytest.raises(DeviceError, match=rf"MMKERNEL_MM_BUFFER_FRAMES='{asked}' is not allowed; allowed: a whole"):
        circular_buffer_mb(FRAME_2048, asked, "Cam")


def test_a_stream_gets_the_buffer_the_variable_asks_for(k: Kernel, mm: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if mm != "standin":
        pytest.skip("the stand-in core reports the footprint it was given; MMCore does not")
    k.load_device("Cam", "mm:DemoCamera", "DCam")
    k.initialize("Cam")
    core, frame = _core(k), k.snap("Cam").nbytes
    frames = 600 * 2**20 // frame + 1  # past the default's 512 MB cap
    monkeypatch.setenv("MMKERNEL_MM_BUFFER_FRAMES", str(frames))
    k.start_sequence("Cam", 3, overflow="block")
    for _ in range(3):
        k.pop_next("Cam").release()
    assert core.buffer_mb == -(-frames * frame // 2**20) > 600  # as asked, not capped
    monkeypatch.setenv("MMKERNEL_MM_BUFFER_FRAMES", "none")
    with pytest.raises(DeviceError, match="MMKERNEL_MM_BUFFER_FRAMES='none' is not allowed"):
        k.start_sequence("Cam", 3)
    assert not k.is_sequence_running("Cam")
