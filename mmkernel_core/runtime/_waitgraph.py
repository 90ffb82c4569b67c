"""Who waits on whom: detects cross-device call cycles before they deadlock.

A runner thread that blocks on another runner records an edge `me -> target`. Before adding it we
walk the edges from `target`; reaching `me` means the two (or more) devices wait on each other, so
the newest waiter fails at once with DeadlockError instead of both hanging until their deadlines.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from mmkernel_sdk.errors import DeadlockError

if TYPE_CHECKING:
    from ._request import Request
    from ._runner import Runner

_thread_state = threading.local()
_lock = threading.Lock()
_edges: dict[Runner, Runner] = {}


def current_runner() -> Runner | None:
    """The runner whose thread is calling, or None for any other thread."""
    return getattr(_thread_state, "runner", None)


def bind_current_thread(runner: Runner) -> None:
    _thread_state.runner = runner


def register_wait(me: Runner, request: Request) -> None:
    """Record that `me` blocks on `request`'s runner, or fail if that closes a cycle."""
    target = request.runner
    assert target is not None
    with _lock:
        chain = [me, target]
        node = _edges.get(target)
        while node is not None and node is not me:
            chain.append(node)
            node = _edges.get(node)
        if node is None:
            _edges[me] = target
            return
    path = " -> ".join(r.name for r in [*chain, me])
    error = DeadlockError(
        request.label,
        request.op,
        f"cross-device call cycle: {path}; {request.op!r} on device {request.label!r} "
        "was refused because that runner is (indirectly) waiting on this one",
    )
    request.finish(exception=error)  # never run it later: the caller has been told it failed
    raise error


def unregister_wait(me: Runner) -> None:
    with _lock:
        _edges.pop(me, None)
