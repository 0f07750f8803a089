"""How the POSIX adapter reads large files: cached data from the cache, the rest by
O_DIRECT without filling the cache, and a plain read wherever O_DIRECT is refused."""

from __future__ import annotations

import errno
import os
import subprocess

import pytest

from podheitor.adapters.filesystems.reading import DIRECT_MIN, FileReader


def _resident(fd: int) -> int:
    """Bytes of the file in the page cache (util-linux fincore: mincore, no side effects)."""
    out = subprocess.run(["fincore", "-n", "-b", "-o", "RES", f"/proc/self/fd/{fd}"],
                         capture_output=True, text=True, check=True, pass_fds=(fd,))
    return int(out.stdout.split()[0])


@pytest.fixture
def big(tmp_path):
    data = os.urandom(3 * DIRECT_MIN + 1234)  # an unaligned tail
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    yield fd, data
    os.close(fd)


def _read_all(reader: FileReader, size: int, step: int) -> bytes:
    out = bytearray()
    while len(out) < size:
        piece = reader.read(len(out), step)
        assert piece, "short read before the end of the file"
        out += piece
    return bytes(out)


def test_uncached_data_is_read_without_filling_the_page_cache(big):
    fd, data = big
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    assert _resident(fd) == 0
    reader = FileReader(fd, len(data), 512 * 1024)
    assert reader.direct is not None
    assert _read_all(reader, len(data), 512 * 1024) == data
    assert _resident(fd) < 64 * 1024  # the backup did not pull the file into the cache
    reader.close()


def test_cached_data_is_copied_from_the_cache(big):
    fd, data = big
    whole = bytearray(len(data))
    os.preadv(fd, [whole], 0)  # now it is cached
    reader = FileReader(fd, len(data), 512 * 1024)
    assert _read_all(reader, len(data), 512 * 1024) == data
    reader.close()


def test_a_partly_cached_file_reads_correctly_across_the_boundary(big):
    fd, data = big
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.preadv(fd, [bytearray(DIRECT_MIN)], DIRECT_MIN)  # only the second MiB is cached
    reader = FileReader(fd, len(data), 384 * 1024)  # chunks straddle the cached range
    assert _read_all(reader, len(data), 384 * 1024) == data
    reader.close()


def test_unaligned_offsets_read_normally(big):
    fd, data = big
    reader = FileReader(fd, len(data), 512 * 1024)
    assert bytes(reader.read(1000, 5000)) == data[1000:6000]
    reader.close()


def test_small_files_never_open_a_second_descriptor(tmp_path):
    path = tmp_path / "small"
    path.write_bytes(b"x" * 100)
    fd = os.open(path, os.O_RDONLY)
    try:
        reader = FileReader(fd, 100, 512 * 1024)
        assert reader.direct is None and bytes(reader.read(0, 512 * 1024)) == b"x" * 100
    finally:
        os.close(fd)


def test_a_file_that_refuses_o_direct_is_read_normally(big, mocker):
    fd, data = big
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    reader = FileReader(fd, len(data), 512 * 1024)
    direct, real = reader.direct, os.preadv

    def preadv(f, buffers, offset, *flags):
        if f == direct:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real(f, buffers, offset, *flags)

    mocker.patch("podheitor.adapters.filesystems.reading.os.preadv", side_effect=preadv)
    assert _read_all(reader, len(data), 512 * 1024) == data
    assert reader.direct is None  # it stopped trying after the first refusal
