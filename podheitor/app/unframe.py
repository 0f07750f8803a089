"""``podheitor unframe``: turn a file recovered without the plugin back into the original.

A Bacula restore through the plugin gives back every file as it was. Recovered with
Bacula's own tools instead (``bextract`` from a volume, or a restore without the plugin
loaded), a file that had holes comes out in PHSPARSE framing. This writes the original:
the data at its offsets, the holes as holes, the logical size; raw files are left alone.
"""

from __future__ import annotations

import os
from pathlib import Path

from podheitor.adapters.filesystems.posix import PosixTreeWriter
from podheitor.domain.errors import FormatError
from podheitor.domain.files import FileKind, FileMeta
from podheitor.domain.sparse import MAGIC, ContentDecoder


def is_framed(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(len(MAGIC)) == MAGIC


def unframe(source: Path, target: Path) -> int:
    """Write the original content of framed ``source`` to ``target``; returns its size.
    ``target`` appears only once complete (temporary file, fsync, rename)."""
    st = os.stat(source)
    meta = FileMeta(str(target.resolve()), FileKind.REGULAR, mode=st.st_mode & 0o7777,
                    uid=st.st_uid, gid=st.st_gid, atime=int(st.st_atime), mtime=int(st.st_mtime))
    new = PosixTreeWriter().create_file(meta.path)
    try:
        decoder = ContentDecoder()
        with open(source, "rb") as f:
            while block := f.read(1 << 20):
                for chunk in decoder.feed(block):
                    new.write(chunk.offset, chunk.data)
        for chunk in decoder.finish():
            new.write(chunk.offset, chunk.data)
        if not decoder.framed:
            raise FormatError(f"{source} is not in PHSPARSE framing; nothing to do")
        assert decoder.content_size is not None
        new.commit(meta, decoder.content_size, ())
    except BaseException:
        new.discard()
        raise
    return decoder.content_size
