"""One real loopback Bacula (Debian 12's 9.6.7 daemons) for the whole suite.

The session fixture installs the Debian packages if they are missing (CI is root on a
fresh Debian 12), builds and installs the plugins with the project's own
``make plugin PLUGINDIR=...``, and starts the lab. ``podheitor-posix`` runs the real
backend through the installed launcher; ``podheitor-standin`` (a copy of the same shim)
runs ``standin_backend.py``, which can also misbehave on request. The daemons are
stopped by PID at the end, also when a test fails.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from podheitor.app.bacula_lab import BaculaLab, missing_binaries

REPO = Path(__file__).resolve().parents[3]
STANDIN = Path(__file__).with_name("standin_backend.py")
TIMEOUT = 15  # seconds the shim waits for a silent backend (PODHEITOR_BACKEND_TIMEOUT)
FAULTS = ("stderr", "die", "crash", "malformed", "abort", "pause", "restore_die", "stubborn",
          "hang")


@attrs.frozen
class Env:
    lab: BaculaLab
    root: Path
    trees: Path       # one source tree per plugin cycle: trees/<FileSet>
    small: Path       # a small tree for fault and liveness jobs
    fifo: Path        # the paused stand-in writes its pid here
    signal_log: Path  # the stand-in notes a SIGUSR1 here
    meta_log: Path    # the stand-in records Job/Params blocks and restore metadata here


def next_second() -> None:
    """Bacula's Since has one-second resolution and counts files changed at or after it.
    Moving the clock past the second of the last change makes "changed before this job"
    exact. This waits for the clock, not for another process."""
    time.sleep(1.0 - time.time() % 1.0 + 0.01)


def _ensure_packages() -> None:
    if not missing_binaries():
        return
    done = subprocess.run([str(REPO / "scripts" / "setup-debian.sh"), "bacula"],
                          capture_output=True, text=True, check=False)
    missing = missing_binaries()
    if done.returncode != 0 or missing:
        pytest.fail(f"Bacula packages could not be installed (missing {missing}): "
                    f"{done.stdout}{done.stderr}")


def _build_plugins(plugin_dir: Path) -> None:
    done = subprocess.run(["make", "-C", str(REPO), "plugin", f"PLUGINDIR={plugin_dir}"],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"make plugin failed:\n{done.stdout}{done.stderr}")
    shutil.copyfile(plugin_dir / "podheitor-posix-fd.so", plugin_dir / "podheitor-standin-fd.so")


def _dispatcher(root: Path, plugin_dir: Path) -> Path:
    """PODHEITOR_BACKEND for the FD: the stand-in for "standin", the installed launcher
    (the real backend) for every other plugin name."""
    path = root / "backend-dispatch.sh"
    path.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = standin ]; then exec {sys.executable} {STANDIN}; fi\n'
        f'exec {plugin_dir / "podheitor-backend"} "$@"\n')
    path.chmod(0o755)
    return path


def make_small_tree(top: Path) -> None:
    (top / "sub").mkdir(parents=True)
    (top / "one.txt").write_text("one\n")
    (top / "sub" / "two.bin").write_bytes(os.urandom(200_000))


@pytest.fixture(scope="session")
def bacula() -> Iterator[Env]:
    _ensure_packages()
    root = Path(tempfile.mkdtemp(prefix="podheitor-bacula-", dir="/tmp"))
    root.chmod(0o755)  # the unprivileged Director and SD must reach their directories
    plugin_dir = root / "plugins"
    _build_plugins(plugin_dir)
    trees, small, fifo = root / "trees", root / "small", root / "pause.fifo"
    signal_log, meta_log = root / "signals.log", root / "meta.log"
    make_small_tree(small)
    os.mkfifo(fifo)
    filesets = {
        "Posix": [f'Plugin = "podheitor-posix: path={trees / "Posix"}"'],
        "Standin": [f'Plugin = "podheitor-standin: path={trees / "Standin"}"'],
        "Plain": [f"File = {trees / 'Posix'}"],
        "AccPosix": [f'Plugin = "podheitor-posix: path={trees / "AccPosix"}"'],
        "AccStandin": [f'Plugin = "podheitor-standin: path={trees / "AccStandin"}"'],
        "Small": [f'Plugin = "podheitor-standin: path={small}"'],
        # ';' and ' ' both separate parameters; a bare key is key=1; quotes keep "a b;c".
        "Meta": [f'Plugin = "podheitor-standin:path={small};meta=1;bare_flag;'
                 f'quoted=\\"a b;c\\" meta_log={meta_log}"'],
        **{f"Fault-{f}": [f'Plugin = "podheitor-standin: path={small} fault={f} '
                          f'pidfifo={fifo} signal_log={signal_log}"'] for f in FAULTS},
    }
    lab = BaculaLab(root / "lab", filesets, plugin_dir=plugin_dir,
                    fd_env={"PODHEITOR_BACKEND": str(_dispatcher(root, plugin_dir)),
                            "PODHEITOR_BACKEND_GRACE": "2",
                            "PODHEITOR_BACKEND_TIMEOUT": str(TIMEOUT)})
    with lab:
        yield Env(lab=lab, root=root, trees=trees, small=small, fifo=fifo,
                  signal_log=signal_log, meta_log=meta_log)
    if not os.environ.get("PODHEITOR_KEEP_LAB"):
        shutil.rmtree(root, ignore_errors=True)


def fd_children(env: Env) -> list[tuple[int, str]]:
    """(pid, state) of every process whose parent is bacula-fd."""
    fd_pid = env.lab.pid("bacula-fd")
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == fd_pid:
            found.append((int(entry.name), fields[0]))
    return found


def wait_reaped(pid: int, timeout: float = 30) -> bool:
    """True once process ``pid`` has exited and its parent has reaped it. The exit is
    awaited on a pidfd; the reap follows at once (the parent waits on it too), so the
    short re-check loop only bridges that gap, bounded by ``timeout``."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        if not select.select([fd], [], [], timeout)[0]:
            return False
    finally:
        os.close(fd)
    deadline = time.monotonic() + timeout
    while os.path.exists(f"/proc/{pid}"):
        if time.monotonic() > deadline:
            return False
        select.select([], [], [], 0.01)
    return True
