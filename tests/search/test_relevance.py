"""Outcome-aware search, placeholder text, the relevance floor and the cold search path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kb.check.library import load_library
from kb.errors import SearchError
from kb.format.markers import is_placeholder, without_placeholders
from kb.index.build import update_index
from kb.index.embed import HashingEmbedder
from kb.index.passages import bm25_text, parts_for
from kb.search.filters import Filters
from kb.search.intent import result_intent
from kb.search.output import format_rows
from kb.search.searcher import Searcher
from kb.tools.pack import PackRequest, build_pack
from tests.conftest import run_cli

from .conftest import CASES, make_entry, write_case

ROOT = Path(__file__).resolve().parents[2]
SILENT = "not stated"

QUIET = {
    "id": "quiet-frailty-hub",
    "title": "A neighbourhood hub for carers",
    "summary": "Carers meet weekly at the library for advice.",
    "ics": ["Greater Manchester"],
    "region": ["North West"],
    "tiers": ["primary"],
    "cohort": "Not stated in the sources.",
    "topics": ["carers"],
    "evidence": {"level": 1, "method": "before-and-after"},
    "outcomes": [
        {
            "metric": "net savings to the council",
            "value": 120000,
            "unit": "GBP",
            "measure": "level",
            "status": "achieved",
            "kind": "financial",
            "timeframe": "not stated",
            "comparator": "not stated",
            "source": 1,
        }
    ],
    "sections": {
        "Context": "Carers said they felt alone.",
        "Outcomes": "Not stated in the sources. Falls and frailty were not described either.",
    },
}


def test_placeholder_text_is_never_a_part_or_a_bm25_word():
    entry = make_entry(QUIET)
    parts = parts_for(entry)
    assert all(SILENT not in p.text.lower() for p in parts)
    assert "Outcomes" not in {p.heading for p in parts}  # it said nothing else
    assert SILENT not in bm25_text(entry).lower() and "frailty" not in bm25_text(entry).lower()
    assert is_placeholder("Not stated in the sources.") and is_placeholder(" TODO ")
    assert not is_placeholder("Older people living alone")
    assert without_placeholders("Falls fell. Not stated in the sources.") == "Falls fell."


@pytest.fixture
def quiet_searcher(tmp_path: Path) -> Searcher:
    entries = [make_entry(spec) for spec in [*CASES, QUIET]]
    update_index(entries, tmp_path / "cache", embedder=HashingEmbedder())
    return Searcher.open(tmp_path / "cache", entries, embedder=HashingEmbedder())


def test_a_case_whose_only_match_is_placeholder_text_is_not_matched(quiet_searcher):
    hits = quiet_searcher.search("falls and frailty not described", limit=10)
    for hit in hits:
        assert SILENT not in hit.passage.lower() and "not described" not in hit.passage.lower()
    quiet = [h for h in hits if h.case_id == "quiet-frailty-hub"]
    assert not quiet or quiet[0].weak  # nothing real matches it: at best a weak match


def test_outcome_filters_keep_only_cases_with_such_outcomes(quiet_searcher):
    filters = Filters.parse(outcome_kinds=["savings"], outcome_status=["achieved"])
    assert filters.outcome_kinds == ("financial",)
    hits = quiet_searcher.search("support at home", filters=filters, limit=10)
    assert [h.case_id for h in hits] == ["quiet-frailty-hub"]
    assert hits[0].results and "120,000" in hits[0].results[0]  # the outcome, as the reason
    assert not quiet_searcher.search(
        "support", filters=Filters.parse(outcome_kinds=["financial"], outcome_status=["target"])
    )
    with pytest.raises(SearchError, match="not a known outcome kind"):
        Filters.parse(outcome_kinds=["wealth"])
    with pytest.raises(SearchError, match="hint: use achieved"):
        Filters.parse(outcome_status=["done"])


def test_a_question_about_results_ranks_cases_with_such_outcomes_and_says_why(quiet_searcher):
    hits = quiet_searcher.search("which schemes showed cash savings?", limit=10)
    assert hits[0].case_id == "quiet-frailty-hub"
    assert any("savings" in r for r in hits[0].results)


@pytest.mark.parametrize(
    ("query", "kinds"),
    [
        ("make the business case: which have shown cash savings or a return on investment?",
         ("financial",)),
        ("admissions avoided by falls services", ("service-use",)),
        ("smoking quit rates in pregnancy", ("health",)),
        ("what evidence is there that social prescribing works", ()),
    ],
)
def test_result_questions_are_recognised(query, kinds):
    intent = result_intent(query)
    assert intent is not None and intent.kinds == kinds


@pytest.mark.parametrize("query", ["kids going hungry", "falls and frailty", "damp homes",
                                   "putting money in people's pockets"])
def test_other_queries_are_not_result_questions(query):
    assert result_intent(query) is None


def test_questions_about_evidence_and_about_what_did_not_work_are_recognised():
    evidence = result_intent("strongest evidence: randomised trials")
    assert evidence is not None and evidence.evidence and not evidence.no_effect
    failed = result_intent("what hasn't worked: no effect on admissions")
    assert failed is not None and failed.no_effect and failed.kinds == ("service-use",)
    only_failed = result_intent("schemes that failed")
    assert only_failed is not None and only_failed.no_effect and not only_failed.outcomes


def test_a_named_topic_lifts_the_case_studies_tagged_with_it(quiet_searcher):
    from dataclasses import replace

    query = "carers in greater manchester"
    base = replace(quiet_searcher.fusion, topic_boost=0.0)
    quiet_searcher.fusion = base
    plain = {h.case_id: h.score for h in quiet_searcher.search(query, limit=10)}
    quiet_searcher.fusion = replace(base, topic_boost=0.5)
    lifted = quiet_searcher.search(query, limit=10)
    assert lifted[0].case_id == "quiet-frailty-hub"
    assert lifted[0].shared_facets.get("topics") == ("carers",)
    others = [h for h in lifted if h.case_id != "quiet-frailty-hub" and not h.weak]
    assert all(plain[h.case_id] >= h.score for h in others)  # the others are not lifted
    assert all(0.0 <= h.score <= 1.0 for h in lifted)


def test_a_question_for_strong_evidence_ranks_by_evidence_level(quiet_searcher):
    from dataclasses import replace

    quiet_searcher.fusion = replace(quiet_searcher.fusion, evidence_boost=5.0)
    hits = quiet_searcher.search("independently evaluated programmes", limit=3)
    assert hits[0].case_id == "suffolk-warm-homes"  # the one Nesta level 4 case
    quiet_searcher.fusion = replace(quiet_searcher.fusion, evidence_boost=0.0)
    assert quiet_searcher.search("independently evaluated programmes", limit=3)


def test_evidence_counts_by_its_place_in_the_library(quiet_searcher):
    """'The strongest evidence' is the strongest this library holds: levels are placed in the
    library's own range (not out of 5), and 'not assessed' (0) counts as the weakest."""
    import numpy as np

    n = len(quiet_searcher.cases)
    levels = np.resize(np.array([0.0, 1.0, 2.0, 3.0]), n)
    quiet_searcher._arrays["evidence"] = levels
    expected = np.resize(np.array([0.0, 0.0, 0.5, 1.0]), n)
    assert np.allclose(quiet_searcher._evidence_rank(), expected)
    quiet_searcher._arrays["evidence"] = np.full(n, 2.0)  # one level: nothing to rank by
    assert not quiet_searcher._evidence_rank().any()


def test_a_question_about_what_did_not_work_shows_results_that_did_not_change(tmp_path):
    spec = {
        **CASES[0],
        "id": "flat-falls",
        "outcomes": [
            {
                "metric": "falls per 1,000 residents",
                "measure": "change",
                "direction": "no-change",
                "status": "achieved",
                "kind": "health",
                "timeframe": "12 months",
                "comparator": "matched areas",
                "source": 1,
            }
        ],
    }
    entries = [make_entry(s) for s in [*CASES, spec]]
    update_index(entries, tmp_path / "cache", embedder=HashingEmbedder())
    searcher = Searcher.open(tmp_path / "cache", entries, embedder=HashingEmbedder())
    hits = searcher.search("falls schemes that did not work", limit=10)
    assert hits[0].case_id == "flat-falls"
    assert hits[0].results and "falls per 1,000 residents" in hits[0].results[0]
    assert not [h for h in hits if h.case_id != "flat-falls" and h.results]


def test_question_words_are_not_matched(quiet_searcher):
    assert quiet_searcher.reader.query_tokens("kids going hungry") == ["kid", "hungri"]
    assert quiet_searcher.reader.query_tokens("going") == ["go"]  # nothing else left: keep it
    # function words say nothing about the topic: 'when' and 'out' are not matched
    query = "prevention on the agenda when pressures crowd it out"
    tokens = quiet_searcher.reader.query_tokens(query)
    assert tokens == ["prevent", "agenda", "pressur", "crowd"]
    assert quiet_searcher.reader.query_tokens("how can we") == ["how", "can", "we"]  # all: kept


def test_weak_matches_are_shown_apart_and_a_no_match_says_so():
    row = {
        "id": "a", "title": "A", "ics_labels": [], "region_labels": [], "tier_labels": ["Primary"],
        "score": 0.2, "section": "Summary", "passage": "text", "shared_facets": {}, "results": [],
    }
    text = format_rows([{**row, "weak": True}], "moon landings")
    assert text.startswith("No good match for 'moon landings'") and "--topic" in text
    assert "Weak matches" in text
    mixed = format_rows([{**row, "weak": False}, {**row, "id": "b", "weak": True}])
    assert mixed.index("[a]") < mixed.index("Weak matches") < mixed.index("[b]")
    assert "No good match" not in mixed


# ---- the shipped library: 'falls and frailty' -----------------------------------------------


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> tuple[Searcher, list]:
    entries = load_library(ROOT / "content")
    cache = tmp_path_factory.mktemp("shipped")
    update_index(entries, cache, embedder=HashingEmbedder())
    return Searcher.open(cache, entries, embedder=HashingEmbedder()), entries


def _real_text(entry) -> str:  # type: ignore[no-untyped-def]
    return " ".join(p.text for p in parts_for(entry)).lower()


def test_falls_and_frailty_search_never_matches_on_placeholder_text(shipped):
    searcher, entries = shipped
    for hit in searcher.search("falls and frailty", limit=len(entries)):
        assert SILENT not in hit.passage.lower(), hit


@pytest.mark.model
def test_falls_and_frailty_good_matches_are_about_the_theme(shipped_real_index):
    entries = load_library(ROOT / "content")
    searcher = Searcher.open(shipped_real_index, entries)
    by_id = {e.id: e for e in entries}
    hits = searcher.search("falls and frailty", limit=len(entries))
    assert [h for h in hits if not h.weak]
    for hit in hits:
        assert SILENT not in hit.passage.lower(), hit
        if not hit.weak:  # a good match has the theme in its own words or its tags
            case = by_id[hit.case_id].case
            text = _real_text(by_id[hit.case_id])
            assert {"falls", "frailty"} & set(case.topics) or "fall" in text or "frail" in text


def test_falls_and_frailty_pack_holds_no_case_chosen_for_placeholder_text(shipped):
    searcher, entries = shipped
    pack = build_pack(searcher, entries, PackRequest("falls and frailty", limit=6))
    assert pack.cases
    for chosen in pack.cases:
        assert all(SILENT not in r.lower() for r in chosen.reasons), chosen.reasons
        assert {"falls", "frailty"} & set(chosen.entry.case.topics)


# ---- the cold path ----------------------------------------------------------------------------

COLD = """
import sys
from kb.cli import main
from click.testing import CliRunner
result = CliRunner().invoke(main, ["search", "older people falling at home", "--json"])
assert result.exit_code == 0, result.output
heavy = sorted(m for m in ("torch", "sentence_transformers", "mkdocs", "faiss", "kb.check.validate",
                           "kb.check.library", "kb.format.model", "yaml") if m in sys.modules)
print(heavy)
"""


@pytest.fixture
def hashed_library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    content, cache = tmp_path / "content", tmp_path / "cache"
    content.mkdir()
    for spec in CASES:
        write_case(spec, content)
    update_index(load_library(content), cache, embedder=HashingEmbedder())
    monkeypatch.setenv("KB_CONTENT_DIR", str(content))
    monkeypatch.setenv("KB_CACHE_DIR", str(cache))
    return content, cache


def test_search_reads_only_the_index_and_loads_no_heavy_module(hashed_library):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", COLD], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"  # content never parsed, no heavy import


def test_touched_content_is_hashed_not_parsed_and_edited_content_is_stale(hashed_library):
    content, _ = hashed_library
    first = json.loads(run_cli(["search", "falls at home", "--json"]).stdout)
    path = next(content.glob("norfolk-falls.md"))
    info = path.stat()
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 10_000_000_000))
    assert json.loads(run_cli(["search", "falls at home", "--json"]).stdout) == first
    path.write_text(path.read_text("utf-8").replace("grab rails", "hand rails"), "utf-8")
    result = run_cli(["search", "falls at home"], expect=1)
    assert "out of date: 1 changed (norfolk-falls)" in result.stderr
    assert "run `kb index`" in result.stderr
    run_cli(["index"])
    run_cli(["search", "falls at home"])


def test_a_new_file_in_the_content_is_seen(hashed_library):
    content, _ = hashed_library
    write_case({**CASES[0], "id": "extra-falls"}, content)
    result = run_cli(["search", "falls"], expect=1)
    assert "1 new (extra-falls)" in result.stderr


def test_passages_follow_label_edits_but_not_new_aliases() -> None:
    """A new alias changes what a query can match (the search file), not the passages."""
    from kb.index.layout import _ID_OR_LABEL

    def labels(text: bytes) -> list[bytes]:
        return [m.group(0).strip() for m in _ID_OR_LABEL.finditer(text)]

    flow = b"  - {id: alcohol, label: Alcohol}\n"
    with_alias = b"  - {id: alcohol, label: Alcohol, aliases: [drink, booze]}\n"
    relabelled = b"  - {id: alcohol, label: Alcohol use}\n"
    block = b"  - id: percent\n    label: \"%\"\n    aliases: [per cent]\n"
    assert labels(flow) == labels(with_alias) == [b"id: alcohol", b"label: Alcohol"]
    assert labels(relabelled) != labels(flow)
    assert labels(block) == [b"id: percent", b'label: "%"']


def test_a_good_match_that_shares_few_words_is_not_called_weak(quiet_searcher, monkeypatch):
    """Below the floor is weak, unless the query's best hit is above it and this hit scores at
    least the guard (a good match in other words); a query with no good match stays all weak."""
    import numpy as np

    from tests.search.floor_cases import scenarios

    n = len(quiet_searcher.cases)
    rows = len(quiet_searcher.data.vectors)
    for scenario in scenarios():
        pad = n - len(scenario["score"])
        arrays = (
            np.array(scenario["score"] + [-1.0] * pad),  # the rest filtered out
            np.zeros(rows, dtype=np.float32),
            np.array(scenario["dense"] + [0.0] * pad, dtype=np.float32),
            np.array(scenario["coverage"] + [0.0] * pad),
        )
        monkeypatch.setattr(quiet_searcher, "_score", lambda *_, a=arrays: a)
        hits = quiet_searcher.search("anything", limit=3)
        ids = [c["id"] for c in quiet_searcher.cases[:3]]
        weak = sorted(ids.index(h.case_id) for h in hits if h.weak)
        assert weak == scenario["weak"], scenario["name"]


def test_coverage_counts_a_word_as_far_as_bm25_saturates_it(quiet_searcher):
    """A case study that keeps using the query's word covers it more than one with a passing
    mention; coverage is the BM25 score over the query's idf weight, at most 1."""
    import numpy as np

    tokens = quiet_searcher.reader.query_tokens("carers")
    lexical, coverage = quiet_searcher._bm25(tokens)
    total = float(quiet_searcher.reader.idf[quiet_searcher.reader.vocab[tokens[0]]])
    assert np.allclose(coverage, lexical / total, atol=1e-6)
    assert coverage.max() < 1 and (coverage > 0).any()


def test_a_longer_list_only_adds_to_the_end_of_a_shorter_one(shipped):
    """One ranking of the whole library per query; --limit, the site and packs take a prefix of
    it, weak matches included: the top 10 of --limit 10 is that of --limit 50."""
    import yaml

    searcher, _ = shipped
    queries = yaml.safe_load((ROOT / "tests" / "eval" / "queries.yml").read_text("utf-8"))
    differ = []
    weak_seen = 0
    for query in (q["q"] for q in queries["queries"]):
        short = [(h.case_id, h.weak) for h in searcher.search(query, limit=10)]
        long = [(h.case_id, h.weak) for h in searcher.search(query, limit=50)]
        weak_seen += sum(w for _, w in long)
        if long[:10] != short:
            differ.append(query)
        flags = [w for _, w in long]
        assert flags == sorted(flags), query  # strong matches first, then weak ones
    assert len(queries["queries"]) == 125 and not differ, differ[:5]
    assert weak_seen > 0  # the floor is exercised
