"""Structured log records for applications: `kernel.add_log_callback(fn)`."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ._events import Signal


@dataclass(frozen=True)
class LogEntry:
    """One kernel log record, as handed to log callbacks."""

    time: float
    level: str
    logger: str
    device: str | None
    thread: str
    message: str


class CallbackHandler(logging.Handler):
    """Turns `mmkernel` log records into LogEntry events (delivered on the event thread)."""

    def __init__(self, signal: Signal) -> None:
        super().__init__(logging.DEBUG)
        self._signal = signal

    def emit(self, record: logging.LogRecord) -> None:
        try:
            entry = LogEntry(
                time=record.created,
                level=record.levelname,
                logger=record.name,
                device=getattr(record, "device", None),
                thread=record.threadName or "",
                message=record.getMessage(),
            )
        except Exception:  # noqa: BLE001 - a malformed record must not break the caller
            self.handleError(record)
            return
        self._signal.emit(entry)
