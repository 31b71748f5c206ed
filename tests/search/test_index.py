"""The index: build, incremental update, deletion, recovery from damage, model changes."""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import kb.index.layout
import kb.index.search_file
from kb.errors import SearchIndexError
from kb.format.content import Entry
from kb.index.build import update_index
from kb.index.embed import HashingEmbedder
from kb.index.load import load_index
from kb.index.passages import PREAMBLE, PROFILE, clean_markdown, passages_for
from kb.search.searcher import Searcher

from .conftest import CASES, make_entry


def _manifest(cache_dir: Path) -> dict:
    return json.loads((cache_dir / "index" / "manifest.json").read_text())


def _edited(entry: Entry, extra: str) -> Entry:
    spec = next(s for s in CASES if s["id"] == entry.case.id)
    sections = dict(spec["sections"])
    sections["Context"] = sections["Context"] + " " + extra
    return make_entry({**spec, "sections": sections})


def test_first_build_indexes_every_case(entries, cache_dir, embedder):
    calls: list[tuple[int, int]] = []
    report = update_index(
        entries, cache_dir, embedder=embedder, progress=lambda d, t: calls.append((d, t))
    )
    assert sorted(report.added) == sorted(e.case.id for e in entries)
    assert report.updated == report.removed == report.unchanged == []
    assert report.rebuilt_reason is None
    expected = sum(len(passages_for(e, embedder)) for e in entries)
    assert report.passages == report.embedded == expected
    assert calls[0] == (0, expected) and calls[-1] == (expected, expected)
    manifest = _manifest(cache_dir)
    assert manifest["model"] == embedder.identity and manifest["dimension"] == 64
    assert {c: v["hash"] for c, v in manifest["cases"].items()} == {
        e.case.id: e.content_hash for e in entries
    }


def test_second_run_embeds_nothing(entries, cache_dir, embedder):
    update_index(entries, cache_dir, embedder=embedder)
    before = _manifest(cache_dir)["generation"]
    report = update_index(entries, cache_dir, embedder=embedder)
    assert report.embedded == 0 and report.added == report.updated == report.removed == []
    assert len(report.unchanged) == len(entries)
    assert "up to date" in report.messages[0]
    assert _manifest(cache_dir)["generation"] == before


def test_one_edit_embeds_only_that_case(entries, cache_dir, embedder):
    update_index(entries, cache_dir, embedder=embedder)
    edited = [
        _edited(e, "Winter pressures made it urgent.") if e.case.id == "suffolk-warm-homes" else e
        for e in entries
    ]
    report = update_index(edited, cache_dir, embedder=embedder)
    assert report.updated == ["suffolk-warm-homes"] and report.added == []
    target = next(e for e in edited if e.case.id == "suffolk-warm-homes")
    assert report.embedded == len(passages_for(target, embedder))
    data = load_index(cache_dir, edited)
    assert len(data.vectors) == report.passages  # old passages removed, not duplicated
    hits = Searcher.open(cache_dir, edited, embedder=embedder).search("winter pressures urgent")
    assert hits[0].case_id == "suffolk-warm-homes"


def test_deleted_case_leaves_the_index(entries, cache_dir, embedder):
    update_index(entries, cache_dir, embedder=embedder)
    kept = [e for e in entries if e.case.id != "birmingham-blood-pressure"]
    report = update_index(kept, cache_dir, embedder=embedder)
    assert report.removed == ["birmingham-blood-pressure"]
    assert report.passages == sum(len(passages_for(e, embedder)) for e in kept)
    searcher = Searcher.open(cache_dir, kept, embedder=embedder)
    ids = [h.case_id for h in searcher.search("blood pressure barbershops mosques", limit=10)]
    assert "birmingham-blood-pressure" not in ids
    assert len(list((cache_dir / "index").glob("vectors-*.faiss"))) == 1  # old generation gone


def test_long_sections_are_split_not_truncated(entries, embedder):
    falls = next(e for e in entries if e.case.id == "norfolk-falls")
    passages = passages_for(falls, embedder)
    long_section = [s.heading for s in falls.sections].index("What they did")
    windows = [p for p in passages if p.section == long_section]
    assert len(windows) > 1
    text = falls.sections[long_section].text
    covered = set()
    for window in windows:
        covered.update(range(window.start, window.end))
        assert len(embedder.token_spans(window.text)) <= embedder.max_tokens - 2
    words = [span for span in embedder.token_spans(text)]
    assert all(start in covered for start, _ in words)  # every word is in some window
    assert passages[0].section == PROFILE


def test_windows_start_and_end_between_words():
    """A word the model reads as several tokens ('Gentoo': gen, ##to, ##o) is never cut: a
    window starts at its first token or ends before it, and together they cover every token."""
    from kb.index.passages import WINDOW_OVERLAP, _windows

    words = [f"w{i}" for i in range(120)]
    words[47:48] = ["gentoo"]  # tokens 47-49: a window starts at token 48
    words[60:61] = ["£5,000"]  # tokens 62-65: a window ends at token 63
    text = " ".join(words)
    spans = []
    at = 0
    for word in words:
        pieces = {"gentoo": ["gen", "to", "o"], "£5,000": ["£", "5", ",", "000"]}.get(word, [word])
        for piece in pieces:
            spans.append((at, at + len(piece)))
            at += len(piece)
        at += 1  # the space
    size = WINDOW_OVERLAP + 8
    windows = _windows(spans, size, len(text))
    assert len(windows) > 3 and windows[0][0] == 0 and windows[-1][1] == len(text)
    for start, end in windows:
        assert start == 0 or text[start - 1] == " ", text[start : start + 10]
        assert end == len(text) or text[end] == " ", text[end - 10 : end]
        assert sum(1 for s, e in spans if start <= s and e <= end) <= size + 3
    covered = set()
    for start, end in windows:
        covered.update(range(start, end))
    assert all(s in covered for s, _ in spans)
    # a word longer than WORD_TOKENS tokens (an address) may be cut, as before
    long_spans = [(i, i + 1) for i in range(200)]
    assert _windows(long_spans, size, 200)[3] == (24, 24 + size)


def _garbage_vectors(directory: Path) -> None:
    next(directory.glob("vectors-*.faiss")).write_bytes(b"garbage")


def _partial_vectors(directory: Path) -> None:
    _truncate(next(directory.glob("vectors-*.faiss")))


def reason_of(damage: object) -> str:
    return getattr(damage, "__name__", "")


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda d: (d / "manifest.json").write_text("{not json"), "unreadable"),
        (_garbage_vectors, "corrupt"),
        (_partial_vectors, "corrupt"),
        (lambda d: next(d.glob("search-*.npz")).unlink(), "missing"),
        (lambda d: _truncate(next(d.glob("search-*.npz"))), "corrupt"),
        (lambda d: _drop_case(d), "does not match"),
    ],
    ids=[
        "bad-manifest",
        "garbage-vectors",
        "partial-vectors",
        "missing-search",
        "partial-search",
        "manifest-mismatch",
    ],
)
def test_damaged_index_is_detected_and_rebuilt(entries, cache_dir, embedder, damage, reason):
    update_index(entries, cache_dir, embedder=embedder)
    damage(cache_dir / "index")
    if "vectors" not in reason_of(damage):
        with pytest.raises(SearchIndexError, match="kb index"):
            Searcher.open(cache_dir, entries, embedder=embedder)
    else:  # searches read only the search file; the vector store is for `kb index`
        assert Searcher.open(cache_dir, entries, embedder=embedder).search("falls")
    report = update_index(entries, cache_dir, embedder=embedder)
    assert report.rebuilt_reason is not None and reason in report.rebuilt_reason
    assert any("rebuilding" in m for m in report.messages)
    assert sorted(report.added) == sorted(e.case.id for e in entries)
    assert Searcher.open(cache_dir, entries, embedder=embedder).search("falls")


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _drop_case(directory: Path) -> None:
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["cases"].pop("norfolk-falls")
    (directory / "manifest.json").write_text(json.dumps(manifest))


def test_model_change_rebuilds(entries, cache_dir, embedder):
    update_index(entries, cache_dir, embedder=embedder)
    other = HashingEmbedder(dimension=32, max_tokens=64)
    with pytest.raises(SearchIndexError, match="built with"):
        Searcher.open(cache_dir, entries, embedder=other)
    report = update_index(entries, cache_dir, embedder=other)
    assert report.rebuilt_reason is not None and "model changed" in report.rebuilt_reason
    assert _manifest(cache_dir)["dimension"] == 32
    assert Searcher.open(cache_dir, entries, embedder=other).search("falls")


def test_stale_index_is_refused_with_a_hint(entries, cache_dir, embedder):
    update_index(entries, cache_dir, embedder=embedder)
    edited = [_edited(entries[0], "More text."), *entries[1:]]
    with pytest.raises(SearchIndexError, match=r"1 changed \(norfolk-falls\).*run `kb index`"):
        Searcher.open(cache_dir, edited, embedder=embedder)
    with pytest.raises(SearchIndexError, match="1 new"):
        Searcher.open(
            cache_dir, [*entries, make_entry({**CASES[0], "id": "extra-case"})], embedder=embedder
        )


def test_missing_index_says_run_kb_index(entries, cache_dir, embedder):
    with pytest.raises(SearchIndexError, match="no index yet; hint: run `kb index`"):
        Searcher.open(cache_dir, entries, embedder=embedder)


def test_duplicate_ids_are_refused(entries, cache_dir, embedder):
    with pytest.raises(SearchIndexError, match="duplicate case-study ids: norfolk-falls"):
        update_index([*entries, replace(entries[0])], cache_dir, embedder=embedder)


def test_empty_library_builds_an_empty_index(cache_dir, embedder):
    report = update_index([], cache_dir, embedder=embedder)
    assert report.passages == 0
    assert Searcher.open(cache_dir, [], embedder=embedder).search("anything") == []


def test_no_temporary_files_left(entries, cache_dir, embedder):
    update_index(entries, cache_dir, embedder=embedder)
    update_index(entries[1:], cache_dir, embedder=embedder)
    names = sorted(p.name for p in (cache_dir / "index").iterdir() if p.name != ".lock")
    assert not [n for n in names if n.startswith(".")]
    assert len(names) == 3  # manifest, one vectors file, one BM25 file


def test_text_before_the_first_section_is_indexed(entries, cache_dir, embedder):
    from kb.format.content import split_sections

    base = entries[2]
    body = "An opening note about barber shops in Handsworth.\n\n" + base.body
    with_intro = replace(base, body=body, sections=split_sections(body, 1), content_hash="x" * 64)
    passages = passages_for(with_intro, embedder)
    assert [p.text for p in passages if p.section == PREAMBLE] == [
        f"{base.case.title} - Introduction: An opening note about barber shops in Handsworth."
    ]
    library = [with_intro if e is base else e for e in entries]
    update_index(library, cache_dir, embedder=embedder)
    hit = Searcher.open(cache_dir, library, embedder=embedder).search("Handsworth")[0]
    assert (hit.case_id, hit.section) == (base.case.id, "Introduction")


def test_old_keyword_index_is_rebuilt_without_embedding(entries, cache_dir, embedder):
    update_index(entries, cache_dir, embedder=embedder)
    path = cache_dir / "index" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["search_scheme"] = "an older one"
    path.write_text(json.dumps(manifest))
    with pytest.raises(SearchIndexError, match="search file is from an older version"):
        Searcher.open(cache_dir, entries, embedder=embedder)
    report = update_index(entries, cache_dir, embedder=embedder)
    assert report.embedded == 0 and report.rebuilt_reason is None
    assert any("search file" in m for m in report.messages)
    assert Searcher.open(cache_dir, entries, embedder=embedder).search("falls")


def test_concurrent_writers_take_turns(entries, cache_dir, embedder):
    from concurrent.futures import ThreadPoolExecutor

    halves = [entries[:3], entries]
    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(lambda es: update_index(es, cache_dir, embedder=embedder), halves))
    assert all(r.passages for r in reports)
    # whichever wrote last, the cache holds one consistent index, not a mix of the two
    loaded = []
    for library in halves:
        with contextlib.suppress(SearchIndexError):
            loaded.append(len(load_index(cache_dir, library).case_ids))
    assert loaded in ([3], [len(entries)])
    assert len(list((cache_dir / "index").glob("vectors-*.faiss"))) == 1


def _search_file(cache_dir: Path) -> bytes:
    (path,) = (cache_dir / "index").glob("search-*.npz")
    return path.read_bytes()


def test_updates_leave_the_search_file_a_full_build_writes(entries, tmp_path, embedder):
    """Each update keeps what it can of the previous search file; the result is the file a
    build from nothing writes, byte for byte, after every kind of change."""
    extra = make_entry({**CASES[0], "id": "norfolk-falls-two", "title": "Falls clinics again"})
    libraries = [
        entries,
        [
            _edited(e, "Winter pressures.") if e.case.id == "suffolk-warm-homes" else e
            for e in entries
        ],
        [*entries, extra],
        [e for e in entries if e.case.id != "norfolk-falls"] + [extra],
        [e for e in entries if e.case.id != "norfolk-falls"] + [extra],
        entries[:1],
        [],
        entries,
    ]
    cache = tmp_path / "updated"
    for n, library in enumerate(libraries):
        update_index(library, cache, embedder=embedder)
        fresh = tmp_path / f"fresh-{n}"
        update_index(library, fresh, embedder=embedder)
        assert _search_file(cache) == _search_file(fresh), f"after update {n}"
        updated, built = load_index(cache, library), load_index(fresh, library)
        assert updated.store == built.store and updated.case_ids == built.case_ids
        for name, array in built.bm25.items():
            assert np.array_equal(updated.bm25[name], array), name


def test_an_edit_rebuilds_the_search_data_of_that_case_only(
    entries, cache_dir, embedder, monkeypatch
):
    update_index(entries, cache_dir, embedder=embedder)
    built: list[str] = []
    real = kb.index.search_file._case_store
    monkeypatch.setattr(
        kb.index.search_file, "_case_store", lambda e, t: built.append(e.case.id) or real(e, t)
    )
    edited = [
        _edited(e, "Winter pressures.") if e.case.id == "suffolk-warm-homes" else e for e in entries
    ]
    update_index(edited, cache_dir, embedder=embedder)
    assert built == ["suffolk-warm-homes"]
    # a new search scheme keeps nothing
    built.clear()
    monkeypatch.setattr(kb.index.layout, "SEARCH_FILE", "another layout")
    update_index(edited, cache_dir, embedder=embedder)
    assert sorted(built) == sorted(e.case.id for e in entries)


def test_bm25_scores_are_those_of_bm25s(entries):
    """The BM25 matrix is Lucene BM25 exactly as bm25s computes it (float32, bit for bit)."""
    import bm25s
    from bm25s.stopwords import STOPWORDS_EN

    from kb.index.passages import bm25_text, bm25_tokens, new_stemmer

    stopwords = kb.index.search_file._stopwords()
    assert stopwords == frozenset(STOPWORDS_EN)
    terms, docs, counts = kb.index.search_file._term_counts(entries, stopwords)
    ours = kb.index.search_file._bm25_arrays(len(entries), (terms, docs, counts))
    stemmer = new_stemmer()
    corpus = [bm25_tokens(bm25_text(e), stemmer, stopwords) or [""] for e in entries]
    k1, b = kb.index.search_file.BM25_K1, kb.index.search_file.BM25_B
    reference = bm25s.BM25(method="lucene", k1=k1, b=b)
    reference.index(corpus, show_progress=False)
    column = {term: i for i, term in enumerate(str(t) for t in ours["vocab"])}
    indptr, scores = reference.scores["indptr"], reference.scores
    assert sorted(reference.vocab_dict) == sorted(column)
    for term, i in reference.vocab_dict.items():
        if i + 1 >= len(indptr):
            continue  # the empty term bm25s adds, in no document
        j = column[term]
        a, b = indptr[i], indptr[i + 1]
        c, d = ours["indptr"][j], ours["indptr"][j + 1]
        assert np.array_equal(scores["indices"][a:b], ours["indices"][c:d]), term
        assert scores["data"][a:b].tobytes() == ours["data"][c:d].tobytes(), term


# runs of link and image brackets, a body line's worth (the size cap is 256 KB): each once took
# time quadratic in its length (40,000 '![' about 24 s), so indexing seemed to hang
BRACKET_RUNS = ["[", "![", "[a](", "](", "[a]", "[[a]](", "[a](b", "[a](("]


@pytest.mark.parametrize("unit", BRACKET_RUNS)
def test_markdown_cleaning_takes_linear_time_on_runs_of_brackets(unit):
    text = unit * (200_000 // len(unit))
    start = time.process_time()
    cleaned = clean_markdown(text)
    assert time.process_time() - start < 1.0  # CPU seconds; quadratic took minutes
    assert len(cleaned) <= len(text)


def test_a_line_of_100000_brackets_is_indexed_and_found(entries, cache_dir, embedder):
    hostile = [_edited(e, "[" * 100_000) if e.case.id == "norfolk-falls" else e for e in entries]
    start = time.process_time()
    update_index(hostile, cache_dir, embedder=embedder)
    assert time.process_time() - start < 30
    hits = Searcher.open(cache_dir, hostile, embedder=embedder).search("hip fractures after falls")
    assert hits[0].case_id == "norfolk-falls"


def test_links_keep_their_words_and_lose_their_targets():
    assert clean_markdown("see [the report](https://x.org/a_(b)) now") == "see the report now"
    assert clean_markdown("[a [b](c) d](e)") == "[a b d](e)"
    assert clean_markdown("**Falls** fell by [a fifth](https://x.org).") == "Falls fell by a fifth."


@pytest.mark.parametrize("stop_in", ["embedding", "writing"])
def test_a_rebuild_stopped_part_way_leaves_the_old_index_usable(
    entries, cache_dir, embedder, monkeypatch, stop_in
):
    """`kb index --rebuild` writes a new generation and replaces the manifest last, so a rebuild
    killed part-way leaves the index as it was (it once deleted the manifest first)."""
    import kb.index.build

    update_index(entries, cache_dir, embedder=embedder)
    searcher = Searcher.open(cache_dir, entries, embedder=embedder)
    before = [h.case_id for h in searcher.search("falls")]

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    if stop_in == "writing":
        monkeypatch.setattr(kb.index.build, "_build_search", stop)
    with pytest.raises(KeyboardInterrupt):
        update_index(
            entries, cache_dir, embedder=embedder, rebuild=True,
            progress=stop if stop_in == "embedding" else None,
        )  # fmt: skip
    monkeypatch.undo()
    after = Searcher.open(cache_dir, entries, embedder=embedder).search("falls")
    assert [h.case_id for h in after] == before
    report = update_index(entries, cache_dir, embedder=embedder, rebuild=True)
    assert report.rebuilt_reason == "asked for a full rebuild"
    assert sorted(report.added) == sorted(e.case.id for e in entries)
    rebuilt = Searcher.open(cache_dir, entries, embedder=embedder).search("falls")
    assert [h.case_id for h in rebuilt] == before
