"""Each frame's table row says what its event changed: the properties whose value differs from
the previous frame's (a shutter opened and closed again for the snap is no change), and in a
hardware-sequenced run the values the run loaded for that frame."""

from __future__ import annotations

from pathlib import Path

import pytest

useq = pytest.importorskip("useq")

from mmkernel_core.acquisition import open_acquisition  # noqa: E402
from mmkernel_sdk.testing import SimWheel  # noqa: E402
from tests.support.acquisition import instant_rig, piezo_rig  # noqa: E402


def test_a_software_run_records_what_each_event_changed_and_nothing_that_came_back(tmp_path: Path) -> None:
    with instant_rig() as (k, _):
        k.load_device("Filter", SimWheel())
        k.initialize("Filter")
        for position, name in enumerate(("Blue", "Green")):
            k.define_state_label("Filter", position + 1, name)
            k.define_config("Channel", name, "Filter", "Label", name)
        seq = useq.MDASequence(channels=["Blue", "Green"], z_plan={"range": 2, "step": 1}, axis_order="cz")
        k.acquire(seq, tmp_path / "rows.ome.zarr").wait(60)
    rows = open_acquisition(tmp_path / "rows.ome.zarr").frames
    changed = [row["changed"] for row in rows]
    assert changed[0] == {"Filter-State": 1, "Filter-Label": "Blue", "Z-Position": -1.0}
    assert changed[1:3] == [{"Z-Position": 0.0}, {"Z-Position": 1.0}]
    assert changed[3] == {"Filter-State": 2, "Filter-Label": "Green", "Z-Position": -1.0}
    assert not any("Shutter-State" in c for c in changed)  # opened and closed for every snap


def test_a_hardware_run_records_the_values_it_loaded_for_each_frame(tmp_path: Path) -> None:
    with piezo_rig() as (k, _, _, _):
        seq = useq.MDASequence(z_plan={"range": 2, "step": 1})
        acq = k.acquire(seq, tmp_path / "hw.ome.zarr")
        acq.wait(60)
        assert [run.hardware for run in acq.plan] == [True]
    rows = open_acquisition(tmp_path / "hw.ome.zarr").frames
    assert [row["changed"] for row in rows] == [{"Z-Position": -1.0}, {"Z-Position": 0.0}, {"Z-Position": 1.0}]
