"""Where kb reads and writes: content folder, cache folder, embedding model, site output.

Every path can be set by an environment variable, so tests and CI point them at temporary folders.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Settings"]


@dataclass(frozen=True)
class Settings:
    """Resolved locations and the embedding model for one run."""

    content_dir: Path
    cache_dir: Path
    site_dir: Path
    model: str | None  # a folder holding a sentence-transformers model; None = the packaged one

    @classmethod
    def from_env(cls, root: Path | None = None) -> Settings:
        """Read `KB_CONTENT_DIR`, `KB_CACHE_DIR`, `KB_SITE_DIR` and `KB_MODEL`, with defaults."""
        base = root or Path.cwd()
        return cls(
            content_dir=Path(os.environ.get("KB_CONTENT_DIR", base / "content")),
            cache_dir=Path(os.environ.get("KB_CACHE_DIR", base / ".kb")),
            site_dir=Path(os.environ.get("KB_SITE_DIR", base / "build" / "site")),
            model=os.environ.get("KB_MODEL") or None,
        )
