from __future__ import annotations

import pytest

from tests.support.trees import MemoryKit, PosixKit


@pytest.fixture(params=["posix", "memory"])
def kit(request, tmp_path):
    if request.param == "posix":
        root = tmp_path / "tree"
        root.mkdir()
        return PosixKit(root)
    return MemoryKit()
