"""A loopback Bacula installation for demos, tests and benchmarks.

``BaculaLab`` installs nothing. It finds Debian's Bacula 9.6 binaries, writes Director,
Storage Daemon, File Daemon and bconsole configurations for 127.0.0.1 on free ports under
``root``, creates a SQLite catalog, starts the three daemons in the foreground, runs
bconsole commands and reads job results from the catalog. ``stop()`` (also run by the
context manager on failure) ends every daemon by its PID.

Privileges: when run as root, the Director and the Storage Daemon run as the unprivileged
``bacula`` user (``setpriv``), while the File Daemon stays root: it must read every file
and restore ownership, exactly like a packaged bacula-fd. Plugins (and their backends)
therefore run as root. As a normal user, all three run as that user.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Mapping, Sequence
from contextlib import closing
from pathlib import Path
from types import TracebackType
from typing import Any

import attrs

SBIN = Path("/usr/sbin")
CATALOG_SCHEMA = Path("/usr/share/dbconfig-common/data/bacula-director-sqlite3/install/sqlite3")
QUERY_FILE = Path("/etc/bacula/scripts/query.sql")
DAEMONS = ("bacula-dir", "bacula-sd", "bacula-fd")
TOOLS = ("bconsole", "bls", "bextract")


class LabError(RuntimeError):
    """The lab could not be set up or a daemon misbehaved; the message says what to do."""


@attrs.frozen
class JobResult:
    jobid: int
    status: str  # Bacula JobStatus: T ok, W warnings, E/f error, A cancelled
    level: str
    files: int
    bytes: int
    errors: int
    seconds: float  # from the catalog: end minus start
    log: str  # every job message, in order


def missing_binaries() -> list[str]:
    """Names of the Debian Bacula programs that are not installed."""
    return [n for n in (*DAEMONS, *TOOLS) if not (SBIN / n).exists()]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> bool:
    """True when something listens on 127.0.0.1:port (state 0A in /proc/net/tcp)."""
    want = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as table:
        return any(f[1] == want and f[3] == "0A" for f in (ln.split() for ln in table)
                   if len(f) > 3)


def _q(value: str | Path) -> str:
    """A quoted Bacula configuration string."""
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


class BaculaLab:
    """Three Bacula daemons on loopback under ``root``.

    ``filesets`` maps a FileSet name to the lines of its Include block, e.g.
    ``{"Plugin": ['Plugin = "podheitor-posix: path=/srv"'], "Plain": ["File = /srv"]}``.
    The first FileSet is the default of the backup job ``Backup``; ``restore()`` uses the
    job ``Restore``. ``fd_env`` adds environment variables to the File Daemon.
    """

    def __init__(self, root: Path, filesets: Mapping[str, Sequence[str]], *,
                 plugin_dir: Path | None = None, fd_env: Mapping[str, str] | None = None,
                 user: str = "bacula", fileset_options: str = "signature = MD5",
                 debug_level: int = 0) -> None:
        if not filesets:
            raise LabError("at least one FileSet is needed")
        self.root = root.resolve()
        self.filesets = dict(filesets)
        self.plugin_dir = plugin_dir
        self.fd_env = dict(fd_env or {})
        self.fileset_options = fileset_options
        self.debug_level = debug_level
        self.as_root = os.geteuid() == 0
        self.user = user if self.as_root else pwd.getpwuid(os.geteuid()).pw_name
        self.ports = {"dir": _free_port(), "fd": _free_port(), "sd": _free_port()}
        self.password = secrets.token_hex(16)  # one per lab, for all daemons
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        for sub in ("etc", "work", "run", "log", "volumes"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    # -- paths ------------------------------------------------------------------------
    def conf(self, daemon: str) -> Path:
        return self.root / "etc" / f"{daemon}.conf"

    @property
    def volume_dir(self) -> Path:
        return self.root / "volumes"

    @property
    def catalog(self) -> Path:
        return self.root / "work" / "bacula.db"

    # -- configuration ----------------------------------------------------------------
    def _configs(self) -> dict[str, str]:
        """The four configuration files, one resource per line (Bacula accepts ';')."""
        r, port, pw = self.root, self.ports, _q(self.password)
        opts = f"Options {{ {self.fileset_options} }} " if self.fileset_options else ""
        first = _q(next(iter(self.filesets)))
        job = (f"Client = lab-fd; FileSet = {first}; Storage = LabStorage; Pool = LabPool; "
               "Messages = Standard")
        director = [
            f"Director {{ Name = lab-dir; DIRport = {port['dir']}; DirAddress = 127.0.0.1; "
            f"QueryFile = {_q(QUERY_FILE)}; WorkingDirectory = {_q(r / 'work')}; "
            f"PidDirectory = {_q(r / 'run')}; Maximum Concurrent Jobs = 4; Password = {pw}; "
            "Messages = Daemon }",
            'Catalog { Name = LabCatalog; dbname = "bacula"; dbuser = ""; dbpassword = "" }',
            "Messages { Name = Daemon; console = all, !skipped, !saved; "
            f"append = {_q(r / 'log' / 'director.log')} = all, !skipped }}",
            # The catalog keeps every job message (Log table): result() reads it from there.
            "Messages { Name = Standard; console = all, !skipped, !saved; "
            f"append = {_q(r / 'log' / 'jobs.log')} = all, !skipped; "
            "catalog = all, !skipped, !saved, !restored }",
            f"Client {{ Name = lab-fd; Address = 127.0.0.1; FDPort = {port['fd']}; "
            f"Catalog = LabCatalog; Password = {pw} }}",
            f"Storage {{ Name = LabStorage; Address = 127.0.0.1; SDPort = {port['sd']}; "
            f"Password = {pw}; Device = LabDevice; Media Type = LabFile }}",
            # One volume per job, so bls/bextract can look at a single job's volume.
            'Pool { Name = LabPool; Pool Type = Backup; Label Format = "Vol-"; '
            "Maximum Volume Jobs = 1; Recycle = no; AutoPrune = no }",
            "Pool { Name = Scratch; Pool Type = Backup }",
            *(f"FileSet {{ Name = {_q(name)}; Include {{ {opts}{'; '.join(lines)} }} }}"
              for name, lines in self.filesets.items()),
            f"Job {{ Name = Backup; Type = Backup; Level = Full; {job} }}",
            f"Job {{ Name = Restore; Type = Restore; {job}; Where = {_q(r / 'restore')} }}",
        ]
        plugins = f"; Plugin Directory = {_q(self.plugin_dir)}" if self.plugin_dir else ""
        fd = [f"Director {{ Name = lab-dir; Password = {pw} }}",
              f"FileDaemon {{ Name = lab-fd; FDport = {port['fd']}; FDAddress = 127.0.0.1; "
              f"WorkingDirectory = {_q(r / 'work' / 'fd')}; Pid Directory = {_q(r / 'run')}; "
              f"Maximum Concurrent Jobs = 4{plugins} }}",
              "Messages { Name = Standard; director = lab-dir = all, !skipped, !restored }"]
        sd = [f"Storage {{ Name = lab-sd; SDPort = {port['sd']}; SDAddress = 127.0.0.1; "
              f"WorkingDirectory = {_q(r / 'work')}; Pid Directory = {_q(r / 'run')}; "
              "Maximum Concurrent Jobs = 4 }",
              f"Director {{ Name = lab-dir; Password = {pw} }}",
              f"Device {{ Name = LabDevice; Media Type = LabFile; "
              f"Archive Device = {_q(self.volume_dir)}; LabelMedia = yes; Random Access = yes; "
              "AutomaticMount = yes; RemovableMedia = no; AlwaysOpen = no }",
              "Messages { Name = Standard; director = lab-dir = all }"]
        console = [f"Director {{ Name = lab-dir; DIRport = {port['dir']}; "
                   f"address = 127.0.0.1; Password = {pw} }}"]
        return {name: "\n".join(lines) + "\n" for name, lines in (
            ("bacula-dir", director), ("bacula-fd", fd), ("bacula-sd", sd),
            ("bconsole", console))}

    def configure(self) -> None:
        """Writes the configurations and the catalog, and checks them with ``-t``."""
        missing = missing_binaries()
        if missing:
            raise LabError(f"Bacula programs missing: {', '.join(missing)}; "
                           "run scripts/setup-debian.sh bacula")
        (self.root / "work" / "fd").mkdir(parents=True, exist_ok=True)
        for name, text in self._configs().items():
            self.conf(name).write_text(text)
        if not self.catalog.exists():
            with sqlite3.connect(self.catalog) as db:
                db.executescript(CATALOG_SCHEMA.read_text())
        if self.as_root:  # the unprivileged Director and SD own their state
            self.root.chmod(0o755)
            for sub in ("etc", "work", "run", "log", "volumes"):
                shutil.chown(self.root / sub, self.user, self.user)
            for path in (*self.root.joinpath("etc").iterdir(), self.catalog):
                shutil.chown(path, self.user, self.user)
            self._check_reachable()
        for daemon in DAEMONS:
            self._run([str(SBIN / daemon), "-t", "-c", str(self.conf(daemon))],
                      user=self._daemon_user(daemon))

    def _check_reachable(self) -> None:
        probe = subprocess.run(["setpriv", f"--reuid={self.user}", f"--regid={self.user}",
                                "--init-groups", "test", "-w", str(self.root / "work")],
                               check=False)
        if probe.returncode != 0:
            raise LabError(f"user {self.user} cannot reach {self.root}: put the lab under a "
                           "directory every user can traverse (e.g. /tmp)")

    def _daemon_user(self, daemon: str) -> str | None:
        return self.user if self.as_root and daemon != "bacula-fd" else None

    def _wrap(self, argv: list[str], user: str | None) -> list[str]:
        if user is None:
            return argv
        return ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", *argv]

    def _run(self, argv: list[str], user: str | None = None, timeout: float = 60,
             ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(self._wrap(argv, user), capture_output=True, text=True,
                              timeout=timeout, check=False)
        if done.returncode != 0:
            raise LabError(f"{' '.join(argv)} failed ({done.returncode}): "
                           f"{(done.stdout + done.stderr).strip()[-2000:]}")
        return done

    # -- daemons ----------------------------------------------------------------------
    def start(self, timeout: float = 30) -> None:
        """Starts the three daemons and returns when all three listen."""
        self.configure()
        for daemon in ("bacula-sd", "bacula-fd", "bacula-dir"):
            argv = [str(SBIN / daemon), "-f", "-c", str(self.conf(daemon))]
            if self.debug_level:
                argv[2:2] = ["-d", str(self.debug_level), "-dt"]
            env = {**os.environ, **self.fd_env} if daemon == "bacula-fd" else None
            with open(self.root / "log" / f"{daemon}.out", "ab") as out:
                # setpriv execs the daemon, so the PID we keep is the daemon's own.
                self.procs[daemon] = subprocess.Popen(
                    self._wrap(argv, self._daemon_user(daemon)), stdin=subprocess.DEVNULL,
                    stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        port_of = {"bacula-dir": "dir", "bacula-sd": "sd", "bacula-fd": "fd"}
        for daemon, proc in self.procs.items():
            self._wait_port(daemon, proc, self.ports[port_of[daemon]], timeout)

    def _wait_port(self, daemon: str, proc: subprocess.Popen[bytes], port: int,
                   timeout: float) -> None:
        """Waits until the daemon listens. Reads /proc/net/tcp rather than connecting: a
        probe connection would put a "Security Alert" into the next job's log."""
        deadline = time.monotonic() + timeout
        while not _listening(port):
            if proc.poll() is not None:
                raise LabError(f"{daemon} exited with {proc.returncode}: "
                               f"{self.daemon_output(daemon)[-2000:]}")
            if time.monotonic() > deadline:
                raise LabError(f"{daemon} does not listen on port {port} after {timeout} s")
            try:  # wait on the process (returns early if it dies), not a bare sleep
                proc.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                pass

    def daemon_output(self, daemon: str) -> str:
        path = self.root / "log" / f"{daemon}.out"
        return path.read_text(errors="replace") if path.exists() else ""

    def pid(self, daemon: str) -> int:
        return self.procs[daemon].pid

    def stop(self, timeout: float = 20) -> None:
        """Ends every daemon by its PID: SIGTERM, then SIGKILL after ``timeout``. Each
        daemon leads its own process group; whatever is left in it afterwards (a plugin
        backend of a job the File Daemon was killed in) gets SIGKILL too."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # the group is empty: nothing was left behind
        self.procs.clear()

    def __enter__(self) -> BaculaLab:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- jobs -------------------------------------------------------------------------
    def bconsole(self, commands: str, timeout: float = 600) -> str:
        done = subprocess.run([str(SBIN / "bconsole"), "-n", "-c", str(self.conf("bconsole"))],
                              input=commands.rstrip("\n") + "\nquit\n", capture_output=True,
                              text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise LabError(f"bconsole failed: {done.stdout[-1000:]}{done.stderr[-1000:]}")
        return done.stdout

    def submit(self, command: str) -> int:
        """Runs a bconsole ``run``/``restore`` command and returns the queued JobId."""
        out = self.bconsole(command)
        found = re.search(r"JobId=(\d+)", out)
        if not found:
            raise LabError(f"no job was queued by {command!r}: {out[-1500:]}")
        return int(found.group(1))

    def wait(self, jobid: int, timeout: float = 1800) -> JobResult:
        """Blocks until the job has ended (bconsole ``wait``), then reads the catalog."""
        self.bconsole(f"wait jobid={jobid}", timeout=timeout)
        return self.result(jobid)

    def backup(self, level: str = "Full", fileset: str | None = None, **extra: str
               ) -> JobResult:
        args = " ".join(f"{k}={v}" for k, v in extra.items())
        fs = f" fileset={_q(fileset)}" if fileset else ""
        return self.wait(self.submit(f"run job=Backup level={level}{fs} {args} yes"))

    def restore(self, where: Path, jobids: Sequence[int] = (), fileset: str | None = None,
                ) -> JobResult:
        """Restores everything of ``jobids`` (or the latest state of ``fileset``)."""
        if jobids:
            select = f"jobid={','.join(map(str, jobids))} all"
        else:
            select = (f"client=lab-fd fileset={_q(fileset or next(iter(self.filesets)))} "
                      "select current all")
        return self.wait(self.submit(
            f"restore {select} where={_q(where)} done yes"))

    def query(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        """A read-only query on the catalog (SQLite; the Director keeps writing it)."""
        with closing(sqlite3.connect(f"file:{self.catalog}?mode=ro", uri=True,
                                     timeout=30)) as db:
            return db.execute(sql, args).fetchall()

    def result(self, jobid: int) -> JobResult:
        rows = self.query("SELECT JobStatus, Level, JobFiles, JobBytes, JobErrors, "
                          "strftime('%s', EndTime) - strftime('%s', StartTime) "
                          "FROM Job WHERE JobId = ?", jobid)
        if not rows:
            raise LabError(f"JobId {jobid} is not in the catalog")
        # Bacula stores each message with a trailing backslash line; drop it.
        log = "".join(r[0].removesuffix("\\") for r in self.query(
            "SELECT LogText FROM Log WHERE JobId = ? ORDER BY LogId", jobid))
        status, level, files, size, errors, seconds = rows[0]
        return JobResult(jobid=jobid, status=status, level=level, files=files or 0,
                         bytes=size or 0, errors=errors or 0, seconds=float(seconds or 0),
                         log=log)

    def job_start(self, jobid: int) -> int:
        """The job's StartTime as Unix seconds (the catalog keeps local time)."""
        ((start,),) = self.query("SELECT StartTime FROM Job WHERE JobId = ?", jobid)
        return int(time.mktime(time.strptime(start, "%Y-%m-%d %H:%M:%S")))

    def volumes(self, jobid: int) -> list[str]:
        return [r[0] for r in self.query(
            "SELECT DISTINCT Media.VolumeName FROM JobMedia JOIN Media "
            "ON Media.MediaId = JobMedia.MediaId WHERE JobId = ? ORDER BY 1", jobid)]

    def files(self, jobid: int, deleted: bool = False) -> set[str]:
        """Names the catalog holds for a job (directories end in "/"); with ``deleted``,
        the names an accurate job recorded as deleted instead (FileIndex <= 0)."""
        return {r[0] for r in self.query(
            "SELECT Path.Path || Filename.Name FROM File "
            "JOIN Path ON Path.PathId = File.PathId "
            "JOIN Filename ON Filename.FilenameId = File.FilenameId "
            "WHERE File.JobId = ? AND (File.FileIndex <= 0) = ?", jobid, deleted)}

    def bls(self, volume: str, *args: str) -> str:
        """``bls`` on a volume of this lab (works while the SD runs)."""
        return self._run([str(SBIN / "bls"), "-c", str(self.conf("bacula-sd")), *args,
                          "-V", volume, "LabDevice"]).stdout

    def bextract(self, volume: str, target: Path) -> str:
        target.mkdir(parents=True, exist_ok=True)
        return self._run([str(SBIN / "bextract"), "-c", str(self.conf("bacula-sd")),
                          "-V", volume, "LabDevice", str(target)]).stdout
