"""``podheitor demo``: the posix plugin's main job on an embedded sample, end to end.

It creates a sample tree (text, a 12 MiB file, a 1 GiB sparse image, a symlink, a hard
link, an empty file, a non-ASCII name, an extended attribute), then drives the real
``podheitor-backend posix`` process over the metaplugin protocol exactly as bacula-fd does:
a Full backup, an Incremental after some changes, and a restore of both into a new place,
and finally verifies the restored tree against the source.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from podheitor.app.api import verify_trees
from podheitor.app.bacula_lab import BaculaLab, LabError, missing_binaries
from podheitor.app.pluginclient import Outcome, run_backup, run_restore

SAMPLE_MTIME = 1_700_000_000


def make_sample(root: Path) -> None:
    """A small tree with every kind of file the posix plugin handles."""
    (root / "docs").mkdir(parents=True)
    (root / "data" / "deep" / "er").mkdir(parents=True)
    (root / "docs" / "readme.txt").write_text("podheitor demo: a file backed up by a plugin\n")
    (root / "docs" / "notes üñî ✓.txt").write_text("a name that is not ASCII\n")
    (root / "docs" / "empty.txt").touch()
    (root / "data" / "deep" / "er" / "nested.txt").write_text("nested\n" * 100)
    (root / "data" / "random.bin").write_bytes(os.urandom(12 << 20))
    with open(root / "data" / "sparse.img", "wb") as f:  # 1 GiB logical, 3 x 64 KiB of data
        for offset in (0, 300 << 20, (1 << 30) - (64 << 10)):
            f.seek(offset)
            f.write(os.urandom(64 << 10))
        f.truncate(1 << 30)
    os.symlink("docs/readme.txt", root / "readme-link")
    os.link(root / "data" / "random.bin", root / "data" / "random-hardlink.bin")
    os.chmod(root / "docs" / "notes üñî ✓.txt", 0o600)
    try:
        os.setxattr(root / "docs" / "readme.txt", "user.comment", b"kept by the XATTR trailer")
    except OSError:
        pass  # a filesystem without user xattrs: the rest of the demo is unaffected
    for path in sorted(root.rglob("*"), reverse=True):
        os.utime(path, (SAMPLE_MTIME, SAMPLE_MTIME), follow_symlinks=False)


def _allocated(path: Path) -> str:
    st = os.lstat(path)
    return f"{st.st_size / (1 << 20):.0f} MiB logical, {st.st_blocks * 512 / 1024:.0f} KiB on disk"


def _report(say: Callable[[str], None], title: str, outcome: Outcome, seconds: float) -> None:
    say(f"{title}: {outcome.files} files, {outcome.data_bytes / (1 << 20):.1f} MiB of data "
        f"in {seconds:.2f} s, backend exit code {outcome.exit_code}")
    for letter, text in outcome.messages:
        say(f"    job message {letter}: {text}")
    for fname, step, answer in outcome.refused:
        say(f"    refused {fname} ({step}): {answer}")
    if outcome.stderr:
        say(f"    UNEXPECTED stderr from the backend: {outcome.stderr[:200]!r}")


def _wait_next_second() -> int:
    """Bacula's Since has one-second resolution: changes made in a later second than the
    previous job's start are unambiguously newer."""
    target = int(time.time()) + 1
    while time.time() < target:
        time.sleep(0.05)
    return target


def run_bacula(workdir: Path, source: Path, plugin_dir: Path, say: Callable[[str], None]
               ) -> bool:
    """The same job through real Bacula daemons on loopback, with the shim loaded by
    bacula-fd; True if the restore verified."""
    lab_root, where = workdir / "bacula", workdir / "bacula-restore"
    say("6. real Bacula (Debian's 9.6.7 daemons on 127.0.0.1, podheitor-posix-fd.so loaded "
        f"by bacula-fd), FileSet Plugin = \"podheitor-posix: path={source}\"")
    fileset = {"Posix": [f'Plugin = "podheitor-posix: path={source}"']}
    with BaculaLab(lab_root, fileset, plugin_dir=plugin_dir) as lab:
        jobs = [("Full backup", lab.backup("Full"))]
        _wait_next_second()
        (source / "docs" / "readme.txt").write_text("podheitor demo: changed again for Bacula\n")
        jobs.append(("Incremental backup", lab.backup("Incremental")))
        jobs.append(("restore of both", lab.restore(where, [j.jobid for _, j in jobs])))
        for title, job in jobs:
            state = "OK" if job.status == "T" and not job.errors else f"FAILED ({job.status})"
            say(f"   {title}: JobId {job.jobid} {state}, {job.files} files, "
                f"{job.bytes / (1 << 20):.1f} MiB, {job.seconds:.0f} s")
        listing = lab.bls(lab.volumes(jobs[0][1].jobid)[0])
        saved = [line for line in listing.splitlines() if str(source) in line]
        say(f"   bls on the volume lists {len(saved)} plugin files, e.g. {saved[0].strip()}")
    problems = verify_trees(str(source), str(where / source.relative_to("/")))
    for line in problems:
        say(f"   DIFFERENCE {line}")
    ok = not problems and all(j.status == "T" and not j.errors for _, j in jobs)
    say("   RESULT: Bacula restored the tree identically" if ok else
        "   RESULT: the Bacula path FAILED")
    return ok


def run(workdir: Path, say: Callable[[str], None] = print,
        plugin_dir: Path | None = None) -> bool:
    """Run the demo in ``workdir`` (recreated); True if every restore verified.

    With ``plugin_dir`` (built by ``make plugin``) and Debian's Bacula installed, the job
    also runs through real Bacula daemons."""
    if workdir.exists():
        shutil.rmtree(workdir)
    source, restore = workdir / "source", workdir / "restore"
    make_sample(source)
    params = [("path", str(source))]
    say(f"podheitor demo in {workdir}")
    say(f"1. sample tree created in {source}")

    t0 = time.monotonic()
    full = run_backup(workdir / "full.stream", params, level="F", job_id=1)
    _report(say, "2. Full backup through podheitor-backend posix", full, time.monotonic() - t0)

    # Bacula passes an incremental the start time of the previous job, in whole seconds;
    # wait for the next second so that files untouched since the Full are not "changed".
    since = _wait_next_second()
    (source / "docs" / "readme.txt").write_text("podheitor demo: changed after the Full\n")
    (source / "docs" / "added.txt").write_text("a file that appeared after the Full\n")
    t0 = time.monotonic()
    inc = run_backup(workdir / "incremental.stream", params, level="I", since=since, job_id=2)
    _report(say, "3. Incremental backup (changed and new files only)", inc, time.monotonic() - t0)

    t0 = time.monotonic()
    for number, stream in ((3, "full.stream"), (4, "incremental.stream")):
        outcome = run_restore(workdir / stream, params, str(restore), job_id=number)
        _report(say, f"4. restore of {stream} into {restore}", outcome, time.monotonic() - t0)

    restored = restore / source.relative_to("/")
    problems = verify_trees(str(source), str(restored))
    sparse_src, sparse_dst = source / "data" / "sparse.img", restored / "data" / "sparse.img"
    say(f"5. verification of {restored} against {source}:")
    say(f"   sparse.img original: {_allocated(sparse_src)}; restored: {_allocated(sparse_dst)}")
    same_inode = (os.stat(restored / "data" / "random.bin").st_ino
                  == os.stat(restored / "data" / "random-hardlink.bin").st_ino)
    say(f"   hard link kept: {same_inode}")
    for line in problems:
        say(f"   DIFFERENCE {line}")
    ok = not problems and same_inode and not any(o.stderr for o in (full, inc))
    say("   RESULT: restored tree is identical to the source (content, types, modes, "
        "times, links)" if ok else "   RESULT: verification FAILED")
    missing = missing_binaries()
    if plugin_dir is None or missing:
        why = (f"Debian's Bacula is not installed ({', '.join(missing)}; `make demo` installs "
               "it when it runs as root)" if missing else "no --plugin-dir (`make demo` "
               "builds the shim)")
        say(f"6. real Bacula path: skipped: {why}")
        return ok
    try:
        return run_bacula(workdir, source, plugin_dir, say) and ok
    except LabError as exc:
        say(f"   the Bacula lab failed: {exc}")
        return False
