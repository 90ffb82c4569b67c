"""`mmkernel record` stopped by SIGTERM or Ctrl-C: a second stop signal at any moment of the
stop (while stopping, while the dataset is finalized, while the kernel closes) is noted, never
fatal: the dataset is finished, the summary printed, and the exit status is 0 as for any
stopped recording.

Each test runs the real command in a child process whose stop pauses at one moment (the child
prints the moment's name and waits for a line on stdin), so the test's second signal lands
exactly there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mmkernel_core.recording import open_recording
from tests.support.paths import ROOT

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX signals")

CHILD = """
import sys
from mmkernel_core import Kernel
from mmkernel_core.cli import app
from mmkernel_core.recording import Recording

path, moment = sys.argv[1], sys.argv[2]

def say(line):
    print(line, flush=True)

def paused(name, original, before=True):
    def run(*args, **kwargs):
        if before and name == moment:
            say(name); sys.stdin.readline()
        result = original(*args, **kwargs)
        if not before and name == moment:  # the writer finalizes meanwhile
            say(name); sys.stdin.readline()
        return result
    return run

def started(original):
    def run(self):
        if not getattr(self, "announced", False):  # the first look from the progress loop
            self.announced = True
            say("recording")
        return original(self)
    return run

Recording.done = started(Recording.done)
Recording.stop = paused("stopping", Recording.stop)
Recording.wait = paused("finalized", Recording.wait, before=False)
Kernel.close = paused("closing", Kernel.close)
app(["record", "-o", path, "--interval-ms", "2"])
"""

TERM, INT = signal.SIGTERM, signal.SIGINT


@pytest.mark.timeout(60)
@pytest.mark.parametrize("moment", ["stopping", "finalized", "closing"])
@pytest.mark.parametrize(
    "first, second", [(TERM, TERM), (INT, INT), (TERM, INT)], ids=["TERM-TERM", "INT-INT", "TERM-INT"]
)
def test_a_second_stop_signal_while_the_recording_stops_is_noted_not_fatal(
    tmp_path: Path, moment: str, first: signal.Signals, second: signal.Signals
) -> None:
    path = tmp_path / "cli.ome.zarr"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), moment], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)  # fmt: skip
    assert child.stdin is not None and child.stdout is not None
    try:
        seen = [_until(child, "recording")]
        child.send_signal(first)
        seen.append(_until(child, moment))
        child.send_signal(second)  # the child waits at `moment` for the line below
        child.stdin.write("\n")
        child.stdin.flush()
        stdout, stderr = child.communicate(timeout=30)
    finally:
        child.kill()
    assert child.returncode == 0, (seen, stdout, stderr)
    assert f"{second.name} ignored: the recording is stopping" in stderr
    data = open_recording(path)
    assert data.finished
    assert f"wrote {data.frames_valid['Camera']} frames" in stdout, stdout


def _until(child: subprocess.Popen[str], line: str) -> list[str]:
    """The child's stdout up to `line` (it prints it when it gets there)."""
    assert child.stdout is not None
    lines = []
    while (got := child.stdout.readline()) and got.strip() != line:
        lines.append(got)
    assert got, f"the child ended before {line!r}: {lines} {child.stderr.read() if child.stderr else ''}"
    return lines
