"""A real Bacula Full job through podheitor-posix versus a plain FileSet of the same tree.

Same daemons, same run, same tree (default 2 GiB: large files plus many small ones),
alternating plain and plugin jobs. Prints job seconds, MiB/s and the throughput ratio
(the issue's target is >= 0.7). A third row runs the same shim with the test suite's
stdlib stand-in backend, which moves file data with splice(2): the shim's own ceiling.
Not a test: it asserts nothing.

    .venv/bin/python -m benchmarks.bacula_job [--gib 2] [--rounds 2] [--options "..."]

Needs Debian's Bacula packages (scripts/setup-debian.sh bacula) and the venv (make setup).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STANDIN = REPO / "tests" / "contract" / "bacula" / "standin_backend.py"
sys.path.insert(0, str(REPO))

from podheitor.app.bacula_lab import BaculaLab, missing_binaries  # noqa: E402

MIB = 1024 * 1024


def make_tree(top: Path, total: int) -> int:
    """90% in 64 MiB files, 10% in 16 KiB-1 MiB files; incompressible content."""
    top.mkdir(parents=True)
    block = os.urandom(4 * MIB)
    written, n = 0, 0
    big_part = total * 9 // 10
    while written < big_part:
        size = min(64 * MIB, big_part - written)
        with open(top / f"big-{n:03d}.bin", "wb") as f:
            for off in range(0, size, len(block)):
                f.write(block[: min(len(block), size - off)])
                block = block[1:] + block[:1]  # no two blocks alike (no dedup effects)
        written += size
        n += 1
    sub = top / "small"
    sub.mkdir()
    sizes = [16 * 1024, 64 * 1024, 256 * 1024, MIB]
    while written < total:
        size = min(sizes[n % len(sizes)], total - written)
        (sub / f"f{n:05d}.dat").write_bytes(os.urandom(size))
        written += size
        n += 1
    return written


def finished_at(lab: BaculaLab, jobid: int, poll: float = 0.02) -> float:
    """Monotonic time at which the catalog shows the job ended. bconsole's ``wait`` only
    looks once a second and the catalog keeps whole seconds, too coarse for a ratio;
    a 20 ms catalog poll is fine for a benchmark."""
    running = set("CRBFSmMsjcdtpialL")  # Bacula's "created/running/waiting" states
    while (row := lab.query("SELECT JobStatus FROM Job WHERE JobId = ?", jobid)) == [] \
            or row[0][0] in running:
        time.sleep(poll)
    return time.monotonic()


def same_cache_state(tree: Path | None) -> None:
    """Give every job the same start: bacula-fd drops the files it read from the page
    cache (POSIX_FADV_DONTNEED), so without this the job after a plain one reads from disk
    and the job after a splice one from memory. As root: a cold cache for everyone;
    otherwise: a warm one (the tree read once more)."""
    os.sync()  # also: no dirty pages of the previous job's volume still being written
    if tree is None:
        return
    if os.geteuid() == 0:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return
    for path in tree.rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                while f.read(1 << 20):
                    pass


def timed_job(lab: BaculaLab, fileset: str, tree: Path | None = None
              ) -> tuple[float, float, int]:
    """(seconds from submission to the end, catalog seconds, JobBytes)."""
    same_cache_state(tree)
    start = time.monotonic()
    jobid = lab.submit(f"run job=Backup level=Full fileset={fileset} yes")
    seconds = finished_at(lab, jobid) - start
    job = lab.wait(jobid)
    if job.status != "T" or job.errors:
        raise SystemExit(f"{fileset} job {job.jobid} failed ({job.status}):\n{job.log}")
    for volume in lab.volumes(job.jobid):  # keep the disk from filling up
        (lab.volume_dir / volume).unlink(missing_ok=True)
    return seconds, job.seconds, job.bytes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gib", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--options", default="signature = MD5",
                    help="FileSet Options for both FileSets")
    args = ap.parse_args()
    if missing_binaries():
        raise SystemExit(f"missing {missing_binaries()}: run scripts/setup-debian.sh bacula")
    root = Path(tempfile.mkdtemp(prefix="podheitor-bench-", dir="/tmp"))
    root.chmod(0o755)
    try:
        plugins = root / "plugins"
        subprocess.run(["make", "-C", str(REPO), "-s", "plugin", f"PLUGINDIR={plugins}"],
                       check=True)
        tree = root / "tree"
        size = make_tree(tree, int(args.gib * 1024 * MIB))
        (root / "tiny").mkdir()
        (root / "tiny" / "one").write_text("1\n")
        shutil.copyfile(plugins / "podheitor-posix-fd.so", plugins / "podheitor-standin-fd.so")
        dispatch = root / "dispatch.sh"
        dispatch.write_text(f'#!/bin/sh\n[ "$1" = standin ] && exec {sys.executable} {STANDIN}\n'
                            f'exec {plugins / "podheitor-backend"} "$@"\n')
        dispatch.chmod(0o755)
        filesets = {"Plugin": [f'Plugin = "podheitor-posix: path={tree}"'],
                    "Plain": [f"File = {tree}"], "Tiny": [f"File = {root / 'tiny'}"],
                    "Standin": [f'Plugin = "podheitor-standin: path={tree}"']}
        results: dict[str, list[tuple[float, float, int]]] = {k: [] for k in filesets}
        with BaculaLab(root / "lab", filesets, plugin_dir=plugins,
                       fd_env={"PODHEITOR_BACKEND": str(dispatch)},
                       fileset_options=args.options) as lab:
            timed_job(lab, "Plain")  # warm-up, not counted: the tree is in the page cache
            for _ in range(args.rounds):
                for fileset in ("Tiny", "Plain", "Plugin", "Standin"):
                    results[fileset].append(
                        timed_job(lab, fileset, None if fileset == "Tiny" else tree))
        cache = "cold (dropped before each job)" if os.geteuid() == 0 else "warm"
        print(f"tree: {size / MIB:.0f} MiB in {sum(1 for _ in tree.rglob('*'))} entries; "
              f"FileSet options: {args.options or '(none)'}; rounds: {args.rounds}; "
              f"{os.cpu_count()} CPUs; page cache {cache}")
        # A job's time: submission to end (20 ms catalog poll) minus the same for a
        # one-file job, i.e. without the fixed console/scheduling/labelling overhead.
        overhead = statistics.median(r[0] for r in results.pop("Tiny"))
        rate = {}
        for fileset, runs in results.items():
            wall = statistics.median(r[0] for r in runs)
            catalog = statistics.median(r[1] for r in runs)
            rate[fileset] = runs[0][2] / MIB / (wall - overhead)
            print(f"{fileset:>7}: catalog {catalog:4.1f} s; {wall:5.2f} s - overhead "
                  f"{overhead:4.2f} s = {wall - overhead:5.2f} s, {rate[fileset]:6.1f} MiB/s "
                  f"(runs: {[(round(r[0], 2), r[1]) for r in runs]})")
        def by_catalog(name: str) -> float:
            return (statistics.median(r[1] for r in results["Plain"])
                    / statistics.median(r[1] for r in results[name]))
        for name in ("Plugin", "Standin"):
            print(f" ratio: {name.lower()}/plain throughput = "
                  f"{rate[name] / rate['Plain']:.2f} (by catalog seconds: {by_catalog(name):.2f})")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
