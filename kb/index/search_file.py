"""What a search reads: the BM25 arrays, the stored case studies and the vocabulary, built into the
search file, reusing what an earlier generation holds of unchanged case studies."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kb.errors import SearchIndexError
from kb.index.passages import (
    bm25_text,
    bm25_tokens,
    new_stemmer,
)

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from kb.format.content import Entry
    from kb.index.records import (
        CaseRecord,
        FileRecord,
    )
from kb.index.layout import QUERY_FACETS, STORED_FACETS, StoredCase, StoredOutcome
from kb.index.storage import _bytes_array, _write_npz

BM25_K1 = 1.2


BM25_B = 0.75


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


def _case_store(entry: Entry, texts: bytearray) -> StoredCase:
    """What a search shows and filters on for one case study; its part texts go into `texts`."""
    from kb.format.figures import figure_sentence
    from kb.format.markers import is_placeholder, without_placeholders
    from kb.format.vocab import load_vocabularies
    from kb.index.passages import parts_for, profile_text

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
    outcomes: list[StoredOutcome] = []
    for outcome in case.outcomes:
        sentence = without_placeholders(figure_sentence(outcome, vocab)).strip()
        if is_placeholder(sentence):
            sentence = ""
        outcomes.append(
            StoredOutcome(
                kind=outcome.kind,
                status=outcome.status,
                numeric=int(outcome.numeric),
                sentence=sentence,
                direction=outcome.direction or "",
            )
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
    from kb.format.vocab import FIELD_VOCABULARY, load_vocabularies

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
        raise SearchIndexError("the search file and the manifest list different case studies")
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
