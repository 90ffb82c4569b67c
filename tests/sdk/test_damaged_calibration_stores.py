"""Calibration stores in a bad state never stop the instrument and never lose a value: a damaged
history keeps the values, links planted as a store's files are never followed, a file system
that fails is an error naming the file (and initialize goes on), and writing from inside an
update() callback is refused instead of waiting forever for its own lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from mmkernel_core import Kernel
from mmkernel_sdk.calibration import Calibration, CalibrationError, CalibrationFile, CalibrationWarning
from mmkernel_sdk.testing import DirectHarness
from tests.support.calibration import Laser


@pytest.mark.parametrize("history", [None, {"a": None}, {"a": [None, {"time": 1.0, "value": 1}]}, ["a"]])
def test_a_damaged_history_keeps_the_values_and_later_writes_work(tmp_path: Path, history: Any) -> None:
    path = tmp_path / "store.json"
    path.write_text(json.dumps({"format": 1, "values": {"a": 1, "b": 2}, "history": history}))
    store = Calibration(CalibrationFile(path, {}))
    with pytest.warns(CalibrationWarning, match=rf"{path.name}: .*history.* the values are kept"):
        store["a"] = 3
        store["c"] = 4
    assert dict(store) == {"a": 3, "b": 2, "c": 4}
    assert store.history("a")[-1].value == 3
    try:
        store.revert("a")  # back to what survived of the history, if anything did ...
    except CalibrationError:
        pass
    assert "a" in store  # ... never to "the key did not exist": it did
    assert list(tmp_path.glob("store.json.corrupt-*")), "the damaged file is kept for a human to look at"


def test_a_link_planted_as_the_lock_file_is_not_followed(tmp_path: Path) -> None:
    path = tmp_path / "store.json"
    outside = tmp_path / "elsewhere" / "victim"
    outside.parent.mkdir()
    os.symlink(outside, path.with_name("store.json.lock"))
    store = Calibration(CalibrationFile(path, {}))
    with pytest.raises(CalibrationError, match=r"store\.json\.lock is a symbolic link .*never followed"):
        store["a"] = 1
    assert not outside.exists()


def test_a_link_planted_as_the_backup_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "store.json"
    someone_elses = tmp_path / "other.json"
    someone_elses.write_text(json.dumps({"values": {"secret": 42}, "history": {}}))
    path.write_text("{ damaged")
    os.symlink(someone_elses, path.with_name("store.json.bak"))
    with pytest.raises(CalibrationError, match=r"and its backup too: .*store\.json\.bak is a symbolic link"):
        Calibration(CalibrationFile(path, {}))["secret"]


def test_a_file_system_error_is_an_error_naming_the_file(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the store's folder should be")
    path = blocker / "store.json"
    with pytest.raises(CalibrationError, match=rf"calibration file {path} cannot be read: .*NotADirectoryError"):
        Calibration(CalibrationFile(path, {}))["a"]


def test_a_device_starts_with_its_defaults_when_its_store_cannot_be_reached(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Any file-system error (here: a file where the data directory should be) is like a
    corrupt store: logged, the memorized values not restored, initialize goes on."""
    blocker = tmp_path / "data"
    blocker.write_text("not a directory")
    with Kernel(data_dir=blocker) as kernel:
        kernel.load_device("Laser", Laser())
        kernel.initialize("Laser")
        assert kernel.get_property("Laser", "Power") == 1.0
        kernel.set_property("Laser", "Power", 5.0)  # saving it fails: logged, the set happened
        assert kernel.get_property("Laser", "Power") == 5.0
        kernel.events.flush()
    assert "memorized values not restored" in caplog.text and "NotADirectoryError" in caplog.text


def test_the_direct_harness_shows_a_store_it_cannot_reach_and_the_set_still_happens(tmp_path: Path) -> None:
    """As in the kernel: a memorized value that cannot be saved is a problem shown, never an
    exception from set() or initialize()."""
    blocker = tmp_path / "data"
    blocker.write_text("not a directory")
    harness = DirectHarness(Laser(), data_dir=blocker)
    harness.initialize()
    harness.set("Power", 5.0)
    assert harness.get("Power") == 5.0
    assert any("memorized values not restored" in p for p in harness.problems), harness.problems
    assert any("'Power' = 5.0 not saved" in p and "Not a directory" in p for p in harness.problems)
    harness.close()


def test_writing_the_store_inside_an_update_callback_is_refused_not_a_deadlock(tmp_path: Path) -> None:
    """The callback runs under the store's lock; a write from it would wait for that lock
    forever. (Run in a subprocess, so that the wait, if it came back, fails this test.)"""
    program = textwrap.dedent(f"""
        from pathlib import Path
        from mmkernel_sdk.calibration import Calibration, CalibrationError, CalibrationFile
        store = Calibration(CalibrationFile(Path({str(tmp_path / "store.json")!r}), {{}}))
        def bump(count):
            store["last_bump"] = count  # a write from inside the callback
            return count + 1
        try:
            store.update("count", bump, 0)
        except CalibrationError as error:
            print(error)
        store.update("count", lambda count: count + 1, 0)  # the store is usable afterwards
        print(dict(store))
    """)
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    refused, left = done.stdout.strip().splitlines()
    assert "written from inside an update() of the same store" in refused and "store.json" in refused
    assert left == "{'count': 1}"
