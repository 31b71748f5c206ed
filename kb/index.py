"""Build, update, load and verify the search index kept in the cache folder.

Layout of `<cache>/index/`:
- `manifest.json`: format, model identity, dimension, passage settings, the data files of the
  current generation with their size, mtime and sha256, and per case study its content hash and
  passages; sealed with the sha256 of its own contents (see `Manifest`);
- `vectors-<gen>.faiss`: `IndexIDMap(IndexFlatIP)` of unit vectors, one per passage;
- `search-<gen>.npz`: everything a search reads, so that it needs neither the content nor faiss:
  the BM25 score matrix (built by bm25s) with its vocabulary and stop words, the vectors in
  manifest order, and per case study the metadata and the texts that results show (see
  `SearchData`);
- `onnx/`: the ONNX export of the model, verified against sentence-transformers; it embeds
  passages (about twice as fast as torch on a CPU) and queries (without importing torch).
  `onnx/onnx.json` (see `OnnxRecord`) records the export and its two files, sealed the same way.

Everything is verified as it is loaded: each record against its schema and its seal, each file
against its record (size and mtime first; the sha256 only when the mtime differs, so a warm search
hashes nothing). Searches refuse a damaged index with a message naming the file; `kb index` repairs
whatever it finds damaged, the ONNX export included.

Each case study is split into passages by `kb.passages` (profile, results, body sections, in
overlapping token windows; placeholder text left out). The manifest records each case-study file's
size and mtime, so that a search can tell that the content is unchanged without reading it
(`source_changes`): sizes and mtimes first, a file's sha256 only where they differ.

Updates are incremental (only new or changed case studies are embedded again; deleted ones leave
the index) and atomic: new data files get a new generation name, the manifest is replaced last
with `os.replace`, then the old generation is deleted. A manifest or data file that is missing,
corrupt, partial, edited or from another model is detected and rebuilt, with a message saying why.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import secrets
import stat
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kb import passages as _passages
from kb.errors import IndexError_
from kb.passages import (
    PREAMBLE,
    PROFILE,
    RESULTS,
    Passage,
    bm25_text,
    bm25_tokens,
    clean_markdown,
    new_stemmer,
    passages_for,
)

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from kb.content import Entry
    from kb.embed import Embedder

__all__ = [
    "INDEX_DIR",
    "ONNX_DIR",
    "CaseRecord",
    "FileRecord",
    "IndexData",
    "IndexReport",
    "Manifest",
    "OnnxRecord",
    "PREAMBLE",
    "PROFILE",
    "RESULTS",
    "Passage",
    "SearchData",
    "SourceRecord",
    "bm25_tokens",
    "clean_markdown",
    "index_library",
    "load_index",
    "open_index",
    "passages_for",
    "read_onnx_record",
    "source_changes",
    "update_index",
    "write_onnx_record",
]

INDEX_DIR = "index"
ONNX_DIR = "onnx"  # inside INDEX_DIR
MANIFEST = "manifest.json"
# Changing how passages are built (kb.passages.SCHEME) forces a rebuild; changing what the search
# file holds rebuilds that file only (no embedding).
SEARCH_SCHEME = "search-v2/bm25-lucene-k1.2-b0.75/title2-summary2-labels/placeholders-out"
BM25_K1 = 1.2
BM25_B = 0.75
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
    return f"{SEARCH_SCHEME}/vocab-{_vocab_digest(None)}"


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


@dataclass
class SearchData:
    """A verified index, loaded for searching: all a search needs, without the content."""

    manifest: Manifest
    case_ids: list[str]  # in manifest order
    passage_case: NDArray[np.int32]  # per vector row: position in case_ids
    passage_meta: NDArray[np.int32]  # per vector row: section, start, end
    case_start: NDArray[np.int64]  # first row of each case (rows are grouped by case)
    vectors: NDArray[np.float32]  # rows x dimension, unit length
    bm25: dict[str, Any]  # data, indices, indptr, doc order, vocab, stopwords
    store: dict[str, Any]  # 'cases' (one dict per case, manifest order), labels, query terms
    texts: bytes  # the parts' texts, UTF-8; each case's parts give byte offsets into it

    @property
    def identity(self) -> str:
        return self.manifest.model

    def part_text(self, position: int, section: int) -> tuple[str, str]:
        """(heading, text) of one part of the case study at `position` ('', '' if none)."""
        found = self.store["cases"][position]["parts"].get(str(section))
        if found is None:
            return "", ""
        heading, start, end = found
        return str(heading), self.texts[int(start) : int(end)].decode("utf-8")


IndexData = SearchData  # the name callers used before the search file held texts


# ---------------------------------------------------------------------------------------------
# cache records: the one schema of the manifest and of the ONNX export's record, and the one
# check of a cached file against its record

_Count = Annotated[int, Field(strict=True, ge=0)]
_Positive = Annotated[int, Field(strict=True, gt=0)]
_Text = Annotated[str, Field(strict=True, min_length=1)]
_Sha256 = Annotated[str, Field(strict=True, pattern=r"^[0-9a-f]{64}$")]
# a name inside its folder, never a path
_FileName = Annotated[str, Field(strict=True, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")]
_Section = Annotated[int, Field(strict=True, ge=RESULTS)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileRecord(_Record):
    """A cached file as it was written: name in its folder, size, mtime and sha256."""

    name: _FileName
    size: _Count
    mtime_ns: _Count
    sha256: _Sha256


class _Sealed(_Record):
    """A JSON record that carries the sha256 of its own contents, so that any edit or partial
    write shows. Its version fields are left out of the seal: they are compared with this kb's
    own, so that a record from another version is recognised as such."""

    FORMAT: ClassVar[int]
    VERSION_FIELDS: ClassVar[frozenset[str]] = frozenset({"format"})

    format: Annotated[int, Field(strict=True)]
    checksum: Annotated[str, Field(strict=True)] = ""

    def digest(self) -> str:
        """The seal: sha256 of the record's canonical JSON, without version fields or checksum."""
        body = self.model_dump_json(exclude={*self.VERSION_FIELDS, "checksum"})
        return hashlib.sha256(body.encode()).hexdigest()


class IndexFiles(_Record):
    vectors: FileRecord
    search: FileRecord


class SourceRecord(_Record):
    """A case-study file as it was indexed: absolute path, size and mtime."""

    path: _Text
    size: _Count
    mtime_ns: _Count


class CaseRecord(_Record):
    hash: _Text  # content hash of the case-study file
    passages: list[tuple[_Count, _Section, _Count, _Count]]  # (id, section, start, end)
    source: SourceRecord | None = None  # None for entries that were not read from a file


class Manifest(_Sealed):
    """`index/manifest.json`: what the index holds and the data files of its generation."""

    FORMAT: ClassVar[int] = 3
    VERSION_FIELDS: ClassVar[frozenset[str]] = frozenset({"format", "scheme", "search_scheme"})

    model: _Text  # identity of the embedding model
    dimension: _Positive
    max_tokens: _Positive
    scheme: str  # the passage scheme's name when written
    search_scheme: str  # search_scheme() when written
    generation: _FileName
    files: IndexFiles
    next_id: _Count  # the id the next passage gets
    cases: dict[str, CaseRecord]  # by case-study id; their passages are the vector rows

    def passage_ids(self) -> NDArray[np.int64]:
        ids = [p[0] for case in self.cases.values() for p in case.passages]
        return np.asarray(ids, dtype=np.int64)


class OnnxFiles(_Record):
    model: FileRecord
    tokenizer: FileRecord


class OnnxRecord(_Sealed):
    """`index/onnx/onnx.json`: which model the ONNX export is, how it pools, and its files."""

    FORMAT: ClassVar[int] = 1

    identity: _Text
    max_tokens: _Positive
    dimension: _Positive
    pooling: Literal["mean"]
    normalize: Literal[True]
    files: OnnxFiles


class _Stale(Exception):
    """Internal: the cached index cannot be used as it is; the message says why."""


class _Damaged(_Stale):
    """Internal: a cached file or record is damaged (not merely out of date or old)."""


class _Missing(_Damaged):
    """Internal: a cached file is missing."""


_RecordT = TypeVar("_RecordT", bound=_Sealed)


def _index_dir(cache_dir: Path) -> Path:
    return Path(cache_dir) / INDEX_DIR


def _record(path: Path, sha256: str | None = None) -> FileRecord:
    """The record of a file just written (`sha256` if already known)."""
    info = path.stat()
    return FileRecord(
        name=path.name,
        size=info.st_size,
        mtime_ns=info.st_mtime_ns,
        sha256=sha256 or _file_sha256(path),
    )


def _verify_file(directory: Path, record: FileRecord) -> FileRecord:
    """Check a cached file against its record; _Damaged names the file and what is wrong.

    Size and mtime first: when both match, the file is taken as written (no hashing, so warm
    searches stay fast). When only the mtime differs (a copy, a touch), the full sha256 decides;
    the record returned then carries the new mtime, for `kb index` to store.
    """
    path = directory / record.name
    try:
        info = path.stat()
    except OSError:
        raise _Missing(f"{path} is missing") from None
    if not stat.S_ISREG(info.st_mode):
        raise _Damaged(f"{path} is not a file")
    if info.st_size != record.size:
        raise _Damaged(
            f"{path} is corrupt or partial ({info.st_size} bytes, expected {record.size})"
        )
    if info.st_mtime_ns == record.mtime_ns:
        return record
    try:
        actual = _file_sha256(path)
    except OSError as exc:
        raise _Damaged(f"{path} is unreadable ({exc.strerror})") from None
    if actual != record.sha256:
        raise _Damaged(f"{path} is corrupt or was changed (checksum mismatch)")
    return record.model_copy(update={"mtime_ns": info.st_mtime_ns})


def _read_verified(directory: Path, record: FileRecord) -> tuple[bytes, FileRecord]:
    """A cached file's bytes once verified, and its record to keep (see `_verify_file`)."""
    kept = _verify_file(directory, record)
    path = directory / record.name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _Missing(f"{path} is missing ({exc.strerror})") from None
    if len(data) != record.size:
        raise _Damaged(f"{path} is corrupt or partial (it changed while being read)")
    return data, kept


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _write_atomic(path: Path, data: bytes) -> FileRecord:
    """Write bytes via a temporary file and os.replace; return the file's record."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.chmod(tmp, 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return _record(path, hashlib.sha256(data).hexdigest())


def _write_sealed(path: Path, record: _Sealed) -> None:
    sealed = record.model_copy(update={"checksum": record.digest()})
    _write_atomic(path, sealed.model_dump_json().encode())


def _read_sealed(path: Path, schema: type[_RecordT]) -> _RecordT:
    """A record checked against its schema and its seal (parsed and validated in one pass)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise _Missing(f"{path} is missing") from None
    except OSError as exc:
        raise _Damaged(f"{path} is unreadable ({exc.strerror})") from None
    try:
        record = schema.model_validate_json(data)
    except ValidationError as exc:
        raise _invalid(path, data, schema, exc) from None
    if record.format != schema.FORMAT:
        raise _Stale(f"{path} is from another version of kb")
    if record.checksum != record.digest():
        raise _Damaged(f"{path} does not match its checksum (edited by hand or partly written)")
    return record


def _invalid(path: Path, data: bytes, schema: type[_Sealed], exc: ValidationError) -> _Stale:
    """Why a record failed its schema, in one line."""
    try:
        raw = json.loads(data)
    except (ValueError, RecursionError) as error:
        return _Damaged(f"{path} is unreadable ({error})")
    if not isinstance(raw, dict):
        return _Damaged(f"{path} is not a kb record (not a JSON object)")
    if raw.get("format") != schema.FORMAT or type(raw["format"]) is not int:
        return _Stale(f"{path} is from another version of kb (format {raw.get('format')!r})")
    problem = exc.errors()[0]
    where = ".".join(str(part) for part in problem["loc"])
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return _Damaged(f"{path} is invalid: {where}: {problem['msg']}{more}")


def _read_manifest(directory: Path) -> Manifest:
    path = directory / MANIFEST
    if not path.exists():
        raise _Stale("no index yet")
    manifest = _read_sealed(path, Manifest)
    if manifest.scheme != passage_scheme():
        raise _Stale("passages are now built differently")
    return manifest


def _load_vectors(directory: Path, manifest: Manifest) -> tuple[Any, FileRecord]:
    """The vector index, verified against the manifest, and the file's record to keep."""
    import faiss

    data, record = _read_verified(directory, manifest.files.vectors)
    path = directory / record.name
    try:
        index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
    except RuntimeError as exc:
        raise _Damaged(f"{path} cannot be read ({str(exc).splitlines()[0]})") from None
    ids = manifest.passage_ids()
    if (
        not isinstance(index, faiss.IndexIDMap)
        or index.d != manifest.dimension
        or index.ntotal != len(ids)
        or (len(ids) and int(ids.max()) >= manifest.next_id)
        or not np.array_equal(np.sort(faiss.vector_to_array(index.id_map)), np.sort(ids))
    ):
        raise _Damaged(f"{path} does not match the manifest")
    return index, record


def _load_search(directory: Path, manifest: Manifest) -> tuple[dict[str, Any], FileRecord]:
    """The search file's arrays, verified against the manifest, and the file's record to keep."""
    import io

    data, record = _read_verified(directory, manifest.files.search)
    path = directory / record.name
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
        doc_ids = [str(d) for d in arrays["doc_ids"]]
        store = json.loads(arrays.pop("store").tobytes().decode("utf-8"))
        cases = store["cases"]
        rows = sum(len(c.passages) for c in manifest.cases.values())
        consistent = (
            doc_ids == list(manifest.cases)
            and [c["id"] for c in cases] == doc_ids
            and arrays["vectors"].shape == (rows, manifest.dimension)
            and arrays["vectors"].dtype == np.float32
            and len(arrays["idf"]) == len(arrays["vocab"])
        )
    except (ValueError, OSError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise _Damaged(f"{path} cannot be read ({exc})") from None
    if not consistent:
        raise _Damaged(f"{path} does not match the manifest")
    arrays["store"] = store
    return arrays, record


def _check_onnx(onnx_dir: Path) -> tuple[OnnxRecord, bool]:
    """The verified record of an ONNX export, and whether its file records were refreshed."""
    from kb.embed import ONNX_META

    record = _read_sealed(onnx_dir / ONNX_META, OnnxRecord)
    files = OnnxFiles(
        model=_verify_file(onnx_dir, record.files.model),
        tokenizer=_verify_file(onnx_dir, record.files.tokenizer),
    )
    if files == record.files:
        return record, False
    return record.model_copy(update={"files": files}), True


def read_onnx_record(onnx_dir: Path) -> OnnxRecord:
    """The record of the ONNX export in `onnx_dir`, with its files verified; IndexError_ (naming
    the file, with the hint to run `kb index`) if anything is missing, changed or damaged."""
    try:
        record, _ = _check_onnx(onnx_dir)
    except _Stale as reason:
        raise IndexError_(
            f"the ONNX query model cannot be used: {reason}; hint: run `kb index` to repair it"
        ) from None
    return record


def write_onnx_record(onnx_dir: Path, *, identity: str, max_tokens: int, dimension: int) -> None:
    """Record the ONNX export in `onnx_dir` (its model.onnx and tokenizer.json as written)."""
    from kb.embed import ONNX_FILE, ONNX_META, TOKENIZER_FILE

    record = OnnxRecord(
        format=OnnxRecord.FORMAT,
        identity=identity,
        max_tokens=max_tokens,
        dimension=dimension,
        pooling="mean",
        normalize=True,
        files=OnnxFiles(
            model=_record(onnx_dir / ONNX_FILE), tokenizer=_record(onnx_dir / TOKENIZER_FILE)
        ),
    )
    _write_sealed(onnx_dir / ONNX_META, record)


# ---------------------------------------------------------------------------------------------
# update


def _resolve_embedder(model: str | None, embedder: Embedder | None) -> Embedder:
    if embedder is not None:
        return embedder
    from kb.embed import embedder_for

    return embedder_for(model)


def _empty_index(dimension: int) -> Any:
    import faiss

    return faiss.IndexIDMap(faiss.IndexFlatIP(dimension))


def _bm25_arrays(entries: Sequence[Entry]) -> dict[str, Any]:
    import bm25s
    from bm25s.stopwords import STOPWORDS_EN

    stopwords = frozenset(STOPWORDS_EN)
    stemmer = new_stemmer()
    corpus = [bm25_tokens(bm25_text(e), stemmer, stopwords) or [""] for e in entries]
    scores: dict[str, Any] = {"data": [], "indices": [], "indptr": [0]}
    vocab: list[tuple[str, int]] = []
    if corpus:
        retriever = bm25s.BM25(method="lucene", k1=BM25_K1, b=BM25_B)
        retriever.index(corpus, show_progress=False)
        scores = retriever.scores
        vocab = sorted(retriever.vocab_dict.items(), key=lambda kv: kv[1])
    if [i for _, i in vocab] != list(range(len(vocab))):
        raise IndexError_("unexpected BM25 vocabulary layout from bm25s")
    # each term's idf (as bm25s computes it), for the query coverage in kb.search
    doc_freq = np.diff(np.asarray(scores["indptr"], dtype=np.float64))
    n_docs = max(1, len(entries))
    idf = np.log(1 + (n_docs - doc_freq + 0.5) / (doc_freq + 0.5))
    idf = np.resize(idf, len(vocab)) if len(idf) >= len(vocab) else np.pad(
        idf, (0, len(vocab) - len(idf)), constant_values=0.0
    )
    return {
        "data": np.asarray(scores["data"], dtype=np.float32),
        "indices": np.asarray(scores["indices"], dtype=np.int32),
        "indptr": np.asarray(scores["indptr"], dtype=np.int64),
        "idf": np.asarray(idf, dtype=np.float32),
        "vocab": np.array([t for t, _ in vocab], dtype=str),
        "stopwords": np.array(sorted(stopwords), dtype=str),
    }


def _case_store(entry: Entry, texts: bytearray) -> dict[str, Any]:
    """What a search shows and filters on for one case study; its part texts go into `texts`."""
    from kb.figures import figure_sentence
    from kb.passages import is_placeholder, parts_for, profile_text, without_placeholders
    from kb.vocab import load_vocabularies

    vocab = load_vocabularies()
    case = entry.case
    parts: dict[str, list[Any]] = {}
    for part in parts_for(entry):
        start = len(texts)
        texts.extend(part.text.encode("utf-8"))
        parts[str(part.section)] = [part.heading, start, len(texts)]
    facets = {}
    for name in STORED_FACETS:
        value = getattr(case, name)
        values = [value] if isinstance(value, str) else list(value or ())
        if values:
            facets[name] = values
    outcomes = []
    for outcome in case.outcomes:
        sentence = without_placeholders(figure_sentence(outcome, vocab)).strip()
        if is_placeholder(sentence):
            sentence = ""
        outcomes.append(
            [outcome.kind, outcome.status, int(outcome.numeric), sentence, outcome.direction or ""]
        )
    return {
        "id": case.id,
        "title": case.title,
        "facets": facets,
        "evidence": case.evidence.rank,
        "labels": {
            "ics": [vocab.ics.label(i) for i in case.ics],
            "region": [vocab.regions.label(r) for r in case.region],
            "tiers": [vocab.tiers.label(t) for t in case.tiers],
        },
        "outcomes": outcomes,
        "profile": profile_text(entry),
        "parts": parts,
    }


def _vocabulary_store(stopwords: frozenset[str]) -> dict[str, Any]:
    """Labels of every facet value, the spellings a query may name, and ICS predecessors."""
    from kb.vocab import FIELD_VOCABULARY, load_vocabularies

    vocab = load_vocabularies()
    stemmer = new_stemmer()
    labels = {
        name: {t.id: t.label for t in vocab.for_field(name).terms} for name in FIELD_VOCABULARY
    }
    labels["outcome_kinds"] = {t.id: t.label for t in vocab.outcome_kinds.terms}
    terms = []
    for name in QUERY_FACETS:
        for term in vocab.for_field(name).terms:
            for spelling in sorted({term.label, *term.aliases}):
                stems = bm25_tokens(spelling, stemmer, stopwords)
                if stems:
                    terms.append([name, term.id, stems])
    predecessors = {t.id: list(t.predecessors) for t in vocab.ics.terms if t.predecessors}
    return {"labels": labels, "query_terms": terms, "ics_predecessors": predecessors}


def _build_search(
    entries: Sequence[Entry], manifest_cases: dict[str, CaseRecord], index: Any
) -> bytes:
    """The search file: BM25 arrays, vectors in manifest order, metadata and texts."""
    import io

    import faiss

    ordered = sorted(entries, key=lambda e: e.case.id)
    if [e.case.id for e in ordered] != list(manifest_cases):
        raise IndexError_("the search file and the manifest list different case studies")
    arrays = _bm25_arrays(ordered)
    dimension = int(index.d)
    if index.ntotal:
        ids = faiss.vector_to_array(index.id_map).astype(np.int64)
        row_of = {int(pid): row for row, pid in enumerate(ids)}
        order = [row_of[p[0]] for c in manifest_cases.values() for p in c.passages]
        vectors = index.index.reconstruct_n(0, index.ntotal)[np.asarray(order, dtype=np.int64)]
    else:
        vectors = np.zeros((0, dimension), dtype=np.float32)
    texts = bytearray()
    store = {
        "cases": [_case_store(e, texts) for e in ordered],
        **_vocabulary_store(frozenset(str(w) for w in arrays["stopwords"])),
    }
    buffer = io.BytesIO()
    np.savez(
        buffer,
        **arrays,
        doc_ids=np.array([e.case.id for e in ordered], dtype=str),
        vectors=np.ascontiguousarray(vectors, dtype=np.float32),
        store=np.frombuffer(json.dumps(store).encode("utf-8"), dtype=np.uint8),
        texts=np.frombuffer(bytes(texts), dtype=np.uint8),
    )
    return buffer.getvalue()


def _ensure_onnx(cache_dir: Path, embedder: Embedder, report: IndexReport) -> None:
    """Keep a verified ONNX export of the model for queries; export it again if it is missing,
    damaged or from another model."""
    from kb.embed import ONNX_META, ExportsOnnx

    if not isinstance(embedder, ExportsOnnx):
        return
    onnx_dir = _index_dir(cache_dir) / ONNX_DIR
    try:
        record, refreshed = _check_onnx(onnx_dir)
        if record.identity != embedder.identity:
            raise _Stale(f"{onnx_dir} is an export of another model ({record.identity})")
        if refreshed:  # only mtimes changed (a copied cache): keep searches from hashing
            _write_sealed(onnx_dir / ONNX_META, record)
        return
    except _Stale as reason:
        if onnx_dir.exists():
            report.messages.append(f"exporting the query model again: {reason}")
    embedder.export_onnx(onnx_dir)
    report.messages.append("exported the query model to ONNX (searches will not load torch)")


def _document_embedder(
    embedder: Embedder, cache_dir: Path, count: int, report: IndexReport
) -> Embedder:
    """The embedder for `count` new passages.

    The model is loaded by sentence-transformers, which exports it to ONNX once; the export is
    checked against sentence-transformers (cosine >= 0.999 on a padded batch) before it is kept.
    Passages are then embedded through that verified export: onnxruntime runs the same model about
    twice as fast as torch on a CPU, and a small update does not have to load torch at all.
    """
    from kb.embed import OnnxEmbedder, SentenceTransformerEmbedder

    if not isinstance(embedder, SentenceTransformerEmbedder) or count == 0:
        return embedder
    try:
        _ensure_onnx(cache_dir, embedder, report)
        return OnnxEmbedder(_index_dir(cache_dir) / ONNX_DIR)
    except IndexError_ as exc:
        report.messages.append(f"embedding with sentence-transformers: {exc}")
        return embedder


def update_index(
    entries: Sequence[Entry],
    cache_dir: Path,
    *,
    model: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    embedder: Embedder | None = None,
) -> IndexReport:
    """Build the index, or bring it up to date with `entries`; return what changed.

    Whatever is found damaged (manifest, data files, ONNX export) is rebuilt, and the report
    says why. `progress(done, total)` is called as passages are embedded. `embedder` replaces the
    model named by `model` (None = the packaged all-MiniLM-L6-v2), for tests and other models.
    """
    counts = Counter(e.case.id for e in entries)
    if len(counts) != len(entries):
        dupes = sorted(i for i, n in counts.items() if n > 1)
        raise IndexError_(f"duplicate case-study ids: {', '.join(dupes)}")
    embedder = _resolve_embedder(model, embedder)
    with _writer_lock(_index_dir(cache_dir)):
        return _update(entries, cache_dir, embedder, progress)


@contextlib.contextmanager
def _writer_lock(directory: Path) -> Iterator[None]:
    """One writer at a time (e.g. `kb index` while `kb build` updates the same cache)."""
    directory.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX: no lock, writes stay atomic
        yield
        return
    with (directory / ".lock").open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _update(
    entries: Sequence[Entry],
    cache_dir: Path,
    embedder: Embedder,
    progress: Callable[[int, int], None] | None,
) -> IndexReport:
    directory = _index_dir(cache_dir)
    report = IndexReport()
    identity = embedder.identity

    manifest: Manifest | None
    kept: IndexFiles | None = None  # the data files' records, mtimes as found
    try:
        manifest = _read_manifest(directory)
        if manifest.model != identity:
            raise _Stale(f"the model changed (index: {manifest.model}, now: {identity})")
        if manifest.dimension != embedder.dimension:
            raise _Stale("the vector dimension changed")
        index, vectors_file = _load_vectors(directory, manifest)
        search_file = manifest.files.search
        if manifest.search_scheme == search_scheme():
            _, search_file = _load_search(directory, manifest)
        kept = IndexFiles(vectors=vectors_file, search=search_file)
    except _Stale as reason:
        if str(reason) != "no index yet":
            report.rebuilt_reason = str(reason)
            report.messages.append(f"rebuilding the index: {reason}")
        manifest = None
        index = _empty_index(embedder.dimension)

    old_cases: dict[str, CaseRecord] = dict(manifest.cases) if manifest else {}
    next_id = manifest.next_id if manifest else 0
    by_id = {e.case.id: e for e in entries}
    for case_id, entry in by_id.items():
        record = old_cases.get(case_id)
        if record is None:
            report.added.append(case_id)
        elif record.hash != entry.content_hash:
            report.updated.append(case_id)
        else:
            report.unchanged.append(case_id)
    report.removed = sorted(set(old_cases) - set(by_id))

    stale_ids = [
        p[0] for cid in (*report.updated, *report.removed) for p in old_cases[cid].passages
    ]
    if stale_ids:
        index.remove_ids(np.asarray(stale_ids, dtype=np.int64))
    for case_id in report.removed:
        del old_cases[case_id]

    todo = [by_id[cid] for cid in (*report.added, *report.updated)]
    planned = [(entry, passages_for(entry, embedder)) for entry in todo]
    texts = [p.text for _, ps in planned for p in ps]
    total = len(texts)
    done = 0
    if progress is not None and total:
        progress(0, total)

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(min(done, total), total)

    document_embedder = _document_embedder(embedder, cache_dir, len(texts), report)
    vectors = (
        document_embedder.embed_documents(texts, progress=advance)
        if texts
        else np.zeros((0, 1), np.float32)
    )
    new_ids: list[int] = []
    for entry, passages in planned:
        records = []
        for passage in passages:
            records.append((next_id, passage.section, passage.start, passage.end))
            new_ids.append(next_id)
            next_id += 1
        old_cases[entry.case.id] = CaseRecord(
            hash=entry.content_hash, passages=records, source=_source_record(entry)
        )
    # unchanged files that were touched or moved: record where and how they are now
    moved = False
    for case_id in report.unchanged:
        source = _source_record(by_id[case_id])
        if old_cases[case_id].source != source:
            old_cases[case_id] = old_cases[case_id].model_copy(update={"source": source})
            moved = True
    if texts:
        index.add_with_ids(
            np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(new_ids, dtype=np.int64)
        )
    report.embedded = total
    report.passages = int(index.ntotal)

    old_search = manifest is not None and manifest.search_scheme != search_scheme()
    if old_search:
        report.messages.append("rebuilding the search file: its format changed")
    changed = bool(
        report.added or report.updated or report.removed or manifest is None or old_search
    )
    if changed:
        _write_generation(directory, old_cases, entries, index, embedder, next_id)
    elif manifest is not None and kept is not None and (kept != manifest.files or moved):
        # only mtimes changed (a copied cache, touched content): record them, so that searches
        # need not hash the files
        cases = {cid: old_cases[cid] for cid in manifest.cases}
        _write_sealed(
            directory / MANIFEST, manifest.model_copy(update={"files": kept, "cases": cases})
        )
    _ensure_onnx(cache_dir, embedder, report)
    if not changed and not report.messages:
        report.messages.append("the index is up to date")
    return report


def _source_record(entry: Entry) -> SourceRecord | None:
    """Where the entry's file is and its size and mtime now, if it was read from a file whose
    bytes are the ones hashed (else None: a search then checks the content the slow way)."""
    try:
        info = os.stat(entry.path)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return SourceRecord(
        path=os.path.abspath(entry.path), size=info.st_size, mtime_ns=info.st_mtime_ns
    )


def _write_generation(
    directory: Path,
    cases: dict[str, CaseRecord],
    entries: Sequence[Entry],
    index: Any,
    embedder: Embedder,
    next_id: int,
) -> None:
    import faiss

    generation = secrets.token_hex(6)
    ordered = {cid: cases[cid] for cid in sorted(cases)}
    vector_bytes = faiss.serialize_index(index).tobytes()
    search_bytes = _build_search(entries, ordered, index)
    files = IndexFiles(
        vectors=_write_atomic(directory / f"vectors-{generation}.faiss", vector_bytes),
        search=_write_atomic(directory / f"search-{generation}.npz", search_bytes),
    )
    manifest = Manifest(
        format=Manifest.FORMAT,
        model=embedder.identity,
        dimension=embedder.dimension,
        max_tokens=embedder.max_tokens,
        scheme=passage_scheme(),
        search_scheme=search_scheme(),
        generation=generation,
        files=files,
        next_id=next_id,
        cases=ordered,
    )
    _write_sealed(directory / MANIFEST, manifest)
    keep = {files.vectors.name, files.search.name}
    for old in directory.glob("*-*.*"):
        if old.suffix in (".faiss", ".npz") and old.name not in keep:
            with contextlib.suppress(OSError):
                old.unlink()


# ---------------------------------------------------------------------------------------------
# load


def open_index(cache_dir: Path) -> SearchData:
    """The verified search file of an index, without looking at the content (see
    `source_changes` to tell whether the content is still what was indexed)."""
    return _open(cache_dir, None)


def load_index(cache_dir: Path, entries: Sequence[Entry]) -> SearchData:
    """The verified index for exactly these entries; IndexError_ (run `kb index`) otherwise."""
    return _open(cache_dir, entries)


def _open(cache_dir: Path, entries: Sequence[Entry] | None) -> SearchData:
    directory = _index_dir(cache_dir)
    for attempt in (1, 2):
        try:
            manifest = _read_manifest(directory)
            stale = _compare(manifest, entries) if entries is not None else None
            if stale:
                raise _Stale(stale)
            if manifest.search_scheme != search_scheme():
                raise _Stale("the search file is from an older version of kb")
            arrays, _ = _load_search(directory, manifest)
            break
        except _Stale as reason:
            # a writer may have replaced the generation between reading the manifest and
            # its files: read once more before giving up
            if attempt == 1 and (directory / MANIFEST).exists() and isinstance(reason, _Missing):
                continue
            repair = " to repair it" if isinstance(reason, _Damaged) else ""
            raise IndexError_(
                f"the search index cannot be used: {reason}; hint: run `kb index`{repair}"
            ) from None
    case_ids = list(manifest.cases)
    passage_case: list[int] = []
    meta: list[tuple[int, int, int]] = []
    starts: list[int] = []
    for position, case_id in enumerate(case_ids):
        starts.append(len(meta))
        for _, section, start, end in manifest.cases[case_id].passages:
            passage_case.append(position)
            meta.append((section, start, end))
    store = arrays.pop("store")
    texts = arrays.pop("texts").tobytes()
    vectors = arrays.pop("vectors")
    return SearchData(
        manifest=manifest,
        case_ids=case_ids,
        passage_case=np.asarray(passage_case, dtype=np.int32),
        passage_meta=np.asarray(meta, dtype=np.int32).reshape(-1, 3),
        case_start=np.asarray(starts, dtype=np.int64),
        vectors=vectors,
        bm25=arrays,
        store=store,
        texts=texts,
    )


def _compare(manifest: Manifest, entries: Sequence[Entry]) -> str | None:
    """Why the manifest does not describe these entries, or None if it does."""
    current = {e.case.id: e.content_hash for e in entries}
    return _describe_changes(manifest, current)


def _describe_changes(manifest: Manifest, current: dict[str, str]) -> str | None:
    cases = manifest.cases
    new = [c for c in current if c not in cases]
    changed = [c for c, h in current.items() if c in cases and cases[c].hash != h]
    gone = [c for c in cases if c not in current]
    if not (new or changed or gone):
        return None
    parts = []
    for label, ids in (("new", new), ("changed", changed), ("deleted", gone)):
        if ids:
            sample = ", ".join(sorted(ids)[:3]) + (" ..." if len(ids) > 3 else "")
            parts.append(f"{len(ids)} {label} ({sample})")
    return "it is out of date: " + "; ".join(parts)


def _scan_sources(content_dir: Path) -> dict[str, os.stat_result] | None:
    """Absolute path -> stat of each case-study file under `content_dir`, as
    `kb.content.find_case_files` would list them; None if anything there is not a plain file or
    folder (a link, a pipe, an unreadable folder), which only the full check can judge."""
    found: dict[str, os.stat_result] = {}
    pending = [os.path.abspath(content_dir)]
    while pending:
        current = pending.pop()
        try:
            with os.scandir(current) as listing:
                items = list(listing)
        except OSError:
            return None
        for item in items:
            if item.name.startswith(("_", ".")):
                continue
            try:
                if item.is_symlink():
                    return None
                info = item.stat(follow_symlinks=False)
            except OSError:
                return None
            if stat.S_ISDIR(info.st_mode):
                pending.append(item.path)
            elif item.name.endswith(".md"):
                if not stat.S_ISREG(info.st_mode):
                    return None
                found[item.path] = info
    return found


def source_changes(data: SearchData, content_dir: Path) -> str | None:
    """None when the content folder holds exactly the files that were indexed, unchanged; else
    why not ('unknown: ...' when only reading the content can tell).

    Sizes and mtimes are compared first; a file whose size matches but whose mtime does not is
    hashed, and counts as unchanged if its sha256 is the indexed one. Nothing is parsed.
    """
    if not os.path.isdir(content_dir):
        return "unknown: no content folder"
    scanned = _scan_sources(content_dir)
    if scanned is None:
        return "unknown: the content folder holds something other than plain files"
    records = data.manifest.cases
    by_path: dict[str, tuple[str, SourceRecord]] = {}
    for case_id, record in records.items():
        if record.source is None:
            return "unknown: the index does not record where its case studies were read from"
        by_path[record.source.path] = (case_id, record.source)
    if set(by_path) != set(scanned):
        return "unknown: files were added, removed or moved"
    current: dict[str, str] = {}
    for path, (case_id, source) in by_path.items():
        info = scanned[path]
        if info.st_size == source.size and info.st_mtime_ns == source.mtime_ns:
            current[case_id] = records[case_id].hash
            continue
        try:
            current[case_id] = _file_sha256(Path(path))
        except OSError:
            return "unknown: a case-study file cannot be read"
    return _describe_changes(data.manifest, current)


def index_library(
    content_dir: Path,
    cache_dir: Path,
    *,
    model: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    rebuild: bool = False,
    embedder: Embedder | None = None,
) -> IndexReport:
    """Load the content folder and update (or, with `rebuild`, rebuild) its index.

    A rebuild reuses nothing from the cache: every passage is embedded again and the model is
    exported to ONNX again, so it also repairs damage that kept a file's size and mtime.
    """
    from kb.embed import ONNX_META
    from kb.library import load_library

    entries = load_library(content_dir)
    if rebuild:
        directory = _index_dir(cache_dir)
        for record in (directory / MANIFEST, directory / ONNX_DIR / ONNX_META):
            with contextlib.suppress(FileNotFoundError):
                record.unlink()
    report = update_index(entries, cache_dir, model=model, progress=progress, embedder=embedder)
    if rebuild and report.rebuilt_reason is None:
        report.rebuilt_reason = "asked for a full rebuild"
    return report
