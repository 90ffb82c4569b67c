"""Moving stages and XY stages: a position that is not a finite number is refused before adapter
code runs, and XY stages declare limits like stages (a relative move is checked on the runner,
where the position is known)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mmkernel_core import Kernel, PropertyError
from tests.support.devices import RecordingStage, RecordingXY


@pytest.mark.parametrize("bad", [float("inf"), "inf", "1e999", np.inf, -np.inf, "nan", np.float32("nan")])
def test_non_finite_positions_are_refused(kernel: Kernel, bad: Any) -> None:
    stage, xy = RecordingStage(), RecordingXY()
    kernel.load_device("Z", stage)
    kernel.load_device("XY", xy)
    kernel.initialize_all()
    for move in (
        lambda: kernel.set_position("Z", bad),
        lambda: kernel.set_relative_position("Z", bad),
        lambda: kernel.set_xy_position("XY", bad, 0.0),
        lambda: kernel.set_xy_position("XY", 0.0, bad),
        lambda: kernel.set_relative_xy_position("XY", bad, 0.0),
        lambda: kernel.set_relative_xy_position("XY", 0.0, bad),
    ):
        with pytest.raises(PropertyError, match=r"not a finite number|not a valid number"):
            move()
    assert stage.moves == [] and xy.moves == []


def test_xy_stages_declare_limits_like_stages(kernel: Kernel) -> None:
    xy = RecordingXY()
    xy.set_xy_limits(-100, 100, -50, 50)
    kernel.load_device("XY", xy)
    kernel.initialize("XY")
    y_message = r"'Y position': value 60.0 is out of range; allowed: number within \[-50, 50\]"
    with pytest.raises(PropertyError, match=y_message):
        kernel.set_xy_position("XY", 0, 60)
    kernel.set_xy_position("XY", 90, 40)
    with pytest.raises(PropertyError, match=r"'X position': value 110.0 is out of range"):
        kernel.set_relative_xy_position("XY", 20, 0)  # 90 + 20: checked on the runner, where the position is known
    assert xy.moves == [(90.0, 40.0)]
