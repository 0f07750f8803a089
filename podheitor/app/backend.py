"""``podheitor-backend <plugin>``: the process a Bacula plugin forks.

It speaks the metaplugin protocol on stdin/stdout and never writes anything else to them:
both are moved to private descriptors and fd 0/1/2 point at /dev/null, so a stray print or
a library warning cannot corrupt the protocol or reach the job log as garbage. Logs go to
the file named by ``log_file=`` or ``PODHEITOR_LOG_FILE``.

SIGUSR1 (Bacula's cancel) and SIGTERM raise ``JobCancelled`` in the main thread: the guard
stack releases everything in reverse order, an ``A`` message is sent if the pipe is still
open, and the process exits. EOF on stdin ends the job the same way, without a traceback.
"""

from __future__ import annotations

import fcntl
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType

from podheitor.adapters.bacula import ptcomm
from podheitor.adapters.bacula.server import (
    BackendServer,
    MessageQueue,
    PeerGone,
    PipeOutput,
    PipeReader,
)
from podheitor.app import joblog, registry
from podheitor.domain.errors import JobCancelled, ParameterError, ProtocolError
from podheitor.domain.guards import GuardStack
from podheitor.domain.jobs import JobInfo
from podheitor.ports.plugin import Plugin, PluginJob

_PIPE_SIZE = 1 << 20  # 1 MiB pipes carry ~3x what 64 KiB pipes do (LABS.md §5)
F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)

EXIT_OK, EXIT_FAILED, EXIT_PROTOCOL, EXIT_INTERNAL = 0, 1, 2, 70


def _isolate_stdio() -> tuple[int, int]:
    """Keep private copies of the protocol pipes; point fd 0/1/2 at /dev/null."""
    proto_in, proto_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    for fd in (proto_in, proto_out):
        os.set_inheritable(fd, False)
        try:
            fcntl.fcntl(fd, F_SETPIPE_SZ, _PIPE_SIZE)
        except OSError:
            pass  # not a pipe (tests use files) or the system limit is lower
    return proto_in, proto_out


class _Cancel:
    """Signal handler for SIGUSR1 (Bacula's cancel) and SIGTERM.

    The first signal raises ``JobCancelled`` where the main thread is, except inside a
    packet write (``whole_packets``): that write finishes first, so the stream stays framed
    and the plugin can be told. A second signal during that write raises at once (the
    plugin stopped reading). Once raised, further signals are ignored so that cleanup runs
    to the end.
    """

    def __init__(self) -> None:
        self.signal: int | None = None
        self.raised = False
        self._writing = False

    def _raise(self) -> None:
        self.raised = True
        assert self.signal is not None
        raise JobCancelled(signal.Signals(self.signal).name)

    def __call__(self, signum: int, _: FrameType | None) -> None:
        if self.raised:
            return
        if self._writing and self.signal is None:
            self.signal = signum  # deferred to the end of the packet
            return
        self.signal = self.signal or signum
        self._raise()

    @contextmanager
    def whole_packets(self) -> Iterator[None]:
        self._writing = True
        try:
            yield
        finally:
            self._writing = False
        if self.signal is not None and not self.raised:
            self._raise()

    def install(self) -> None:
        signal.signal(signal.SIGUSR1, self)
        signal.signal(signal.SIGTERM, self)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # a closed pipe is an EPIPE, handled


class _LogFileParam:
    """Wraps the plugin: a ``log_file=`` parameter re-points the backend's log file before
    the plugin sees its parameters (every plugin accepts it, see ``CommonParams``)."""

    def __init__(self, plugin: Plugin, log_file: joblog.LogFile) -> None:
        self.plugin = plugin
        self.log_file = log_file
        self.name = plugin.name

    def open_job(self, job: JobInfo, params: Sequence[tuple[str, str]], guards: GuardStack
                 ) -> PluginJob:
        for key, value in params:
            if key.lower() == "log_file" and value:
                try:
                    self.log_file.open(value)
                except OSError as exc:
                    raise ParameterError(f"log_file={value!r} cannot be opened: "
                                         f"{exc.strerror}") from exc
        return self.plugin.open_job(job, params, guards)


class _UnknownPlugin:
    """Serves the protocol just far enough to tell Bacula the plugin name is wrong."""

    def __init__(self, error: ParameterError) -> None:
        self.error = error
        self.name = "unknown"

    def open_job(self, job: JobInfo, params: Sequence[tuple[str, str]], guards: GuardStack
                 ) -> PluginJob:
        raise self.error


def _try_abort(out: PipeOutput, text: str) -> None:
    """Tell the plugin the job failed, if the stream can still carry a packet."""
    if out.mid_packet:
        return  # interrupted inside a packet: anything more would be read as its payload
    try:
        out.write([ptcomm.message("A", text)])
    except OSError:
        pass  # the plugin is gone; nobody to tell


def serve(plugin_arg: str, proto_in: int, proto_out: int, cancel: _Cancel) -> int:
    messages = MessageQueue()
    log, log_file = joblog.configure(
        messages.put, os.environ.get("PODHEITOR_LOG_FILE"), plugin=plugin_arg, pid=os.getpid())
    out = PipeOutput(proto_out, messages, cancel.whole_packets)
    plugin: Plugin
    try:
        plugin = registry.load(plugin_arg, log)
    except ParameterError as exc:
        plugin = _UnknownPlugin(exc)
    guards = GuardStack(on_release_error=lambda f: log.error(str(f)))
    server = BackendServer(_LogFileParam(plugin, log_file), PipeReader(proto_in), out, guards,
                           log)
    code = EXIT_OK
    try:
        with guards:  # released in reverse order before any handler below runs
            server.run()
    except JobCancelled as exc:
        code = EXIT_FAILED
        log.error(f"job cancelled ({exc})", job=False)
        _try_abort(out, "job cancelled")
    except PeerGone:
        code = EXIT_FAILED
        log.warning("the plugin closed the pipe before the end of the session", job=False)
    except ProtocolError as exc:
        code = EXIT_PROTOCOL
        log.error(f"protocol error: {exc}", job=False)
        _try_abort(out, f"protocol error: {exc}")
    except OSError as exc:  # EPIPE and friends: the plugin went away mid-write
        code = EXIT_FAILED
        log.warning(f"lost the plugin pipe: {exc}", job=False)
    except Exception as exc:
        code = EXIT_INTERNAL
        log.critical("internal error", exc_info=True, job=False)
        _try_abort(out, f"internal error: {type(exc).__name__}: {exc}")
    finally:
        if server.restore is not None:
            server.restore.abort()
        log_file.close()
    return code


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    proto_in, proto_out = _isolate_stdio()
    cancel = _Cancel()
    cancel.install()
    if len(args) != 1:
        messages = MessageQueue()
        _try_abort(PipeOutput(proto_out, messages),
                   "usage: podheitor-backend <plugin> (e.g. posix)")
        return EXIT_FAILED
    try:
        return serve(args[0], proto_in, proto_out, cancel)
    except JobCancelled:  # cancelled before the session even started
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
