"""``podheitor unframe``: a sparse file recovered by Bacula's own tools gets its holes back."""

from __future__ import annotations

import os

from podheitor.adapters.bacula import ptcomm
from podheitor.app.api import StreamArchive, backup_tree
from podheitor.app.cli import main


def _framed_data_of(archive, name: str) -> bytes:
    """What bextract would write for ``name``: the DATA bytes exactly as stored."""
    frames = ptcomm.FrameDecoder(ptcomm.BACKEND_LETTERS).feed(archive.read_bytes())
    i = next(i for i, f in enumerate(frames) if f.letter == "C" and f.text.endswith(name))
    i = next(j for j in range(i, len(frames)) if frames[j] == ptcomm.Frame("C", b"DATA\n"))
    data = bytearray()
    for frame in frames[i + 1 :]:
        if frame.letter != "D":
            break
        data += frame.payload
    return bytes(data)


def test_a_bextracted_sparse_file_gets_its_content_and_holes_back(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    with open(src / "disk.img", "wb") as f:
        f.seek(10 << 20)
        f.write(b"payload")
        f.truncate(32 << 20)
    archive = tmp_path / "a.phs"
    backup_tree([str(src)], StreamArchive(archive))
    recovered = tmp_path / "recovered.img"
    recovered.write_bytes(_framed_data_of(archive, "disk.img"))
    assert main(["unframe", str(recovered), str(tmp_path / "disk.img")]) == 0
    out = tmp_path / "disk.img"
    assert out.read_bytes() == (src / "disk.img").read_bytes()
    assert os.stat(out).st_blocks * 512 < 1 << 20
    assert "holes restored" in capsys.readouterr().out


def test_a_raw_file_is_refused_and_nothing_is_written(tmp_path, capsys):
    (tmp_path / "plain.txt").write_bytes(b"just text")
    assert main(["unframe", str(tmp_path / "plain.txt"), str(tmp_path / "out")]) == 1
    assert "not in PHSPARSE framing" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.txt"]


def test_a_truncated_framed_file_is_an_error_and_leaves_nothing(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    with open(src / "s.img", "wb") as f:
        f.seek(1 << 20)
        f.write(b"x" * 5000)
        f.truncate(4 << 20)
    archive = tmp_path / "a.phs"
    backup_tree([str(src)], StreamArchive(archive))
    cut = tmp_path / "cut.img"
    cut.write_bytes(_framed_data_of(archive, "s.img")[:-10])
    assert main(["unframe", str(cut), str(tmp_path / "out.img")]) == 1
    assert "truncated" in capsys.readouterr().err
    assert not (tmp_path / "out.img").exists()
    assert not [p for p in tmp_path.iterdir() if ".podheitor-" in p.name]
