"""Where use cases and adapters report what happened.

Any structlog-style logger fits. The event text is the human sentence that may reach the
Bacula job log; keyword arguments are structured context for the JSON log. How levels
become job messages is decided in one place, ``podheitor.app.joblog``.
"""

from __future__ import annotations

from typing import Any, Protocol


class Log(Protocol):
    def info(self, event: str, **kw: Any) -> Any: ...

    def warning(self, event: str, **kw: Any) -> Any: ...

    def error(self, event: str, **kw: Any) -> Any: ...
