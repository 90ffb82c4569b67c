"""An asyncio loop on a thread of its own, for one recording's store writes.

zarr's stores are asynchronous (a local store writes in `asyncio.to_thread`), so keeping a few
chunk writes in flight is what brings zarr to disk speed. Stream writers submit coroutines here
from their own threads and wait on the returned futures only when too many are in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from ..runtime import new_thread

T = TypeVar("T")


class IoLoop:
    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = new_thread(self._run, name)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.submit(coroutine).result()

    def close(self) -> None:
        if self.loop.is_closed():
            return

        async def shutdown() -> None:
            await self.loop.shutdown_default_executor()
            self.loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop)
        self._thread.join()
        self.loop.close()
