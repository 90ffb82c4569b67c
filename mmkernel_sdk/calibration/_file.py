"""CalibrationFile: one device's calibration on disk, safe against crashes and other processes.

- Writes are atomic: the new content goes to a temporary file in the same directory, is flushed
  and fsynced, the current file becomes `.bak`, the temporary file is renamed over it and the
  directory is fsynced. A writer killed at any moment leaves the previous version readable.
- Writers are serialised by an advisory lock on `<file>.lock` (another process, another
  kernel); each change re-reads the file under the lock, so no update is lost.
- A corrupt file is reported (naming it) and the last good version (`.bak`) is used instead;
  the next write sets the corrupt file aside (`.corrupt-<time>`), never over the good `.bak`.
- Every change is kept in a timestamped history per key, bounded in count and in bytes (the
  oldest entry kept says so, so `revert` never mistakes a cut history for a key's beginning),
  and a deleted key's history is kept only for the most recently deleted keys.
- No file of a store is followed if it is a symbolic link (the file, its `.bak`, its `.lock`),
  and files get the permissions the umask in force gives (as `open()` would), read at each
  write by the kernel itself: nothing here changes the process's umask.
- Any file-system error reading the store (not a directory, permission denied, a share gone) is
  a `CalibrationError` naming the file, like a corrupt one.
"""

from __future__ import annotations

import contextlib
import errno
import getpass
import json
import os
import secrets
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HISTORY_LIMIT = 50  # changes kept per key ...
HISTORY_BYTES = 1 << 20  # ... and at most about this much JSON of old values per key (the newest always)
DELETED_KEYS_KEPT = 50  # the histories of at most this many deleted keys (the most recently deleted)
FORMAT = 1
_NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)
_FLAGS = _NO_FOLLOW | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


class CalibrationError(Exception):
    """The calibration store cannot be read or written (the message names the file)."""


class _UnreachableError(CalibrationError):
    """The file system would not say whether the store is there (not a directory, permission
    denied, a share gone): nothing to set aside, and a write must not start a new store."""


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
        descriptor = _open_file(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT)
        try:
            if os.name == "nt":  # pragma: no cover - Windows
                import msvcrt

                msvcrt.locking(descriptor, msvcrt.LK_LOCK, 1)
            else:
                import fcntl

                fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # closing releases the lock


def _open_file(path: Path, flags: int) -> int:
    """`os.open`, refusing a symbolic link as the file itself (a link planted as a store's
    `.bak` or `.lock` would have a write or a read follow it anywhere). New files get
    0666 & ~umask, the umask in force now (the kernel applies it), as `open()` gives them."""
    if not _NO_FOLLOW and os.path.islink(path):  # pragma: no cover - systems without O_NOFOLLOW
        raise _link_refused(path)
    try:
        return os.open(path, flags | _FLAGS, 0o666)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.EMLINK) or os.path.islink(path):
            raise _link_refused(path) from None
        raise


def _link_refused(path: Path) -> CalibrationError:
    target = "?"
    with contextlib.suppress(OSError):
        target = os.readlink(path)
    return CalibrationError(
        f"calibration file {path} is a symbolic link (to {target!r}); the files of a store are never "
        "followed as links: remove it"
    )


def _read_bytes(path: Path) -> bytes:
    with os.fdopen(_open_file(path, os.O_RDONLY), "rb") as file:
        return file.read()


_locks: dict[Path, threading.RLock] = {}
_locks_guard = threading.Lock()


def _thread_lock(path: Path) -> threading.RLock:
    with _locks_guard:
        return _locks.setdefault(path, threading.RLock())


_writing = threading.local()  # the stores this thread is changing now (an update() callback runs inside)


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
            stat = os.stat(self.path, follow_symlinks=False)
        except FileNotFoundError:
            return self._from_backup_or_empty(None)
        except OSError as error:  # not a directory, permission denied, a share gone: say which file
            raise _UnreachableError(f"calibration file {self.path} cannot be read: {_reason(error)}") from None
        signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if self._cached is not None and self._cached[0] == signature:
            return self._cached[1]
        try:
            document, damage = self._parse(self.path)
            self.fell_back = bool(damage)  # the damaged file is set aside at the next write
            if damage:
                warnings.warn(f"calibration file {self.path}: {damage}", CalibrationWarning, stacklevel=4)
        except CalibrationError as error:
            self.fell_back = True
            document = self._from_backup_or_empty(error)
        self._cached = (signature, document)
        return document

    def _from_backup_or_empty(self, problem: CalibrationError | None) -> dict[str, Any]:
        if not os.path.lexists(self.backup):
            if problem is not None:
                raise problem
            return _empty()
        try:
            document, _ = self._parse(self.backup)
        except CalibrationError as error:
            if problem is None:
                raise
            raise CalibrationError(f"{problem}; and its backup too: {error}") from None
        if problem is not None:
            warnings.warn(f"{problem}; using the last good version, {self.backup}", CalibrationWarning, stacklevel=4)
        return document

    def _parse(self, path: Path) -> tuple[dict[str, Any], str]:
        """The document, and what was wrong with its history ("" if nothing): a damaged history
        is dropped (the values are kept); anything else wrong makes the file unreadable."""
        try:
            document = json.loads(_read_bytes(path).decode("utf-8"))
        except CalibrationError:
            raise
        except OSError as error:
            raise CalibrationError(f"calibration file {path} is unreadable or corrupt: {_reason(error)}") from None
        except (UnicodeDecodeError, ValueError, RecursionError) as error:  # ValueError: bad JSON, huge numbers
            raise CalibrationError(f"calibration file {path} is unreadable or corrupt: {error}") from None
        if not isinstance(document, dict) or not isinstance(document.get("values"), dict):
            raise CalibrationError(f"calibration file {path} is not a calibration store (no 'values' table)")
        document["history"], damage = _valid_history(document.get("history", {}))
        return document, damage

    # -- writing ----------------------------------------------------------------------------
    def change(self, edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Apply `edit` to the current document under the lock, then write it atomically."""
        if self.read_only:
            raise CalibrationError(f"calibration file {self.path} is read-only (a site layer)")
        writing: set[str] = _writing.__dict__.setdefault("paths", set())
        key = os.path.realpath(self.path)
        if key in writing:
            raise CalibrationError(
                f"calibration file {self.path}: written from inside an update() of the same store, which holds "
                "its lock; return the new value from the update function instead, or write after update() returns"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        writing.add(key)
        try:
            return self._change_locked(edit)
        finally:
            writing.discard(key)

    def _change_locked(self, edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        with _locked(self.path):
            self._remove_stale_temporaries()
            self._cached = None
            try:
                current = self.load()
            except _UnreachableError:
                raise
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
        if os.path.lexists(self.path):
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
        handle, temporary = self._temporary()
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(text)
                file.flush()
                os.fsync(file.fileno())
            if os.path.lexists(self.path):
                os.replace(self.path, self.backup)  # the last good version stays readable
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        _fsync_directory(self.path.parent)
        self._cached = None

    def _temporary(self) -> tuple[int, Path]:
        """A new file beside the store, 0666 & ~umask like `open()` makes (so a store copied to
        a site layer is readable by the lab): not `mkstemp`, which makes 0600 whatever the umask."""
        while True:
            temporary = self.path.with_name(f"{self.path.name}.{secrets.token_hex(6)}.tmp")
            try:
                return _open_file(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL), temporary
            except FileExistsError:
                continue


def record(document: dict[str, Any], key: str, value: Any, deleted: bool = False) -> None:
    """Set (or delete) `key` and append the change to its bounded history."""
    existed = key in document["values"]
    if deleted:
        document["values"].pop(key, None)
    else:
        document["values"][key] = value
    size = 0 if deleted else len(json.dumps(value))
    entry = {"time": time.time(), "by": _who(), "value": None if deleted else value, "deleted": deleted, "bytes": size}
    history = document["history"].setdefault(key, [])
    cut = existed and not history  # a value without a history (dropped as damaged): this is not its first change
    history.append(entry)
    cut = cut or len(history) > HISTORY_LIMIT
    del history[:-HISTORY_LIMIT]
    total = sum(_entry_bytes(e) for e in history)
    while len(history) > 1 and total > HISTORY_BYTES:  # large values keep fewer old versions
        total -= _entry_bytes(history.pop(0))
        cut = True
    if cut:
        history[0]["cut"] = True  # older changes were dropped: this is not the key's first
    _forget_long_deleted(document)


def _forget_long_deleted(document: dict[str, Any]) -> None:
    """Keep the histories of the DELETED_KEYS_KEPT most recently deleted keys only (a script
    making and deleting keys would otherwise grow the store, and every write, without end)."""
    values, history = document["values"], document["history"]
    deleted = [key for key in history if key not in values]
    if len(deleted) <= DELETED_KEYS_KEPT:
        return
    deleted.sort(key=lambda k: history[k][-1]["time"] if history[k] else 0.0)
    for key in deleted[: len(deleted) - DELETED_KEYS_KEPT]:
        del history[key]


def history_is_cut(entries: list[dict[str, Any]]) -> bool:
    """Whether changes older than the first of `entries` were dropped (files written before the
    marker existed: a full history is taken as cut, so that nothing is deleted by mistake)."""
    return bool(entries) and (bool(entries[0].get("cut")) or len(entries) >= HISTORY_LIMIT)


def _valid_history(history: Any) -> tuple[dict[str, list[dict[str, Any]]], str]:
    """The usable part of a history table, and what was dropped ("" if nothing)."""
    if not isinstance(history, dict):
        return {}, f"its history is not a table ({type(history).__name__}): the values are kept, the history dropped"
    valid: dict[str, list[dict[str, Any]]] = {}
    damaged = []
    for key, entries in history.items():
        kept = [e for e in entries if _valid_entry(e)] if isinstance(entries, list) else []
        if not isinstance(entries, list) or len(kept) != len(entries):
            damaged.append(key)
            if kept:
                kept[0]["cut"] = True  # what came before it is not known
        valid[key] = kept
    if damaged:
        keys = ", ".join(map(repr, damaged))
        return valid, f"the history of {keys} is damaged: the values are kept, the damaged entries dropped"
    return valid, ""


def _valid_entry(entry: Any) -> bool:
    return (
        isinstance(entry, dict)
        and "value" in entry
        and isinstance(entry.get("time"), (int, float))
        and isinstance(entry.get("deleted", False), bool)
    )


def _reason(error: OSError) -> str:
    return f"{error.strerror or error} ({type(error).__name__})"


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
