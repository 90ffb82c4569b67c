"""Connections shared by every device on one wire: opened once, closed with the last user.

Two devices on one serial port (two controllers behind one RS-232 multiplexer, a port device
and the adapter that names it) must not open the OS port twice; here they share one open
handle. The kernel also puts them on one runner, so their exchanges never interleave.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

_lock = threading.Lock()
_open: dict[str, _Shared] = {}
_reserved: dict[str, tuple[str, str]] = {}  # key -> (holder, why it cannot be opened here)


class LineTakenError(Exception):
    """The line is driven by another serial stack (see reserve()); the text says which, and what to do."""


class _Shared:
    def __init__(self, key: str, handle: Any, settings: Any) -> None:
        self.key = key
        self.handle = handle
        self.settings = settings
        self.users: list[str] = []


def acquire(key: str, settings: Any, user: str, opener: Callable[[], Any]) -> Any:
    """The open handle for `key` (opened with `opener()` if nobody has it open). Opening it
    with other settings than its current users is refused with a ValueError naming them."""
    with _lock:
        _check_free(key)
        _check_free(key.removeprefix("handle:"))  # a VISA handle on that line too
        shared = _open.get(key)
        if shared is not None:
            if shared.settings != settings:
                raise ValueError(
                    f"it is already open with other settings ({shared.settings}) by {', '.join(shared.users)}"
                )
            shared.users.append(user)
            return shared.handle
    handle = opener()  # outside the lock: opening a real port can take a while
    with _lock:
        shared = _open.get(key)
        if shared is not None:  # someone opened it meanwhile: use theirs
            shared.users.append(user)
            _close(handle)
            return shared.handle
        shared = _open[key] = _Shared(key, handle, settings)
        shared.users.append(user)
    return handle


def release(key: str, user: str) -> None:
    with _lock:
        shared = _open.get(key)
        if shared is None or user not in shared.users:
            return
        shared.users.remove(user)
        if shared.users:
            return
        del _open[key]
    _close(shared.handle)


def users_of(key: str) -> list[str]:
    """Who has `key` open now (empty if nobody)."""
    with _lock:
        shared = _open.get(key)
        return list(shared.users) if shared is not None else []


def reserve(key: str, holder: str, reason: str) -> None:
    """Another serial stack drives the line `key` (Micro-Manager's C++ SerialManager port in a
    pymmcore core): opening it here is refused with LineTakenError(`reason`) until unreserve()."""
    with _lock:
        _reserved[key] = (holder, reason)


def unreserve(key: str, holder: str) -> None:
    with _lock:
        if _reserved.get(key, ("",))[0] == holder:
            del _reserved[key]


def check_free(key: str) -> None:
    """LineTakenError if `key` is reserved (a VISA resource reached through a port device's line)."""
    with _lock:
        _check_free(key)


def _check_free(key: str) -> None:
    taken = _reserved.get(key)
    if taken is not None:
        raise LineTakenError(taken[1])


def reserved_by(key: str) -> str | None:
    """Who reserved `key` (None: nobody)."""
    with _lock:
        taken = _reserved.get(key)
        return taken[0] if taken is not None else None


def open_keys() -> list[str]:
    """What is open now (the conformance kit checks nothing leaks)."""
    with _lock:
        return sorted(_open)


def _close(handle: Any) -> None:
    close = getattr(handle, "close", None)
    if close is not None:
        close()
