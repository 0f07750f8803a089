"""Backend -> consumer throughput of a 1 GiB file through a real pipe, against ``cat``.

Reference: ``cat FILE`` into a pipe drained by this process. Measured: ``podheitor-backend
posix`` backing up the same file (PTCOMM framing, 983,040-byte D packets, xxh3-128 digest of
the data) into a pipe drained by a PTCOMM reader. Both pipes are raised to 1 MiB on the
reading side, as the backend does on its side. Also reports the backend's peak RSS (VmHWM).

    python -m benchmarks.backend_pipe [--size-mib 1024] [--rounds 3]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from podheitor.adapters.bacula import ptcomm
from podheitor.app.pluginclient import backend_command

F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
_BUF = bytearray(1 << 20)


def _widen(fd: int) -> None:
    try:
        fcntl.fcntl(fd, F_SETPIPE_SZ, 1 << 20)
    except OSError:
        pass


def _drain(fd: int) -> int:
    view, total = memoryview(_BUF), 0
    while n := os.readv(fd, [view]):
        total += n
    return total


def run_cat(path: Path) -> tuple[float, int]:
    proc = subprocess.Popen(["cat", str(path)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    _widen(fd)
    t0 = time.perf_counter()
    total = _drain(fd)
    seconds = time.perf_counter() - t0
    proc.wait()
    return seconds, total


def _send(fd: int, text: str) -> None:
    os.write(fd, ptcomm.command(text))


class _Reader:
    """Buffered PTCOMM reader: big reads, headers parsed in place (as a C plugin would)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = bytearray(4 << 20)
        self.view = memoryview(self.buf)
        self.start = self.end = 0

    def _fill(self, need: int) -> None:
        if self.end - self.start >= need:
            return
        if self.start:
            rest = self.end - self.start
            self.view[:rest] = self.view[self.start : self.end]
            self.start, self.end = 0, rest
        while self.end - self.start < need:
            n = os.readv(self.fd, [self.view[self.end :]])
            if n == 0:
                raise EOFError("backend stream ended")
            self.end += n

    def packet(self) -> tuple[str, memoryview]:
        self._fill(8)
        letter, length = ptcomm.parse_header(
            self.view[self.start : self.start + 8], ptcomm.BACKEND_LETTERS)
        self._fill(8 + length)
        payload = self.view[self.start + 8 : self.start + 8 + length]
        self.start += 8 + length
        return letter, payload


def run_backend(root: Path) -> tuple[float, int, int]:
    proc = subprocess.Popen(backend_command("posix"), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    wfd, rfd = proc.stdin.fileno(), proc.stdout.fileno()
    _widen(rfd)
    reader = _Reader(rfd)
    for line in ("Hello podheitor-posix 1", "Job", "Type=B", "Level=F"):
        _send(wfd, line)
    os.write(wfd, ptcomm.EOD)
    _send(wfd, "Params")
    _send(wfd, f"path={root}")
    os.write(wfd, ptcomm.EOD)
    for _ in range(3):  # Hello Bacula, F, F
        reader.packet()
    _send(wfd, "BackupStart")
    assert reader.packet()[0] == "F"
    t0 = time.perf_counter()
    data = 0
    in_data = eods = 0
    while True:
        letter, payload = reader.packet()
        if letter == "D" and in_data:
            data += len(payload)
        elif letter == "C":
            in_data = payload == b"DATA\n"
        elif letter == "F":
            if in_data:
                in_data = eods = 0
            else:
                eods += 1
                if eods == 3:  # attributes F, no-data F of the directory, end of files
                    break
    seconds = time.perf_counter() - t0
    status = Path(f"/proc/{proc.pid}/status").read_text()
    hwm_kib = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))
    _send(wfd, "END")
    reader.packet()
    os.write(wfd, ptcomm.TERMINATE)
    reader.packet()
    proc.stdin.close()
    proc.wait(30)
    return seconds, data, hwm_kib


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv or [])
    with tempfile.TemporaryDirectory(prefix="podheitor-bench-") as tmp:
        root = Path(tmp) / "tree"
        root.mkdir()
        path = root / "big.bin"
        with open(path, "wb") as f:
            for _ in range(args.size_mib):
                f.write(os.urandom(1 << 20))
        size = path.stat().st_size
        run_cat(path)  # warm the page cache
        cats, backends, ratios = [], [], []
        hwm = 0
        mib = size / (1 << 20)
        for _ in range(args.rounds):  # interleaved, so both see the same machine load
            cat_s, total = run_cat(path)
            assert total == size
            backend_s, data, hwm_kib = run_backend(root)
            assert data == size, (data, size)
            cats.append(cat_s)
            backends.append(backend_s)
            ratios.append(cat_s / backend_s)
            hwm = max(hwm, hwm_kib)
            print(f"  round: cat {mib / cat_s:6.0f} MiB/s, backend {mib / backend_s:6.0f} MiB/s, "
                  f"ratio {cat_s / backend_s:.2f}")
        print(f"file: {mib:.0f} MiB, {args.rounds} interleaved rounds, page cache warm")
        print(f"cat | reader           : {mib / min(cats):8.0f} MiB/s (best)")
        print(f"podheitor-backend posix: {mib / min(backends):8.0f} MiB/s (best)")
        print(f"ratio of the bests     : {min(cats) / min(backends):8.2f}  (target >= 0.70)")
        print(f"median round ratio     : {statistics.median(ratios):8.2f}")
        print(f"backend peak RSS       : {hwm / 1024:8.1f} MiB  (target < 64 MiB)")


if __name__ == "__main__":
    main(sys.argv[1:])
