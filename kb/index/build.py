"""Building and updating the search index: embed what changed, write a new generation, seal it.

Updates are incremental (only new or changed case studies are embedded again; deleted ones leave
the index; the search file keeps what it holds of the unchanged ones, and only the BM25 scores,
whose statistics span the library, are computed again) and atomic: new data files get a new
generation name, the manifest is replaced last with `os.replace`, then the old generation is
deleted, so a search, or a build stopped part-way, always finds a whole generation. An updated
index equals one built from nothing. A manifest or data file that is missing, corrupt, partial,
edited or from another model is detected and rebuilt, with a message saying why."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from kb.errors import IndexStale, SearchIndexError
from kb.index.passages import passages_for

if TYPE_CHECKING:
    from kb.format.content import Entry
    from kb.index.embed import Embedder, ExportsOnnx
    from kb.index.passages import Passage
    from kb.index.records import (
        CaseRecord,
        IndexFiles,
        Manifest,
        SourceRecord,
    )
from kb.index.layout import (
    MANIFEST,
    ONNX_DIR,
    IndexReport,
    _index_dir,
    passage_scheme,
    search_scheme,
)
from kb.index.load import _load_search, _load_vectors, _read_manifest
from kb.index.onnx import _check_onnx, _prepare_query_model
from kb.index.search_file import _build_search, _empty_index, _Previous
from kb.index.storage import _fresh, _write_atomic, _write_sealed, _writer_lock

__all__ = ["index_library", "update_index"]


def _resolve_embedder(model: str | None, embedder: Embedder | None) -> Embedder:
    if embedder is not None:
        return embedder
    from kb.index.embed import embedder_for

    return embedder_for(model)


def _ensure_onnx(
    cache_dir: Path, embedder: Embedder, report: IndexReport, *, fresh: bool = False
) -> None:
    """Keep a verified ONNX export of the model for queries; export it again if it is missing,
    damaged or from another model, or if `fresh`."""
    from kb.index.embed import ExportsOnnx
    from kb.index.layout import ONNX_META

    if not isinstance(embedder, ExportsOnnx):
        return
    onnx_dir = _index_dir(cache_dir) / ONNX_DIR
    try:
        if fresh:
            raise IndexStale("asked for a full rebuild")
        record, refreshed = _check_onnx(onnx_dir)
        if record.identity != embedder.identity:
            raise IndexStale(f"{onnx_dir} is an export of another model ({record.identity})")
        if refreshed:  # only mtimes changed (a copied cache): keep searches from hashing
            _write_sealed(onnx_dir / ONNX_META, record)
        _prepare_query_model(onnx_dir, record, report)
        return
    except IndexStale as reason:
        if onnx_dir.exists():
            report.messages.append(f"exporting the query model again: {reason}")
    _export_beside(onnx_dir, embedder)
    report.messages.append("exported the query model to ONNX (searches will not load torch)")
    _prepare_query_model(onnx_dir, _check_onnx(onnx_dir)[0], report)


def _export_beside(onnx_dir: Path, embedder: ExportsOnnx) -> None:
    """Export the model into a new folder beside `onnx_dir`, then put it in its place: a search
    keeps the old export until the new one is whole, and an export stopped part-way leaves only
    a folder that the next one deletes."""
    parent = onnx_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    for stale in parent.glob(".onnx-*"):
        shutil.rmtree(stale, ignore_errors=True)
    new = parent / f".onnx-new-{secrets.token_hex(4)}"
    embedder.export_onnx(new)
    if onnx_dir.exists():
        old = parent / f".onnx-old-{secrets.token_hex(4)}"
        os.replace(onnx_dir, old)
        os.replace(new, onnx_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, onnx_dir)


def _document_embedder(
    embedder: Embedder, cache_dir: Path, count: int, report: IndexReport
) -> Embedder:
    """The embedder for `count` new passages.

    The model is loaded by sentence-transformers, which exports it to ONNX once; the export is
    checked against sentence-transformers (cosine >= 0.999 on a padded batch) before it is kept.
    Passages are then embedded through that verified export: onnxruntime runs the same model about
    twice as fast as torch on a CPU, and a small update does not have to load torch at all.
    """
    from kb.index.embed import OnnxEmbedder, SentenceTransformerEmbedder

    if not isinstance(embedder, SentenceTransformerEmbedder) or count == 0:
        return embedder
    try:
        _ensure_onnx(cache_dir, embedder, report)
        return OnnxEmbedder(_index_dir(cache_dir) / ONNX_DIR, threads=min(4, os.cpu_count() or 1))
    except SearchIndexError as exc:
        report.messages.append(f"embedding with sentence-transformers: {exc}")
        return embedder


def update_index(
    entries: Sequence[Entry],
    cache_dir: Path,
    *,
    model: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    embedder: Embedder | None = None,
    rebuild: bool = False,
) -> IndexReport:
    """Build the index, or bring it up to date with `entries`; return what changed.

    Whatever is found damaged (manifest, data files, ONNX export) is rebuilt, and the report
    says why. `progress(done, total)` is called as passages are embedded. `embedder` replaces the
    model named by `model` (None = the packaged all-MiniLM-L6-v2), for tests and other models.
    `rebuild` reuses nothing: every passage is embedded again and the model exported again, into
    new files; the old index serves searches until the new one replaces it, whole.
    """
    counts = Counter(e.case.id for e in entries)
    if len(counts) != len(entries):
        dupes = sorted(i for i, n in counts.items() if n > 1)
        raise SearchIndexError(f"duplicate case-study ids: {', '.join(dupes)}")
    embedder = _resolve_embedder(model, embedder)
    with _writer_lock(_index_dir(cache_dir)):
        return _update(entries, cache_dir, embedder, progress, rebuild)


@dataclass
class _Found:
    """What the previous generation leaves to an update (nothing where it is rebuilt)."""

    manifest: Manifest | None
    index: Any  # the FAISS index of its passages (empty if rebuilt)
    kept: IndexFiles | None = None  # the data files' records, mtimes as found
    previous: _Previous | None = None  # the search file, if of this scheme: data to keep


def _update(
    entries: Sequence[Entry],
    cache_dir: Path,
    embedder: Embedder,
    progress: Callable[[int, int], None] | None,
    rebuild: bool = False,
) -> IndexReport:
    directory = _index_dir(cache_dir)
    report = IndexReport()
    if rebuild:
        report.rebuilt_reason = "asked for a full rebuild"
        _ensure_onnx(cache_dir, embedder, report, fresh=True)
        found = _Found(None, _empty_index(embedder.dimension))
    else:
        found = _read_previous(directory, embedder, report)
    cases: dict[str, CaseRecord] = dict(found.manifest.cases) if found.manifest else {}
    next_id = found.manifest.next_id if found.manifest else 0
    by_id = {e.case.id: e for e in entries}
    _sort_entries(by_id, cases, report)
    _remove_stale(found.index, cases, report)

    todo = [by_id[cid] for cid in (*report.added, *report.updated)]
    planned = [(entry, passages_for(entry, embedder)) for entry in todo]
    vectors = _embed_passages(planned, embedder, cache_dir, report, progress)
    next_id = _add_passages(found.index, cases, planned, vectors, next_id)
    moved = _record_sources(cases, by_id, report.unchanged)
    report.passages = int(found.index.ntotal)

    changed = _write_or_touch(directory, found, cases, entries, embedder, next_id, moved, report)
    _ensure_onnx(cache_dir, embedder, report)
    if not changed and not report.messages:
        report.messages.append("the index is up to date")
    return report


def _read_previous(directory: Path, embedder: Embedder, report: IndexReport) -> _Found:
    """Read the previous generation; if it is missing, damaged or stale, start from an empty
    index and say why it is rebuilt."""
    from kb.index.records import IndexFiles

    identity = embedder.identity
    try:
        manifest = _read_manifest(directory)
        if manifest.model != identity:
            raise IndexStale(f"the model changed (index: {manifest.model}, now: {identity})")
        if manifest.dimension != embedder.dimension:
            raise IndexStale("the vector dimension changed")
        index, vectors_file = _load_vectors(directory, manifest)
        search_file = manifest.files.search
        previous: _Previous | None = None
        if manifest.search_scheme == search_scheme():
            arrays, mtime_ns = _load_search(directory, manifest, rows=False)
            search_file = _fresh(search_file, mtime_ns)
            hashes = {case_id: case.hash for case_id, case in manifest.cases.items()}
            previous = _Previous(arrays, hashes)
        kept = IndexFiles(vectors=vectors_file, search=search_file)
        return _Found(manifest, index, kept, previous)
    except IndexStale as reason:
        if str(reason) != "no index yet":
            report.rebuilt_reason = str(reason)
            report.messages.append(f"rebuilding the index: {reason}")
        return _Found(None, _empty_index(embedder.dimension))


def _sort_entries(
    by_id: dict[str, Entry], old_cases: dict[str, CaseRecord], report: IndexReport
) -> None:
    """Sort the entries into added, updated and unchanged, and list the removed ids."""
    for case_id, entry in by_id.items():
        record = old_cases.get(case_id)
        if record is None:
            report.added.append(case_id)
        elif record.hash != entry.content_hash:
            report.updated.append(case_id)
        else:
            report.unchanged.append(case_id)
    report.removed = sorted(set(old_cases) - set(by_id))


def _remove_stale(index: Any, cases: dict[str, CaseRecord], report: IndexReport) -> None:
    """Remove the passages of updated and removed case studies, and the removed records."""
    stale_ids = [p[0] for cid in (*report.updated, *report.removed) for p in cases[cid].passages]
    if stale_ids:
        index.remove_ids(np.asarray(stale_ids, dtype=np.int64))
    for case_id in report.removed:
        del cases[case_id]


def _embed_passages(
    planned: list[tuple[Entry, list[Passage]]],
    embedder: Embedder,
    cache_dir: Path,
    report: IndexReport,
    progress: Callable[[int, int], None] | None,
) -> NDArray[np.float32]:
    """Embed the planned passages, reporting `progress(done, total)`; count them in `report`."""
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
    report.embedded = total
    return vectors


def _add_passages(
    index: Any,
    cases: dict[str, CaseRecord],
    planned: list[tuple[Entry, list[Passage]]],
    vectors: NDArray[np.float32],
    next_id: int,
) -> int:
    """Give the new passages ids, record them with their case study and add their vectors to
    the index; return the next free id."""
    from kb.index.records import CaseRecord

    new_ids: list[int] = []
    for entry, passages in planned:
        records = []
        for passage in passages:
            records.append((next_id, passage.section, passage.start, passage.end))
            new_ids.append(next_id)
            next_id += 1
        cases[entry.case.id] = CaseRecord(
            hash=entry.content_hash, passages=records, source=_source_record(entry)
        )
    if new_ids:
        index.add_with_ids(
            np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(new_ids, dtype=np.int64)
        )
    return next_id


def _record_sources(
    cases: dict[str, CaseRecord], by_id: dict[str, Entry], unchanged: list[str]
) -> bool:
    """Record where and how unchanged files that were touched or moved are now; say if any were."""
    moved = False
    for case_id in unchanged:
        source = _source_record(by_id[case_id])
        if cases[case_id].source != source:
            cases[case_id] = cases[case_id].model_copy(update={"source": source})
            moved = True
    return moved


def _write_or_touch(
    directory: Path,
    found: _Found,
    cases: dict[str, CaseRecord],
    entries: Sequence[Entry],
    embedder: Embedder,
    next_id: int,
    moved: bool,
    report: IndexReport,
) -> bool:
    """Write a new generation if the cases changed, or else reseal the manifest if only the
    files' mtimes or places did; say if a new generation was written."""
    manifest, kept = found.manifest, found.kept
    old_search = manifest is not None and manifest.search_scheme != search_scheme()
    if old_search:
        report.messages.append("rebuilding the search file: its format changed")
    changed = bool(
        report.added or report.updated or report.removed or manifest is None or old_search
    )
    if changed:
        _write_generation(directory, cases, entries, found.index, embedder, next_id, found.previous)
    elif manifest is not None and kept is not None and (kept != manifest.files or moved):
        # only mtimes changed (a copied cache, touched content): record them, so that searches
        # need not hash the files
        kept_cases = {cid: cases[cid] for cid in manifest.cases}
        _write_sealed(
            directory / MANIFEST, manifest.model_copy(update={"files": kept, "cases": kept_cases})
        )
    return changed


def _source_record(entry: Entry) -> SourceRecord | None:
    """Where the entry's file is and its size and mtime now, if it was read from a file whose
    bytes are the ones hashed (else None: a search then checks the content the slow way)."""
    try:
        info = os.stat(entry.path)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    from kb.index.records import SourceRecord

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

    from kb.index.records import IndexFiles, Manifest

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
    from kb.check.library import load_library

    entries = load_library(content_dir)
    return update_index(
        entries, cache_dir, model=model, progress=progress, embedder=embedder, rebuild=rebuild
    )
