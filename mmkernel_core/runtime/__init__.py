"""The runtime: threads and the one request path, knowing nothing of devices, frames or verbs.

- `_request`: Request, the small future every face is built on (`gather`, `then`, `after_ok`,
  KernelFuture).
- `_runner`: Runner, the worker thread that owns one device (or one hub and its peripherals),
  and the Task protocol a camera sequence uses to interleave with requests.
- `_dispatch`: Dispatcher, the one path a call takes to a runner (inline when re-entrant).
- `_watchdog`: deadlines of queued and running calls, and the kernel's own timers.
- `_waitgraph`: cross-runner wait cycles refused before they deadlock.
- `_threads`: fresh parked threads for runners; `_mailbox`: FIFO call threads for user code;
  `_events`: signals delivered on the notification thread; `_eventbus`: that thread and its
  queue, bounded by coalescing value changes while subscribers are behind; `_logs`: log records
  as events; `_checks`: argument checks (whole, finite numbers).

May import: the standard library and `mmkernel_sdk.errors`. Nothing else of mmkernel_core.
"""

from ._checks import is_finite_number, is_whole
from ._dispatch import Dispatcher, check_timeout
from ._eventbus import EventBus
from ._events import KernelEvents, Signal
from ._logs import CallbackHandler, LogEntry
from ._mailbox import Mailbox
from ._request import KernelFuture, Request, after_ok, gather, then
from ._runner import Runner, Task
from ._threads import IDLE_NAME, ThreadPool, kernel_threads, new_thread
from ._waitgraph import current_runner
from ._watchdog import Timer, Watchdog

__all__ = [
    "IDLE_NAME",
    "CallbackHandler",
    "Dispatcher",
    "EventBus",
    "KernelEvents",
    "KernelFuture",
    "LogEntry",
    "Mailbox",
    "Request",
    "Runner",
    "Signal",
    "Task",
    "ThreadPool",
    "Timer",
    "Watchdog",
    "after_ok",
    "check_timeout",
    "current_runner",
    "gather",
    "is_finite_number",
    "is_whole",
    "kernel_threads",
    "new_thread",
    "then",
]
