"""`mmkernel devices -c MMConfig_demo.cfg` with MMKERNEL_MM_PREFER=DemoCamera,Utilities: every
device of Micro-Manager's unchanged demo file, with the C++ adapter chosen for it, healthy."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from mmkernel_core.cli import app

from .conftest import DEMO, LABELS


def test_devices_lists_the_unchanged_demo_file_through_the_cpp_adapters(
    real: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MMKERNEL_MM_PREFER", "DemoCamera,Utilities")
    monkeypatch.setenv("COLUMNS", "200")  # one table row per line
    result = CliRunner().invoke(app, ["devices", "-c", str(DEMO)])
    assert result.exit_code == 0, result.output
    rows = {}
    for line in result.output.splitlines():
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if cells:
            rows[cells[0]] = (cells[1], cells[5])  # label: (adapter, health)
    adapters = {label: "mm:Utilities" if label == "LED Shutter" else "mm:DemoCamera" for label in LABELS}
    assert rows == {**{label: (adapter, "ok") for label, adapter in adapters.items()}, "Core": ("", "ok")}
