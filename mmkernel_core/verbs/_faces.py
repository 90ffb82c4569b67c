"""Three faces over one request path.

A kernel verb is written once, as a method returning a `Request`. `@verb` turns it into:
- the blocking face: `kernel.set_property(...)` waits and returns the result;
- the futures face: `kernel.submit.set_property(...)` returns a concurrent.futures.Future;
- the asyncio face: `await kernel.aio.set_property(...)`, from any running loop.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from mmkernel_sdk.errors import KernelClosedError, MMKernelError

from ..runtime import Request

RequestMethod = Callable[..., Request]


class verb:  # noqa: N801 - used as a decorator
    """Marks a Kernel method returning a Request; instance attribute access gives the blocking face."""

    def __init__(self, fn: RequestMethod) -> None:
        self.fn = fn
        self.name = fn.__name__
        self.__doc__ = fn.__doc__
        self._blocking: Callable[..., Any] | None = None

    def blocking(self, fn: Callable[..., Any]) -> verb:
        """Give the blocking face its own body (for a shortcut such as from_cache reads). The
        body is called directly, so it must refuse to run on a closed kernel itself
        (`if self._closed: raise closed_error(...)`)."""
        self._blocking = fn
        return self

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        name = self.name
        if self._blocking is not None:
            bound = self._blocking.__get__(obj)  # no wrapper: it is the fast path
        else:
            request_fn = self.fn

            @functools.wraps(request_fn)
            def bound(*args: Any, **kwargs: Any) -> Any:
                if obj._closed:
                    raise closed_error(name)
                return request_fn(obj, *args, **kwargs).result()

        obj.__dict__[name] = bound  # cached: later lookups skip this descriptor
        return bound

    def request(self, obj: Any, *args: Any, **kwargs: Any) -> Request:
        """The verb's Request; errors found before dispatch become a failed Request."""
        label = str(args[0]) if args else ""
        if obj._closed:
            return Request.failed(label, self.name, closed_error(self.name))
        try:
            return self.fn(obj, *args, **kwargs)
        except MMKernelError as error:
            return Request.failed(label, self.name, error)


def closed_error(verb_name: str) -> KernelClosedError:
    return KernelClosedError(f"{verb_name}(): the kernel is closed")


def verbs_of(kind: type) -> dict[str, verb]:
    found: dict[str, verb] = {}
    for klass in reversed(kind.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, verb):
                found[name] = value
    return found


class _Face:
    def __init__(self, kernel: Any) -> None:
        self._kernel = kernel
        self._verbs = verbs_of(type(kernel))

    def __dir__(self) -> list[str]:
        return sorted(self._verbs)

    def _verb(self, name: str) -> verb:
        try:
            return self._verbs[name]
        except KeyError:
            raise AttributeError(f"{name!r} is not a kernel verb; verbs: {', '.join(sorted(self._verbs))}") from None


class SubmitFace(_Face):
    """`kernel.submit.<verb>(...)` -> concurrent.futures.Future, callable from any thread.
    `cancel()` works until the call starts; done-callbacks run on the kernel's callback thread."""

    def __getattr__(self, name: str) -> Callable[..., Future[Any]]:
        the_verb, kernel = self._verb(name), self._kernel

        @functools.wraps(the_verb.fn)
        def submit(*args: Any, **kwargs: Any) -> Future[Any]:
            return the_verb.request(kernel, *args, **kwargs).to_future(kernel._callbacks.post)

        setattr(self, name, submit)
        return submit


class AioFace(_Face):
    """`await kernel.aio.<verb>(...)` from any running event loop; no loop owns the kernel.
    Cancelling the awaiting task cancels a call that has not started (it then never runs)."""

    def stream(
        self, camera: str | None = None, count: int | None = None, interval_ms: float = 0.0, overflow: str = "stop"
    ) -> Any:
        """`async for frame in kernel.aio.stream("Cam", count=100)`: see Kernel.stream."""
        from ..frames import AsyncStream

        return AsyncStream(self._kernel, camera, count, interval_ms, overflow)

    def __getattr__(self, name: str) -> Callable[..., asyncio.Future[Any]]:
        the_verb, kernel = self._verb(name), self._kernel

        @functools.wraps(the_verb.fn)
        def awaitable(*args: Any, **kwargs: Any) -> asyncio.Future[Any]:
            loop = asyncio.get_running_loop()  # before anything is dispatched: no loop, no call
            return the_verb.request(kernel, *args, **kwargs).to_asyncio(loop)

        setattr(self, name, awaitable)
        return awaitable
