"""Build, update, load and verify the search index kept in the cache folder.

Layout of `<cache>/index/`:
- `manifest.json`: format, model identity, dimension, passage settings, the data files of the
  current generation with their size, mtime and sha256, and per case study its content hash and
  passages; sealed with the sha256 of its own contents (see `Manifest`);
- `vectors-<gen>.faiss`: `IndexIDMap(IndexFlatIP)` of unit vectors, one per passage;
- `search-<gen>.npz`: everything a search reads, so that it needs neither the content nor faiss:
  the BM25 score matrix (Lucene BM25 as bm25s computes it) with its vocabulary, stop words and
  term counts, the vectors in manifest order, and per case study the metadata and the texts that
  results show (see `SearchData`); its arrays are stored aligned, and a search maps them rather
  than reading them;
- `onnx/`: the ONNX export of the model, verified against sentence-transformers; it embeds
  passages (about twice as fast as torch on a CPU) and queries (without importing torch).
  `onnx/onnx.json` (see `OnnxRecord`) records the export and its two files, sealed the same way;
  `onnx/query.onnx` with its weights in `onnx/query.onnx.data` is the export prepared for quick
  loading (its graph already optimised, its weights mapped), recorded in `onnx/query.json` (see
  `QueryModelRecord`): queries use it while it matches the export, and the export otherwise.

Everything is verified as it is loaded: each record against its schema and its seal, each file
against its record (size and mtime first; the sha256 only when the mtime differs, so a warm search
hashes nothing). The schemas are in `kb.records`; a search checks the records kb wrote with a quick
check of the same fields and seal instead (`_quick_record`), so that it need not load pydantic.
Searches refuse a damaged index with a message naming the file; `kb index` repairs whatever it
finds damaged, the ONNX export included.

Each case study is split into passages by `kb.passages` (profile, results, body sections, in
overlapping token windows; placeholder text left out). The manifest records each case-study file's
size and mtime, so that a search can tell that the content is unchanged without reading it
(`source_changes`): sizes and mtimes first, a file's sha256 only where they differ.

Updates are incremental (only new or changed case studies are embedded again; deleted ones leave
the index; the search file keeps what it holds of the unchanged ones, and only the BM25 scores,
whose statistics span the library, are computed again) and atomic: new data files get a new
generation name, the manifest is replaced last with `os.replace`, then the old generation is
deleted. An updated index equals one built from nothing. A manifest or data file that is missing,
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
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np

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
    from kb.records import (
        CaseRecord,
        FileRecord,
        IndexFiles,
        Manifest,
        OnnxRecord,
        QueryModelRecord,
        SourceRecord,
        _Sealed,
    )

__all__ = [
    "INDEX_DIR",
    "ONNX_DIR",
    "IndexData",
    "IndexReport",
    "PREAMBLE",
    "PROFILE",
    "RESULTS",
    "Passage",
    "SearchData",
    "bm25_tokens",
    "clean_markdown",
    "index_library",
    "load_index",
    "no_cycle_collection",
    "open_index",
    "passages_for",
    "query_model",
    "read_onnx_record",
    "source_changes",
    "update_index",
    "write_onnx_record",
]

INDEX_DIR = "index"
ONNX_DIR = "onnx"  # inside INDEX_DIR
# inside ONNX_DIR: the export prepared for searches (see QueryModelRecord): graph, weights, record
QUERY_MODEL = "query.onnx"
QUERY_WEIGHTS = "query.onnx.data"
QUERY_META = "query.json"
MANIFEST = "manifest.json"
# Changing how passages are built (kb.passages.SCHEME) forces a rebuild; changing what the search
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


@dataclass
class SearchData:
    """A verified index, loaded for searching: all a search needs, without the content."""

    manifest: Manifest  # its fields (read-only attributes, not always the schema's object)
    case_ids: list[str]  # in manifest order
    passage_case: NDArray[np.int32]  # per vector row: position in case_ids
    passage_meta: NDArray[np.int32]  # per vector row: section, start, end
    case_start: NDArray[np.int64]  # first row of each case (rows are grouped by case)
    vectors: NDArray[np.float32]  # rows x dimension, unit length
    bm25: dict[str, Any]  # data, indices, indptr, doc order, vocab, stopwords
    store: dict[str, Any]  # 'cases' (one dict per case, manifest order), labels, query terms
    texts: NDArray[np.uint8]  # the parts' texts, UTF-8, case study after case study
    text_start: NDArray[np.int64]  # where each case study's texts start (its parts' offsets
    # are relative to it)

    @property
    def identity(self) -> str:
        return self.manifest.model

    def part_text(self, position: int, section: int) -> tuple[str, str]:
        """(heading, text) of one part of the case study at `position` ('', '' if none)."""
        found = self.store["cases"][position]["parts"].get(str(section))
        if found is None:
            return "", ""
        heading, start, end = found
        base = int(self.text_start[position])
        return str(heading), bytes(self.texts[base + int(start) : base + int(end)]).decode("utf-8")


IndexData = SearchData  # the name callers used before the search file held texts


# ---------------------------------------------------------------------------------------------
# cache records: their schemas are in kb.records (pydantic: loaded to write a record, or to judge
# one that the quick check here does not accept); the one check of a cached file against its
# record

MANIFEST_FORMAT = 3
MANIFEST_VERSION_FIELDS = frozenset({"format", "scheme", "search_scheme"})
ONNX_FORMAT = 1
QUERY_MODEL_FORMAT = 1


# The quick check of a record, without pydantic (which would cost a search a tenth of its start):
# what each field of the schemas in kb.records must be. A dict is a record (exactly these
# fields), [spec] a mapping of ids to records, (None, spec) an optional record. It accepts only
# what the schema accepts; a record it does not accept goes to the schema.
_BIG = 1 << 63


def _integer(value: Any) -> bool:
    return type(value) is int and -_BIG <= value < _BIG


def _count(value: Any) -> bool:
    return type(value) is int and 0 <= value < _BIG


def _positive(value: Any) -> bool:
    return type(value) is int and 0 < value < _BIG


def _string(value: Any) -> bool:
    return type(value) is str


def _text(value: Any) -> bool:
    return type(value) is str and value != ""


_SHA256 = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def _sha256(value: Any) -> bool:
    return type(value) is str and _SHA256.fullmatch(value) is not None


def _name(value: Any) -> bool:
    return type(value) is str and _NAME.fullmatch(value) is not None


def _passage_list(value: Any) -> bool:
    """(id, section, start, end) lists, as CaseRecord.passages (written out: it runs per
    passage)."""
    if type(value) is not list:
        return False
    for passage in value:
        if type(passage) is not list or len(passage) != 4:
            return False
        number, section, start, end = passage
        if not (type(number) is int and type(section) is int and type(start) is int):
            return False
        if type(end) is not int or not (0 <= number < _BIG and RESULTS <= section < _BIG):
            return False
        if not (0 <= start < _BIG and 0 <= end < _BIG):
            return False
    return True


@dataclass(frozen=True)
class _Kind:
    """A record the quick check reads: its fields, its format, the fields left out of its seal."""

    fields: dict[str, Any]
    format: int
    version_fields: frozenset[str] = frozenset({"format"})


_FILE: dict[str, Any] = {"name": _name, "size": _count, "mtime_ns": _count, "sha256": _sha256}
_SEALED: dict[str, Any] = {"format": _integer, "checksum": _string}
_MANIFEST_FIELDS: dict[str, Any] = {
    **_SEALED,
    "model": _text,
    "dimension": _positive,
    "max_tokens": _positive,
    "scheme": _string,
    "search_scheme": _string,
    "generation": _name,
    "files": {"vectors": _FILE, "search": _FILE},
    "next_id": _count,
    "cases": [
        {
            "hash": _text,
            "passages": _passage_list,
            "source": (None, {"path": _text, "size": _count, "mtime_ns": _count}),
        }
    ],
}
_ONNX_FIELDS: dict[str, Any] = {
    **_SEALED,
    "identity": _text,
    "max_tokens": _positive,
    "dimension": _positive,
    "pooling": lambda value: type(value) is str and value == "mean",
    "normalize": lambda value: value is True,
    "files": {"model": _FILE, "tokenizer": _FILE},
}
_QUERY_MODEL_FIELDS: dict[str, Any] = {
    **_SEALED,
    "source": _sha256,
    "runtime": _text,
    "machine": _text,
    "files": {"graph": _FILE, "weights": _FILE},
}
_MANIFEST = _Kind(_MANIFEST_FIELDS, MANIFEST_FORMAT, MANIFEST_VERSION_FIELDS)
_ONNX = _Kind(_ONNX_FIELDS, ONNX_FORMAT)
_QUERY_MODEL = _Kind(_QUERY_MODEL_FIELDS, QUERY_MODEL_FORMAT)


def _fits(value: Any, spec: Any) -> bool:
    if isinstance(spec, dict):
        return (
            type(value) is dict
            and value.keys() == spec.keys()
            and all(_fits(value[key], field) for key, field in spec.items())
        )
    if isinstance(spec, list):
        return type(value) is dict and all(_fits(item, spec[0]) for item in value.values())
    if isinstance(spec, tuple):
        return value is None or _fits(value, spec[1])
    return bool(spec(value))


def _attributes(value: Any, spec: Any) -> Any:
    if isinstance(spec, dict):
        fields = {key: _attributes(value[key], field) for key, field in spec.items()}
        return SimpleNamespace(**fields)
    if isinstance(spec, list):
        return {key: _attributes(item, spec[0]) for key, item in value.items()}
    if isinstance(spec, tuple):
        return None if value is None else _attributes(value, spec[1])
    return value


def _quick_record(path: Path, kind: _Kind) -> Any:
    """A sealed record as kb writes it, checked without pydantic: this kb's format, every field
    of its schema's type, and its seal the sha256 of its JSON as written (kb writes it compact,
    in the schema's order, as the seal is computed). Its fields come back as read-only attributes
    (SimpleNamespace; `cases` a dict of them); None when only the schema can judge the record (a
    missing, damaged, reformatted or older one): `kb.records.read_sealed` then does."""
    with no_cycle_collection():
        try:
            raw = json.loads(path.read_bytes())
            if type(raw) is not dict or raw.get("format") != kind.format:
                return None
            if not _fits(raw, kind.fields):
                return None
            body = {key: value for key, value in raw.items() if key not in kind.version_fields}
            del body["checksum"]
            text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
            if hashlib.sha256(text.encode("utf-8")).hexdigest() != raw["checksum"]:
                return None
        except (OSError, ValueError, RecursionError):
            return None
        return _attributes(raw, kind.fields)


@contextlib.contextmanager
def no_cycle_collection() -> Iterator[None]:
    """The cycle collector paused while records and rows are read (and for a whole one-off
    search): JSON and the libraries a search loads make many objects and few reference cycles,
    and collecting as they allocate (ever larger generations) only costs time."""
    import gc

    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


class _Stale(Exception):
    """Internal: the cached index cannot be used as it is; the message says why."""


class _Damaged(_Stale):
    """Internal: a cached file or record is damaged (not merely out of date or old)."""


class _Missing(_Damaged):
    """Internal: a cached file is missing."""


def _index_dir(cache_dir: Path) -> Path:
    return Path(cache_dir) / INDEX_DIR


def _record(path: Path, sha256: str | None = None) -> FileRecord:
    """The record of a file just written (`sha256` if already known)."""
    from kb.records import FileRecord

    info = path.stat()
    return FileRecord(
        name=path.name,
        size=info.st_size,
        mtime_ns=info.st_mtime_ns,
        sha256=sha256 or _file_sha256(path),
    )


def _verify_file(directory: Path, record: FileRecord) -> int:
    """Check a cached file against its record; _Damaged names the file and what is wrong.

    Size and mtime first: when both match, the file is taken as written (no hashing, so warm
    searches stay fast). When only the mtime differs (a copy, a touch), the full sha256 decides;
    the file's mtime is returned, for `kb index` to store (see `_fresh`).
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
        return record.mtime_ns
    try:
        actual = _file_sha256(path)
    except OSError as exc:
        raise _Damaged(f"{path} is unreadable ({exc.strerror})") from None
    if actual != record.sha256:
        raise _Damaged(f"{path} is corrupt or was changed (checksum mismatch)")
    return info.st_mtime_ns


def _fresh(record: FileRecord, mtime_ns: int) -> FileRecord:
    """A file's record with the mtime it has now (see `_verify_file`)."""
    if mtime_ns == record.mtime_ns:
        return record
    return record.model_copy(update={"mtime_ns": mtime_ns})


def _read_verified(directory: Path, record: FileRecord) -> tuple[bytes, FileRecord]:
    """A cached file's bytes once verified, and its record to keep (see `_verify_file`)."""
    kept = _fresh(record, _verify_file(directory, record))
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


@contextlib.contextmanager
def _atomic_file(path: Path) -> Iterator[Any]:
    """A new binary file (read and write) that replaces `path` only once it is written and
    synced; on any error the temporary file goes and `path` is untouched."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.chmod(tmp, 0o644)
        with os.fdopen(fd, "w+b") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _write_atomic(path: Path, data: bytes) -> FileRecord:
    """Write bytes via a temporary file and os.replace; return the file's record."""
    with _atomic_file(path) as handle:
        handle.write(data)
    return _record(path, hashlib.sha256(data).hexdigest())


def _write_sealed(path: Path, record: _Sealed) -> None:
    sealed = record.model_copy(update={"checksum": record.digest()})
    _write_atomic(path, sealed.model_dump_json().encode())


def _read_manifest(directory: Path, *, quick: bool = False) -> Manifest:
    """The verified manifest: with `quick` (searches), its fields as read-only attributes when
    `_quick_record` accepts it, else the schema's object (see kb.records)."""
    path = directory / MANIFEST
    if not path.exists():
        raise _Stale("no index yet")
    manifest = _quick_record(path, _MANIFEST) if quick else None
    if manifest is None:
        from kb.records import Manifest, read_sealed

        manifest = read_sealed(path, Manifest)
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


def _load_search(
    directory: Path, manifest: Manifest, *, rows: bool = True
) -> tuple[dict[str, Any], int]:
    """The search file's arrays (mapped, not copied), verified against the manifest, and its
    mtime now. `arrays['store']` is its vocabulary store; with `rows`, the case-study rows are
    parsed into `store['cases']` (an update copies them as they are)."""
    import struct
    import zipfile

    record = manifest.files.search
    mtime_ns = _verify_file(directory, record)
    path = directory / record.name
    try:
        arrays = _map_npz(path, record.size)
        doc_ids = [str(d) for d in arrays["doc_ids"]]
        passages = sum(len(c.passages) for c in manifest.cases.values())
        consistent = (
            doc_ids == list(manifest.cases)
            and arrays["vectors"].shape == (passages, manifest.dimension)
            and arrays["vectors"].dtype == np.float32
            and len(arrays["idf"]) == len(arrays["vocab"])
            and len(arrays["indptr"]) <= len(arrays["vocab"]) + 1
            and len(arrays["indices"]) == len(arrays["data"]) == len(arrays["tf"])
            and int(arrays["indptr"][-1]) == len(arrays["indices"])
            and _offsets_fit(arrays["row_start"], len(doc_ids), len(arrays["rows"]))
            and _offsets_fit(arrays["text_start"], len(doc_ids), len(arrays["texts"]))
        )
        if consistent:
            store = _parse_json(bytes(arrays["store"]))
            if rows:
                store["cases"] = _parse_json(bytes(arrays["rows"]))
                consistent = [c["id"] for c in store["cases"]] == doc_ids
            arrays["store"] = store
    except FileNotFoundError:
        raise _Missing(f"{path} is missing") from None
    except (
        ValueError,
        OSError,
        KeyError,
        IndexError,
        TypeError,
        AttributeError,
        UnicodeDecodeError,
        EOFError,
        struct.error,
        zipfile.BadZipFile,
    ) as exc:
        raise _Damaged(f"{path} cannot be read ({exc})") from None
    if not consistent:
        raise _Damaged(f"{path} does not match the manifest")
    return arrays, mtime_ns


def _parse_json(data: bytes) -> Any:
    """JSON (see `no_cycle_collection`); ValueError if it is not JSON."""
    with no_cycle_collection():
        return json.loads(data)


def _offsets_fit(starts: NDArray[np.int64], count: int, length: int) -> bool:
    """Whether `count` + 1 ascending offsets lie within a blob of `length` bytes."""
    return (
        starts.shape == (count + 1,)
        and int(starts[0]) >= 0
        and bool(np.all(np.diff(starts) >= 0))
        and int(starts[-1]) <= length
    )


def _check_onnx(onnx_dir: Path, *, quick: bool = False) -> tuple[OnnxRecord, bool]:
    """The verified record of an ONNX export, and whether its file records were refreshed (not
    with `quick`, which reads the record as `_read_manifest` does)."""
    from kb.embed import ONNX_META

    path = onnx_dir / ONNX_META
    record = _quick_record(path, _ONNX) if quick else None
    if record is None:
        from kb.records import OnnxRecord, read_sealed

        record = read_sealed(path, OnnxRecord)
    model = _verify_file(onnx_dir, record.files.model)
    tokenizer = _verify_file(onnx_dir, record.files.tokenizer)
    if quick or (model, tokenizer) == (
        record.files.model.mtime_ns,
        record.files.tokenizer.mtime_ns,
    ):
        return record, False
    from kb.records import OnnxFiles

    files = OnnxFiles(
        model=_fresh(record.files.model, model), tokenizer=_fresh(record.files.tokenizer, tokenizer)
    )
    return record.model_copy(update={"files": files}), True


def _machine() -> str:
    if hasattr(os, "uname"):
        return os.uname().machine or "unknown"
    import platform  # pragma: no cover - not POSIX

    return platform.machine() or "unknown"  # pragma: no cover


def _check_query_model(
    onnx_dir: Path, export: OnnxRecord, runtime: str, *, quick: bool = False
) -> tuple[QueryModelRecord, bool]:
    """The verified record of the prepared query model, and whether its file records were
    refreshed (not with `quick`); _Stale if it is missing, damaged or not made from this export
    here."""
    path = onnx_dir / QUERY_META
    record = _quick_record(path, _QUERY_MODEL) if quick else None
    if record is None:
        from kb.records import QueryModelRecord, read_sealed

        record = read_sealed(path, QueryModelRecord)
    if record.source != export.files.model.sha256:
        raise _Stale(f"{path} was made from another export")
    if record.runtime != runtime or record.machine != _machine():
        raise _Stale(f"{path} was made by another onnxruntime or machine")
    if (record.files.graph.name, record.files.weights.name) != (QUERY_MODEL, QUERY_WEIGHTS):
        raise _Damaged(f"{path} names other files")
    graph = _verify_file(onnx_dir, record.files.graph)
    weights = _verify_file(onnx_dir, record.files.weights)
    if quick or (graph, weights) == (record.files.graph.mtime_ns, record.files.weights.mtime_ns):
        return record, False
    from kb.records import QueryModelFiles

    files = QueryModelFiles(
        graph=_fresh(record.files.graph, graph), weights=_fresh(record.files.weights, weights)
    )
    return record.model_copy(update={"files": files}), True


def query_model(onnx_dir: Path, export: OnnxRecord, runtime: str) -> Path | None:
    """The prepared query model (see `QueryModelRecord`) if it is intact and was made from this
    export by this onnxruntime (`runtime`, its version) here; None otherwise, and the export is
    loaded instead. Its files are checked by size and mtime (sha256 only if the mtime differs)."""
    try:
        _check_query_model(onnx_dir, export, runtime, quick=True)
    except _Stale:
        return None
    return onnx_dir / QUERY_MODEL


def _prepare_query_model(onnx_dir: Path, export: OnnxRecord, report: IndexReport) -> None:
    """Save the export's optimised graph with its weights apart, for searches to load quickly
    (once per export, onnxruntime version and machine)."""
    import shutil

    import onnxruntime as ort

    from kb.embed import ONNX_FILE
    from kb.records import QueryModelFiles, QueryModelRecord

    try:
        record, refreshed = _check_query_model(onnx_dir, export, ort.__version__)
        if refreshed:  # only mtimes changed (a copied cache): keep searches from hashing
            _write_sealed(onnx_dir / QUERY_META, record)
        return
    except _Stale as reason:
        if (onnx_dir / QUERY_META).exists():
            report.messages.append(f"preparing the query model again: {reason}")
    tmp = Path(tempfile.mkdtemp(prefix=".query-", dir=onnx_dir))
    try:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.optimized_model_filepath = str(tmp / QUERY_MODEL)
        for key, value in (
            ("session.optimized_model_external_initializers_file_name", QUERY_WEIGHTS),
            ("session.optimized_model_external_initializers_min_size_in_bytes", "1024"),
        ):
            options.add_session_config_entry(key, value)
        ort.InferenceSession(str(onnx_dir / ONNX_FILE), options, providers=["CPUExecutionProvider"])
        # the old record goes first, so that no search pairs it with the new files
        with contextlib.suppress(FileNotFoundError):
            (onnx_dir / QUERY_META).unlink()
        for name in (QUERY_WEIGHTS, QUERY_MODEL):
            os.replace(tmp / name, onnx_dir / name)
        files = QueryModelFiles(
            graph=_record(onnx_dir / QUERY_MODEL), weights=_record(onnx_dir / QUERY_WEIGHTS)
        )
        prepared = QueryModelRecord(
            format=QueryModelRecord.FORMAT,
            source=export.files.model.sha256,
            runtime=ort.__version__,
            machine=_machine(),
            files=files,
        )
        _write_sealed(onnx_dir / QUERY_META, prepared)
    except Exception as exc:  # onnxruntime raises its own exception types
        report.messages.append(f"searches will load the whole ONNX export: {exc}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def read_onnx_record(onnx_dir: Path) -> OnnxRecord:
    """The record of the ONNX export in `onnx_dir`, with its files verified; IndexError_ (naming
    the file, with the hint to run `kb index`) if anything is missing, changed or damaged."""
    try:
        record, _ = _check_onnx(onnx_dir, quick=True)
    except _Stale as reason:
        raise IndexError_(
            f"the ONNX query model cannot be used: {reason}; hint: run `kb index` to repair it"
        ) from None
    return record


def write_onnx_record(onnx_dir: Path, *, identity: str, max_tokens: int, dimension: int) -> None:
    """Record the ONNX export in `onnx_dir` (its model.onnx and tokenizer.json as written)."""
    from kb.embed import ONNX_FILE, ONNX_META, TOKENIZER_FILE
    from kb.records import OnnxFiles, OnnxRecord

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


# BM25's stop words: bm25s's English list (STOPWORDS_EN), written out so that indexing need not
# import bm25s (half a second) and the index does not change with its version
BM25_STOPWORDS = (
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is",
    "it", "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there",
    "these", "they", "this", "to", "was", "will", "with",
)  # fmt: skip


def _stopwords() -> frozenset[str]:
    return frozenset(BM25_STOPWORDS)


def _term_counts(
    entries: Sequence[Entry], stopwords: frozenset[str]
) -> tuple[list[str], list[int], list[int]]:
    """BM25 words of each entry, counted: (term, document, count) lists, documents numbered
    by their place in `entries`. A document without words holds the empty term once (as bm25s
    does), so that every document has a length."""
    stemmer = new_stemmer()
    terms: list[str] = []
    docs: list[int] = []
    counts: list[int] = []
    for doc, entry in enumerate(entries):
        counted = Counter(bm25_tokens(bm25_text(entry), stemmer, stopwords) or [""])
        terms.extend(counted)
        counts.extend(counted.values())
        docs.extend([doc] * len(counted))
    return terms, docs, counts


def _bm25_arrays(
    n_docs: int,
    fresh: tuple[list[str], list[int], list[int]],
    kept: tuple[Sequence[str], NDArray[np.int64], NDArray[np.int64], NDArray[np.int32]]
    | None = None,
) -> dict[str, Any]:
    """The BM25 score matrix (Lucene BM25, as bm25s computes it, bit for bit) of `n_docs`
    documents from their term counts.

    `fresh`: (term, document, count) lists of documents counted now; `kept`: (vocabulary, term
    ids, documents, counts) arrays of documents whose counts come from a previous search file
    (document numbers already the new ones). The vocabulary is sorted, so the arrays depend only
    on the documents' words, not on which were counted now: an updated index equals a rebuilt one.
    """
    import math

    fresh_terms, fresh_docs, fresh_counts = fresh
    words = set(fresh_terms)
    if kept is not None:
        old_vocab, old_terms, _, _ = kept
        used = np.unique(old_terms)
        words.update(str(old_vocab[int(t)]) for t in used)
    vocab = sorted(words)
    number = {term: i for i, term in enumerate(vocab)}
    terms = np.fromiter((number[t] for t in fresh_terms), np.int64, len(fresh_terms))
    docs = np.asarray(fresh_docs, dtype=np.int64)
    counts = np.asarray(fresh_counts, dtype=np.int32)
    if kept is not None:
        old_vocab, old_terms, old_docs, old_counts = kept
        remap = np.full(len(old_vocab), -1, dtype=np.int64)
        remap[used] = [number[str(old_vocab[int(t)])] for t in used]
        # the kept entries come first: in (term, document) order already, they sort fast
        terms = np.concatenate([remap[old_terms], terms])
        docs = np.concatenate([old_docs, docs])
        counts = np.concatenate([old_counts, counts])
    order = np.argsort(terms * max(1, n_docs) + docs, kind="stable")
    terms, docs, counts = terms[order], docs[order], counts[order]
    indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
    np.cumsum(np.bincount(terms, minlength=len(vocab)), out=indptr[1:])
    # bm25s: idf per term with math.log, stored as float32; the term-frequency part in float64
    doc_freq = np.diff(indptr)
    idf_of = {
        int(df): math.log(1 + (n_docs - int(df) + 0.5) / (int(df) + 0.5))
        for df in np.unique(doc_freq)
    }
    term_idf = np.asarray([idf_of[int(df)] for df in doc_freq], dtype=np.float32)
    lengths = np.bincount(docs, weights=counts, minlength=n_docs).astype(np.int64)
    norm = np.zeros(0)
    if n_docs:
        norm = BM25_K1 * ((1 - BM25_B) + BM25_B * lengths.astype(np.float64) / lengths.mean())
    tf = counts.astype(np.float32)
    data = (term_idf[terms] * (tf / (norm[docs] + tf))).astype(np.float32)
    if n_docs and "" not in number:
        vocab.append("")  # bm25s adds the empty term last (no document has it)
    # each term's idf, for the query coverage in kb.search
    freq = np.pad(doc_freq.astype(np.float64), (0, len(vocab) - len(doc_freq)))
    idf = np.log(1 + (max(1, n_docs) - freq + 0.5) / (freq + 0.5))
    idf[len(doc_freq) :] = 0.0
    return {
        "data": data,
        "indices": docs.astype(np.int32),
        "indptr": indptr,
        "tf": counts,
        "idf": idf.astype(np.float32),
        "vocab": np.array(vocab, dtype=str),
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


@dataclass
class _Previous:
    """The search file an update replaces: what it holds per case study can be kept."""

    arrays: dict[str, Any]  # as `_load_search` maps them (case-study rows not parsed)
    hashes: dict[str, str]  # case-study id -> the content hash its data was built from


def _span(arrays: dict[str, Any], blob: str, starts: str, position: int, gap: int = 0) -> bytes:
    """One case study's bytes in a blob of the search file (`gap`: a separator after each)."""
    offsets = arrays[starts]
    start, end = int(offsets[position]), int(offsets[position + 1]) - gap
    return bytes(arrays[blob][start:end])


def _reusable(
    ordered: Sequence[Entry], previous: _Previous | None, stopwords: frozenset[str]
) -> dict[int, int]:
    """New position -> position in the previous search file, for each case study whose data
    there was built from the same content (same hash) by the same scheme."""
    if previous is None:
        return {}
    arrays = previous.arrays
    if frozenset(str(w) for w in arrays["stopwords"]) != stopwords:
        return {}
    old_position = {str(cid): i for i, cid in enumerate(arrays["doc_ids"])}
    out: dict[int, int] = {}
    for position, entry in enumerate(ordered):
        case_id = entry.case.id
        old = old_position.get(case_id)
        if old is None or previous.hashes.get(case_id) != entry.content_hash:
            continue
        # the row must be this case study's (a cheap check of what the file says)
        if _span(arrays, "rows", "row_start", old, gap=1).startswith(
            b'{"id": ' + json.dumps(case_id).encode("utf-8")
        ):
            out[position] = old
    return out


def _kept_counts(
    arrays: dict[str, Any], reused: dict[int, int]
) -> tuple[Sequence[str], NDArray[np.int64], NDArray[np.int64], NDArray[np.int32]]:
    """The BM25 term counts of the reused case studies, from the previous search file's matrix:
    (its vocabulary, term ids, new document numbers, counts), in (term, document) order."""
    indptr = np.asarray(arrays["indptr"], dtype=np.int64)
    new_of_old = np.full(len(arrays["doc_ids"]), -1, dtype=np.int64)
    new_of_old[np.fromiter(reused.values(), np.int64, len(reused))] = np.fromiter(
        reused.keys(), np.int64, len(reused)
    )
    terms = np.repeat(np.arange(len(indptr) - 1, dtype=np.int64), np.diff(indptr))
    docs = new_of_old[np.asarray(arrays["indices"], dtype=np.int64)]
    keep = docs >= 0
    return (
        arrays["vocab"],
        terms[keep],
        docs[keep],
        np.asarray(arrays["tf"], dtype=np.int32)[keep],
    )


def _build_search(
    entries: Sequence[Entry],
    manifest_cases: dict[str, CaseRecord],
    index: Any,
    path: Path,
    previous: _Previous | None = None,
) -> FileRecord:
    """Write the search file: BM25 arrays, vectors in manifest order, metadata and texts.

    Each case study's row, texts and BM25 term counts are taken from the `previous` search file
    when its content is unchanged, and built otherwise; the BM25 scores are then computed again
    over the whole library (its statistics change with every case study). The file is the same
    either way.
    """
    import faiss

    ordered = sorted(entries, key=lambda e: e.case.id)
    if [e.case.id for e in ordered] != list(manifest_cases):
        raise IndexError_("the search file and the manifest list different case studies")
    stopwords = _stopwords()
    reused = _reusable(ordered, previous, stopwords)
    rows: list[bytes] = []
    texts: list[bytes] = []
    fresh: list[int] = []
    for position, entry in enumerate(ordered):
        old = reused.get(position)
        if old is not None and previous is not None:
            rows.append(_span(previous.arrays, "rows", "row_start", old, gap=1))
            texts.append(_span(previous.arrays, "texts", "text_start", old))
            continue
        text = bytearray()  # part offsets in a row are relative to the case study's own texts
        rows.append(json.dumps(_case_store(entry, text)).encode("utf-8"))
        texts.append(bytes(text))
        fresh.append(position)
    terms, docs, counts = _term_counts([ordered[p] for p in fresh], stopwords)
    kept = _kept_counts(previous.arrays, reused) if reused and previous is not None else None
    arrays = _bm25_arrays(len(ordered), (terms, [fresh[d] for d in docs], counts), kept)
    dimension = int(index.d)
    if index.ntotal:
        ids = faiss.vector_to_array(index.id_map).astype(np.int64)
        row_of = {int(pid): row for row, pid in enumerate(ids)}
        order = [row_of[p[0]] for c in manifest_cases.values() for p in c.passages]
        vectors = index.index.reconstruct_n(0, index.ntotal)[np.asarray(order, dtype=np.int64)]
    else:
        vectors = np.zeros((0, dimension), dtype=np.float32)
    row_start = np.cumsum([1] + [len(row) + 1 for row in rows], dtype=np.int64)
    text_start = np.cumsum([0] + [len(text) for text in texts], dtype=np.int64)
    return _write_npz(
        path,
        {
            **arrays,
            "stopwords": np.array(sorted(stopwords), dtype=str),
            "doc_ids": np.array([e.case.id for e in ordered], dtype=str),
            "vectors": np.ascontiguousarray(vectors, dtype=np.float32),
            "store": _bytes_array(json.dumps(_vocabulary_store(stopwords)).encode("utf-8")),
            "rows": _bytes_array(b"[" + b",".join(rows) + b"]"),
            "row_start": row_start,
            "texts": _bytes_array(b"".join(texts)),
            "text_start": text_start,
        },
    )


def _bytes_array(data: bytes) -> NDArray[np.uint8]:
    return np.frombuffer(data, dtype=np.uint8)


_ALIGN = 64  # the .npy format aligns array data to 64 bytes within each member
_PADDING_ID = 0x6B62  # a zip extra-field id for the padding that aligns each member


def _write_npz(path: Path, arrays: dict[str, Any]) -> FileRecord:
    """Write an uncompressed .npz (np.load reads it) whose arrays start on 64-byte boundaries of
    the file, so that `_map_npz` can map them without copying; streamed from the arrays, via a
    temporary file and os.replace. Its bytes depend only on the arrays. Returns its record."""
    import zipfile

    with (
        _atomic_file(path) as handle,
        zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED) as archive,
    ):
        for name, array in arrays.items():
            _write_member(archive, handle.tell(), name, np.ascontiguousarray(array))
    return _record(path)


def _write_member(archive: Any, offset: int, name: str, array: NDArray[Any]) -> None:
    """One array as `name`.npy at `offset` of the archive, its data aligned (see `_write_npz`)."""
    import io
    import struct
    import zipfile

    header = io.BytesIO()
    fields = np.lib.format.header_data_from_array_1_0(array)
    try:
        np.lib.format.write_array_header_1_0(header, fields)
    except ValueError:  # a header too long for format 1.0
        header = io.BytesIO()
        np.lib.format.write_array_header_2_0(header, fields)
    info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    info.file_size = header.tell() + array.nbytes
    # the local header (30 bytes), the name and an extra field that pads, then the .npy member,
    # whose own header is a multiple of 64 bytes long
    start = offset + 30 + len(info.filename.encode("utf-8")) + 4
    pad = -start % _ALIGN
    info.extra = struct.pack("<HH", _PADDING_ID, pad) + bytes(pad)
    with archive.open(info, "w") as member:
        member.write(header.getvalue())
        member.write(array.reshape(-1).view(np.uint8).data)


def _map_npz(path: Path, size: int) -> dict[str, Any]:
    """The arrays of a search file, mapped from the page cache without copying where they are
    stored aligned (see `_write_npz`), else read; ValueError etc. if it is malformed."""
    import io
    import mmap
    import struct
    import zipfile

    with path.open("rb") as handle:
        if os.name == "posix" and size > 0:
            data: Any = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        else:  # pragma: no cover - elsewhere a mapped file could not be replaced or deleted
            data = handle.read()
    if len(data) != size:
        raise ValueError(f"{len(data)} bytes, expected {size}")
    arrays: dict[str, Any] = {}
    with zipfile.ZipFile(io.BytesIO(data) if isinstance(data, bytes) else data) as archive:
        for info in archive.infolist():
            name = info.filename.removesuffix(".npy")
            header = data[info.header_offset : info.header_offset + 30]
            if len(header) != 30 or header[:4] != b"PK\x03\x04":
                raise ValueError(f"member {name} has no local header")
            name_len, extra_len = struct.unpack("<HH", header[26:30])
            start = info.header_offset + 30 + name_len + extra_len
            end = start + info.file_size
            if info.compress_type != zipfile.ZIP_STORED or end > len(data):
                arrays[name] = np.lib.format.read_array(archive.open(info), allow_pickle=False)
                continue
            member = io.BytesIO(data[start : min(end, start + 4096)])
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
            if dtype.hasobject:
                raise ValueError(f"member {name} holds objects")
            offset = start + member.tell()
            count = int(np.prod(shape, dtype=np.int64))
            if offset + count * dtype.itemsize != end:
                raise ValueError(f"member {name} has the wrong size")
            if count == 0 or offset % max(1, dtype.alignment):
                array = np.frombuffer(bytes(data[offset:end]), dtype=dtype, count=count)
            else:
                array = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
            arrays[name] = array.reshape(shape, order="F" if fortran else "C")
    return arrays


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
        _prepare_query_model(onnx_dir, record, report)
        return
    except _Stale as reason:
        if onnx_dir.exists():
            report.messages.append(f"exporting the query model again: {reason}")
    embedder.export_onnx(onnx_dir)
    report.messages.append("exported the query model to ONNX (searches will not load torch)")
    _prepare_query_model(onnx_dir, _check_onnx(onnx_dir)[0], report)


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
        return OnnxEmbedder(_index_dir(cache_dir) / ONNX_DIR, threads=min(4, os.cpu_count() or 1))
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
    from kb.records import CaseRecord, IndexFiles

    directory = _index_dir(cache_dir)
    report = IndexReport()
    identity = embedder.identity

    manifest: Manifest | None
    kept: IndexFiles | None = None  # the data files' records, mtimes as found
    previous: _Previous | None = None  # the search file, if of this scheme: data to keep
    try:
        manifest = _read_manifest(directory)
        if manifest.model != identity:
            raise _Stale(f"the model changed (index: {manifest.model}, now: {identity})")
        if manifest.dimension != embedder.dimension:
            raise _Stale("the vector dimension changed")
        index, vectors_file = _load_vectors(directory, manifest)
        search_file = manifest.files.search
        if manifest.search_scheme == search_scheme():
            arrays, mtime_ns = _load_search(directory, manifest, rows=False)
            search_file = _fresh(search_file, mtime_ns)
            hashes = {case_id: case.hash for case_id, case in manifest.cases.items()}
            previous = _Previous(arrays, hashes)
        kept = IndexFiles(vectors=vectors_file, search=search_file)
    except _Stale as reason:
        if str(reason) != "no index yet":
            report.rebuilt_reason = str(reason)
            report.messages.append(f"rebuilding the index: {reason}")
        manifest = None
        previous = None
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
        _write_generation(directory, old_cases, entries, index, embedder, next_id, previous)
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
    from kb.records import SourceRecord

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
    previous: _Previous | None = None,
) -> None:
    import faiss

    from kb.records import IndexFiles, Manifest

    generation = secrets.token_hex(6)
    ordered = {cid: cases[cid] for cid in sorted(cases)}
    vector_bytes = faiss.serialize_index(index).tobytes()
    files = IndexFiles(
        vectors=_write_atomic(directory / f"vectors-{generation}.faiss", vector_bytes),
        search=_build_search(
            entries, ordered, index, directory / f"search-{generation}.npz", previous
        ),
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
            manifest = _read_manifest(directory, quick=True)
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
    counts = [len(case.passages) for case in manifest.cases.values()]
    passages = [p for case in manifest.cases.values() for p in case.passages]
    meta = np.asarray(passages, dtype=np.int32).reshape(-1, 4)[:, 1:]
    starts = np.zeros(len(counts), dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    store = arrays.pop("store")
    texts = arrays.pop("texts")
    text_start = arrays.pop("text_start")
    for kept_by_updates in ("rows", "row_start"):
        arrays.pop(kept_by_updates)
    vectors = arrays.pop("vectors")
    return SearchData(
        manifest=manifest,
        case_ids=case_ids,
        passage_case=np.repeat(np.arange(len(counts), dtype=np.int32), counts),
        passage_meta=np.ascontiguousarray(meta),
        case_start=starts,
        vectors=vectors,
        bm25=arrays,
        store=store,
        texts=texts,
        text_start=text_start,
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
        for record in (
            directory / MANIFEST,
            directory / ONNX_DIR / ONNX_META,
            directory / ONNX_DIR / QUERY_META,
        ):
            with contextlib.suppress(FileNotFoundError):
                record.unlink()
    report = update_index(entries, cache_dir, model=model, progress=progress, embedder=embedder)
    if rebuild and report.rebuilt_reason is None:
        report.rebuilt_reason = "asked for a full rebuild"
    return report
