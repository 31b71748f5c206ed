"""Build, update, load and verify the search index kept in the cache folder.

Layout of `<cache>/index/`:
- `manifest.json`: format, model identity, dimension, passage settings, the data files of the
  current generation with their size, mtime and sha256, and per case study its content hash and
  passages; sealed with the sha256 of its own contents (see `Manifest`);
- `vectors-<gen>.faiss`: `IndexIDMap(IndexFlatIP)` of unit vectors, one per passage;
- `bm25-<gen>.npz`: the BM25 score matrix (built by bm25s) with its vocabulary and stop words;
- `onnx/`: the ONNX export of the model, verified against sentence-transformers; it embeds
  passages (about twice as fast as torch on a CPU) and queries (without importing torch).
  `onnx/onnx.json` (see `OnnxRecord`) records the export and its two files, sealed the same way.

Everything is verified as it is loaded: each record against its schema and its seal, each file
against its record (size and mtime first; the sha256 only when the mtime differs, so a warm search
hashes nothing). Searches refuse a damaged index with a message naming the file; `kb index` repairs
whatever it finds damaged, the ONNX export included.

Each case study is split into passages: a profile (title, summary, who and what) and every body
section, cut further into overlapping token windows where a section is longer than the model reads,
so no text is silently truncated. Updates are incremental (only new or changed case studies are
embedded again; deleted ones leave the index) and atomic: new data files get a new generation name,
the manifest is replaced last with `os.replace`, then the old generation is deleted. A manifest or
data file that is missing, corrupt, partial, edited or from another model is detected and rebuilt,
with a message saying why.
"""

from __future__ import annotations

import contextlib
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
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kb.errors import IndexError_
from kb.vocab import load_vocabularies

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
    "Passage",
    "bm25_tokens",
    "index_library",
    "load_index",
    "passages_for",
    "preamble_text",
    "profile_text",
    "read_onnx_record",
    "update_index",
    "write_onnx_record",
]

INDEX_DIR = "index"
ONNX_DIR = "onnx"  # inside INDEX_DIR
MANIFEST = "manifest.json"
# Changing how passages are built changes this, which forces a rebuild.
PASSAGE_SCHEME = "profile+preamble+sections/windows-overlap32"
# Changing how BM25 documents are built changes this, which rebuilds BM25 only (no embedding).
BM25_SCHEME = "bm25-lucene-k1.2-b0.75/title2-summary2-labels-v1"
WINDOW_OVERLAP = 32
PREFIX_ALLOWANCE = 24  # tokens kept free for the "title - heading:" prefix of each window
PROFILE = -1  # section number of the profile passage
PREAMBLE = -2  # section number of body text before the first level-2 heading
_SECTION_START = re.compile(r"^##(?!#)")

_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_MD_MARKS = re.compile(r"[*_`#>|]+")


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


@dataclass(frozen=True)
class Passage:
    """A piece of a case study that gets one vector: a window of one section, or the profile."""

    section: int  # index into Entry.sections, or PROFILE or PREAMBLE
    start: int  # character offsets into the section text (the profile: into profile_text)
    end: int
    text: str  # what the model reads


@dataclass
class IndexData:
    """A verified index, loaded for searching."""

    manifest: Manifest
    case_ids: list[str]  # in manifest order
    passage_case: NDArray[np.int32]  # per vector row: position in case_ids
    passage_meta: NDArray[np.int32]  # per vector row: section, start, end
    case_start: NDArray[np.int64]  # first row of each case (rows are grouped by case)
    vectors: NDArray[np.float32]  # rows x dimension, unit length
    bm25: dict[str, Any]  # data, indices, indptr, doc order, vocab, stopwords

    @property
    def identity(self) -> str:
        return self.manifest.model


# ---------------------------------------------------------------------------------------------
# text


def clean_markdown(text: str) -> str:
    """Markdown as plain prose for the model: links keep their words, marks and newlines go."""
    text = _MD_LINK.sub(r"\1", text)
    text = _MD_MARKS.sub(" ", text)
    return re.sub(r"\s+", " ", text).strip()


def _drop_link_targets(text: str) -> str:
    return _MD_LINK.sub(r"\1", text) if "](" in text else text


def profile_text(entry: Entry) -> str:
    """The profile passage: title, summary, who it is for and what was done."""
    case = entry.case
    parts = [f"{case.title}.", case.summary]
    if case.cohort:
        parts.append(f"For: {case.cohort}.")
    if case.interventions:
        parts.append("What: " + "; ".join(case.interventions) + ".")
    vocab = load_vocabularies()
    if case.topics:
        parts.append("Topics: " + ", ".join(vocab.topics.label(t) for t in case.topics) + ".")
    return " ".join(p.strip() for p in parts if p and p.strip())


def preamble_text(entry: Entry) -> str:
    """Body text before the first level-2 heading (usually empty), so that it is indexed too."""
    lines = []
    for line in entry.body.split("\n"):
        if _SECTION_START.match(line):
            break
        lines.append(line)
    return "\n".join(lines).strip()


def _windows(spans: list[tuple[int, int]], size: int, length: int) -> list[tuple[int, int]]:
    """Character ranges of overlapping windows of at most `size` tokens covering a text.

    The first window starts at 0 and the last ends at `length`, so nothing between tokens
    (closing punctuation, for a tokenizer that skips it) is lost either.
    """
    if not spans:
        return []
    if len(spans) <= size:
        return [(0, length)]
    step = max(1, size - WINDOW_OVERLAP)
    out = []
    for first in range(0, len(spans), step):
        last = min(first + size, len(spans)) - 1
        end = length if last == len(spans) - 1 else spans[last][1]
        out.append((0 if first == 0 else spans[first][0], end))
        if last == len(spans) - 1:
            break
    return out


def passages_for(entry: Entry, embedder: Embedder) -> list[Passage]:
    """Every passage of a case study; long sections become overlapping token windows."""
    size = max(16, embedder.max_tokens - 2 - PREFIX_ALLOWANCE)
    title = entry.case.title
    profile = profile_text(entry)
    passages = []
    windows = _windows(embedder.token_spans(profile), size, len(profile)) or [(0, len(profile))]
    for start, end in windows:
        passages.append(Passage(PROFILE, start, end, profile[start:end]))
    parts = [(PREAMBLE, "Introduction", preamble_text(entry))]
    parts += [(n, s.heading, s.text) for n, s in enumerate(entry.sections)]
    for number, heading, text in parts:
        for start, end in _windows(embedder.token_spans(text), size, len(text)):
            body = clean_markdown(text[start:end])
            passages.append(Passage(number, start, end, f"{title} - {heading}: {body}"))
    return passages


def _labels(entry: Entry) -> list[str]:
    vocab = load_vocabularies()
    case = entry.case
    words: list[str] = []
    for field_name in (
        "ics",
        "region",
        "level",
        "tiers",
        "kaiser_level",
        "meps",
        "three_cs",
        "enablers",
        "challenges",
        "drivers",
        "topics",
    ):
        vocabulary = vocab.for_field(field_name)
        for value in getattr(case, field_name):
            try:
                term = vocabulary.get(value)
            except KeyError:
                words.append(value)
                continue
            words.append(term.label)
            words.extend(term.aliases)
    if case.status:
        words.append(vocab.statuses.label(case.status))
    return words


def bm25_text(entry: Entry) -> str:
    """The BM25 document of a case study: its words and the labels of its metadata.

    Title and summary count twice, as a lead paragraph would in a search engine.
    """
    case = entry.case
    parts = [case.title, case.title, case.summary, case.summary]
    parts += case.organisations + case.partners + case.interventions
    parts += [case.place or "", case.cohort or ""]
    parts += [o.metric for o in case.outcomes]
    parts += _labels(entry)
    # BM25 words ignore Markdown marks; only link targets would add noise words
    parts.append(_drop_link_targets(preamble_text(entry)))
    parts += [f"{s.heading} {_drop_link_targets(s.text)}" for s in entry.sections]
    return "\n".join(p for p in parts if p)


def bm25_tokens(text: str, stemmer: Any, stopwords: frozenset[str]) -> list[str]:
    """Lower-cased words of two or more characters, stop words out, stemmed (as bm25s does)."""
    words = [w for w in _TOKEN.findall(text.lower()) if w not in stopwords]
    return list(stemmer.stemWords(words))


def new_stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


# ---------------------------------------------------------------------------------------------
# cache records: the one schema of the manifest and of the ONNX export's record, and the one
# check of a cached file against its record

_Count = Annotated[int, Field(strict=True, ge=0)]
_Positive = Annotated[int, Field(strict=True, gt=0)]
_Text = Annotated[str, Field(strict=True, min_length=1)]
_Sha256 = Annotated[str, Field(strict=True, pattern=r"^[0-9a-f]{64}$")]
# a name inside its folder, never a path
_FileName = Annotated[str, Field(strict=True, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")]
_Section = Annotated[int, Field(strict=True, ge=PREAMBLE)]


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
    bm25: FileRecord


class CaseRecord(_Record):
    hash: _Text  # content hash of the case-study file
    passages: list[tuple[_Count, _Section, _Count, _Count]]  # (id, section, start, end)


class Manifest(_Sealed):
    """`index/manifest.json`: what the index holds and the data files of its generation."""

    FORMAT: ClassVar[int] = 2
    VERSION_FIELDS: ClassVar[frozenset[str]] = frozenset({"format", "scheme", "bm25_scheme"})

    model: _Text  # identity of the embedding model
    dimension: _Positive
    max_tokens: _Positive
    scheme: str  # PASSAGE_SCHEME when written
    bm25_scheme: str  # BM25_SCHEME when written
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
    if manifest.scheme != PASSAGE_SCHEME:
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


def _load_bm25(directory: Path, manifest: Manifest) -> tuple[dict[str, Any], FileRecord]:
    """The BM25 arrays, verified against the manifest, and the file's record to keep."""
    import io

    data, record = _read_verified(directory, manifest.files.bm25)
    path = directory / record.name
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            bm25 = {key: npz[key] for key in npz.files}
        doc_ids = sorted(str(d) for d in bm25["doc_ids"])
    except (ValueError, OSError, KeyError, TypeError) as exc:
        raise _Damaged(f"{path} cannot be read ({exc})") from None
    if doc_ids != sorted(manifest.cases):
        raise _Damaged(f"{path} does not match the manifest")
    return bm25, record


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


def _build_bm25(entries: Sequence[Entry]) -> tuple[bytes, int]:
    import io

    import bm25s
    from bm25s.stopwords import STOPWORDS_EN

    stopwords = frozenset(STOPWORDS_EN)
    stemmer = new_stemmer()
    corpus = [bm25_tokens(bm25_text(e), stemmer, stopwords) or [""] for e in entries]
    scores: dict[str, Any] = {"data": [], "indices": [], "indptr": [0]}
    vocab: list[tuple[str, int]] = []
    if corpus:
        retriever = bm25s.BM25(method="lucene", k1=1.2, b=0.75)
        retriever.index(corpus, show_progress=False)
        scores = retriever.scores
        vocab = sorted(retriever.vocab_dict.items(), key=lambda kv: kv[1])
    if [i for _, i in vocab] != list(range(len(vocab))):
        raise IndexError_("unexpected BM25 vocabulary layout from bm25s")
    buffer = io.BytesIO()
    np.savez(
        buffer,
        data=np.asarray(scores["data"], dtype=np.float32),
        indices=np.asarray(scores["indices"], dtype=np.int32),
        indptr=np.asarray(scores["indptr"], dtype=np.int64),
        doc_ids=np.array([e.case.id for e in entries], dtype=str),
        vocab=np.array([t for t, _ in vocab], dtype=str),
        stopwords=np.array(sorted(stopwords), dtype=str),
    )
    return buffer.getvalue(), len(vocab)


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
        _, bm25_file = _load_bm25(directory, manifest)
        kept = IndexFiles(vectors=vectors_file, bm25=bm25_file)
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
        old_cases[entry.case.id] = CaseRecord(hash=entry.content_hash, passages=records)
    if texts:
        index.add_with_ids(
            np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(new_ids, dtype=np.int64)
        )
    report.embedded = total
    report.passages = int(index.ntotal)

    old_bm25 = manifest is not None and manifest.bm25_scheme != BM25_SCHEME
    if old_bm25:
        report.messages.append("rebuilding the keyword index: its format changed")
    changed = bool(report.added or report.updated or report.removed or manifest is None or old_bm25)
    if changed:
        _write_generation(directory, old_cases, entries, index, embedder, next_id)
    elif manifest is not None and kept is not None and kept != manifest.files:
        # only mtimes changed (a copied cache): record them, so searches need not hash the files
        _write_sealed(directory / MANIFEST, manifest.model_copy(update={"files": kept}))
    _ensure_onnx(cache_dir, embedder, report)
    if not changed and not report.messages:
        report.messages.append("the index is up to date")
    return report


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
    vector_bytes = faiss.serialize_index(index).tobytes()
    bm25_bytes, _ = _build_bm25(sorted(entries, key=lambda e: e.case.id))
    files = IndexFiles(
        vectors=_write_atomic(directory / f"vectors-{generation}.faiss", vector_bytes),
        bm25=_write_atomic(directory / f"bm25-{generation}.npz", bm25_bytes),
    )
    manifest = Manifest(
        format=Manifest.FORMAT,
        model=embedder.identity,
        dimension=embedder.dimension,
        max_tokens=embedder.max_tokens,
        scheme=PASSAGE_SCHEME,
        bm25_scheme=BM25_SCHEME,
        generation=generation,
        files=files,
        next_id=next_id,
        cases={cid: cases[cid] for cid in sorted(cases)},
    )
    _write_sealed(directory / MANIFEST, manifest)
    keep = {files.vectors.name, files.bm25.name}
    for old in directory.glob("*-*.*"):
        if old.suffix in (".faiss", ".npz") and old.name not in keep:
            with contextlib.suppress(OSError):
                old.unlink()


# ---------------------------------------------------------------------------------------------
# load


def load_index(cache_dir: Path, entries: Sequence[Entry]) -> IndexData:
    """The verified index for exactly these entries; IndexError_ (run `kb index`) otherwise."""
    directory = _index_dir(cache_dir)
    for attempt in (1, 2):
        try:
            manifest = _read_manifest(directory)
            stale = _compare(manifest, entries)
            if stale:
                raise _Stale(stale)
            if manifest.bm25_scheme != BM25_SCHEME:
                raise _Stale("the keyword index is from an older version of kb")
            index, _ = _load_vectors(directory, manifest)
            bm25, _ = _load_bm25(directory, manifest)
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
    import faiss

    row_ids = faiss.vector_to_array(index.id_map).astype(np.int64)
    all_vectors = (
        index.index.reconstruct_n(0, index.ntotal)
        if index.ntotal
        else np.zeros((0, manifest.dimension), dtype=np.float32)
    )
    row_of = {int(pid): row for row, pid in enumerate(row_ids)}  # ids verified by _load_vectors
    case_ids = list(manifest.cases)
    order: list[int] = []
    passage_case: list[int] = []
    meta: list[tuple[int, int, int]] = []
    starts: list[int] = []
    for position, case_id in enumerate(case_ids):
        starts.append(len(order))
        for pid, section, start, end in manifest.cases[case_id].passages:
            order.append(row_of[pid])
            passage_case.append(position)
            meta.append((section, start, end))
    vectors = np.ascontiguousarray(all_vectors[np.asarray(order, dtype=np.int64)], dtype=np.float32)
    return IndexData(
        manifest=manifest,
        case_ids=case_ids,
        passage_case=np.asarray(passage_case, dtype=np.int32),
        passage_meta=np.asarray(meta, dtype=np.int32).reshape(-1, 3),
        case_start=np.asarray(starts, dtype=np.int64),
        vectors=vectors,
        bm25=bm25,
    )


def _compare(manifest: Manifest, entries: Sequence[Entry]) -> str | None:
    """Why the manifest does not describe these entries, or None if it does."""
    cases = manifest.cases
    current = {e.case.id: e.content_hash for e in entries}
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
    from kb.content import load_library
    from kb.embed import ONNX_META

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
