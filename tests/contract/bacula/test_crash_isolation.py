"""A misbehaving backend fails its own job with one clear message; bacula-fd lives on.

Every fault is injected by the stand-in backend (``fault=`` param), run by the same shim
as the real plugins (``podheitor-standin-fd.so`` is a copy of ``podheitor-posix-fd.so``).
"""

from __future__ import annotations

import os
import re
import select
import signal

import pytest

from podheitor.app.bacula_lab import JobResult

from .conftest import TIMEOUT, Env, fd_children, wait_reaped

pytestmark = pytest.mark.bacula

PREFIX = "podheitor-standin: "


def plugin_lines(job: JobResult) -> list[str]:
    return [line for line in job.log.splitlines() if PREFIX in line]


def fd_lines(job: JobResult) -> list[str]:
    return [line for line in job.log.splitlines() if line.startswith("lab-fd JobId")]


def assert_clean_log(job: JobResult) -> None:
    """No control characters or stray bytes from a backend in any File Daemon line."""
    for line in fd_lines(job):
        assert line.isprintable(), repr(line)


def read_pid(env: Env, timeout: float = 120) -> int:
    """The paused stand-in writes its pid into the FIFO: block until it does."""
    fd = os.open(env.fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        data = b""
        while not data.endswith(b"\n"):
            ready, _, _ = select.select([fd], [], [], timeout)
            assert ready, "the stand-in never paused"
            data += os.read(fd, 64)
        return int(data)
    finally:
        os.close(fd)


def assert_fd_serves_the_next_job(env: Env) -> None:
    fd_pid = env.lab.pid("bacula-fd")
    job = env.lab.backup("Full", "Small")
    assert (job.status, job.errors, job.files) == ("T", 0, 4), job.log
    assert env.lab.procs["bacula-fd"].poll() is None
    assert env.lab.pid("bacula-fd") == fd_pid


@pytest.mark.parametrize(("fault", "status", "message"), [
    ("die", "f", "backend exited unexpectedly (exit status 3) during backup"),
    ("crash", "f", "backend exited unexpectedly (exit status 1) during backup; "
                   "backend stderr: RuntimeError: standin crashed on purpose"),
    ("malformed", "f", 'protocol error: malformed packet header "C12x45\\x0an" during backup'),
    ("abort", "f", "standin: refusing to back up"),
    ("stderr", "T", "backend wrote 26 bytes to stderr, last line: standin: a line on stderr"),
], ids=lambda v: v if v in ("die", "crash", "malformed", "abort", "stderr") else "")
def test_a_misbehaving_backend_gives_one_clean_job_message(
        bacula: Env, fault: str, status: str, message: str) -> None:
    job = bacula.lab.backup("Full", f"Fault-{fault}")
    assert job.status == status, job.log
    assert [line.split(PREFIX, 1)[1] for line in plugin_lines(job)] == [message]
    assert_clean_log(job)
    assert_fd_serves_the_next_job(bacula)


def test_a_backend_killed_mid_backup_fails_the_job_and_the_fd_lives_on(bacula: Env) -> None:
    jobid = bacula.lab.submit("run job=Backup level=Full fileset=Fault-pause yes")
    os.kill(read_pid(bacula), signal.SIGKILL)
    job = bacula.lab.wait(jobid)
    assert job.status in ("f", "E"), job.log
    assert plugin_lines(job) == [
        f"lab-fd JobId {jobid}: Fatal error: {PREFIX}backend exited unexpectedly (signal 9) "
        "during backup"]
    assert not re.search(r"Read error|Cannot open", job.log)
    assert_clean_log(job)
    assert_fd_serves_the_next_job(bacula)


def test_a_backend_dying_during_restore_fails_that_restore_only(bacula: Env) -> None:
    backup = bacula.lab.backup("Full", "Fault-restore_die")
    assert backup.status == "T", backup.log
    restore = bacula.lab.restore(bacula.root / "restored-die", jobids=[backup.jobid])
    assert restore.status in ("f", "E"), restore.log
    assert [line.split(PREFIX, 1)[1] for line in plugin_lines(restore)] == [
        "backend exited unexpectedly (exit status 5) during restore"]
    assert_clean_log(restore)
    assert_fd_serves_the_next_job(bacula)


def test_a_silent_backend_times_out_instead_of_hanging_the_fd(bacula: Env) -> None:
    job = bacula.lab.backup("Full", "Fault-hang")
    assert job.status == "f", job.log
    assert [line.split(PREFIX, 1)[1] for line in plugin_lines(job)] == [
        f"no answer from backend within {TIMEOUT} s during backup"]
    assert_fd_serves_the_next_job(bacula)


def test_cancel_sends_sigusr1_to_the_backend(bacula: Env) -> None:
    bacula.signal_log.unlink(missing_ok=True)
    jobid = bacula.lab.submit("run job=Backup level=Full fileset=Fault-pause yes")
    pid = read_pid(bacula)
    bacula.lab.bconsole(f"cancel jobid={jobid}")
    job = bacula.lab.wait(jobid)
    assert job.status == "A", job.log
    assert wait_reaped(pid)
    assert bacula.signal_log.read_text() == "SIGUSR1\n"
    assert_fd_serves_the_next_job(bacula)


def test_a_backend_ignoring_cancel_gets_sigterm_then_sigkill(bacula: Env) -> None:
    bacula.signal_log.unlink(missing_ok=True)
    jobid = bacula.lab.submit("run job=Backup level=Full fileset=Fault-stubborn yes")
    pid = read_pid(bacula)
    bacula.lab.bconsole(f"cancel jobid={jobid}")
    assert bacula.lab.wait(jobid).status == "A"
    assert wait_reaped(pid), "the stubborn backend was not killed and reaped"
    assert bacula.signal_log.read_text() == "SIGUSR1\nSIGTERM\n"  # then SIGKILL
    assert_fd_serves_the_next_job(bacula)


def test_no_backend_outlives_its_job(bacula: Env) -> None:
    """Runs last in this module: every backend above was reaped (no zombie, no orphan)."""
    assert bacula.lab.backup("Full", "Small").status == "T"
    assert fd_children(bacula) == []


def test_estimate_lists_the_plugin_files(bacula: Env) -> None:
    out = bacula.lab.bconsole("estimate job=Backup fileset=Small level=Full listing")
    assert f"{bacula.small}/sub/two.bin" in out
    assert re.search(r"2000 OK estimate files=4 bytes=200,004", out), out
