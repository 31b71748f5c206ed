"""The exception family: library code raises these, the CLI turns them into clean messages."""

from __future__ import annotations

__all__ = [
    "ContentError",
    "IndexError_",
    "KbError",
    "ScaffoldError",
    "SearchError",
    "SiteError",
]


class KbError(Exception):
    """Base class for every error kb reports to a user."""


class ContentError(KbError):
    """The library content cannot be loaded or is invalid."""


class ScaffoldError(KbError):
    """A new case study cannot be scaffolded (for example, the file exists)."""


class IndexError_(KbError):  # noqa: N801 - avoids shadowing the builtin IndexError
    """The search index cannot be built or loaded."""


class SearchError(KbError):
    """A search cannot be run (unknown case study, bad filter)."""


class SiteError(KbError):
    """The site cannot be built."""
