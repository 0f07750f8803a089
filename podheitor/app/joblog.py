"""Logging, configured once: JSON lines to a log file, job messages to Bacula.

Use cases log through a structlog logger (anything with ``info``/``warning``/``error``).
The pipeline redacts secrets, routes warnings and errors (and infos marked ``job=True``)
to a job-message sink, and renders JSON lines into the log file if one is set. Nothing
is ever written to stdout or stderr: in a backend those are the plugin's pipes.

Levels become Bacula job messages as: info (job=True) -> I, warning -> W,
error -> Q (a non-fatal job error: the job goes on), critical -> A (the job fails);
``job=False`` keeps an event in the log file only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, MutableMapping
from typing import IO, Any

import structlog

_SECRET = re.compile(r"pass(word|wd|phrase)?|secret|token|psk|api_?key|private|credential|"
                     r"^key$|_key$|signing", re.IGNORECASE)
_LETTER = {"warning": "W", "error": "Q", "critical": "A"}

MessageSink = Callable[[str, str], None]  # (letter, text)


def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Replace the values of secret-looking keys, also inside nested dicts."""
    def clean(mapping: MutableMapping[str, Any]) -> None:
        for key, value in mapping.items():
            if _SECRET.search(str(key)):
                mapping[key] = "***"
            elif isinstance(value, dict):
                clean(value)
    clean(event)
    return event


class JobMessages:
    """The processor that turns log events into Bacula job messages."""

    def __init__(self, sink: MessageSink | None = None) -> None:
        self.sink = sink

    def __call__(self, _: Any, method: str, event: MutableMapping[str, Any]
                 ) -> MutableMapping[str, Any]:
        to_job = event.pop("job", None)  # True: also infos; False: log file only
        letter = None if to_job is False else _LETTER.get(method)
        if to_job and method == "info":
            letter = "I"
        if letter and self.sink is not None:
            self.sink(letter, str(event.get("event", "")))
        return event


class LogFile:
    """The JSON-lines destination; can be (re)pointed once the job parameters are known."""

    def __init__(self) -> None:
        self._file: IO[str] | None = None
        self.path: str | None = None

    def open(self, path: str | None) -> None:
        if path == self.path:
            return
        self.close()
        if path:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
            self._file = os.fdopen(fd, "a", buffering=1, encoding="utf-8", errors="replace")
        self.path = path

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file = None

    def msg(self, message: str) -> None:
        if self._file is not None:
            self._file.write(message + "\n")

    # structlog calls the logger's method named after the level
    debug = info = warning = error = critical = exception = log = msg


def configure(messages: MessageSink | None = None, log_file: str | None = None,
              **context: Any) -> tuple[Any, LogFile]:
    """Configure structlog for this process; returns the bound logger and its log file."""
    router = JobMessages(messages)
    destination = LogFile()
    destination.open(log_file)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact,
            router,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=lambda *_: destination,
        cache_logger_on_first_use=False,
    )
    return structlog.get_logger().bind(**context), destination
