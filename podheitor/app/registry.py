"""Which plugins exist: the one place that maps a plugin name to its implementation."""

from __future__ import annotations

from collections.abc import Callable

from podheitor.domain.errors import ParameterError
from podheitor.ports.log import Log
from podheitor.ports.plugin import Plugin


def _posix(log: Log) -> Plugin:
    from podheitor.app.plugins.posix import PosixPlugin  # imported lazily: keep start-up lean
    return PosixPlugin(log)


PLUGINS: dict[str, Callable[[Log], Plugin]] = {"posix": _posix}


def plugin_name(raw: str) -> str:
    """``podheitor-posix``, ``podheitor-posix-fd`` and ``posix`` all name the posix plugin."""
    return raw.removeprefix("podheitor-").removesuffix("-fd")


def load(raw: str, log: Log) -> Plugin:
    name = plugin_name(raw)
    factory = PLUGINS.get(name)
    if factory is None:
        raise ParameterError(f"unknown plugin {raw!r}; known: {', '.join(sorted(PLUGINS))}")
    return factory(log)
