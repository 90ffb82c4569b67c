"""Parked threads that runners adopt.

Starting a thread costs 1-5 ms on a busy 2-core machine (the caller waits until the new thread
has been scheduled), and a configuration load starts one runner per device or hub. A kernel
keeps a few threads parked: a new runner adopts one, and a runner that ends hands its thread
back, so reloading a configuration starts no thread at all.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from queue import SimpleQueue

log = logging.getLogger("mmkernel.threads")
IDLE_NAME = "mmkernel-idle-runner"


class _Worker:
    def __init__(self, pool: ThreadPool) -> None:
        self.pool = pool
        self.jobs: SimpleQueue[Callable[[], None] | None] = SimpleQueue()
        self.thread = threading.Thread(target=self._serve, name=IDLE_NAME, daemon=True)

    def _serve(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            try:
                job()
            except BaseException:  # a runner's loop handles its own errors; this is the last guard
                log.exception("thread %s: its runner ended with an error", self.thread.name)
            if not self.pool._park(self):
                return


class ThreadPool:
    """`spare` threads started up front; up to `keep` ended runners' threads kept for reuse."""

    def __init__(self, spare: int = 4, keep: int = 32) -> None:
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._keep = keep
        self._closed = False
        for _ in range(spare):
            worker = _Worker(self)
            worker.thread.start()
            self._idle.append(worker)

    @property
    def idle(self) -> int:
        return len(self._idle)

    def run(self, target: Callable[[], None], name: str) -> threading.Thread:
        """Run `target` on a parked thread (a new one if none is parked), named `name`."""
        with self._lock:
            worker = self._idle.pop() if self._idle else None
        fresh = worker is None
        if worker is None:
            worker = _Worker(self)
        worker.thread.name = name
        worker.jobs.put(target)
        if fresh:
            worker.thread.start()
        return worker.thread

    def _park(self, worker: _Worker) -> bool:
        with self._lock:
            if self._closed or len(self._idle) >= self._keep:
                return False
            worker.thread.name = IDLE_NAME
            self._idle.append(worker)
            return True

    def close(self) -> None:
        """Parked threads end now; threads still running a runner end when it does."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.jobs.put(None)
