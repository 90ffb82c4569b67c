"""The command line, through typer's runner and as a real subprocess."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from mmkernel_core.cli import app


def console_script() -> str:
    beside = Path(sys.executable).with_name("mmkernel")
    found = str(beside) if beside.exists() else shutil.which("mmkernel")
    assert found, "the `mmkernel` console script is not installed (run `python3 dev.py test`)"
    return found


def test_demo_runs_and_reports_what_it_did() -> None:
    result = CliRunner().invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    assert "update_cache()" in result.output
    assert "property_changed('Z', 'Position', 12.5)" in result.output


def test_console_script_runs_the_demo() -> None:
    done = subprocess.run([console_script(), "demo"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "wait_for('Z')" in done.stdout
