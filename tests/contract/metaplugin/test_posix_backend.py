"""The real ``podheitor-backend posix`` process, driven as bacula-fd's metaplugin drives it."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from podheitor.app.api import verify_trees
from podheitor.app.pluginclient import backend_command, run_backup, run_estimate, run_restore
from tests.contract.metaplugin.conftest import temp_leftovers


def _clean(outcome) -> None:
    assert outcome.exit_code == 0, outcome
    assert outcome.stderr == b""
    assert outcome.errors == [], outcome.messages


def test_full_backup_and_restore_give_back_the_tree_byte_for_byte(tree, tmp_path):
    archive, where = tmp_path / "full.stream", tmp_path / "restore"
    full = run_backup(archive, [("path", str(tree))])
    _clean(full)
    assert full.files == 13
    restore = run_restore(archive, [("path", str(tree))], str(where))
    _clean(restore)
    assert restore.refused == []
    restored = where / tree.relative_to("/")
    assert verify_trees(str(tree), str(restored)) == []
    assert (restored / "big.bin").read_bytes() == (tree / "big.bin").read_bytes()
    assert os.stat(restored / "sub" / "hard").st_ino == os.stat(restored / "hello.txt").st_ino
    assert os.readlink(restored / "dangling") == "/does/not/exist"
    assert os.getxattr(restored / "hello.txt", "user.origin") == b"podheitor test"
    assert os.stat(restored / "sparse.img").st_blocks * 512 < 1 << 20  # holes kept
    assert temp_leftovers(where) == []


def test_a_hole_is_never_sent_as_data(tree, tmp_path):
    for name in list(tree.iterdir()):
        if name.name != "sparse.img":
            os.system(f"rm -rf '{name}'")
    outcome = run_backup(tmp_path / "s.stream", [("path", str(tree))])
    _clean(outcome)
    assert outcome.data_bytes < 64 << 10  # 1800 bytes of data in a 64 MiB file, plus framing


def test_incremental_saves_only_what_changed_since(tree, tmp_path):
    since = int(time.time()) + 1
    while time.time() < since:  # ctime has one-second resolution in the protocol
        time.sleep(0.02)
    (tree / "hello.txt").write_bytes(b"changed\n")
    (tree / "sub" / "new.txt").write_bytes(b"new\n")
    archive = tmp_path / "inc.stream"
    inc = run_backup(archive, [("path", str(tree))], level="I", since=since)
    _clean(inc)
    differential = run_backup(tmp_path / "diff.stream", [("path", str(tree))], level="D",
                              since=since)
    _clean(differential)
    # hello.txt and its hard link (same inode), the new file, and sub/ (an entry was added)
    assert inc.files == differential.files == 4
    where = tmp_path / "r"
    _clean(run_restore(tmp_path / "inc.stream", [("path", str(tree))], str(where)))
    restored = where / tree.relative_to("/")
    assert (restored / "hello.txt").read_bytes() == b"changed\n"
    assert (restored / "sub" / "new.txt").read_bytes() == b"new\n"
    assert not (restored / "big.bin").exists()


def test_estimate_lists_every_file_without_reading_data(tree):
    outcome = run_estimate([("path", str(tree))])
    _clean(outcome)
    assert outcome.files == 13
    assert outcome.data_bytes == 0


def test_special_files_are_reported_and_the_job_goes_on(tree, tmp_path):
    os.mkfifo(tree / "a-fifo")
    outcome = run_backup(tmp_path / "f.stream", [("path", str(tree))])
    assert outcome.exit_code == 0 and outcome.stderr == b""
    assert outcome.files == 13
    assert [(letter, "FIFO" in text) for letter, text in outcome.messages] == [("Q", True)]


def test_replace_never_skips_files_that_exist(tree, tmp_path):
    archive, where = tmp_path / "a.stream", tmp_path / "r"
    _clean(run_backup(archive, [("path", str(tree))]))
    _clean(run_restore(archive, [("path", str(tree))], str(where)))
    target = where / tree.relative_to("/") / "hello.txt"
    target.write_bytes(b"local edit")
    again = run_restore(archive, [("path", str(tree))], str(where), replace="n")
    _clean(again)
    assert target.read_bytes() == b"local edit"
    assert (str(tree / "hello.txt"), "create", "SKIP") in again.answers


def test_log_file_gets_json_lines_and_nothing_reaches_stderr(tree, tmp_path):
    log = tmp_path / "backend.log"
    os.mkfifo(tree / "fifo")
    outcome = run_backup(tmp_path / "l.stream", [("path", str(tree)), ("log_file", str(log))])
    assert outcome.stderr == b""
    lines = log.read_text().splitlines()
    assert any('"level": "error"' in line and "FIFO" in line for line in lines)


def test_an_unreadable_file_is_a_job_error_and_not_a_crash(tmp_path):
    """Root reads everything, so as root the backend runs as nobody (``setpriv``)."""
    base = Path(tempfile.mkdtemp(prefix="podheitor-perm-"))
    try:
        os.chmod(base, 0o755)
        (base / "ok.txt").write_text("fine")
        (base / "secret.txt").write_text("hidden")
        os.chmod(base / "secret.txt", 0o000)
        argv = None
        if os.geteuid() == 0:
            drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
            assert subprocess.run([*drop, "test", "-r", str(base / "secret.txt")],
                                  check=False).returncode != 0
            argv = [*drop, *backend_command("posix")]
        archive = tmp_path / "p.stream"
        outcome = run_backup(archive, [("path", str(base))], argv=argv)
        assert outcome.exit_code == 0 and outcome.stderr == b""
        assert outcome.files == 2  # ok.txt and the directory
        assert len(outcome.errors) == 1
        assert "secret.txt: permission denied" in outcome.errors[0]
    finally:
        shutil.rmtree(base)


def test_listing_browses_one_directory_level(tree):
    from podheitor.app.pluginclient import PluginClient, job_pairs
    client = PluginClient(backend_command("posix"))
    client.start(job_pairs("E"), [("path", str(tree)), ("listing", str(tree / "sub"))],
                 "ListingStart")
    client.receive_files(estimate=True)
    outcome = client.finish()
    _clean(outcome)
    assert outcome.files == 2  # sub/deeper and sub/hard


def test_query_answers_key_value_lines(tree):
    from podheitor.app.pluginclient import PluginClient, job_pairs
    client = PluginClient(backend_command("posix"))
    client.start(job_pairs("E"), [("path", str(tree)), ("path", "/etc"), ("query", "path")],
                 "QueryStart")
    answers = []
    while (packet := client.read())[0] == "C":
        answers.append(packet[1])
    assert packet[0] == "F"
    assert answers == [f"path={tree}\n".encode(), b"path=/etc\n"]
    _clean(client.finish())


def test_abort_on_error_stops_the_job_at_the_first_problem(tree, tmp_path):
    os.mkfifo(tree / "a-fifo")  # sorts first: the very first entry is a problem
    outcome = run_backup(tmp_path / "x.stream", [("path", str(tree)), ("abort_on_error", "1")])
    assert outcome.exit_code == 0 and outcome.stderr == b""
    letters = [letter for letter, _ in outcome.messages]
    assert letters == ["Q", "A"]
    assert "abort_on_error" in outcome.messages[-1][1]
    assert outcome.files < 13


def test_a_restore_needs_no_path_parameter(tree, tmp_path):
    archive, where = tmp_path / "a.stream", tmp_path / "r"
    _clean(run_backup(archive, [("path", str(tree))]))
    outcome = run_restore(archive, [], str(where))
    _clean(outcome)
    assert verify_trees(str(tree), str(where / tree.relative_to("/"))) == []


def test_a_backup_without_a_path_is_refused_before_it_starts():
    from podheitor.app.pluginclient import PluginClient, job_pairs
    client = PluginClient(backend_command("posix"))
    client.command("Hello podheitor-posix 1")
    client.expect("C", "Hello Bacula")
    for block, pairs in (("Job", job_pairs("B")), ("Params", [("xattrs", "no")])):
        client.command(block)
        for key, value in pairs:
            client.command(f"{key}={value}")
        client.send("F")
        if block == "Params":
            letter, text = client.read()
            assert (letter, text) == (
                "A", b"invalid plugin parameters: missing required parameter 'path' for "
                     b"podheitor-posix\n")
        client.expect("F")
    assert client.finish().exit_code == 0
