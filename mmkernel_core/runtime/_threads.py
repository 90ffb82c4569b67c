"""Fresh threads, started before they are needed, for runners.

Starting a thread costs 1-5 ms on a busy 2-core machine (the caller waits until the new thread
has been scheduled), and a configuration load starts a runner per device or hub. So a kernel
keeps threads parked that have never run anything: a new runner takes one at once. A thread
serves one runner only (adapters may keep per-thread state: a vendor SDK's thread-local
session, an asyncio loop, context variables, which must not leak into another device); when its
runner ends, the thread starts its own replacement, off the caller's path, and exits. The number
kept parked grows to the most runners the kernel has had at once, so a reload finds as many
fresh threads as the previous system used.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from queue import SimpleQueue

log = logging.getLogger("mmkernel.threads")
IDLE_NAME = "mmkernel-idle-runner"
_made: weakref.WeakSet[threading.Thread] = weakref.WeakSet()  # every thread kernel code started


def new_thread(
    target: Callable[..., object], name: str, *, args: tuple[object, ...] = (), daemon: bool = True
) -> threading.Thread:
    """A thread for kernel code (not started): the kernel knows its own threads by identity,
    so a leak check can tell them from a device's without trusting names."""
    thread = threading.Thread(target=target, name=name, args=args, daemon=daemon)
    _made.add(thread)
    return thread


def kernel_threads() -> set[threading.Thread]:
    """The threads kernel code started that have not ended (runners, events, callbacks, the
    watchdog, parked runner threads, recordings), in every kernel of this process."""
    return {thread for thread in list(_made) if thread.is_alive() or thread.ident is None}  # None: starting


class _Worker:
    def __init__(self, pool: ThreadPool) -> None:
        self.pool = pool
        self.jobs: SimpleQueue[Callable[[], None] | None] = SimpleQueue()
        self.thread = new_thread(self._serve, IDLE_NAME)

    def _serve(self) -> None:
        job = self.jobs.get()
        if job is None:
            return
        try:
            job()
        except BaseException:  # a runner's loop handles its own errors; this is the last guard
            log.exception("thread %s: its runner ended with an error", self.thread.name)
        finally:
            self.pool._finished()


class ThreadPool:
    """`spare` fresh threads parked up front; at most `most` kept parked."""

    def __init__(self, spare: int = 4, most: int = 32) -> None:
        self._lock = threading.Lock()
        self._stocked = threading.Condition(self._lock)
        self._idle: list[_Worker] = []
        self._closed = False
        self._most = most
        self._wanted = spare  # grows to the most runners running at once
        self._running = 0
        self.started_for_callers = 0  # threads a caller had to wait for (none parked)
        for _ in range(spare):
            self._park_new()

    def run(self, target: Callable[[], None], name: str) -> threading.Thread:
        """Run `target` on a fresh parked thread (a new one if none is parked), named `name`."""
        with self._lock:
            worker = self._idle.pop() if self._idle else None
            self._running += 1
            self._wanted = min(self._most, max(self._wanted, self._running))
            if worker is None:
                self.started_for_callers += 1
        fresh = worker is None
        if worker is None:
            worker = _Worker(self)
        worker.thread.name = name
        worker.jobs.put(target)
        if fresh:
            worker.thread.start()
        return worker.thread

    def _finished(self) -> None:
        """On the thread whose runner just ended: park a replacement if one is wanted."""
        with self._lock:
            self._running -= 1
            replace = not self._closed and len(self._idle) + self._running < self._wanted
        if replace:
            self._park_new()

    def _park_new(self) -> None:
        worker = _Worker(self)
        worker.thread.start()
        with self._lock:
            if self._closed:
                worker.jobs.put(None)
                return
            self._idle.append(worker)
            self._stocked.notify_all()

    def wait_stocked(self, timeout: float) -> bool:
        """Wait until as many threads are parked as are wanted (the replacements of ended
        runners have started); False if `timeout` passed first."""
        with self._lock:
            return self._stocked.wait_for(self._is_stocked, timeout)

    def _is_stocked(self) -> bool:
        return self._closed or len(self._idle) + self._running >= self._wanted

    def close(self) -> None:
        """Parked threads end now; threads still running a runner end when it does."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.jobs.put(None)
