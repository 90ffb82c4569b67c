"""Calibration storage: values persist across kernels and processes, writes are atomic and locked
(a killed writer leaves a complete version and no temporary files), reads hand out what is
stored, history and revert, corruption (with and without a backup), the read-only site layer,
file modes."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from mmkernel_core import Kernel
from mmkernel_sdk.calibration import Calibration, CalibrationError, CalibrationFile, CalibrationWarning, store_path
from tests.support.calibration import Laser, scope

PROGRAM = """
import sys, time
from mmkernel_core import Kernel
from mmkernel_sdk import Generic, prop

class Scope(Generic):
    '''A device with a serial number'''
    serial_number_property = "SerialNumber"
    SerialNumber = prop(str, default="SN-42", read_only=True)

data_dir, label, action = sys.argv[1], sys.argv[2], sys.argv[3]
with Kernel(data_dir=data_dir) as k:
    k.load_device(label, Scope())
    k.initialize(label)
    cal = k.calibration(label)
    if action == "write":
        cal[sys.argv[4]] = float(sys.argv[5])
    elif action == "many":
        for n in range(int(sys.argv[5])):
            cal[f"{sys.argv[4]}{n}"] = n
    elif action == "churn":  # big values, one after another, until killed
        n = 1
        cal["big"] = {"version": n, "data": [n] * 400_000}
        print("ready", flush=True)  # one complete version exists; the kill lands anywhere after
        while True:
            n += 1
            cal["big"] = {"version": n, "data": [n] * 400_000}
"""


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "calibrate.py"
    script.write_text(textwrap.dedent(PROGRAM))
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=120)


def test_values_persist_across_kernels_and_numpy_is_stored_as_lists(tmp_path: Path) -> None:
    affine = np.array([[1.0, 0.01, 5.0], [-0.01, 1.0, 7.0]])
    with Kernel(data_dir=tmp_path) as kernel:
        scope(kernel)
        calibration = kernel.calibration("Scope")
        calibration["pixel_size_um"] = np.float64(0.65)
        calibration["camera_to_stage"] = affine
        calibration["filter_offsets_um"] = {"DAPI": 0.0, "GFP": 0.4}
        path = calibration.path
    assert path.is_relative_to(tmp_path) and "SN-42" in str(path)
    with Kernel(data_dir=tmp_path) as kernel:
        scope(kernel, label="AnotherLabel")  # same instrument (serial), other label: the same store
        calibration = kernel.calibration("AnotherLabel")
        assert calibration["pixel_size_um"] == 0.65
        np.testing.assert_array_equal(np.asarray(calibration["camera_to_stage"]), affine)
        assert dict(calibration)["filter_offsets_um"] == {"DAPI": 0.0, "GFP": 0.4}


def test_other_serial_numbers_have_other_stores(tmp_path: Path) -> None:
    with Kernel(data_dir=tmp_path) as kernel:
        scope(kernel, "A", serial="SN-1")
        scope(kernel, "B", serial="SN-2")
        kernel.calibration("A")["x"] = 1
        assert "x" not in kernel.calibration("B")


def test_values_that_cannot_be_stored_are_refused(tmp_path: Path) -> None:
    with Kernel(data_dir=tmp_path) as kernel:
        scope(kernel)
        calibration = kernel.calibration("Scope")
        with pytest.raises(ValueError, match=r"calibration 'bad': nan is not a finite number"):
            calibration["bad"] = float("nan")
        with pytest.raises(TypeError, match=r"object .* cannot be stored"):
            calibration["bad"] = object()
        with pytest.raises(KeyError, match="non-empty text"):
            calibration["with\x00nul"] = 1
        assert "bad" not in calibration


def test_changing_a_nested_value_in_place_is_saved_or_refused(tmp_path: Path) -> None:
    """`store["focus_offset_um"]["FITC"] = 0.5` changes the store's cached document in place:
    every later read in this process says 0.5, nothing is written, and the change vanishes at
    the next write of any key (the cache is re-read) or in the next session. Reads should hand
    out copies (or read-only views), so what the process sees is what is stored."""
    path = tmp_path / "store.json"
    store = Calibration(CalibrationFile(path, {}))
    store["focus_offset_um"] = {"DAPI": 0.0, "FITC": 0.4}
    store["focus_offset_um"]["FITC"] = 0.5  # looks like it worked ...
    seen_here = store["focus_offset_um"]["FITC"]
    on_disk = Calibration(CalibrationFile(path, {}))["focus_offset_um"]["FITC"]
    assert seen_here == on_disk, f"this process sees {seen_here}, the store holds {on_disk}"


def test_update_is_an_atomic_read_modify_write(tmp_path: Path) -> None:
    path = tmp_path / "store.json"
    first, second = Calibration(CalibrationFile(path, {})), Calibration(CalibrationFile(path, {}))
    first["focus"] = {"DAPI": 0.0}
    second.update("focus", lambda focus: {**focus, "FITC": 0.5})  # another writer, meanwhile
    assert first.update("focus", lambda focus: {**focus, "TRITC": 0.7}) == {"DAPI": 0.0, "FITC": 0.5, "TRITC": 0.7}
    assert first.update("counts", lambda n: n + 1, 0) == 1


def test_values_persist_across_processes(tmp_path: Path) -> None:
    done = run(tmp_path, str(tmp_path / "data"), "Scope", "write", "pixel_size_um", "0.325")
    assert done.returncode == 0, done.stderr
    with Kernel(data_dir=tmp_path / "data") as kernel:
        scope(kernel)
        assert kernel.calibration("Scope")["pixel_size_um"] == 0.325


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    script = tmp_path / "calibrate.py"
    script.write_text(textwrap.dedent(PROGRAM))
    data = str(tmp_path / "data")
    writers = [
        subprocess.Popen([sys.executable, str(script), data, "Scope", "many", prefix, "60"], stderr=subprocess.PIPE)
        for prefix in ("a", "b")
    ]
    for writer in writers:
        assert writer.wait(120) == 0, writer.stderr.read() if writer.stderr else ""
    with Kernel(data_dir=data) as kernel:
        scope(kernel)
        keys = set(kernel.calibration("Scope"))
    assert keys == {f"{p}{n}" for p in "ab" for n in range(60)}


def test_a_writer_killed_mid_write_leaves_a_complete_version(tmp_path: Path) -> None:
    script = tmp_path / "calibrate.py"
    script.write_text(textwrap.dedent(PROGRAM))
    data = tmp_path / "data"
    versions = []
    for round_ in range(6):
        command = [sys.executable, str(script), str(data), "Scope", "churn"]
        writer = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        time.sleep(0.05 + 0.07 * round_)  # let it be somewhere in a write: a kill at an arbitrary point
        writer.send_signal(signal.SIGKILL)
        writer.wait(30)
        with Kernel(data_dir=data) as kernel:
            scope(kernel)
            big = kernel.calibration("Scope").get("big")
        assert big is not None, "a completed version was lost"
        assert big["data"] == [big["version"]] * 400_000  # complete, never half a write
        versions.append(big["version"])
    assert len(versions) == 6


def test_a_killed_writer_leaves_no_temporary_file_behind(tmp_path: Path) -> None:
    """A writer killed after writing its temporary file (before the renames) leaves
    '<store>.json.<random>.tmp' in the store's folder, and nothing ever removes it: with big
    values (the kill test writes 400,000-element lists) every crash leaves megabytes. The next
    writer, holding the lock, should remove stale temporary files of its store."""
    path = store_path(tmp_path, "calibration", "Adapter", "Device", "label X")
    program = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from mmkernel_sdk.calibration import Calibration, CalibrationFile
        store = Calibration(CalibrationFile(Path({str(path)!r}), {{}}))
        store["a"] = 1
        real_replace = os.replace
        def killed(*args):  # dies after the temporary file is complete, before the renames
            os.kill(os.getpid(), signal.SIGKILL)
        os.replace = killed
        store["a"] = [2] * 100000
    """)
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert done.returncode == -9, done.stderr
    store = Calibration(CalibrationFile(path, {}))
    assert store["a"] == 1  # the previous version: that part holds
    store["b"] = 2  # the next write
    left = sorted(p.name for p in path.parent.iterdir() if p.name.endswith(".tmp"))
    assert left == [], f"temporary files left behind: {left}"


def test_store_files_follow_the_umask_so_a_site_layer_can_be_shared(tmp_path: Path) -> None:
    """Every write goes through tempfile.mkstemp, which creates files 0600 whatever the umask:
    after one write the store (and its .bak) is readable by its owner only. Copy a user's
    stores to the lab-wide site layer, or share a data directory between the accounts of a
    microscope PC, and every other user gets 'calibration file ... is unreadable or corrupt:
    Permission denied' - at initialize, for devices with memorized properties. Files should
    get 0666 & ~umask (or the mode of the file they replace)."""
    umask = os.umask(0o022)
    os.umask(umask)
    path = store_path(tmp_path, "calibration", "Adapter", "Device", "label X")
    Calibration(CalibrationFile(path, {}))["pixel_size_um"] = 0.325
    mode = stat.S_IMODE(path.stat().st_mode)
    assert mode == 0o666 & ~umask, f"{path.name} is {oct(mode)}, the umask {oct(umask)} allows {oct(0o666 & ~umask)}"


def test_history_and_revert(tmp_path: Path) -> None:
    with Kernel(data_dir=tmp_path) as kernel:
        scope(kernel)
        calibration = kernel.calibration("Scope")
        for value in (1.0, 2.0, 3.0):
            calibration["z_offset_um"] = value
        history = calibration.history("z_offset_um")
        assert [c.value for c in history] == [1.0, 2.0, 3.0] and history[0].time <= history[-1].time
        assert "pid" in history[-1].by
        assert calibration.revert("z_offset_um") == 2.0
        assert calibration["z_offset_um"] == 2.0
        assert calibration.revert("z_offset_um", steps=3) == 1.0  # 3.0 -> 2.0 -> back past both
        del calibration["z_offset_um"]
        assert "z_offset_um" not in calibration and calibration.history("z_offset_um")[-1].deleted
        with pytest.raises(CalibrationError, match="cannot go back 99 change"):
            calibration.revert("z_offset_um", steps=99)


def test_revert_to_a_deleted_state_when_the_key_is_deleted_again() -> None:
    """History [set 1, delete, set 2, delete]: `revert(key, 2)` goes back to 'deleted' (the
    state after the first delete), which is where the key already is; `revert` calls
    `del self[key]` and raises KeyError('k') instead of recording the (no-op) revert."""
    store = Calibration(CalibrationFile(Path(os.environ["MMKERNEL_DATA_DIR"]) / "revert-deleted.json", {}))
    store["k"] = 1
    del store["k"]
    store["k"] = 2
    del store["k"]
    assert store.revert("k", 2) is None
    assert "k" not in store


def test_revert_past_the_first_change_means_the_key_did_not_exist(tmp_path: Path) -> None:
    store = Calibration(CalibrationFile(tmp_path / "store.json", {}))
    store["k"] = 1
    assert store.revert("k") is None and "k" not in store
    with pytest.raises(Exception, match="cannot go back 9"):
        store.revert("k", 9)


def test_the_history_of_a_large_value_does_not_make_every_write_slow(tmp_path: Path) -> None:
    """History is bounded by count (50 per key), not by size, and lives in the same JSON file
    that every write re-serialises and fsyncs. Store a 256x256 flat-field (3 MB as JSON) and
    update it 20 times: the file is ~36 MB (and so is the .bak), and *every* later write of
    any key - a memorized property set, on the device's own thread - takes seconds (measured:
    ~4.5 s after 30 updates; a new session's first read ~0.7 s). History should be bounded in
    bytes too (or kept out of the file that is rewritten on each change)."""
    import numpy as np

    path = tmp_path / "store.json"
    store = Calibration(CalibrationFile(path, {}))
    flat = np.random.default_rng(0).random((256, 256))
    store["flat_field"] = flat
    one_version = path.stat().st_size
    for _ in range(19):
        store["flat_field"] = flat
    assert path.stat().st_size < 3 * one_version, (
        f"one version is {one_version / 1e6:.1f} MB, the store after 20 updates {path.stat().st_size / 1e6:.1f} MB"
    )


def test_a_corrupt_file_is_named_and_the_last_good_version_is_used(tmp_path: Path) -> None:
    with Kernel(data_dir=tmp_path) as kernel:
        scope(kernel)
        calibration = kernel.calibration("Scope")
        calibration["a"] = 1
        calibration["a"] = 2  # the previous version (a = 1) is the backup now
        path = calibration.path
    path.write_text("{ not json")
    with Kernel(data_dir=tmp_path) as kernel:
        with pytest.warns(CalibrationWarning, match=rf"{path.name} is unreadable or corrupt.*last good version"):
            scope(kernel)  # initialize reads the store (memorized properties)
        calibration = kernel.calibration("Scope")
        assert calibration["a"] == 1
        with pytest.warns(CalibrationWarning):
            calibration["b"] = 3  # writing repairs the file from the last good version
        assert json.loads(path.read_text())["values"] == {"a": 1, "b": 3}
        path.write_text("garbage")
        path.with_name(path.name + ".bak").write_text("garbage too")
        with pytest.raises(CalibrationError, match=r"unreadable or corrupt.*and its backup too"):
            calibration["a"]


def test_a_corrupt_store_without_a_backup_does_not_stop_the_device(tmp_path: Path) -> None:
    """The first version of a store has no .bak. If it is damaged (a hand edit with a typo, a
    disk error), initialize fails ('initialize failed: CalibrationError: ... corrupt') for every
    device with a memorized property, and every later write raises too: the instrument cannot
    be used until someone finds and deletes the file. Initialize should warn (memorized values
    not restored) and carry on; a write should set the corrupt file aside (e.g. .corrupt)."""
    with Kernel(data_dir=tmp_path) as kernel:
        kernel.load_device("Laser", Laser())
        kernel.initialize("Laser")
        kernel.set_property("Laser", "Power", 5.0)  # the first version: no .bak yet
        path = kernel.calibration("Laser").path
    path.write_text('{"values": {"property Power": 5.0,}}')  # one stray comma
    with Kernel(data_dir=tmp_path) as kernel:
        kernel.load_device("Laser", Laser())
        kernel.initialize("Laser")  # the memorized value cannot be read: logged, not fatal
        with pytest.warns(CalibrationWarning, match="set aside and a new store is started"):
            kernel.set_property("Laser", "Power", 6.0)
        assert kernel.calibration("Laser")["property Power"] == 6.0
    assert [p.name for p in path.parent.glob("*.corrupt-*")]  # kept for a human to look at


def test_the_site_layer_lies_under_the_users_and_is_read_only(tmp_path: Path) -> None:
    with Kernel(data_dir=tmp_path / "site") as kernel:  # the lab writes its site values once
        scope(kernel)
        kernel.calibration("Scope")["pixel_size_um"] = 0.5
        kernel.calibration("Scope")["lamp_hours"] = 100
    with Kernel(data_dir=tmp_path / "user", site_data_dir=tmp_path / "site") as kernel:
        scope(kernel)
        calibration = kernel.calibration("Scope")
        assert calibration["pixel_size_um"] == 0.5  # from the site layer
        calibration["pixel_size_um"] = 0.45  # the user's own value wins
        assert calibration["pixel_size_um"] == 0.45 and calibration["lamp_hours"] == 100
        with pytest.raises(KeyError, match="read-only site layer"):
            del calibration["lamp_hours"]
    site_file = next((tmp_path / "site").rglob("*.json"))
    assert json.loads(site_file.read_text())["values"]["pixel_size_um"] == 0.5  # untouched


def test_a_broken_site_layer_does_not_break_the_users_own_store(tmp_path: Path) -> None:
    """The site layer is read-only and lab-wide (a share an administrator fills). If one of its
    files is damaged or unreadable (a truncated copy; or the 0600 files a user's store gets,
    copied there), `Calibration._values()` loads both layers for every read, so reading any
    key of the user's own store raises CalibrationError and every device with a memorized
    property fails to initialize, for every user of the lab. A bad site file should be a
    warning (site values unavailable), not an error for the user's layer."""
    site = tmp_path / "site"
    with Kernel(data_dir=tmp_path / "user", site_data_dir=site) as kernel:
        kernel.load_device("Laser", Laser())
        kernel.initialize("Laser")
        kernel.set_property("Laser", "Power", 5.0)
        relative = kernel.calibration("Laser").path.relative_to(tmp_path / "user")
    (site / relative).parent.mkdir(parents=True)
    (site / relative).write_text('{"values": {"pixel_size_um": 0.3')  # a copy cut short
    with Kernel(data_dir=tmp_path / "user", site_data_dir=site) as kernel:
        kernel.load_device("Laser", Laser())
        with pytest.warns(CalibrationWarning, match="site layer unavailable"):
            kernel.initialize("Laser")
        assert kernel.get_property("Laser", "Power") == 5.0


def test_store_files_follow_the_umask_in_force_when_they_are_written(tmp_path: Path) -> None:
    """A program that tightens its umask after import (a shared microscope PC's session
    script) gets files only its user can read."""
    path = tmp_path / "store.json"
    previous = os.umask(0o077)
    try:
        Calibration(CalibrationFile(path, {}))["pixel_size_um"] = 0.325
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_calibration_never_changes_the_process_umask(tmp_path: Path) -> None:
    """Setting the umask (even to read it) changes it for every thread of the process: another
    thread creating a file meanwhile gets 0666. Neither the import nor a write may call it."""
    program = textwrap.dedent(f"""
        import os
        calls = []
        real = os.umask
        os.umask = lambda mask: calls.append(oct(mask)) or real(mask)
        from pathlib import Path
        from mmkernel_sdk.calibration import Calibration, CalibrationFile
        Calibration(CalibrationFile(Path({str(tmp_path / "store.json")!r}), {{}}))["a"] = 1
        print(calls)
    """)
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_revert_past_a_history_cut_short_keeps_the_value(tmp_path: Path) -> None:
    """A large flat field stored twice keeps only its newest version (the history is bounded
    in bytes): there is nothing to go back to, which is not "the key did not exist"."""
    store = Calibration(CalibrationFile(tmp_path / "store.json", {}))
    flat = np.random.default_rng(0).random((256, 256))
    store["flat"] = flat
    store["flat"] = flat * 2
    with pytest.raises(CalibrationError, match=r"'flat' .*cannot go back 1 change.*older changes were dropped"):
        store.revert("flat")
    np.testing.assert_array_equal(np.asarray(store["flat"]), flat * 2)
    for value in range(55):  # the history is bounded in count too
        store["z"] = value
    with pytest.raises(CalibrationError, match="older changes were dropped"):
        store.revert("z", 50)
    assert store.revert("z", 49) == 5 and store["z"] == 5


def test_the_history_of_deleted_keys_is_bounded(tmp_path: Path) -> None:
    """A script that makes and deletes keys (a scratch value per run) must not grow the store,
    and every write with it, without end; the most recently deleted keys can still be brought
    back (the 50 most recently deleted)."""
    path = tmp_path / "store.json"
    store = Calibration(CalibrationFile(path, {}))
    store["kept"] = 1
    for n in range(60):
        store[f"scratch{n}"] = n
        del store[f"scratch{n}"]
    histories = json.loads(path.read_text())["history"]
    assert sorted(histories) == sorted(["kept", *(f"scratch{n}" for n in range(10, 60))])
    assert store.revert("scratch59") == 59 and store["scratch59"] == 59


def test_an_integer_too_long_to_write_is_refused_naming_its_key(tmp_path: Path) -> None:
    store = Calibration(CalibrationFile(tmp_path / "store.json", {}))
    with pytest.raises(ValueError, match=r"calibration 'seed': an integer of \d+ bits cannot be stored"):
        store["seed"] = 10**5000
    with pytest.raises(ValueError, match=r"calibration 'fit.terms'"):
        store["fit"] = {"terms": [1, 10**5000]}
    assert "seed" not in store and "fit" not in store
