#!/usr/bin/env python3
"""A tiny stand-in podheitor backend: the metaplugin protocol over stdin/stdout.

Stdlib only, so the shim can be tested without the real backend. It backs up and
restores a POSIX tree like ``podheitor-backend posix`` (param ``path=<dir>``), and
injects faults on request (param ``fault=``) for the crash-isolation tests:

* ``stderr``    writes a line to stderr, then works normally
* ``die``       exits with status 3 right after the handshake
* ``crash``     raises an exception (a Python traceback on stderr, exit status 1)
* ``malformed`` sends a frame with a broken header in the middle of the backup
* ``pause``     sends part of the first file's data, writes its pid to the FIFO
                ``pidfifo=<path>`` and waits to be killed or cancelled
* ``abort``     sends an ``A`` (fatal) message instead of the file list
* ``restore_die`` backs up normally, but exits with status 5 when restore data arrives
* ``hang``      says nothing after the start command (the plugin must time out)
* ``stubborn``  like ``pause``, but notes and ignores SIGUSR1 and SIGTERM (only SIGKILL
                ends it)

``signal_log=<file>`` appends "SIGUSR1" to the file when Bacula cancels the job.
``meta=1`` adds a restore object and ACL/XATTR blocks to the backup; ``meta_log=<file>``
records, one line each, the Job and Params blocks, the start command and every restore
object, ACL and XATTR block the plugin sends back at restore.
"""

from __future__ import annotations

import os
import signal
import stat
import sys
from typing import BinaryIO

CHUNK = 999_999  # the largest payload PTCOMM allows


class Peer:
    """PTCOMM frames: status letter, 6 decimal digits of length, newline, payload."""

    def __init__(self, rfile: BinaryIO, wfile: BinaryIO) -> None:
        self.r, self.w = rfile, wfile

    def read(self) -> tuple[str, bytes]:
        head = self.r.read(8)
        if len(head) < 8:
            raise EOFError("plugin closed the pipe")
        status, length = chr(head[0]), int(head[1:7])
        if status in "FT":
            return status, b""
        data = self.r.read(length) if length else b""
        return status, data

    def command(self) -> tuple[str, str]:
        status, data = self.read()
        return status, data.decode("utf-8", "surrogateescape").rstrip("\n")

    def send(self, status: str, payload: bytes = b"", length: int | None = None) -> None:
        """A frame; with ``length``, only the header (the caller writes the payload)."""
        size = len(payload) if length is None else length
        self.w.write(f"{status}{size:06d}\n".encode() + payload)

    def cmd(self, text: str) -> None:
        self.send("C", (text + "\n").encode("utf-8", "surrogateescape"))

    def eod(self) -> None:
        self.send("F")

    def flush(self) -> None:
        self.w.flush()

    def block(self) -> dict[str, str]:
        """Reads "key=value" commands until F."""
        out: dict[str, str] = {}
        while True:
            status, text = self.command()
            if status == "F":
                return out
            key, _, value = text.partition("=")
            out[key] = value


def stat_line(st: os.stat_result, kind: str, extra: str = "") -> str:
    return (f"STAT:{kind} {st.st_size} {st.st_uid} {st.st_gid} {st.st_mode:o} {st.st_nlink}"
            + extra)


class Backup:
    def __init__(self, peer: Peer, job: dict[str, str], params: dict[str, str]) -> None:
        self.peer = peer
        self.since = int(job.get("Since", "0")) if job.get("Level", "F") != "F" else 0
        self.estimate = job.get("Type") == "E"
        self.fault = params.get("fault", "")
        self.params = params
        self.links: dict[tuple[int, int], tuple[str, int]] = {}
        self.sent_files = 0

    def changed(self, st: os.stat_result) -> bool:
        return not self.since or max(int(st.st_mtime), int(st.st_ctime)) >= self.since

    def attrs(self, path: str, st: os.stat_result, kind: str, extra: str = "") -> None:
        self.peer.cmd(f"FNAME:{path}")
        self.peer.cmd(stat_line(st, kind, extra))
        self.peer.cmd(f"TSTAMP:{int(st.st_atime)} {int(st.st_mtime)} {int(st.st_ctime)}")

    def file_index(self) -> int:
        self.peer.cmd("FileIndex")
        self.peer.flush()
        _, text = self.peer.command()
        return int(text)

    def extras(self, path: str) -> None:
        """ACL and XATTR blocks after a file's data (meta=1)."""
        if self.params.get("meta") and not self.estimate:
            for kind in ("ACL", "XATTR"):
                self.peer.cmd(kind)
                self.peer.send("D", f"{kind.lower()}:{path}".encode())
                self.peer.eod()

    def regular(self, path: str, st: os.stat_result) -> None:
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in self.links and not self.estimate:
            original, index = self.links[key]
            self.attrs(path, st, "L", f" {index}")
            self.peer.cmd(f"LSTAT:{original}")
            self.peer.eod()
            self.peer.eod()        # no data
            return
        empty_public = st.st_size == 0 and (st.st_mode & 0o444) == 0o444
        self.attrs(path, st, "E" if empty_public else "F")
        self.peer.eod()
        if self.estimate:
            return
        with open(path, "rb") as f:
            if st.st_size:
                self.peer.cmd("DATA")
            offset = 0
            while offset < st.st_size:
                # Data moves file -> pipe with splice (no copy through this process);
                # a file that shrank meanwhile just ends early.
                n = min(CHUNK, st.st_size - offset)
                self.peer.send("D", length=n)
                self.peer.flush()
                done = 0
                while done < n:
                    moved = os.splice(f.fileno(), self.peer.w.fileno(), n - done,
                                      offset_src=offset + done)
                    if moved == 0:
                        raise RuntimeError(f"{path} shrank while being saved")
                    done += moved
                offset += n
                if self.fault in ("pause", "stubborn"):
                    self.pause()
            self.peer.eod()
        self.extras(path)
        if st.st_nlink > 1:
            self.links[key] = (path, self.file_index())

    def pause(self) -> None:
        if self.fault == "stubborn":
            for sig in (signal.SIGUSR1, signal.SIGTERM):
                signal.signal(sig, lambda n, _: note_signal(self.params.get("signal_log"), n))
        self.peer.flush()
        with open(self.params["pidfifo"], "w") as fifo:
            fifo.write(f"{os.getpid()}\n")
        while True:
            signal.pause()

    def tree(self, top: str) -> None:
        """Contents before their directory, as Bacula itself saves them."""
        for entry in sorted(os.scandir(top), key=lambda e: e.name):
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                self.tree(entry.path)
            elif not self.changed(st):
                continue
            elif stat.S_ISLNK(st.st_mode):
                self.attrs(entry.path, st, "S")
                self.peer.cmd(f"LSTAT:{os.readlink(entry.path)}")
                self.peer.eod()
                if not self.estimate:
                    self.peer.eod()
            elif stat.S_ISREG(st.st_mode):
                self.regular(entry.path, st)
            if self.fault == "malformed" and self.sent_files == 2:
                self.peer.w.write(b"C12x45\nnonsense")
            self.sent_files += 1
        st = os.lstat(top)
        if self.changed(st):
            self.attrs(top.rstrip("/") + "/", st, "D")
            self.peer.eod()
            if not self.estimate:
                self.peer.eod()
            self.extras(top.rstrip("/") + "/")

    def run(self, top: str) -> None:
        if self.fault == "abort":
            self.peer.send("A", b"standin: refusing to back up\n")
            self.peer.flush()
            return
        if self.params.get("meta") and not self.estimate:
            data = b"config-v1"
            self.peer.cmd("RESTOREOBJ:standin-config")
            self.peer.cmd(f"RESTOREOBJ_LEN:{len(data)}")
            self.peer.send("D", data)
            self.peer.eod()
        self.tree(top)
        self.peer.eod()            # no more files
        self.peer.flush()


class Restore:
    def __init__(self, peer: Peer, log: MetaLog, fault: str) -> None:
        self.peer = peer
        self.log = log
        self.fault = fault
        self.current = ""
        self.pending: tuple[str, dict[str, str]] | None = None
        self.dirs: list[tuple[str, dict[str, str]]] = []

    def attributes(self) -> dict[str, str]:
        out: dict[str, str] = {}
        while True:
            status, text = self.peer.command()
            if status == "F":
                return out
            key, _, value = text.partition(":")
            out[key] = value

    @staticmethod
    def apply(path: str, attrs: dict[str, str], *, link: bool = False) -> None:
        _, _, uid, gid, mode, *_ = attrs["STAT"].split()
        atime, mtime, _ = (int(x) for x in attrs["TSTAMP"].split())
        if os.geteuid() == 0:
            os.lchown(path, int(uid), int(gid))
        if not link:
            os.chmod(path, int(mode, 8) & 0o7777)
        os.utime(path, (atime, mtime), follow_symlinks=not link)

    def close_pending(self) -> None:
        if self.pending:
            path, attrs = self.pending
            self.pending = None
            self.apply(path, attrs)

    def create(self, path: str) -> None:
        attrs = self.attributes()
        kind = attrs["STAT"][0]
        if kind != "D":
            os.makedirs(os.path.dirname(path.rstrip("/")), exist_ok=True)
        if kind == "D":
            os.makedirs(path, exist_ok=True)
            self.dirs.append((path, attrs))
        elif kind in "SL":
            if os.path.lexists(path):
                os.unlink(path)
            if kind == "S":
                os.symlink(attrs["LSTAT"], path)
                self.apply(path, attrs, link=True)
            else:
                os.link(attrs["LSTAT"], path)
        else:
            with open(path, "wb"):
                pass
            self.pending = (path, attrs)
        self.peer.cmd("OK")
        self.peer.flush()

    def data(self) -> None:
        assert self.pending, "DATA without a file"
        if self.fault == "restore_die":
            os._exit(5)
        with open(self.pending[0], "wb") as f:
            while True:
                status, chunk = self.peer.read()
                if status == "F":
                    break
                f.write(chunk)
        self.close_pending()
        self.peer.cmd("OK")
        self.peer.flush()

    def run(self) -> None:
        while True:
            status, text = self.peer.command()
            if text.startswith("FNAME:"):
                self.close_pending()
                self.current = text[6:]
                self.create(text[6:])
            elif text == "DATA":
                self.data()
            elif text in ("ACL", "XATTR") or text.startswith("RESTOREOBJ:"):
                what = f"{text} {self.current}" if text in ("ACL", "XATTR") else text
                if text.startswith("RESTOREOBJ:"):
                    what += " " + self.peer.command()[1]       # RESTOREOBJ_LEN:<n>
                data = b""
                while (packet := self.peer.read())[0] != "F":
                    data += packet[1]
                self.log.write(f"{what} {data.decode()}")
                self.peer.cmd("OK")
                self.peer.flush()
            elif text == "FINISH":
                self.close_pending()
                for path, attrs in reversed(self.dirs):
                    self.apply(path, attrs)
                self.peer.eod()
                self.peer.flush()
                return
            else:
                raise RuntimeError(f"unexpected {status} {text!r}")


class MetaLog:
    """``meta_log=<file>``: one line per event the tests check."""

    def __init__(self) -> None:
        self.path: str | None = None

    def write(self, line: str) -> None:
        if self.path:
            with open(self.path, "a") as f:
                f.write(line + "\n")


def note_signal(log: str | None, signum: int) -> None:
    if log:
        with open(log, "a") as f:
            f.write(f"{signal.Signals(signum).name}\n")


def on_cancel(log: str | None) -> None:
    """Bacula's cancel is SIGUSR1; note it (``signal_log=``) and leave."""
    note_signal(log, signal.SIGUSR1)
    os._exit(0)


def main() -> int:
    signal.signal(signal.SIGUSR1, lambda *_: on_cancel(None))
    peer = Peer(sys.stdin.buffer, sys.stdout.buffer)
    _, hello = peer.command()
    if not hello.startswith("Hello "):
        return 2
    peer.cmd("Hello Bacula")
    peer.flush()
    _, _ = peer.command()                  # "Job"
    job = peer.block()
    log = MetaLog()
    peer.eod()
    peer.flush()
    _, _ = peer.command()                  # "Params"
    params = peer.block()
    log.path = params.get("meta_log")
    for key, value in job.items():
        log.write(f"JOB {key}={value}")
    for key, value in params.items():
        log.write(f"PARAM {key}={value}")
    signal.signal(signal.SIGUSR1, lambda *_: on_cancel(params.get("signal_log")))
    fault = params.get("fault", "")
    if fault == "die":
        return 3
    if fault == "crash":
        raise RuntimeError("standin crashed on purpose")
    if fault == "stderr":
        sys.stderr.write("standin: a line on stderr\n")
        sys.stderr.flush()
    peer.eod()
    peer.flush()
    _, start = peer.command()
    log.write(f"START {start}")
    peer.eod()
    peer.flush()
    while fault == "hang":
        signal.pause()
    if start in ("BackupStart", "EstimateStart"):
        Backup(peer, job, params).run(params["path"])
    elif start == "RestoreStart":
        Restore(peer, log, fault).run()
    while True:                            # END, then T
        status, text = peer.command()
        if status == "T":
            return 0
        if text == "END":
            peer.eod()
            peer.flush()


if __name__ == "__main__":
    sys.exit(main())
