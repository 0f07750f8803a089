"""Paths of the data recorded from real Bacula (``../shared/fixtures`` beside the repo)."""

from __future__ import annotations

from pathlib import Path

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
BACULA = SHARED / "fixtures" / "bacula"
PTCOMM = BACULA / "ptcomm"
