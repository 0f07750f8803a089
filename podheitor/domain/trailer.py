"""The record that follows a file's data in a podheitor backup stream.

It carries what a restore needs to verify the data it received (a digest of the DATA
bytes exactly as they travelled, and their count) and the file's extended attributes.
It is versioned, self-describing JSON behind a magic line, so ``bls``-level tools and
future versions can read it:

    PODHEITOR-TRAILER/1\\n{"data": {"bytes": N, "xxh3_128": "<hex>"}, "xattrs": [[name, b64], ...]}
"""

from __future__ import annotations

import base64
import binascii
import json

import attrs
import xxhash

from podheitor.domain.errors import FormatError, IntegrityError

MAGIC = b"PODHEITOR-TRAILER/1\n"


class StreamDigest:
    """Running digest of the DATA bytes of one file, as they are sent or received."""

    algorithm = "xxh3_128"

    def __init__(self) -> None:
        self._hash = xxhash.xxh3_128()
        self.count = 0

    def update(self, data: bytes | memoryview) -> None:
        self._hash.update(data)
        self.count += len(data)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


@attrs.frozen
class DataSeal:
    """Digest and length of a file's DATA bytes."""

    count: int
    digest: str
    algorithm: str = StreamDigest.algorithm
    complete: bool = True  # False: reading the source failed part-way through

    @classmethod
    def of(cls, digest: StreamDigest, complete: bool = True) -> DataSeal:
        return cls(digest.count, digest.hexdigest(), complete=complete)

    def verify(self, received: StreamDigest, path: str) -> None:
        if not self.complete:
            raise IntegrityError(
                f"{path}: the backup holds only part of this file (reading it failed during "
                "the backup); not restored"
            )
        if self.algorithm != received.algorithm:
            raise IntegrityError(f"{path}: unknown data digest {self.algorithm!r}")
        if received.count != self.count:
            raise IntegrityError(
                f"{path}: received {received.count} data bytes, the backup sent {self.count}"
            )
        if received.hexdigest() != self.digest:
            raise IntegrityError(f"{path}: data digest mismatch (corrupt or tampered backup)")


@attrs.frozen
class Trailer:
    seal: DataSeal | None = None
    xattrs: tuple[tuple[str, bytes], ...] = ()

    def encode(self) -> bytes:
        doc: dict[str, object] = {}
        if self.seal is not None:
            data: dict[str, object] = {"bytes": self.seal.count,
                                       self.seal.algorithm: self.seal.digest}
            if not self.seal.complete:
                data["complete"] = False
            doc["data"] = data
        if self.xattrs:
            doc["xattrs"] = [[n, base64.b64encode(v).decode()] for n, v in self.xattrs]
        return MAGIC + json.dumps(doc, separators=(",", ":")).encode()

    @staticmethod
    def is_trailer(blob: bytes) -> bool:
        return blob.startswith(MAGIC)

    @classmethod
    def decode(cls, blob: bytes) -> Trailer:
        if not blob.startswith(MAGIC):
            raise FormatError("not a podheitor trailer record")
        try:
            doc = json.loads(blob[len(MAGIC) :])
            if not isinstance(doc, dict):
                raise TypeError("the record is not a JSON object")
            seal = None
            if "data" in doc:
                data = doc["data"]
                (alg,) = [k for k in data if k not in ("bytes", "complete")]
                count, complete = data["bytes"], data.get("complete", True)
                if not isinstance(count, int) or count < 0 or not isinstance(complete, bool):
                    raise ValueError("data count must be a non-negative integer")
                seal = DataSeal(count, str(data[alg]), alg, complete=complete)
            xattrs = tuple(
                (str(n), base64.b64decode(v, validate=True)) for n, v in doc.get("xattrs", [])
            )
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError, RecursionError,
                binascii.Error) as exc:
            raise FormatError(f"malformed trailer record: {exc}") from exc
        return cls(seal, xattrs)
