"""Search and 'similar': ranking, filters, explanations, errors."""

from __future__ import annotations

import numpy as np
import pytest

from kb.errors import SearchError
from kb.index.build import update_index
from kb.search.filters import Filters
from kb.search.params import Fusion
from kb.search.searcher import Searcher

from .conftest import CASES, make_entry


@pytest.fixture
def searcher(entries, cache_dir, embedder) -> Searcher:
    update_index(entries, cache_dir, embedder=embedder)
    return Searcher.open(cache_dir, entries, embedder=embedder)


def ids(hits) -> list[str]:
    return [h.case_id for h in hits]


def test_best_match_first_with_reasons(searcher):
    hits = searcher.search("falls at home among older people")
    assert hits[0].case_id == "norfolk-falls"
    assert hits[0].title == "Falls prevention at home for older people"
    assert hits[0].passage and hits[0].section in {
        "Summary",
        "Context",
        "What they did",
        "Outcomes",
    }
    # terms named in the query are reported as shared facets
    assert set(hits[0].shared_facets["topics"]) == {"falls", "older-people"}
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_every_mode_ranks(searcher, mode):
    hits = searcher.search("blood pressure checks in barbershops", mode=mode)
    assert hits[0].case_id == "birmingham-blood-pressure"


def test_limit(searcher):
    assert len(searcher.search("homes", limit=2)) == 2
    assert len(searcher.search("homes", limit=50)) == len(CASES)


def test_best_passage_is_the_matching_section(searcher):
    hit = searcher.search("ambulance call-outs fell by a fifth")[0]
    assert hit.case_id == "norfolk-falls"
    assert hit.section == "Outcomes" and "Ambulance call-outs" in hit.passage


def test_long_passage_snippet_is_short(searcher):
    hit = searcher.search("grab rails fitted during home visits")[0]
    assert hit.case_id == "norfolk-falls" and hit.section == "What they did"
    assert len(hit.passage) <= 300 and "grab rails" in hit.passage


def test_snippet_of_a_window_says_text_was_left_out(searcher):
    """A passage that is a window inside a long section opens and closes with '...', so a
    snippet that starts mid-sentence does not read as the start of the section."""
    position = searcher.data.case_ids.index("norfolk-falls")
    rows = [
        row
        for row in range(len(searcher.data.passage_meta))
        if searcher.data.passage_case[row] == position
        and searcher.passage_text(row)[0] == "What they did"
    ]
    assert len(rows) > 2
    assert searcher.explainer.cut(rows[0]) == (False, True)
    assert searcher.explainer.cut(rows[1]) == (True, True)
    assert searcher.explainer.cut(rows[-1]) == (True, False)
    tokens = set(searcher.reader.query_tokens("grab rails"))
    middle = searcher.explainer.snippet(searcher.passage_text(rows[1])[1], tokens, True, True)
    assert middle.startswith("... ") and middle.endswith(" ...")
    assert searcher.explainer.snippet("Short text.", tokens, True, False) == "... Short text."
    assert searcher.explainer.snippet("Short text.", tokens, False, True) == "Short text. ..."
    assert searcher.explainer.snippet("Short text.", tokens) == "Short text."


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"region": ["East of England"]}, {"norfolk-falls", "suffolk-warm-homes"}),
        ({"region": ["east-of-england"], "tiers": ["tertiary"]}, {"norfolk-falls"}),
        (
            {"tiers": ["Wider determinants"]},
            {"manchester-housing-mental-health", "suffolk-warm-homes", "london-child-poverty"},
        ),
        ({"meps": ["medical"]}, {"norfolk-falls", "birmingham-blood-pressure"}),
        ({"topics": ["housing"], "meps": ["social"]}, {"manchester-housing-mental-health"}),
        ({"ics": ["NHS Greater Manchester ICB"]}, {"manchester-housing-mental-health"}),
        # a merged ICS covers the case studies of the systems it was formed from
        ({"ics": ["norfolk-and-suffolk"]}, {"norfolk-falls", "suffolk-warm-homes"}),
        ({"region": ["London", "Midlands"]}, {"london-child-poverty", "birmingham-blood-pressure"}),
    ],
)
def test_filters_apply_before_ranking(searcher, values, expected):
    filters = Filters.parse(values)
    hits = searcher.search("homes", filters=filters, limit=50)
    assert set(ids(hits)) == expected
    for hit in hits:
        for name in values:
            assert name in hit.shared_facets  # the filter is shown as a reason


def test_evidence_minimum(searcher):
    hits = searcher.search("homes", filters=Filters.parse(evidence_min=3), limit=50)
    assert set(ids(hits)) == {"norfolk-falls", "suffolk-warm-homes"}


def test_filter_with_no_match_returns_nothing(searcher):
    filters = Filters.parse({"region": ["South West"]})
    assert searcher.search("falls", filters=filters) == []


def test_unknown_filter_value_suggests(searcher):
    with pytest.raises(SearchError, match="did you mean 'North West'"):
        Filters.parse({"region": ["Nrth West"]})
    with pytest.raises(SearchError, match="use 1 to 5"):
        Filters.parse(evidence_min=7)


def test_filters_match_case_studies_directly(entries):
    filters = Filters.parse({"tiers": ["secondary"], "meps": ["environmental"]})
    assert [e.case.id for e in entries if filters.matches(e.case)] == ["norfolk-falls"]


def test_empty_query_is_refused(searcher):
    with pytest.raises(SearchError, match="empty"):
        searcher.search("   ")


def test_similar_excludes_itself_and_shares_facets(searcher):
    hits = searcher.similar("suffolk-warm-homes", limit=10)
    assert "suffolk-warm-homes" not in ids(hits)
    assert len(hits) == len(CASES) - 1
    assert hits[0].case_id in {"manchester-housing-mental-health", "norfolk-falls"}
    top = hits[0]
    assert top.shared_facets  # e.g. topics housing or region
    for hit in hits:
        assert 0.0 <= hit.score <= 1.0 and hit.passage


def test_similar_respects_filters(searcher):
    hits = searcher.similar("norfolk-falls", filters=Filters.parse({"region": ["east of england"]}))
    assert ids(hits) == ["suffolk-warm-homes"]
    assert hits[0].shared_facets["region"] == ("east-of-england",)


def test_similar_unknown_id_suggests(searcher):
    with pytest.raises(SearchError, match="did you mean 'norfolk-falls'"):
        searcher.similar("norfolk-fall")


@pytest.mark.parametrize(
    "fusion",
    [Fusion(), Fusion(method="convex", alpha=0.7), Fusion(dense_weight=2.0, second=0.5)],
)
def test_fusions_all_rank_sensibly(entries, cache_dir, embedder, fusion):
    update_index(entries, cache_dir, embedder=embedder)
    searcher = Searcher.open(cache_dir, entries, embedder=embedder, fusion=fusion)
    hits = searcher.search("mental health first aid for housing officers")
    assert hits[0].case_id == "manchester-housing-mental-health"
    assert 0.0 <= hits[-1].score <= hits[0].score <= 1.0


def test_rrf_baseline_score_is_rank_based(searcher):
    case, _ = searcher.scores("falls")
    assert np.isclose(case.max(), 1.0)  # first in both rankings


def test_search_without_embedder_uses_the_recorded_fake(entries, cache_dir, embedder):
    update_index(entries, cache_dir, embedder=embedder)
    searcher = Searcher.open(cache_dir, entries)  # model identity read from the manifest
    assert searcher.search("falls")[0].case_id == "norfolk-falls"


def test_new_case_found_after_update(entries, cache_dir, embedder):
    update_index(entries, cache_dir, embedder=embedder)
    extra = make_entry(
        {
            **CASES[1],
            "id": "leeds-smoking",
            "title": "Stop smoking support in maternity",
            "summary": "Midwives offer nicotine replacement to pregnant smokers.",
            "ics": ["West Yorkshire"],
            "region": ["North East and Yorkshire"],
            "topics": ["smoking"],
            "sections": {"Context": "Smoking in pregnancy was high."},
        }
    )
    both = [*entries, extra]
    report = update_index(both, cache_dir, embedder=embedder)
    assert report.added == ["leeds-smoking"]
    hits = Searcher.open(cache_dir, both, embedder=embedder).search("pregnant smokers midwives")
    assert hits[0].case_id == "leeds-smoking"


def test_words_of_explanations_are_the_bm25_words(searcher):
    """Hits are explained by the query words a passage shares; the quicker word sets used for
    that are the sets of `bm25_tokens` (same words, stop words out, stemmed)."""
    texts = [
        searcher.passage_text(row)[1] for row in range(len(searcher.data.passage_meta))
    ] + [
        "Falls, FALLS and falling: the fallers' day-to-day (2023-24) co-ordination.",
        "Ünïcödé café naïve façade İstanbul ǅemal straße ﬁnance",
        "x_y 42 a1 — it's a b c; e.g. i.e. NHS's £175 15% 3.5",
        "Fewer A&E visits; R&D, Q&A and AT&T",
        "",
    ]
    for text in texts:
        assert searcher.reader.stem_set(text) == set(searcher.reader.tokens(text)), text


def test_a_and_e_is_a_word(entries, cache_dir, embedder):
    """'A&E' (single letters joined by '&') is one BM25 word, in the library and in the query."""
    extra = make_entry(
        {
            **CASES[1],
            "id": "hull-frequent-attenders",
            "title": "Support for people who often attend",
            "summary": "Caseworkers call people with many A&E visits and plan care with them.",
            "sections": {"Context": "A small group made a large share of visits."},
        }
    )
    both = [*entries, extra]
    update_index(both, cache_dir, embedder=embedder)
    searcher = Searcher.open(cache_dir, both, embedder=embedder)
    lexical, coverage = searcher._bm25(searcher.reader.query_tokens("A&E"))
    position = searcher.data.case_ids.index("hull-frequent-attenders")
    assert searcher.reader.query_tokens("A&E") == ["ae"]
    assert lexical[position] > 0 and 0 < coverage[position] < 1  # one mention: not saturated
    assert np.count_nonzero(lexical) == 1  # no other case study says A&E
    assert searcher.search("A&E", mode="bm25")[0].case_id == "hull-frequent-attenders"
