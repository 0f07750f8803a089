"""The backend side of a metaplugin session, driven by what real Bacula sent (recordings of
bacula-fd 15.0.0 with kubernetes-fd.so), and refusing what Bacula would never send."""

from __future__ import annotations

import hashlib
import json
import stat
from collections.abc import Iterable
from itertools import accumulate, pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from podheitor.adapters.bacula.ptcomm import (
    BACKEND_LETTERS,
    HEADER_SIZE,
    PLUGIN_LETTERS,
    Frame,
    FrameDecoder,
    command,
    packet,
)
from podheitor.adapters.bacula.session import (
    BackendSession,
    DataBegin,
    DataChunk,
    DataEnd,
    End,
    Event,
    FileIndexAnswer,
    FileOffered,
    Finish,
    Hello,
    JobBlock,
    MetaBlock,
    ParamsBlock,
    PluginError,
    RestoreObjectReceived,
    Start,
    StartKind,
    State,
    Terminate,
    attributes,
    stat_line,
)
from podheitor.domain.errors import ProtocolError
from podheitor.domain.files import FileKind, FileMeta
from podheitor.domain.jobs import JobInfo, JobType, Replace

PROPERTY = settings(max_examples=100, deadline=None)
FIXTURES = Path("/work/shared/fixtures/bacula/ptcomm")
TRUTH: dict[str, Any] = json.loads((FIXTURES / "virtual-files.json").read_text())
VIRTUAL_FILES: list[dict[str, Any]] = TRUTH["files_in_backend_order"]
FD_READ_SIZE = 65536  # the plugin hands restore data to the FD in 64 KiB reads (README)


def recorded_frames(name: str, letters: frozenset[str] = PLUGIN_LETTERS) -> list[Frame]:
    decoder = FrameDecoder(letters)
    frames = decoder.feed((FIXTURES / name).read_bytes())
    decoder.close()
    return frames


def replay(frames: Iterable[Frame], session: BackendSession | None = None) -> list[Event]:
    """Feed the plugin's frames; answer a Backup/Estimate start the way a backend does."""
    session = session if session is not None else BackendSession()
    events: list[Event] = []
    offset = 0
    for frame in frames:
        event = session.receive(frame.letter, frame.payload, offset)
        offset += HEADER_SIZE + len(frame.payload)
        if event is None:
            continue
        if isinstance(event, DataChunk):  # the view is only valid until the next packet
            event = DataChunk(memoryview(bytes(event.data)))
        events.append(event)
        if isinstance(event, Start) and event.kind in (StartKind.BACKUP, StartKind.ESTIMATE):
            session.sending()
            session.sent_all()
    return events


def replay_recording(run: str) -> list[Event]:
    return replay(recorded_frames(f"{run}.plugin-to-backend.bin"))


def of_type(events: Iterable[Event], cls: type) -> list[Any]:
    return [e for e in events if isinstance(e, cls)]


def meta_from_truth(entry: dict[str, Any], path: str) -> FileMeta:
    letter, size, uid, gid, mode, nlink = entry["stat_line"].removeprefix("STAT:").split()
    atime, mtime, ctime = map(int, entry["tstamp_line"].removeprefix("TSTAMP:").split())
    return FileMeta(
        path=path,
        kind=FileKind.DIRECTORY if letter == "D" else FileKind.REGULAR,
        size=int(size),
        mode=stat.S_IMODE(int(mode, 8)),
        uid=int(uid),
        gid=int(gid),
        atime=atime,
        mtime=mtime,
        ctime=ctime,
        nlink=int(nlink),
    )


def restore_read_sizes(entry: dict[str, Any]) -> list[int]:
    """64 KiB reads, cut again wherever a backup D packet ended (see the fixture README)."""
    size = entry["size"]
    cuts = set(range(FD_READ_SIZE, size, FD_READ_SIZE))
    cuts |= set(accumulate(entry["backup_data_packet_sizes"]))
    points = sorted({0, size} | {c for c in cuts if 0 < c < size})
    return [b - a for a, b in pairwise(points)] if size else []


# -- recorded backup and estimate -----------------------------------------------------------------
def test_backup_recording_gives_the_session_events_in_order() -> None:
    events = replay_recording("backup")
    assert [type(e) for e in events] == [Hello, JobBlock, ParamsBlock, Start, End, Terminate]
    assert events[0] == Hello("kubernetes", "3")
    assert events[3] == Start(StartKind.BACKUP)


def test_backup_job_block_describes_the_recorded_job() -> None:
    (block,) = of_type(replay_recording("backup"), JobBlock)
    info = JobInfo.from_pairs(block.pairs)
    assert info.job_id == TRUTH["backup_jobid"]
    assert info.type is JobType.BACKUP
    assert info.namespace == "@kubernetes"
    assert [k for k, _ in block.pairs] == [
        "Name",
        "JobID",
        "Type",
        "Level",
        "Namespace",
        "WorkingDir",
        "SysconfigPath",
        "ExePath",
    ]


def test_params_block_carries_the_plugin_command_parameters() -> None:
    _, _, args = TRUTH["plugin_command"].partition(":")
    (block,) = of_type(replay_recording("backup"), ParamsBlock)
    assert block.pairs == tuple(tuple(a.split("=", 1)) for a in args.split())


def test_hello_names_the_plugin_of_the_plugin_command() -> None:
    plugin, _, _ = TRUTH["plugin_command"].partition(":")
    (hello,) = of_type(replay_recording("backup"), Hello)
    assert hello.plugin == plugin


def test_estimate_recording_gives_the_session_events_in_order() -> None:
    events = replay_recording("estimate")
    assert [type(e) for e in events] == [Hello, JobBlock, ParamsBlock, Start, End, Terminate]
    assert events[3] == Start(StartKind.ESTIMATE)
    info = JobInfo.from_pairs(events[1].pairs)
    assert (info.type, info.job_id) == (JobType.ESTIMATE, 0)


@pytest.mark.parametrize("run", ["backup", "estimate", "restore"])
def test_recorded_session_ends_closed(run: str) -> None:
    session = BackendSession()
    replay(recorded_frames(f"{run}.plugin-to-backend.bin"), session)
    assert session.state is State.CLOSED


# -- recorded restore -----------------------------------------------------------------------------
def expected_restore_kinds() -> list[type]:
    kinds: list[type] = [Hello, JobBlock, ParamsBlock, Start]
    for entry in VIRTUAL_FILES:
        kinds.append(FileOffered)
        if entry["size"]:
            kinds += [DataBegin, *[DataChunk] * len(restore_read_sizes(entry)), DataEnd]
        if entry.get("acl"):
            kinds.append(MetaBlock)
    return [*kinds, Finish, End, Terminate]


def test_restore_recording_gives_the_session_events_in_order() -> None:
    events = replay_recording("restore")
    assert [type(e) for e in events] == expected_restore_kinds()
    assert events[3] == Start(StartKind.RESTORE)


def test_restore_job_block_names_where_and_replace() -> None:
    (block,) = of_type(replay_recording("restore"), JobBlock)
    info = JobInfo.from_pairs(block.pairs)
    assert info.job_id == TRUTH["restore_jobid"]
    assert info.type is JobType.RESTORE
    assert info.where == TRUTH["restore_where"]
    assert info.replace is Replace.ALWAYS


def test_restore_offers_every_virtual_file_with_its_attributes() -> None:
    where = TRUTH["restore_where"]
    offered = of_type(replay_recording("restore"), FileOffered)
    assert offered == [
        FileOffered(meta_from_truth(entry, where + entry["fname"]), 0) for entry in VIRTUAL_FILES
    ]


def split_data_by_file(events: list[Event]) -> list[list[bytes]]:
    """The DataChunk payloads of each DATA block, in order."""
    blocks: list[list[bytes]] = []
    for event in events:
        if isinstance(event, DataBegin):
            blocks.append([])
        elif isinstance(event, DataChunk):
            blocks[-1].append(bytes(event.data))
    return blocks


def test_restore_data_chunks_follow_64k_reads_split_at_backup_packet_ends() -> None:
    blocks = split_data_by_file(replay_recording("restore"))
    with_data = [e for e in VIRTUAL_FILES if e["size"]]
    assert [[len(c) for c in b] for b in blocks] == [restore_read_sizes(e) for e in with_data]


def test_restore_data_is_the_backed_up_content() -> None:
    blocks = split_data_by_file(replay_recording("restore"))
    with_data = [e for e in VIRTUAL_FILES if e["size"]]
    assert [hashlib.sha256(b"".join(b)).hexdigest() for b in blocks] == [
        e["sha256"] for e in with_data
    ]


def test_restore_acl_arrives_as_a_meta_block() -> None:
    blocks = of_type(replay_recording("restore"), MetaBlock)
    assert blocks == [MetaBlock("ACL", e["acl"].encode()) for e in VIRTUAL_FILES if e.get("acl")]


# -- the backend's own attribute packets ----------------------------------------------------------
@pytest.mark.parametrize("entry", VIRTUAL_FILES, ids=[e["fname"] for e in VIRTUAL_FILES])
def test_stat_line_matches_what_the_recording_backend_sent(entry: dict[str, Any]) -> None:
    assert stat_line(meta_from_truth(entry, entry["fname"])) == entry["stat_line"]


@pytest.mark.parametrize("entry", VIRTUAL_FILES, ids=[e["fname"] for e in VIRTUAL_FILES])
def test_attributes_are_byte_identical_to_the_recorded_backup(entry: dict[str, Any]) -> None:
    frames = recorded_frames("backup.backend-to-plugin.bin", BACKEND_LETTERS)
    start = frames.index(Frame("C", f"FNAME:{entry['fname']}\n".encode()))
    recorded = b"".join(packet(f.letter, f.payload) for f in frames[start : start + 4])
    meta = meta_from_truth(entry, entry["fname"])
    assert b"".join(attributes(meta, entry["fname"])) == recorded


def test_stat_line_of_an_empty_regular_file_uses_e() -> None:
    meta = FileMeta(path="/e", kind=FileKind.REGULAR, size=0, mode=0o644)
    assert stat_line(meta) == "STAT:E 0 0 0 100644 1"


def test_stat_line_writes_the_mode_as_six_octal_digits() -> None:
    meta = FileMeta(path="/d", kind=FileKind.DIRECTORY, mode=0o700, nlink=3)
    assert stat_line(meta) == "STAT:D 0 0 0 040700 3"


def test_stat_line_of_a_symlink_uses_s() -> None:
    meta = FileMeta(path="/l", kind=FileKind.SYMLINK, size=9, mode=0o777, link_target="hello.txt")
    assert stat_line(meta) == "STAT:S 9 0 0 120777 1"


def test_stat_line_of_a_hard_link_has_a_seventh_field_with_the_link_file_index() -> None:
    meta = FileMeta(path="/h", kind=FileKind.HARDLINK, size=5, mode=0o600, uid=7, gid=8, nlink=2)
    assert stat_line(meta, link_fi=42) == "STAT:L 5 7 8 100600 2 42"
    assert stat_line(meta) == "STAT:L 5 7 8 100600 2 0"


def test_stat_line_of_other_kinds_has_six_fields_even_with_a_link_index() -> None:
    meta = FileMeta(path="/f", kind=FileKind.REGULAR, size=1)
    assert len(stat_line(meta, link_fi=42).split()) == 6


def test_attributes_of_a_symlink_send_lstat_before_the_closing_f() -> None:
    meta = FileMeta(path="/l", kind=FileKind.SYMLINK, link_target="target", mtime=5)
    assert attributes(meta, "/l") == [
        command("FNAME:/l"),
        command("STAT:S 0 0 0 120644 1"),
        command("TSTAMP:0 5 0"),
        command("LSTAT:target"),
        packet("F"),
    ]


def restore_session() -> BackendSession:
    session = BackendSession()
    replay([Frame("C", b"Hello kubernetes 3\n"), Frame("C", b"RestoreStart\n")], session)
    return session


metas = st.builds(
    lambda kind, path, size, mode, ids, times, nlink, target: FileMeta(
        path=path,
        kind=kind,
        size=size,
        mode=mode,
        uid=ids[0],
        gid=ids[1],
        atime=times[0],
        mtime=times[1],
        ctime=times[2],
        nlink=nlink,
        link_target=target if kind is FileKind.SYMLINK else None,
    ),
    st.sampled_from(list(FileKind)),
    st.text(
        st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)),
        min_size=1,
        max_size=30,
    ),
    st.integers(0, 1 << 50),
    st.integers(0, 0o7777),
    st.tuples(st.integers(0, 1 << 32), st.integers(0, 1 << 32)),
    st.tuples(*[st.integers(-(1 << 40), 1 << 40)] * 3),
    st.integers(1, 1000),
    st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), max_size=30),
)


@PROPERTY
@given(metas, st.integers(0, 1 << 31))
def test_attributes_are_read_back_by_the_session_as_the_same_file(
    meta: FileMeta, link_fi: int
) -> None:
    frames = []
    decoder = FrameDecoder(PLUGIN_LETTERS)
    for raw in attributes(meta, meta.path, link_fi):
        frames += decoder.feed(raw)
    (offered,) = replay(frames, restore_session())
    expected_fi = link_fi if meta.kind is FileKind.HARDLINK else 0
    assert offered == FileOffered(meta, expected_fi)


# -- other conversations the session follows ------------------------------------------------------
def idle_session() -> BackendSession:
    session = BackendSession()
    session.receive("C", b"Hello kubernetes 3\n")
    return session


def test_file_index_question_and_answer() -> None:
    session = idle_session()
    session.receive("C", b"BackupStart\n")
    session.sending()
    assert session.ask_file_index() == command("FileIndex")
    assert session.receive("C", b"17\n") == FileIndexAnswer(17)
    assert session.state is State.SENDING


def test_restore_object_is_collected_with_its_announced_length() -> None:
    session = restore_session()
    assert session.receive("C", b"RESTOREOBJ:RestoreOptions\n") is None
    assert session.receive("C", b"RESTOREOBJ_LEN:5\n") is None
    assert session.receive("D", b"ab") is None
    assert session.receive("D", b"cde") is None
    assert session.receive("F", b"") == RestoreObjectReceived("RestoreOptions", b"abcde")
    assert session.state is State.RESTORE


def test_restore_object_shorter_than_announced_is_refused() -> None:
    session = restore_session()
    session.receive("C", b"RESTOREOBJ:RestoreOptions\n")
    session.receive("C", b"RESTOREOBJ_LEN:5\n")
    session.receive("D", b"abc")
    with pytest.raises(ProtocolError, match="announced 5"):
        session.receive("F", b"")


def test_xattr_block_is_collected_from_several_data_packets() -> None:
    session = restore_session()
    session.receive("C", b"XATTR\n")
    session.receive("D", b"user.a\0")
    session.receive("D", b"1")
    assert session.receive("F", b"") == MetaBlock("XATTR", b"user.a\x001")


def test_job_line_without_a_value_means_one() -> None:
    session = idle_session()
    session.receive("C", b"Params\n")
    session.receive("C", b"abort_on_error\n")
    assert session.receive("F", b"") == ParamsBlock((("abort_on_error", "1"),))


def test_hard_link_offer_carries_the_link_file_index() -> None:
    session = restore_session()
    for line in (b"FNAME:/w/h\n", b"STAT:L 5 0 0 100600 2 42\n", b"LSTAT:/w/first\n"):
        session.receive("C", line)
    event = session.receive("F", b"")
    assert isinstance(event, FileOffered)
    assert (event.meta.kind, event.link_fi, event.meta.link_target) == (
        FileKind.HARDLINK,
        42,
        "/w/first",
    )


@pytest.mark.parametrize("state_builder", [BackendSession, idle_session, restore_session])
def test_plugin_error_packet_is_an_event_in_any_open_state(state_builder: Any) -> None:
    session = state_builder()
    assert session.receive("E", b"Plugin failed\n") == PluginError("Plugin failed")


# -- protocol violations --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("letter", "payload"), [("C", b"Job\n"), ("D", b"x"), ("F", b""), ("T", b"")]
)
def test_packet_before_hello_is_refused(letter: str, payload: bytes) -> None:
    with pytest.raises(ProtocolError):
        BackendSession().receive(letter, payload)


@pytest.mark.parametrize(
    "text", [b"Hello kubernetes\n", b"Hello kubernetes 3 extra\n", b"Howdy kubernetes 3\n", b"\n"]
)
def test_bad_hello_is_refused(text: bytes) -> None:
    with pytest.raises(ProtocolError, match="Hello"):
        BackendSession().receive("C", text)


def test_unknown_command_is_refused() -> None:
    with pytest.raises(ProtocolError, match="Frobnicate"):
        idle_session().receive("C", b"Frobnicate\n")


def test_unknown_restore_command_is_refused() -> None:
    with pytest.raises(ProtocolError, match="Frobnicate"):
        restore_session().receive("C", b"Frobnicate\n")


@pytest.mark.parametrize("builder", [idle_session, restore_session])
def test_data_packet_outside_a_data_block_is_refused(builder: Any) -> None:
    with pytest.raises(ProtocolError):
        builder().receive("D", b"stray data")


def test_command_inside_file_data_is_refused() -> None:
    session = restore_session()
    session.receive("C", b"DATA\n")
    with pytest.raises(ProtocolError):
        session.receive("C", b"FINISH\n")


def offer(*lines: bytes) -> None:
    session = restore_session()
    session.receive("C", b"FNAME:/w/f\n")
    for line in lines:
        session.receive("C", line)
    session.receive("F", b"")


@pytest.mark.parametrize(
    "line",
    [
        b"STAT:F abc 0 0 100644 1\n",
        b"STAT:Q 1 0 0 100644 1\n",
        b"STAT:F 1 0 0 100689 1\n",
        b"STAT:F 1 0 0 100644\n",
        b"STAT:F 1 0 0 100644 1 2 3\n",
        b"STAT:F  1 0 0 100644 1\n",
        b"STAT:\n",
    ],
)
def test_malformed_stat_line_is_refused(line: bytes) -> None:
    with pytest.raises(ProtocolError, match="STAT"):
        offer(line)


@pytest.mark.parametrize("line", [b"TSTAMP:1 2\n", b"TSTAMP:a b c\n"])
def test_malformed_tstamp_line_is_refused(line: bytes) -> None:
    with pytest.raises(ProtocolError, match="TSTAMP"):
        offer(b"STAT:F 1 0 0 100644 1\n", line)


def test_file_without_stat_is_refused() -> None:
    with pytest.raises(ProtocolError, match="without a STAT"):
        offer(b"TSTAMP:1 2 3\n")


def test_symlink_without_lstat_is_refused() -> None:
    with pytest.raises(ProtocolError, match="LSTAT"):
        offer(b"STAT:S 9 0 0 120777 1\n", b"TSTAMP:1 2 3\n")


def test_file_of_unknown_type_x_is_refused() -> None:
    with pytest.raises(ProtocolError, match="unknown type"):
        offer(b"STAT:X 0 0 0 100644 1\n")


def test_unexpected_line_in_file_attributes_is_refused() -> None:
    with pytest.raises(ProtocolError, match="CHECKSUM"):
        offer(b"STAT:F 1 0 0 100644 1\n", b"CHECKSUM:abc\n")


@pytest.mark.parametrize("builder", [idle_session, restore_session])
def test_terminate_before_end_is_refused(builder: Any) -> None:
    with pytest.raises(ProtocolError):
        builder().receive("T", b"")


def test_only_terminate_may_follow_end() -> None:
    session = idle_session()
    assert session.receive("C", b"END\n") == End()
    with pytest.raises(ProtocolError, match="after END"):
        session.receive("C", b"END\n")


@pytest.mark.parametrize("letter", sorted(PLUGIN_LETTERS))
def test_any_packet_after_terminate_is_refused(letter: str) -> None:
    session = idle_session()
    session.receive("C", b"END\n")
    assert session.receive("T", b"") == Terminate()
    with pytest.raises(ProtocolError):
        session.receive(letter, b"" if letter in "FT" else b"late\n")


@pytest.mark.parametrize("answer", [b"abc\n", b"\n", b"1.5\n", b"12a\n"])
def test_file_index_answer_that_is_not_a_number_is_refused(answer: bytes) -> None:
    session = idle_session()
    session.receive("C", b"BackupStart\n")
    session.sending()
    session.ask_file_index()
    with pytest.raises(ProtocolError, match="not a number"):
        session.receive("C", answer)


def test_plugin_packet_while_the_backend_is_sending_is_refused() -> None:
    session = idle_session()
    session.receive("C", b"BackupStart\n")
    session.sending()
    with pytest.raises(ProtocolError):
        session.receive("C", b"END\n")


def test_backend_cannot_start_sending_before_hello() -> None:
    with pytest.raises(ProtocolError):
        BackendSession().sending()


def test_backend_cannot_end_a_file_stream_it_did_not_start() -> None:
    with pytest.raises(ProtocolError):
        idle_session().sent_all()


def test_protocol_error_carries_the_stream_offset_of_the_packet() -> None:
    session = idle_session()
    with pytest.raises(ProtocolError) as info:
        session.receive("C", b"Frobnicate\n", 1234)
    assert info.value.offset == 1234
