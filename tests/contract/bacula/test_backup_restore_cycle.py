"""Full, Incremental, Differential and restore through a real bacula-fd and the shim.

The cycle runs once per plugin: ``Posix`` (the real backend) and ``Standin`` (the
stdlib stand-in, which checks the shim independently of the real backend). Each test
then checks one property of the recorded cycle.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import attrs
import pytest

from podheitor.app.bacula_lab import JobResult
from podheitor.domain.sparse import ContentDecoder

from .conftest import Env, next_second

pytestmark = pytest.mark.bacula

BIG = 12 * 1024 * 1024 + 123  # > 10 MB and not a multiple of any buffer size
Entry = tuple[object, ...]


def _write(path: Path, data: bytes | str, mode: int, mtime: int) -> None:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    path.chmod(mode)
    os.utime(path, (mtime, mtime))


def make_tree(top: Path) -> None:
    """Every kind of entry the posix plugin handles, with fixed past times."""
    top.mkdir(parents=True)
    (top / "sub" / "deeper").mkdir(parents=True)
    (top / "emptydir").mkdir()
    t = 1_700_000_000
    _write(top / "hello.txt", "hello world\n", 0o644, t + 1)
    _write(top / "empty-public", b"", 0o644, t + 2)       # FT_REGE
    _write(top / "empty-private", b"", 0o600, t + 3)      # empty but FT_REG
    _write(top / "private.key", os.urandom(4096), 0o600, t + 4)
    _write(top / "script.sh", "#!/bin/sh\necho hi\n", 0o755, t + 5)
    _write(top / "big.bin", os.urandom(BIG), 0o640, t + 6)
    _write(top / "unicode ü ✓ name.txt", "ünïcödé\n", 0o644, t + 7)
    _write(top / "owned.txt", "someone else's\n", 0o640, t + 8)
    if os.geteuid() == 0:
        os.chown(top / "owned.txt", 1234, 2345)
    with open(top / "sparse.img", "wb") as f:            # holes between two data blocks
        f.write(b"head" * 1024)
        f.seek(16 * 1024 * 1024)
        f.write(b"tail" * 1024)
        f.truncate(20 * 1024 * 1024)
    os.utime(top / "sparse.img", (t + 9, t + 9))
    _write(top / "hard-a", "two names, one inode\n", 0o644, t + 10)
    os.link(top / "hard-a", top / "sub" / "hard-b")
    _write(top / "sub" / "nested.txt", "nested\n", 0o640, t + 11)
    _write(top / "sub" / "deeper" / "deep.txt", "deep\n", 0o600, t + 12)
    os.symlink("hello.txt", top / "link-to-hello")
    os.symlink("does/not/exist", top / "dangling")
    os.symlink("sub", top / "link-to-dir")
    for d, mode, dt in (("sub/deeper", 0o700, 20), ("sub", 0o750, 21), ("emptydir", 0o755, 22),
                        (".", 0o755, 23)):
        (top / d).chmod(mode)
        os.utime(top / d, (t + dt, t + dt))


def change_1(top: Path) -> set[str]:
    """Rewrite, chmod, a new file, a new hard link. Returns the names now changed."""
    (top / "hello.txt").write_text("hello again, changed\n")
    (top / "script.sh").chmod(0o700)
    (top / "sub" / "new-in-sub.txt").write_text("new\n")
    os.link(top / "hard-a", top / "sub" / "deeper" / "hard-c")  # ctime of all three names
    return {"hello.txt", "script.sh", "sub/new-in-sub.txt", "sub/", "hard-a", "sub/hard-b",
            "sub/deeper/hard-c", "sub/deeper/"}


def change_2(top: Path) -> set[str]:
    with open(top / "big.bin", "r+b") as f:
        f.seek(5 * 1024 * 1024)
        f.write(os.urandom(1024 * 1024))
    (top / "newdir").mkdir()
    (top / "newdir" / "fresh.txt").write_text("fresh\n")
    return {"big.bin", "newdir/", "newdir/fresh.txt", ""}


def change_3(top: Path) -> set[str]:
    (top / "emptydir" / "now-not-empty.txt").write_text("filled\n")
    (top / "empty-public").write_text("not empty any more\n")
    return {"emptydir/", "emptydir/now-not-empty.txt", "empty-public"}


def names(top: Path) -> set[str]:
    """What Bacula records for the tree: absolute names, directories with "/"."""
    out = {f"{top}/"}
    for dirpath, dirnames, filenames in os.walk(top):
        out.update(f"{dirpath}/{d}/" for d in dirnames if not os.path.islink(f"{dirpath}/{d}"))
        out.update(f"{dirpath}/{n}" for n in filenames)
        out.update(f"{dirpath}/{d}" for d in dirnames if os.path.islink(f"{dirpath}/{d}"))
    return out


def absolute(top: Path, rel: set[str]) -> set[str]:
    return {f"{top}/{r}" for r in rel}


def snapshot(top: Path) -> dict[str, Entry]:
    """Type, mode, owner, times, size, content hash and link target of every entry."""
    out: dict[str, Entry] = {}
    for path in [top, *sorted(top.rglob("*"))]:
        st = path.lstat()
        rel = str(path.relative_to(top))
        owner = (st.st_uid, st.st_gid)
        if stat.S_ISLNK(st.st_mode):
            out[rel] = ("symlink", os.readlink(path), owner)
        elif stat.S_ISDIR(st.st_mode):
            out[rel] = ("dir", oct(stat.S_IMODE(st.st_mode)), owner, int(st.st_mtime))
        else:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            out[rel] = ("file", oct(stat.S_IMODE(st.st_mode)), owner, int(st.st_mtime),
                        st.st_size, digest)
    return out


def hard_link_groups(top: Path) -> set[frozenset[str]]:
    groups: dict[int, set[str]] = {}
    for path in top.rglob("*"):
        st = path.lstat()
        if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
            groups.setdefault(st.st_ino, set()).add(str(path.relative_to(top)))
    return {frozenset(g) for g in groups.values()}


@attrs.frozen
class Cycle:
    fileset: str
    top: Path
    where: Path
    jobs: dict[str, JobResult]
    saved: dict[str, set[str]]
    expected: dict[str, set[str]]
    full_names: set[str]
    full_content: dict[str, Entry]


@pytest.fixture(scope="module", params=["Posix", "Standin"])
def cycle(request: pytest.FixtureRequest, bacula: Env) -> Cycle:
    fileset: str = request.param
    lab, top = bacula.lab, bacula.trees / request.param
    make_tree(top)
    full_names, full_content = names(top), snapshot(top)
    jobs: dict[str, JobResult] = {}
    next_second()
    jobs["full"] = lab.backup("Full", fileset)
    set1 = change_1(top)
    next_second()
    jobs["inc1"] = lab.backup("Incremental", fileset)
    set2 = change_2(top)
    next_second()
    jobs["diff"] = lab.backup("Differential", fileset)
    set3 = change_3(top)
    next_second()
    jobs["inc2"] = lab.backup("Incremental", fileset)
    where = bacula.root / "restored" / fileset
    jobs["restore"] = lab.restore(where, fileset=fileset)
    expected = {"full": full_names, "inc1": absolute(top, set1),
                "diff": absolute(top, set1 | set2), "inc2": absolute(top, set3)}
    saved = {k: lab.files(jobs[k].jobid) for k in expected}
    return Cycle(fileset, top, where, jobs, saved, expected, full_names, full_content)


def test_every_job_of_the_cycle_ends_ok(cycle: Cycle) -> None:
    for name, job in cycle.jobs.items():
        assert (job.status, job.errors) == ("T", 0), f"{name}: {job.status}\n{job.log}"


def test_full_backup_saves_every_entry(cycle: Cycle) -> None:
    assert cycle.saved["full"] == cycle.expected["full"]
    assert cycle.jobs["full"].files == len(cycle.expected["full"])


@pytest.mark.parametrize("level", ["inc1", "diff", "inc2"])
def test_incremental_and_differential_save_exactly_the_changes(cycle: Cycle, level: str
                                                               ) -> None:
    assert cycle.saved[level] == cycle.expected[level]


def test_restore_reproduces_the_tree_byte_for_byte(cycle: Cycle) -> None:
    restored = cycle.where / cycle.top.relative_to("/")
    assert snapshot(restored) == snapshot(cycle.top)


def test_restore_keeps_hard_links_as_links(cycle: Cycle) -> None:
    restored = cycle.where / cycle.top.relative_to("/")
    groups = hard_link_groups(restored)
    assert groups == hard_link_groups(cycle.top)
    assert frozenset({"hard-a", "sub/hard-b", "sub/deeper/hard-c"}) in groups


def test_restore_reports_every_file_restored(cycle: Cycle) -> None:
    restore = cycle.jobs["restore"]
    assert restore.files == len(names(cycle.top))


def test_bls_lists_the_plugin_files_on_the_volume(cycle: Cycle, bacula: Env) -> None:
    (volume,) = bacula.lab.volumes(cycle.jobs["full"].jobid)
    listing = bacula.lab.bls(volume)
    listed = {line.split("  ")[-1].split(" -> ")[0].strip()
              for line in listing.splitlines() if line.startswith("bls JobId")}
    assert cycle.full_names <= listed


def decoded_hash(path: Path) -> tuple[int, str]:
    """Size and SHA-256 of a file's content as Bacula stored it. Files with holes travel
    in podheitor's self-describing PHSPARSE framing (dense files raw), so decode it."""
    decoder, content = ContentDecoder(), bytearray()
    for chunk in [*decoder.feed(path.read_bytes()), *decoder.finish()]:
        end = chunk.offset + len(chunk.data)
        content.extend(b"\0" * (end - len(content)))
        content[chunk.offset:end] = chunk.data
    assert decoder.content_size is not None
    content.extend(b"\0" * (decoder.content_size - len(content)))
    return len(content), hashlib.sha256(content).hexdigest()


def test_bextract_recovers_the_full_backup_data(cycle: Cycle, bacula: Env) -> None:
    (volume,) = bacula.lab.volumes(cycle.jobs["full"].jobid)
    target = bacula.root / "bextract" / cycle.fileset
    bacula.lab.bextract(volume, target)
    extracted = target / cycle.top.relative_to("/")
    files = {k: (v[4], v[5]) for k, v in cycle.full_content.items() if v[0] == "file"}
    assert {k: decoded_hash(extracted / k) for k in files} == files
