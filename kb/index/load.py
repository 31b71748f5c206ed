"""Opening the search index for a search: read the manifest, verify and map the data files, and tell
whether the content has changed since the index was built (`source_changes`).

Everything is verified as it is loaded: each record against its schema and seal, each file against
its record. Searches refuse a damaged index with a message naming the file; `kb index` repairs it.
The manifest records each case-study file's size and mtime, so that a search can tell that the
content is unchanged without reading it: sizes and mtimes first, a file's sha256 only where they
differ."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kb.errors import IndexDamaged, IndexFileMissing, IndexStale, SearchIndexError

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from kb.format.content import Entry
    from kb.index.records import (
        FileRecord,
        Manifest,
        SourceRecord,
    )
from kb.index.layout import MANIFEST, _index_dir, passage_scheme, search_scheme
from kb.index.quickcheck import _MANIFEST, _quick_record
from kb.index.storage import (
    _file_sha256,
    _map_npz,
    _offsets_fit,
    _parse_json,
    _read_verified,
    _verify_file,
)

__all__ = ["load_index", "open_index", "source_changes"]


def _read_manifest(directory: Path, *, quick: bool = False) -> Manifest:
    """The verified manifest: with `quick` (searches), its fields as read-only attributes when
    `_quick_record` accepts it, else the schema's object (see kb.index.records)."""
    path = directory / MANIFEST
    if not path.exists():
        raise IndexStale("no index yet")
    manifest = _quick_record(path, _MANIFEST) if quick else None
    if manifest is None:
        from kb.index.records import Manifest, read_sealed

        manifest = read_sealed(path, Manifest)
    if manifest.scheme != passage_scheme():
        raise IndexStale("passages are now built differently")
    return manifest


def _load_vectors(directory: Path, manifest: Manifest) -> tuple[Any, FileRecord]:
    """The vector index, verified against the manifest, and the file's record to keep."""
    import faiss

    data, record = _read_verified(directory, manifest.files.vectors)
    path = directory / record.name
    try:
        index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
    except RuntimeError as exc:
        raise IndexDamaged(f"{path} cannot be read ({str(exc).splitlines()[0]})") from None
    ids = manifest.passage_ids()
    if (
        not isinstance(index, faiss.IndexIDMap)
        or index.d != manifest.dimension
        or index.ntotal != len(ids)
        or (len(ids) and int(ids.max()) >= manifest.next_id)
        or not np.array_equal(np.sort(faiss.vector_to_array(index.id_map)), np.sort(ids))
    ):
        raise IndexDamaged(f"{path} does not match the manifest")
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
        raise IndexFileMissing(f"{path} is missing") from None
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
        raise IndexDamaged(f"{path} cannot be read ({exc})") from None
    if not consistent:
        raise IndexDamaged(f"{path} does not match the manifest")
    return arrays, mtime_ns


def open_index(cache_dir: Path) -> SearchData:
    """The verified search file of an index, without looking at the content (see
    `source_changes` to tell whether the content is still what was indexed)."""
    return _open(cache_dir, None)


def load_index(cache_dir: Path, entries: Sequence[Entry]) -> SearchData:
    """The verified index for exactly these entries; SearchIndexError (run `kb index`) otherwise."""
    return _open(cache_dir, entries)


def _open(cache_dir: Path, entries: Sequence[Entry] | None) -> SearchData:
    directory = _index_dir(cache_dir)
    for attempt in (1, 2):
        try:
            manifest = _read_manifest(directory, quick=True)
            stale = _compare(manifest, entries) if entries is not None else None
            if stale:
                raise IndexStale(stale)
            if manifest.search_scheme != search_scheme():
                raise IndexStale("the search file is from an older version of kb")
            arrays, _ = _load_search(directory, manifest)
            break
        except IndexStale as reason:
            # a writer may have replaced the generation between reading the manifest and
            # its files: read once more before giving up
            missing = isinstance(reason, IndexFileMissing)
            if attempt == 1 and (directory / MANIFEST).exists() and missing:
                continue
            repair = " to repair it" if isinstance(reason, IndexDamaged) else ""
            raise SearchIndexError(
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
    `kb.format.content.find_case_files` would list them; None if anything there is not a plain file
    or
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
