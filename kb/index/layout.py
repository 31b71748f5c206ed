"""Where the search index lives and what it holds: file names, schemes, stored fields.

Layout of `<cache>/index/`:
- `manifest.json`: format, model identity, dimension, passage settings, the data files of the
  current generation with their size, mtime and sha256, and per case study its content hash and
  passages; sealed with the sha256 of its own contents (`kb.index.records.Manifest`);
- `vectors-<gen>.faiss`: `IndexIDMap(IndexFlatIP)` of unit vectors, one per passage;
- `search-<gen>.npz`: everything a search reads, so that it needs neither the content nor faiss:
  the BM25 score matrix (Lucene BM25 as bm25s computes it) with its vocabulary, stop words and
  term counts, the vectors in manifest order, and per case study the metadata and the texts that
  results show (`SearchData`); its arrays are stored aligned, and a search maps them;
- `onnx/`: the ONNX export of the model (`kb.index.onnx`), which embeds passages and queries.

Each case study is split into passages by `kb.index.passages`. Changing how passages are built,
what the search file holds or the vocabularies' labels changes a scheme string here, which forces
a rebuild."""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypedDict

from kb.index import passages as _passages

if TYPE_CHECKING:

    pass

__all__ = [
    "INDEX_DIR",
    "IndexReport",
    "ONNX_DIR",
]


class StoredOutcome(NamedTuple):
    """One outcome as the search file stores it (a list in that order) and searches read it."""

    kind: str  # health, service-use, financial, ...
    status: str  # achieved, estimated or target
    numeric: int  # 1 if it has a number, else 0
    sentence: str  # the figure in words, '' if it says nothing
    direction: str  # increase, decrease, no-change or ''


class StoredCase(TypedDict):
    """One case study as the search file stores it: what a search shows and filters on."""

    id: str
    title: str
    facets: dict[str, list[str]]  # controlled field -> vocabulary ids
    evidence: int  # Nesta level, 0 if not assessed
    labels: dict[str, list[str]]  # ics, region, tiers -> labels
    outcomes: list[StoredOutcome]
    profile: str  # the text of its profile passage
    parts: dict[str, list[Any]]  # section -> [heading, start, end] in the texts blob


INDEX_DIR = "index"
ONNX_FILE = "model.onnx"  # the export, inside ONNX_DIR
ONNX_META = "onnx.json"
TOKENIZER_FILE = "tokenizer.json"


ONNX_DIR = "onnx"  # inside INDEX_DIR


# inside ONNX_DIR: the export prepared for searches (see QueryModelRecord): graph, weights, record
QUERY_MODEL = "query.onnx"


QUERY_WEIGHTS = "query.onnx.data"


QUERY_META = "query.json"


MANIFEST = "manifest.json"


# Changing how passages are built (kb.index.passages.SCHEME) forces a rebuild; changing what the
# search
# file holds rebuilds that file only (no embedding).
SEARCH_SCHEME = (
    "search-v3/bm25-lucene-k1.2-b0.75/title2-summary2-labels/placeholders-out/letter&letter-word"
)


# How the search file is laid out (its arrays, aligned for mapping; each case study's row and
# texts apart, with its BM25 term counts): part of the search scheme, so a new layout rebuilds
# that file only. What an unchanged case study holds there is kept by updates, keyed by its
# content hash and the search scheme: a change to what `_case_store` or `bm25_text` make of a
# case study must change SEARCH_SCHEME.
SEARCH_FILE = "file-v2/aligned/rows-apart/term-counts"


# facets stored per case study for filters and 'why it matched' (FIELD_VOCABULARY order)
STORED_FACETS = (
    "region",
    "ics",
    "level",
    "status",
    "tiers",
    "kaiser_level",
    "meps",
    "three_cs",
    "enablers",
    "challenges",
    "drivers",
    "topics",
)


# fields whose labels are looked for in the words of a query
QUERY_FACETS = ("topics", "ics", "region")


def passage_scheme() -> str:
    """The passage scheme in use (read at call time, so a benchmark can swap it).

    Passages print topic and unit labels, so the scheme carries a hash of those labels: editing a
    label re-embeds the library; adding an alias (a word a query may use) does not.
    """
    names = ("topics.yml", "units.yml")
    return f"{_passages.SCHEME.name}/labels-{_vocab_digest(names, labels_only=True)}"


def search_scheme() -> str:
    """The search file's scheme: its format and every vocabulary file, whose labels and aliases
    are words a query can match; editing one rebuilds the search file (no embedding)."""
    return f"{SEARCH_SCHEME}/{_passages.FIGURE_WORDING}/{SEARCH_FILE}/vocab-{_vocab_digest(None)}"


# the ids and labels of a vocabulary file, in its block or flow form (read without a YAML parser,
# so that a search need not load one)
_ID_OR_LABEL = re.compile(rb"\b(?:id|label):[ \t]*(\"[^\"\n]*\"|'[^'\n]*'|[^,}\n]*)")


@functools.cache
def _vocab_digest(names: tuple[str, ...] | None, labels_only: bool = False) -> str:
    """A short hash of the named vocabulary files (all of them for None): their bytes, or with
    `labels_only` just their ids and labels."""
    folder = resources.files("kb") / "data" / "vocab"
    digest = hashlib.sha256()
    for item in sorted(folder.iterdir(), key=lambda i: i.name):
        if item.name.endswith(".yml") and (names is None or item.name in names):
            data = item.read_bytes()
            if labels_only:
                data = b"\n".join(m.group(0).strip() for m in _ID_OR_LABEL.finditer(data))
            digest.update(item.name.encode("utf-8") + b"\0" + data)
    return digest.hexdigest()[:12]


@dataclass
class IndexReport:
    """What an update did."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    rebuilt_reason: str | None = None
    messages: list[str] = field(default_factory=list)
    passages: int = 0  # passages in the index after the update
    embedded: int = 0  # passages embedded by this update




MANIFEST_FORMAT = 3


MANIFEST_VERSION_FIELDS = frozenset({"format", "scheme", "search_scheme"})


ONNX_FORMAT = 1


QUERY_MODEL_FORMAT = 1


def _index_dir(cache_dir: Path) -> Path:
    return Path(cache_dir) / INDEX_DIR
