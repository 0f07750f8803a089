"""Bad input, tampering, cancel and dead peers: a precise job message, nothing on stderr,
no partial file under its final name."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from podheitor.adapters.bacula import ptcomm
from podheitor.app.pluginclient import (
    PluginClient,
    backend_command,
    job_pairs,
    run_backup,
    run_restore,
)
from tests.contract.metaplugin.conftest import temp_leftovers


@pytest.fixture
def one_file(tmp_path: Path) -> tuple[Path, Path]:
    src = tmp_path / "src"
    src.mkdir()
    (src / "f.bin").write_bytes(os.urandom(300_000))
    archive = tmp_path / "a.stream"
    outcome = run_backup(archive, [("path", str(src))])
    assert outcome.exit_code == 0 and outcome.errors == []
    return src, archive


def _rewrite(archive: Path, edit) -> None:  # edit(list[Frame]) -> list[Frame]
    decoder = ptcomm.FrameDecoder(ptcomm.BACKEND_LETTERS)
    frames = edit(decoder.feed(archive.read_bytes()))
    archive.write_bytes(b"".join(ptcomm.packet(f.letter, f.payload) for f in frames))


def _restore_fails(src: Path, archive: Path, where: Path, step: str, reason: str) -> None:
    outcome = run_restore(archive, [("path", str(src))], str(where))
    assert outcome.exit_code == 0 and outcome.stderr == b""
    refused = [(fname, s, answer) for fname, s, answer in outcome.refused]
    assert len(refused) == 1, outcome.answers
    fname, got_step, answer = refused[0]
    assert fname.endswith("f.bin") and got_step == step
    assert answer.startswith("E: ") and reason in answer
    target = where / src.relative_to("/") / "f.bin"
    assert not target.exists()
    assert temp_leftovers(where) == []


def test_a_flipped_byte_in_the_data_is_caught_and_nothing_is_restored(one_file, tmp_path):
    src, archive = one_file

    def flip(frames):
        first_d = next(i for i, f in enumerate(frames) if f.letter == "D")
        payload = bytearray(frames[first_d].payload)
        payload[1234] ^= 0x01
        frames[first_d] = ptcomm.Frame("D", bytes(payload))
        return frames

    _rewrite(archive, flip)
    _restore_fails(src, archive, tmp_path / "r", "xattr", "digest mismatch")


def test_a_lost_data_packet_is_caught(one_file, tmp_path):
    src, archive = one_file
    _rewrite(archive, lambda fr: [f for i, f in enumerate(fr)
                                  if i != next(j for j, g in enumerate(fr) if g.letter == "D")])
    _restore_fails(src, archive, tmp_path / "r", "xattr", "data bytes")


def test_a_tampered_trailer_is_caught(one_file, tmp_path):
    src, archive = one_file

    def tamper(frames):
        i = frames.index(ptcomm.Frame("C", b"XATTR\n"))
        frames[i + 1] = ptcomm.Frame("D", frames[i + 1].payload.replace(b'"bytes":', b'"bytes"'))
        return frames

    _rewrite(archive, tamper)
    _restore_fails(src, archive, tmp_path / "r", "xattr", "malformed trailer")


def _session(**kw) -> PluginClient:
    return PluginClient(backend_command("posix"), **kw)


def _drain(client: PluginClient) -> list[tuple[str, bytes]]:
    out = []
    while True:
        try:
            out.append(client.read_raw())
        except Exception:
            return out


def test_a_malformed_packet_ends_the_session_with_a_protocol_error():
    client = _session()
    client._in.write(b"C0000x9\nHello x 1\n")
    client._in.flush()
    packets = _drain(client)
    assert client.proc.wait(10) == 2
    assert client.proc.stderr.read() == b""
    assert packets == [("A", b"protocol error: packet length b'0000x9' is not 6 decimal digits"
                             b" at byte 1\n")]


def test_eof_at_any_point_exits_quietly(tree):
    client = _session()
    client.start(job_pairs("B"), [("path", str(tree))], "BackupStart")
    client.read_raw()  # the backend is streaming
    client._in.close()
    client._out.close()  # nobody reads any more: the backend meets EPIPE
    assert client.proc.wait(10) == 1
    assert client.proc.stderr.read() == b""


def test_sigusr1_cancels_a_backup_cleanly(tree):
    client = _session()
    client.start(job_pairs("B"), [("path", str(tree))], "BackupStart")
    while client.read_raw()[0] != "D":  # data is flowing
        pass
    client.proc.send_signal(signal.SIGUSR1)
    packets = _drain(client)
    assert client.proc.wait(10) == 1
    assert client.proc.stderr.read() == b""
    assert packets[-1] == ("A", b"job cancelled\n")


def _restoring(src: Path, where: Path) -> PluginClient:
    """A restore session in the middle of f.bin's data (64 KiB of 300,000 sent)."""
    client = _session()
    client.start(job_pairs("R", where=str(where)), [("path", str(src))], "RestoreStart")
    client.command(f"FNAME:{where}{src}/f.bin")
    client.command("STAT:F 300000 0 0 100644 1 0")
    client.command("TSTAMP:1 2 3")
    client.send("F")
    assert client.answer() == "OK"
    client.command("DATA")
    client.send("D", b"x" * 65536)
    return client


def test_sigusr1_during_a_restore_removes_the_partial_file(one_file, tmp_path):
    src, _ = one_file
    where = tmp_path / "r"
    client = _restoring(src, where)
    client.send("F")
    assert client.answer() == "OK"  # the data sits in a temporary file, awaiting its trailer
    assert len(temp_leftovers(where)) == 1
    client.proc.send_signal(signal.SIGUSR1)
    packets = _drain(client)
    assert client.proc.wait(10) == 1
    assert client.proc.stderr.read() == b""
    assert packets == [("A", b"job cancelled\n")]
    assert not (where / src.relative_to("/") / "f.bin").exists()
    assert temp_leftovers(where) == []


def test_unknown_parameters_fail_the_job_with_every_problem_named(tree):
    client = _session()
    client.command("Hello podheitor-posix 1")
    client.expect("C", "Hello Bacula")
    client.command("Job")
    client.send("F")
    client.expect("F")
    client.command("Params")
    for line in ("pth=/x", "one_file_system=maybe"):
        client.command(line)
    client.send("F")
    letter, text = client.read()
    assert letter == "A"
    assert b"unknown parameter 'pth' for podheitor-posix (did you mean 'path'?)" in text
    assert b"'one_file_system'" in text and b"missing required parameter 'path'" in text
    client.expect("F")
    outcome = client.finish()
    assert outcome.exit_code == 0 and outcome.stderr == b""


def test_an_unknown_plugin_is_reported_to_the_job():
    client = PluginClient([*backend_command("nosuch")[:-1], "nosuch"])
    client.command("Hello podheitor-nosuch 1")
    client.expect("C", "Hello Bacula")
    client.command("Job")
    client.send("F")
    client.expect("F")
    client.command("Params")
    client.send("F")
    letter, text = client.read()
    assert letter == "A" and b"unknown plugin 'nosuch'; known: posix" in text


def test_a_backend_started_without_a_plugin_name_says_how_to_use_it():
    client = PluginClient(backend_command("posix")[:-1])
    assert _drain(client) == [("A", b"usage: podheitor-backend <plugin> (e.g. posix)\n")]
    assert client.proc.wait(10) == 1


@pytest.mark.parametrize("fname", ["relative/f", "{where}/../escape", "/elsewhere/f"])
def test_unsafe_restore_names_are_refused_and_nothing_is_written(fname, tmp_path):
    where = tmp_path / "r"
    client = _session()
    client.start(job_pairs("R", where=str(where)), [("path", "/x")], "RestoreStart")
    client.command("FNAME:" + fname.format(where=where))
    client.command("STAT:F 5 0 0 100644 1 0")
    client.command("TSTAMP:1 2 3")
    client.send("F")
    answer = client.answer()
    assert answer.startswith("E: ") and "not restored" in answer
    client.command("FINISH")
    client.expect("F")
    assert client.finish().exit_code == 0
    assert not (tmp_path / "escape").exists()
    assert not where.exists() or not any(where.rglob("*"))


def test_a_hard_link_without_its_original_name_is_left_to_bacula(tmp_path):
    client = _session()
    client.start(job_pairs("R", where=str(tmp_path)), [("path", "/x")], "RestoreStart")
    client.command(f"FNAME:{tmp_path}/x/link")
    client.command("STAT:L 5 0 0 100644 2 7")
    client.command("TSTAMP:1 2 3")
    client.send("F")
    assert client.answer() == "CORE"
    client.command("FINISH")
    client.expect("F")
    assert client.finish().exit_code == 0


@pytest.mark.parametrize("where_cut", ["before-hello", "in-params", "in-restore-data"])
def test_eof_from_the_plugin_anywhere_ends_quietly_and_leaves_no_partial_file(
        where_cut, one_file, tmp_path):
    src, _ = one_file
    where = tmp_path / "r"
    client = _restoring(src, where) if where_cut == "in-restore-data" else _session()
    if where_cut == "in-params":
        client.command("Hello podheitor-posix 1")
        client.expect("C", "Hello Bacula")
        client.command("Params")
        client.command(f"path={src}")
    client._in.close()
    assert client.proc.wait(10) == 1
    assert client.proc.stderr.read() == b""
    assert temp_leftovers(tmp_path) == []
    assert not (where / src.relative_to("/") / "f.bin").exists()
