"""Reading file data at the cost of one copy, and without evicting anyone's cache.

Measured on a real Bacula job (benchmarks/bacula_job.py, cold cache): most of a backup's
CPU went into copying freshly read page-cache pages into the backend's buffer and into
inserting those pages into the cache at all. So each chunk of a large file is read where
it is: if all its pages are in the page cache (``mincore`` on a mapping of the file that is
never touched, so it has no side effect), a cheap copy from the cache; otherwise with
``O_DIRECT`` straight into an aligned buffer (DMA: no page-cache copy, and the backup does
not push the applications' data out of the cache, which is also why bacula-fd drops the
pages it reads). ``RWF_NOWAIT`` was tried as the probe and rejected: a miss still starts
reading the pages into the cache, so every chunk was read from disk twice.

Two buffers, because the two paths want opposite alignments: O_DIRECT needs a buffer on a
4 KiB boundary, while copying page-cache pages into a 4 KiB-aligned buffer measured 40%
slower than into an unaligned one (4K aliasing in the kernel's copy loop).
Small files, filesystems without ``O_DIRECT`` and unaligned leftovers read normally.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os

ALIGN = 4096  # O_DIRECT alignment that every Linux block device accepts
DIRECT_MIN = 1 << 20  # below this a second open costs more than it saves


def _aligned(size: int) -> memoryview:
    """A ``size``-byte view of a bytearray that starts on an ALIGN boundary."""
    raw = bytearray(size + ALIGN)
    start = -ctypes.addressof(ctypes.c_char.from_buffer(raw)) % ALIGN
    return memoryview(raw)[start : start + size]


def _unaligned(size: int) -> memoryview:
    """A ``size``-byte view that does NOT start on an ALIGN boundary (see module doc)."""
    raw = bytearray(size + 64)
    start = 64 if ctypes.addressof(ctypes.c_char.from_buffer(raw)) % ALIGN == 0 else 0
    return memoryview(raw)[start : start + size]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]


class _Residency:
    """Which parts of a file are in the page cache, asked without touching the file: a
    private mapping that is never read or written (so no fault, no SIGBUS if the file
    shrinks), queried with ``mincore``."""

    def __init__(self, fd: int, size: int) -> None:
        self.size = size
        self.map = mmap.mmap(fd, size, access=mmap.ACCESS_COPY)
        anchor = ctypes.c_char.from_buffer(self.map)
        self.address = ctypes.addressof(anchor)
        del anchor  # release the buffer export so that the map can be closed

    def cached(self, offset: int, length: int) -> bool:
        length = min(length, self.size - offset)
        if length <= 0:
            return False
        pages = -(-length // mmap.PAGESIZE)
        vec = ctypes.create_string_buffer(pages)
        if _libc.mincore(self.address + offset, length, vec) != 0:
            return False
        return b"\x00" not in vec.raw[:pages]  # one byte per page, 1 when resident

    def close(self) -> None:
        self.map.close()


def _reopen_direct(fd: int) -> int | None:
    """A second descriptor on the same inode (not the same name), with O_DIRECT."""
    try:
        return os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_DIRECT | os.O_CLOEXEC)
    except OSError:
        return None  # no /proc, or a filesystem without O_DIRECT (tmpfs, some FUSE)


class FileReader:
    """Reads ranges of one open regular file into reused buffers."""

    def __init__(self, fd: int, size: int, chunk_size: int) -> None:
        self.fd = fd
        self.chunk_size = min(chunk_size, max(size, 1))
        self.cached = _unaligned(self.chunk_size)
        self.direct = _reopen_direct(fd) if size >= DIRECT_MIN else None
        self.residency: _Residency | None = None
        if self.direct is not None:
            try:
                self.residency = _Residency(fd, size)
            except (OSError, ValueError):
                self.close()
        if self.direct is not None:
            # no read-ahead from cached reads: what is not cached must go to O_DIRECT,
            # not be pulled into the cache by the kernel behind our back
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        self.dma = _aligned(-(-self.chunk_size // ALIGN) * ALIGN) if self.direct else None

    def read(self, offset: int, length: int) -> memoryview:
        """Up to ``length`` bytes at ``offset`` (fewer only at end of file). The view is
        valid until the next read. Raises OSError from the filesystem."""
        if (self.direct is None or self.dma is None or self.residency is None
                or offset % ALIGN or self.residency.cached(offset, length)):
            return self.cached[: os.preadv(self.fd, [self.cached[:length]], offset)]
        want = -(-length // ALIGN) * ALIGN  # past the end of the file is fine
        try:
            n = os.preadv(self.direct, [self.dma[:want]], offset)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            self.close()  # this file refuses O_DIRECT: read normally from now on
            return self.read(offset, length)
        return self.dma[: min(n, length)]

    def close(self) -> None:
        """Stop using O_DIRECT (the buffers go with the last view of them)."""
        if self.direct is not None:
            os.close(self.direct)
            self.direct = None
        if self.residency is not None:
            self.residency.close()
            self.residency = None
