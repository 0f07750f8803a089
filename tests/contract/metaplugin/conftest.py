from __future__ import annotations

import os
from pathlib import Path

import pytest


def build_tree(root: Path) -> None:
    """Every kind of file the posix plugin handles, with fixed times."""
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "hello.txt").write_bytes(b"hello\n")
    (root / "empty").touch()
    (root / "spaced name üñî ✓.txt").write_bytes(b"unicode\n")
    (root / "big.bin").write_bytes(os.urandom(11 << 20) + b"tail")
    (root / "sub" / "deeper" / "nested.txt").write_bytes(b"nested\n" * 1000)
    with open(root / "sparse.img", "wb") as f:
        f.seek(5 << 20)
        f.write(b"data in the middle" * 100)
        f.truncate(64 << 20)
    (root / "magic-start.bin").write_bytes(b"\x89PHSPARS" + os.urandom(100))
    os.symlink("hello.txt", root / "link")
    os.symlink("/does/not/exist", root / "dangling")
    os.link(root / "hello.txt", root / "sub" / "hard")
    os.chmod(root / "sub" / "deeper", 0o700)
    os.chmod(root / "hello.txt", 0o640)
    os.setxattr(root / "hello.txt", "user.origin", b"podheitor test")
    for path in sorted(root.rglob("*"), reverse=True):
        os.utime(path, (1_700_000_100, 1_700_000_000), follow_symlinks=False)
    os.utime(root, (1_700_000_100, 1_700_000_000))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    root.mkdir()
    build_tree(root)
    return root


def temp_leftovers(root: Path) -> list[str]:
    return [str(p) for p in root.rglob(".*.podheitor-*")]
