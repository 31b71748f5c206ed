"""Every exception kb raises, in one place.

    Exception
     +-- KbError                  an error kb reports to a user: the CLI prints it, exit 1
     |    +-- ContentError        the library content cannot be loaded or is invalid
     |    +-- ScaffoldError       a new case study cannot be scaffolded
     |    +-- SearchIndexError    the search index cannot be built or loaded
     |    +-- SearchError         a search cannot be run
     |    +-- SiteError           the site cannot be built
     |    +-- OutputError         an output path cannot be written safely
     |    +-- GitError            git cannot say what changed
     +-- FileError                a file cannot be read as a case study (becomes a Problem)
     +-- IndexStale               the cached index cannot be used as it is (repaired by `kb index`)
          +-- IndexDamaged        a cached file or record is damaged
               +-- IndexFileMissing   a cached file is missing

`FileError` and the `IndexStale` family never reach a user as they are: validation turns a
`FileError` into a problem record, and the index turns `IndexStale` into a rebuild, or into a
`SearchIndexError` that says what to run.
"""

from __future__ import annotations

__all__ = [
    "ContentError",
    "FileError",
    "GitError",
    "IndexDamaged",
    "IndexFileMissing",
    "IndexStale",
    "KbError",
    "OutputError",
    "ScaffoldError",
    "SearchError",
    "SearchIndexError",
    "SiteError",
]


class KbError(Exception):
    """Base class for every error kb reports to a user."""


class ContentError(KbError):
    """The library content cannot be loaded or is invalid."""


class ScaffoldError(KbError):
    """A new case study cannot be scaffolded (for example, the file exists)."""


class SearchIndexError(KbError):
    """The search index cannot be built or loaded."""


class SearchError(KbError):
    """A search cannot be run (unknown case study, bad filter)."""


class SiteError(KbError):
    """The site cannot be built."""


class OutputError(KbError):
    """An output path cannot be written without losing or leaking something."""


class GitError(KbError):
    """Git cannot say what changed (not a repository, unknown base)."""


class FileError(Exception):
    """A file cannot be read as a case study; carries the 1-based line and column."""

    def __init__(
        self, message: str, line: int = 1, column: int = 1, hint: str = "", code: str = "file"
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.line = line
        self.column = column
        self.hint = hint


class IndexStale(Exception):
    """The cached index cannot be used as it is; the message says why."""


class IndexDamaged(IndexStale):
    """A cached file or record is damaged (not merely out of date or old)."""


class IndexFileMissing(IndexDamaged):
    """A cached file is missing."""
