"""CalibrationFile: one device's calibration on disk, safe against crashes and other processes.

- Writes are atomic: the new content goes to a temporary file in the same directory, is flushed
  and fsynced, the current file becomes `.bak`, the temporary file is renamed over it and the
  directory is fsynced. A writer killed at any moment leaves the previous version readable.
- Writers are serialised by an advisory lock on `<file>.lock` (another process, another
  kernel); each change re-reads the file under the lock, so no update is lost.
- A corrupt file is reported (naming it) and the last good version (`.bak`) is used instead;
  the next write sets the corrupt file aside (`.corrupt-<time>`), never over the good `.bak`.
- Every change is kept in a timestamped history per key, bounded in count and in bytes.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import socket
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HISTORY_LIMIT = 50  # changes kept per key ...
HISTORY_BYTES = 1 << 20  # ... and at most about this much JSON of old values per key (the newest always)
FORMAT = 1
_UMASK = os.umask(0)  # read once: files get 0666 & ~umask, as open() would give them
os.umask(_UMASK)


class CalibrationError(Exception):
    """The calibration store cannot be read or written (the message names the file)."""


class CalibrationWarning(UserWarning):
    """A calibration file was corrupt; the last good version is used (the message names both)."""


def _who() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name on this system: say so
        user = "?"
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (and threads, via a per-path lock)."""
    with _thread_lock(path):
        lock_path = path.with_name(path.name + ".lock")
        with open(lock_path, "a+b") as handle:
            if os.name == "nt":  # pragma: no cover - Windows
                import msvcrt

                msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
            else:
                import fcntl

                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                if os.name != "nt":
                    import fcntl

                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


_locks: dict[Path, threading.RLock] = {}
_locks_guard = threading.Lock()


def _thread_lock(path: Path) -> threading.RLock:
    with _locks_guard:
        return _locks.setdefault(path, threading.RLock())


class CalibrationFile:
    def __init__(self, path: Path, identity: dict[str, str], read_only: bool = False) -> None:
        self.path = path
        self.backup = path.with_name(path.name + ".bak")
        self.identity = identity
        self.read_only = read_only
        self._cached: tuple[tuple[int, int, int], dict[str, Any]] | None = None
        self.fell_back = False  # the last load found the file corrupt (and used the .bak, or nothing)

    # -- reading ----------------------------------------------------------------------------
    def load(self) -> dict[str, Any]:
        """The whole document (values and history); empty if the file does not exist yet."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return self._from_backup_or_empty(None)
        signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if self._cached is not None and self._cached[0] == signature:
            return self._cached[1]
        try:
            document = self._parse(self.path)
            self.fell_back = False
        except CalibrationError as error:
            self.fell_back = True
            document = self._from_backup_or_empty(error)
        self._cached = (signature, document)
        return document

    def _from_backup_or_empty(self, problem: CalibrationError | None) -> dict[str, Any]:
        if not self.backup.exists():
            if problem is not None:
                raise problem
            return _empty()
        try:
            document = self._parse(self.backup)
        except CalibrationError as error:
            if problem is None:
                raise
            raise CalibrationError(f"{problem}; and its backup too: {error}") from None
        if problem is not None:
            warnings.warn(f"{problem}; using the last good version, {self.backup}", CalibrationWarning, stacklevel=4)
        return document

    def _parse(self, path: Path) -> dict[str, Any]:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CalibrationError(f"calibration file {path} is unreadable or corrupt: {error}") from None
        if not isinstance(document, dict) or not isinstance(document.get("values"), dict):
            raise CalibrationError(f"calibration file {path} is not a calibration store (no 'values' table)")
        document.setdefault("history", {})
        return document

    # -- writing ----------------------------------------------------------------------------
    def change(self, edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Apply `edit` to the current document under the lock, then write it atomically."""
        if self.read_only:
            raise CalibrationError(f"calibration file {self.path} is read-only (a site layer)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(self.path):
            self._remove_stale_temporaries()
            self._cached = None
            try:
                current = self.load()
            except CalibrationError as error:  # corrupt and no good backup: start afresh, keep the file
                warnings.warn(f"{error}; it is set aside and a new store is started", CalibrationWarning, stacklevel=3)
                current = _empty()
            if self.fell_back:
                self._set_aside()
            document = json.loads(json.dumps(current))  # a private copy to change
            edit(document)
            document["format"] = FORMAT
            document["device"] = self.identity
            self._write(document)
            return document

    def _set_aside(self) -> None:
        """The current file is corrupt: keep it for a human to look at, out of the way of the
        good `.bak` (which the next write would otherwise replace with it)."""
        if self.path.exists():
            stamp = time.strftime("%Y%m%d-%H%M%S")
            os.replace(self.path, self.path.with_name(f"{self.path.name}.corrupt-{stamp}"))
        self.fell_back = False

    def _remove_stale_temporaries(self) -> None:
        """Under the lock no other writer of this store is running: a temporary file left is
        from a writer that was killed."""
        for stale in self.path.parent.glob(self.path.name + ".*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()

    def _write(self, document: dict[str, Any]) -> None:
        text = json.dumps(document, indent=1, sort_keys=True, allow_nan=False)
        handle, temporary = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp", dir=self.path.parent)
        try:
            if os.name != "nt":
                os.fchmod(handle, 0o666 & ~_UMASK)  # mkstemp makes 0600: a site layer must be readable
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(text)
                file.flush()
                os.fsync(file.fileno())
            if self.path.exists():
                os.replace(self.path, self.backup)  # the last good version stays readable
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        _fsync_directory(self.path.parent)
        self._cached = None


def record(document: dict[str, Any], key: str, value: Any, deleted: bool = False) -> None:
    """Set (or delete) `key` and append the change to its bounded history."""
    if deleted:
        document["values"].pop(key, None)
    else:
        document["values"][key] = value
    size = 0 if deleted else len(json.dumps(value))
    entry = {"time": time.time(), "by": _who(), "value": None if deleted else value, "deleted": deleted, "bytes": size}
    history = document["history"].setdefault(key, [])
    history.append(entry)
    del history[:-HISTORY_LIMIT]
    total = sum(_entry_bytes(e) for e in history)
    while len(history) > 1 and total > HISTORY_BYTES:  # large values keep fewer old versions
        total -= _entry_bytes(history.pop(0))


def _entry_bytes(entry: dict[str, Any]) -> int:
    size = entry.get("bytes")
    return int(size) if isinstance(size, int) else len(json.dumps(entry.get("value")))


def _empty() -> dict[str, Any]:
    return {"format": FORMAT, "values": {}, "history": {}}


def _fsync_directory(directory: Path) -> None:
    if os.name == "nt":  # pragma: no cover - directories cannot be opened there
        return
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
