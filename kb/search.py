"""Hybrid search over the index: BM25 and dense scores fused, filters first, reasons attached.

A query is embedded by the ONNX export of the model (no torch), scored against every passage
(exact inner product of unit vectors), and each case study takes the score of its best passage.
BM25 scores each case study over its words and the labels of its metadata. The two rankings are
fused (see `Fusion`); filters on any controlled field remove case studies before ranking. Each hit
carries the passage that matched best and the facets it shares with the filters and the query (or
with the source case study, for `similar`).
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from kb.errors import SearchError
from kb.index import STORED_FACETS, SearchData
from kb.passages import bm25_tokens, clean_markdown, new_stemmer, words_of
from kb.spelling import Speller

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from kb.content import Entry
    from kb.embed import Embedder
    from kb.model import CaseStudy

__all__ = [
    "FACET_FIELDS",
    "Filters",
    "Fusion",
    "Likeness",
    "ResultIntent",
    "SearchHit",
    "Searcher",
    "correction_note",
    "describe_hit",
    "find",
    "format_rows",
    "query_embedder",
    "result_intent",
]

# controlled front-matter fields a search can filter on, in display order: the facets the index
# stores for each case study (kb.vocab's FIELD_VOCABULARY order, without loading the vocabularies)
FACET_FIELDS: tuple[str, ...] = STORED_FACETS
FIELD_LABELS = {
    "region": "region",
    "ics": "ICS",
    "level": "level",
    "status": "status",
    "tiers": "tiers",
    "kaiser_level": "Kaiser level",
    "meps": "MEPS",
    "three_cs": "3Cs",
    "enablers": "enablers",
    "challenges": "challenges",
    "drivers": "drivers",
    "topics": "topics",
}
# fields compared by `similar` for its facet overlap
_SIMILAR_FACETS = ("topics", "tiers", "meps", "kaiser_level", "three_cs", "enablers", "challenges")
OUTCOME_STATUSES = ("achieved", "estimated", "target")
SNIPPET_CHARS = 280
# how a hit's best passage is chosen: among its densest few passages, nudged by the share of the
# query's words each holds (the site's search reads both from kb.site_search's export)
PASSAGE_CANDIDATES = 3
PASSAGE_WORD_WEIGHT = 0.3
Mode = Literal["hybrid", "dense", "bm25"]

# ---- the ranking's parameters, all in one place -------------------------------------------
# (ranking.md in the project notes describes the method; every value was chosen on the tuning
# half of tests/eval/queries.yml with bench/eval_retrieval.py)

# English function words (NLTK's English stop-word list less its contractions, and the
# closed-class words it leaves out): a query's 'how', 'when', 'our' or 'out' says nothing about
# what it is after, but BM25 matched them in every case study that uses them ('crowd it out',
# 'ending up in hospital'). The meaning side still reads the whole query.
FUNCTION_WORDS = frozenset(
    [
        "i", "me", "my", "myself", "we", "our", "ours", "ourselves", "you", "your", "yours",
        "yourself", "yourselves", "he", "him", "his", "himself", "she", "her", "hers",
        "herself", "it", "its", "itself", "they", "them", "their", "theirs", "themselves",
        "what", "which", "who", "whom", "this", "that", "these", "those", "am", "is", "are",
        "was", "were", "be", "been", "being", "have", "has", "had", "having", "do", "does",
        "did", "doing", "a", "an", "the", "and", "but", "if", "or", "because", "as",
        "until", "while", "of", "at", "by", "for", "with", "about", "against", "between",
        "into", "through", "during", "before", "after", "above", "below", "to", "from",
        "up", "down", "in", "out", "on", "off", "over", "under", "again", "further", "then",
        "once", "here", "there", "when", "where", "why", "how", "all", "any", "both",
        "each", "few", "more", "most", "other", "some", "such", "no", "nor", "not", "only",
        "own", "same", "so", "than", "too", "very", "s", "t", "can", "will", "just", "don",
        "should", "now",
        # the closed-class words that list leaves out (prepositions, modals, conjunctions)
        "among", "amongst", "within", "across", "per", "via", "upon", "onto", "toward",
        "towards", "beyond", "despite", "since", "unless", "whether", "though", "although",
        "yet", "also", "could", "would", "may", "might", "must", "shall", "us",
    ]
)  # fmt: skip
# words that say how a question is asked, not what it is about: left out of a query's BM25 words
# (the index keeps them), so that 'kids going hungry' does not match on 'going'
QUERY_STOPWORDS = FUNCTION_WORDS | frozenset(
    [
        "able", "any", "anyone", "anything", "anywhere", "area", "areas", "based", "best", "case",
        "cases", "did", "do", "does", "doing", "done", "else", "example", "examples", "find",
        "found", "get", "gets", "getting", "go", "goes", "going", "gone", "good", "got", "help",
        "helped", "helping", "helps", "idea", "ideas", "know", "let", "like", "looking", "look",
        "make", "makes", "making", "need", "needs", "place", "places", "really", "show", "shown",
        "something", "somewhere", "studies", "study", "tell", "thing", "things", "try", "trying",
        "want", "way", "ways", "what", "where", "which", "who", "whom", "why", "work", "worked",
        "working", "works",
    ]
)


@dataclass(frozen=True)
class ResultCue:
    """Words that ask about results, and the outcome kinds they ask for (() = any kind)."""

    words: tuple[str, ...]  # each a phrase, matched on word boundaries in the lower-cased query
    kinds: tuple[str, ...]


RESULT_CUES: tuple[ResultCue, ...] = (
    ResultCue(
        (
            "saving", "savings", "saved", "save money", "cost saving", "cashable",
            "return on investment", "roi", "business case", "value for money", "cost-effective",
            "cost effective", "cost-benefit", "cost benefit", "costs avoided", "avoided costs",
            "financial", "payback", "paid for itself", "net benefit",
        ),
        ("financial",),
    ),
    ResultCue(
        (
            "admission", "admissions", "admissions avoided", "avoided admissions", "a&e",
            "emergency department", "attendances", "bed days", "readmissions", "readmission",
            "ambulance", "conveyances", "call-outs", "gp appointments", "demand", "length of stay",
            "hospital use", "service use",
        ),
        ("service-use",),
    ),
    ResultCue(
        (
            "quit rate", "quit rates", "quits", "quitters", "quitting", "mortality", "deaths",
            "lives saved", "remission", "weight loss", "blood pressure control", "controlled",
            "health outcomes", "wellbeing", "well-being", "health gains",
        ),
        ("health",),
    ),
    ResultCue(("satisfaction", "patient experience", "feedback"), ("experience",)),
    ResultCue(("uptake", "reach", "people reached", "coverage", "take-up"), ("process",)),
    ResultCue(
        ("income", "benefits claimed", "into work", "employment", "evictions", "debt"),
        ("wider-determinants",),
    ),
    ResultCue(
        (
            "results", "outcomes", "impact", "evidence", "evaluated", "evaluation", "proven",
            "proved", "shown to", "measured", "measurable", "reduced", "reduction", "worked",
            "effective", "difference",
        ),
        (),
    ),
)


# words that ask for strong evidence (a trial, a comparison group, an independent evaluation):
# case studies rank by their Nesta evidence level as well
EVIDENCE_CUES = (
    "rct", "rcts", "randomised", "randomized", "trial", "trials", "control group",
    "comparison group", "matched comparison", "quasi-experimental", "robust evidence",
    "strong evidence", "strongest evidence", "best evidence", "good evidence", "rigorous",
    "rigorously", "independent evaluation", "independently evaluated", "evidence-based",
    "evidence based", "proven", "standards of evidence", "nesta",
)
# words that ask what did not work: case studies with a result that did not change rank higher
NO_EFFECT_CUES = (
    "no effect", "no difference", "no significant", "not significant", "no change",
    "no impact", "didn't work", "did not work", "hasn't worked", "has not worked",
    "haven't worked", "have not worked", "did not reduce", "didn't reduce", "failed",
    "failure", "failures", "unsuccessful", "null result", "null results", "negative results",
    "lessons from failure",
)


@dataclass(frozen=True)
class Fusion:
    """How a query's scores become one ranking, and when a match counts as weak.

    rrf: dense_weight / (k + dense rank) + lexical_weight * coverage ** coverage_power / (k +
    BM25 rank), scaled so that first in both is 1 (reciprocal rank fusion). `coverage` is the
    share of the query's BM25 weight (idf) that a case study's words match, so that a case
    matching one minor word of the query gets little lexical credit. convex: alpha * dense +
    (1 - alpha) * BM25, each min-max scaled over the candidates. `second` adds that share of a
    case study's second-best passage score to its best.

    outcome_boost: added to the fused score of a case study with outcomes of the kinds a results
    question asks about (times 1 for an achieved figure, `estimate_credit` for an estimate or a
    result without a figure, a quarter of that for a target).

    topic_boost: added times the share of the topics a query names (by label or alias, e.g.
    'falls', 'blood pressure') that a case study is tagged with.

    evidence_boost: for a query asking for strong evidence, added times where a case study's
    Nesta level stands in the range of levels the library holds (the strongest 1, the weakest
    and 'not assessed' 0). no_effect_boost: for a query asking what did not work, added to a
    case study with an outcome that did not change.

    floor_dense / floor_coverage: a hit is below the floor when its best passage's cosine is
    below floor_dense and its lexical coverage is below floor_coverage. Such a hit is weak,
    unless the query's best hit is above the floor and this one scores at least floor_guard:
    then it is one of a query's good matches that happens to share few of its words.
    """

    method: Literal["rrf", "convex"] = "rrf"
    k: int = 60
    dense_weight: float = 1.0
    lexical_weight: float = 1.0
    coverage_power: float = 0.0
    alpha: float = 0.5
    second: float = 0.0
    outcome_boost: float = 0.0
    estimate_credit: float = 0.5
    topic_boost: float = 0.0
    evidence_boost: float = 0.0
    no_effect_boost: float = 0.0
    floor_dense: float = -1.0
    floor_coverage: float = 0.0
    floor_guard: float = 1.01  # above any score: no guard


# Chosen on the tuning half only (bench/eval_retrieval.py --all --floor): the convex mix of
# min-max scaled dense and BM25 scores beat every RRF variant (0.870 against at most 0.851
# nDCG@10); an outcome boost of 0.2 for results questions raised it to 0.879, the topics a query
# names (0.2) to 0.896. The evidence and no-effect boosts each concern one tuning query (0.2: no
# change and +0.004). Adding half the second-best passage gave 0.900, within noise, for about 2.5
# ms more per query at 10,000 case studies: left out. The floor, on the tuning half's top 10s (78
# case studies): dense 0.5 / coverage 0.25 with a guard of 0.7 keeps 86% of relevant hits strong,
# calls 57% of the others weak and every hit of the 3 no-match queries (nDCG@10 0.884 against
# 0.888 without a floor). Coverage counted by whether a word matched at all (0.45 / 0.5, guard
# 0.7) gave 81%, 61% and 2 of 3; 0.45 / 0.34 with a guard of 0.6 kept 92% but called only 38%
# of the others weak, and a leader trying the site read too many unrelated hits as good matches.
DEFAULT_FUSION = Fusion(
    method="convex",
    alpha=0.5,
    outcome_boost=0.2,
    topic_boost=0.2,
    evidence_boost=0.2,
    no_effect_boost=0.2,
    floor_dense=0.5,
    floor_coverage=0.25,
    floor_guard=0.7,
)


@dataclass(frozen=True)
class SearchHit:
    """One case study in a result list, with why it matched."""

    case_id: str
    title: str
    score: float  # in [0, 1], higher is closer
    section: str  # heading of the best-matching passage ('Summary' for the profile)
    passage: str  # a snippet of that passage
    shared_facets: dict[str, tuple[str, ...]]  # field -> vocabulary ids shared with query/source
    results: tuple[str, ...] = ()  # outcomes that answer a question about results, as sentences
    weak: bool = False  # below the relevance floor: shown apart, as a weak match


@dataclass(frozen=True)
class Filters:
    """Controlled-vocabulary filters: any value within a field, every field given.

    Outcome filters ask for at least one outcome with one of the kinds and one of the statuses.
    """

    region: tuple[str, ...] = ()
    ics: tuple[str, ...] = ()
    level: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    tiers: tuple[str, ...] = ()
    kaiser_level: tuple[str, ...] = ()
    meps: tuple[str, ...] = ()
    three_cs: tuple[str, ...] = ()
    enablers: tuple[str, ...] = ()
    challenges: tuple[str, ...] = ()
    drivers: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    evidence_min: int | None = None  # lowest Nesta evidence level accepted (1-5)
    outcome_kinds: tuple[str, ...] = ()  # outcome kinds (health, financial, ...)
    outcome_status: tuple[str, ...] = ()  # achieved, estimated, target

    @classmethod
    def parse(
        cls,
        values: Mapping[str, Iterable[str]] | None = None,
        evidence_min: int | None = None,
        *,
        outcome_kinds: Iterable[str] = (),
        outcome_status: Iterable[str] = (),
    ) -> Filters:
        """Resolve ids, labels or aliases to ids; SearchError names the bad value with a hint."""
        resolved: dict[str, tuple[str, ...]] = {}
        if values:
            from kb.vocab import load_vocabularies

            vocab = load_vocabularies()
            for name, given in values.items():
                if name not in FACET_FIELDS:
                    raise SearchError(f"unknown filter field '{name}'")
                resolved[name] = _resolve(vocab.for_field(name), given, name)
        kinds: tuple[str, ...] = ()
        outcome_kinds = tuple(outcome_kinds)
        if outcome_kinds:
            from kb.vocab import load_vocabularies

            kinds = _resolve(load_vocabularies().outcome_kinds, outcome_kinds, "outcome")
        statuses: list[str] = []
        for value in outcome_status:
            status = value.strip().lower()
            if status not in OUTCOME_STATUSES:
                raise SearchError(
                    f"filter outcome status: '{value}' is not an outcome status; "
                    f"hint: use {', '.join(OUTCOME_STATUSES)}"
                )
            if status not in statuses:
                statuses.append(status)
        if evidence_min is not None and not 1 <= evidence_min <= 5:
            raise SearchError(
                f"filter evidence: {evidence_min} is not a Nesta level; hint: use 1 to 5"
            )
        return cls(
            **resolved,
            evidence_min=evidence_min,
            outcome_kinds=kinds,
            outcome_status=tuple(statuses),
        )

    def active(self) -> dict[str, tuple[str, ...]]:
        """Controlled fields that filter, with their ids."""
        return {f: getattr(self, f) for f in FACET_FIELDS if getattr(self, f)}

    def is_empty(self) -> bool:
        return (
            not self.active()
            and self.evidence_min is None
            and not self.outcome_kinds
            and not self.outcome_status
        )

    def wants_outcome(self, kind: str, status: str) -> bool:
        """Whether an outcome of this kind and status meets the outcome filters."""
        return (not self.outcome_kinds or kind in self.outcome_kinds) and (
            not self.outcome_status or status in self.outcome_status
        )

    def matches(self, case: CaseStudy) -> bool:
        """Whether a case study passes every filter."""
        for name, wanted in self.active().items():
            have = set(_values(case, name))
            targets = set(_expand_ics(wanted)) if name == "ics" else set(wanted)
            if not have & targets:
                return False
        if (self.outcome_kinds or self.outcome_status) and not any(
            self.wants_outcome(o.kind, o.status) for o in case.outcomes
        ):
            return False
        return self.evidence_min is None or case.evidence.rank >= self.evidence_min


def _resolve(vocabulary: Any, given: Iterable[str], name: str) -> tuple[str, ...]:
    ids: list[str] = []
    for value in given:
        found = vocabulary.resolve(value)
        if found is None:
            from kb.suggest import nearest_term

            near = [vocabulary.suggest(value) or ""] + nearest_term(vocabulary, value)
            near = list(dict.fromkeys(n for n in near if n))[:3]
            hint = (
                "did you mean " + " or ".join(f"'{n}'" for n in near) + "?"
                if near
                else f"run `kb vocab {vocab_name(name)}` for the allowed values"
            )
            raise SearchError(
                f"filter {name}: '{value}' is not a known {vocabulary.name}; hint: {hint}"
            )
        if found not in ids:
            ids.append(found)
    return tuple(ids)


def vocab_name(field_name: str) -> str:
    from kb.vocab import FIELD_VOCABULARY

    return {"outcome": "outcome_kinds"}.get(field_name) or FIELD_VOCABULARY.get(
        field_name, field_name
    )


def _values(case: CaseStudy, name: str) -> tuple[str, ...]:
    value = getattr(case, name)
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _expand_ics(
    ids: Iterable[str], predecessors: Mapping[str, Sequence[str]] | None = None
) -> list[str]:
    """An ICS and the bodies it was formed from (a merged ICS covers its predecessors' cases)."""
    if predecessors is None:
        from kb.vocab import load_vocabularies

        vocabulary = load_vocabularies().ics
        table: dict[str, Sequence[str]] = {t.id: t.predecessors for t in vocabulary.terms}
    else:
        table = dict(predecessors)
    out: list[str] = []
    todo = list(ids)
    while todo:
        current = todo.pop()
        if current in out:
            continue
        out.append(current)
        todo.extend(table.get(current, ()))
    return out


@dataclass(frozen=True)
class ResultIntent:
    """What a query asks about results: the outcome kinds (() = any) and the words that said so.

    `outcomes`: it asks about outcomes (results, savings, admissions...); `evidence`: it asks for
    strong evidence (a trial, a comparison group); `no_effect`: it asks what did not work.
    """

    kinds: tuple[str, ...]
    cues: tuple[str, ...]
    outcomes: bool = True
    evidence: bool = False
    no_effect: bool = False


def _cue_text(text: str) -> str:
    """Lower-cased words between spaces, as cues are matched ('hasn't' -> 'hasn t')."""
    return " " + " ".join(re.sub(r"[^\w&£%-]+", " ", text.lower()).split()) + " "


_phrase_text = functools.cache(_cue_text)  # for the fixed cue phrases only


def _cues_in(text: str, phrases: Iterable[str]) -> list[str]:
    return [p for p in phrases if _phrase_text(p) in text]


def result_intent(query: str) -> ResultIntent | None:
    """Whether a query asks about results (savings, admissions avoided, quit rates...), for
    strong evidence, or what did not work; None when it asks none of these."""
    text = _cue_text(query)
    kinds: list[str] = []
    cues: list[str] = []
    generic = False
    for cue in RESULT_CUES:
        found = _cues_in(text, cue.words)
        cues.extend(found)
        if found and cue.kinds:
            kinds.extend(k for k in cue.kinds if k not in kinds)
        elif found:
            generic = True
    if "£" in query:
        kinds.append("financial") if "financial" not in kinds else None
        cues.append("£")
    evidence = _cues_in(text, EVIDENCE_CUES)
    no_effect = _cues_in(text, NO_EFFECT_CUES)
    if not kinds and not generic and not evidence and not no_effect:
        return None
    return ResultIntent(
        tuple(kinds),
        tuple(dict.fromkeys(cues + evidence + no_effect)),
        outcomes=bool(kinds or generic),
        evidence=bool(evidence),
        no_effect=bool(no_effect),
    )


@dataclass(frozen=True)
class Likeness:
    """How `similar` compares case studies.

    dense: centroid (mean of passage vectors), profile (title, summary, who and what) or maxsim
    (each source passage's best match, averaged). lexical: fuse BM25 over the source's profile.
    facets / facet_weight: the share of the score given to the overlap of controlled facets.
    """

    dense: Literal["centroid", "profile", "maxsim"] = "profile"
    lexical: bool = True
    facets: tuple[str, ...] = _SIMILAR_FACETS
    facet_weight: float = 0.25


# Chosen on the tuning half of tests/eval/similar.yml (30 source case studies judged against the
# whole library; bench/eval_retrieval.py --all): the centroid of a case study's passages with BM25
# and a facet overlap weighing 0.4 gave nDCG@5 0.838, against 0.786 for profiles with 0.25; maxsim
# came close (0.833) at many times the cost; BM25 and the facets each add to the dense score.
DEFAULT_LIKENESS = Likeness(dense="centroid", facet_weight=0.4)


def query_embedder(index_dir_cache: Path, identity: str) -> Embedder:
    """The query embedder matching an index: the ONNX export, or the hashing stand-in."""
    from kb.embed import HashingEmbedder, OnnxEmbedder

    if identity.startswith("hashing-v1-"):
        _, _, dimension, max_tokens = identity.split("-")
        return HashingEmbedder(int(dimension), int(max_tokens))
    from kb.errors import IndexError_
    from kb.index import INDEX_DIR

    onnx_dir = Path(index_dir_cache) / INDEX_DIR / "onnx"
    embedder = OnnxEmbedder(onnx_dir)
    if embedder.identity != identity:
        raise IndexError_(
            f"the ONNX query model ({embedder.identity}) is not the index model ({identity}); "
            "hint: run `kb index`"
        )
    return embedder


class Searcher:
    """Search and 'more like this' over a loaded index (it holds all a search shows)."""

    def __init__(
        self,
        data: SearchData,
        embedder: Embedder,
        fusion: Fusion = DEFAULT_FUSION,
    ) -> None:
        self.data = data
        self.embedder = embedder
        self.fusion = fusion
        self.likeness = DEFAULT_LIKENESS
        self.cases: list[dict[str, Any]] = data.store["cases"]
        self._position = {cid: i for i, cid in enumerate(data.case_ids)}
        self._predecessors: dict[str, list[str]] = data.store.get("ics_predecessors", {})
        self._labels: dict[str, dict[str, str]] = data.store.get("labels", {})
        self._stemmer = new_stemmer()
        bm25 = data.bm25
        self._stopwords = frozenset(str(w) for w in bm25["stopwords"])
        self._query_stopwords = self._stopwords | QUERY_STOPWORDS
        self._vocab = {str(t): i for i, t in enumerate(bm25["vocab"])}
        self._idf = np.asarray(bm25["idf"], dtype=np.float64)
        self._max_idf = float(self._idf.max()) if len(self._idf) else 1.0
        self._masks: dict[tuple[str, str], NDArray[np.bool_]] = {}
        self._centroids: NDArray[np.float32] | None = None
        self._profiles: NDArray[np.float32] | None = None
        self._facet_matrix: NDArray[np.float32] | None = None
        self._facet_column: dict[tuple[str, str], int] = {}
        self._outcomes: dict[tuple[str, ...], NDArray[np.float64]] = {}
        self._arrays: dict[str, NDArray[np.float64]] = {}
        self._read: tuple[str | None, Any] = (None, None)
        # query words the library lacks are read as the library word they are a slip for, where
        # the query model can tell a slip from a real word it does not have
        known = getattr(embedder, "known_word", None)
        self._speller = Speller(self._vocab, self._idf, known) if callable(known) else None

    @classmethod
    def open(
        cls,
        cache_dir: Path,
        entries: Sequence[Entry] | None = None,
        *,
        content_dir: Path | None = None,
        embedder: Embedder | None = None,
        fusion: Fusion | None = None,
    ) -> Searcher:
        """Load the index; IndexError_ if it is missing, damaged or stale.

        Given `entries`, the index must hold exactly them. Given `content_dir` instead, the
        content is checked by file sizes and mtimes (hashes only where they differ) and read
        only when that cannot tell (see `kb.index.source_changes`).
        """
        from kb.errors import IndexError_
        from kb.index import load_index, open_index, source_changes

        if entries is not None:
            data = load_index(cache_dir, entries)
        else:
            data = open_index(cache_dir)
            if content_dir is not None:
                reason = source_changes(data, content_dir)
                if reason is not None and reason.startswith("unknown"):
                    from kb.library import load_library

                    data = load_index(cache_dir, load_library(content_dir))
                elif reason is not None:
                    raise IndexError_(
                        f"the search index cannot be used: {reason}; hint: run `kb index`"
                    )
        if embedder is None:
            embedder = query_embedder(cache_dir, data.identity)
        elif embedder.identity != data.identity:
            raise IndexError_(
                f"the index was built with {data.identity}, not {embedder.identity}; "
                "hint: run `kb index`"
            )
        return cls(data, embedder, fusion or DEFAULT_FUSION)

    # ---- scoring --------------------------------------------------------------------------

    def _tokens(self, text: str) -> list[str]:
        return bm25_tokens(text, self._stemmer, self._stopwords)

    def _query_tokens(self, text: str) -> list[str]:
        return self._reading(text)[0]

    def _reading(self, text: str) -> tuple[list[str], dict[str, str], dict[str, str]]:
        """A query's BM25 tokens, its words that the library lacks with the stem each is read as
        (kb.spelling), and those stems by the stem they replace. Function words are left out,
        unless the query has nothing else."""
        if self._read[0] == text:
            return self._read[1]
        everything = words_of(text)
        words = [w for w in everything if w not in self._query_stopwords]
        words = words or [w for w in everything if w not in self._stopwords]
        stems = list(self._stemmer.stemWords(words))
        fixed = self._speller.correct_all(words, stems) if self._speller is not None else {}
        by_stem = {s: fixed[w] for w, s in zip(words, stems, strict=True) if w in fixed}
        reading = ([by_stem.get(s, s) for s in stems], fixed, by_stem)
        self._read = (text, reading)
        return reading

    def corrections(self, query: str) -> dict[str, str]:
        """The query's words that no case study has, each with the library's word it was read
        as ('hypertention': 'hypertension'), spelled as the first case study with it spells it."""
        _, fixed, _ = self._reading(query)
        if not fixed:
            return {}
        out = {}
        for word, stem in fixed.items():
            out[word] = self._spelling_of(stem) or stem
        return out

    def _spelling_of(self, stem: str) -> str | None:
        """A word of the library with this stem, from the first case study that has it."""
        token = self._vocab.get(stem)
        if token is None:
            return None
        bm25 = self.data.bm25
        start, end = int(bm25["indptr"][token]), int(bm25["indptr"][token + 1])
        if start == end:
            return None
        position = int(bm25["indices"][start:end].min())
        case = self.cases[position]
        texts = [case["title"], *(self.data.part_text(position, int(k))[1] for k in case["parts"])]
        for text in texts:
            for word in words_of(text):
                if self._stemmer.stemWord(word) == stem:
                    return word
        return None

    def _bm25(self, tokens: Sequence[str]) -> tuple[NDArray[np.float32], NDArray[np.float64]]:
        """BM25 score per case study, and its coverage of the query: the share of the query's
        idf weight it matches, each word counted as far as BM25 saturates it (its score over its
        idf), so that one passing mention in a long text counts for less than a word the text is
        about."""
        bm25 = self.data.bm25
        n = len(self.data.case_ids)
        scores = np.zeros(n, dtype=np.float32)
        matched = np.zeros(n, dtype=np.float64)
        unique = list(dict.fromkeys(tokens))
        total = sum(
            float(self._idf[self._vocab[t]]) if t in self._vocab else self._max_idf
            for t in unique
        )
        ids = sorted({self._vocab[t] for t in unique if t in self._vocab})
        indptr, indices, values = bm25["indptr"], bm25["indices"], bm25["data"]
        for token_id in ids:
            start, end = int(indptr[token_id]), int(indptr[token_id + 1])
            docs = indices[start:end]
            scores[docs] += values[start:end]
            matched[docs] += values[start:end]
        return scores, matched / total if total > 0 else matched

    def _case_dense(self, passage_scores: NDArray[np.float32]) -> NDArray[np.float32]:
        starts = self.data.case_start
        best = np.maximum.reduceat(passage_scores, starts) if len(starts) else passage_scores[:0]
        if self.fusion.second <= 0 or not len(starts):
            return best.astype(np.float32)
        # second-best passage per case: the best of the others (the best again if it is tied,
        # or if the case has one passage)
        is_best = passage_scores >= best[self.data.passage_case]
        ties = np.add.reduceat(is_best.astype(np.int32), starts)
        second = np.maximum.reduceat(np.where(is_best, -np.inf, passage_scores), starts)
        second = np.where((ties > 1) | ~np.isfinite(second), best, second)
        return (best + self.fusion.second * second).astype(np.float32) / (1 + self.fusion.second)

    def _fuse(
        self,
        dense: NDArray[np.float32],
        lexical: NDArray[np.float32],
        allowed: NDArray[np.bool_],
        coverage: NDArray[np.float64] | None = None,
    ) -> NDArray[np.float64]:
        """Fused score in [0, 1] for allowed case studies; -1 for the others."""
        fusion = self.fusion
        out = np.full(len(dense), -1.0)
        idx = np.flatnonzero(allowed)
        if not len(idx):
            return out
        d, b = dense[idx].astype(np.float64), lexical[idx].astype(np.float64)
        if fusion.method == "rrf":
            rank_d = _ranks(d)
            rank_b = _ranks(b)
            credit = np.ones_like(b)
            if coverage is not None and fusion.coverage_power > 0:
                credit = np.clip(coverage[idx], 0.0, 1.0) ** fusion.coverage_power
            # documents with no BM25 match at all get no lexical credit
            lex = np.where(b > 0, fusion.lexical_weight * credit / (fusion.k + rank_b), 0.0)
            fused = fusion.dense_weight / (fusion.k + rank_d) + lex
            best = (fusion.dense_weight + fusion.lexical_weight) / (fusion.k + 1)
            out[idx] = fused / best
        else:
            lexical_part = _minmax(b)
            if coverage is not None and fusion.coverage_power > 0:
                lexical_part = lexical_part * np.clip(coverage[idx], 0.0, 1.0) ** (
                    fusion.coverage_power
                )
            out[idx] = fusion.alpha * _minmax(d) + (1 - fusion.alpha) * lexical_part
        return out

    def _mask(self, name: str, wanted: Iterable[str]) -> NDArray[np.bool_]:
        out = np.zeros(len(self.cases), dtype=bool)
        for value in wanted:
            key = (name, value)
            if key not in self._masks:
                self._masks[key] = np.fromiter(
                    (value in c["facets"].get(name, ()) for c in self.cases),
                    dtype=bool,
                    count=len(self.cases),
                )
            out |= self._masks[key]
        return out

    def _allowed(self, filters: Filters | None) -> NDArray[np.bool_]:
        allowed = np.ones(len(self.cases), dtype=bool)
        if filters is None or filters.is_empty():
            return allowed
        for name, wanted in filters.active().items():
            targets = _expand_ics(wanted, self._predecessors) if name == "ics" else wanted
            allowed &= self._mask(name, targets)
        if filters.evidence_min is not None:
            allowed &= self._case_array("evidence") >= filters.evidence_min
        if filters.outcome_kinds or filters.outcome_status:
            allowed &= np.fromiter(
                (
                    any(filters.wants_outcome(o[0], o[1]) for o in c["outcomes"])
                    for c in self.cases
                ),
                dtype=bool,
                count=len(self.cases),
            )
        return allowed

    def _outcome_credit(self, kinds: tuple[str, ...]) -> NDArray[np.float64]:
        """Per case study, how well its outcomes answer a question about these kinds (0-1)."""
        if kinds not in self._outcomes:
            estimate = self.fusion.estimate_credit
            credit = {"achieved": 1.0, "estimated": estimate, "target": estimate / 4}
            values = np.zeros(len(self.cases))
            for row, case in enumerate(self.cases):
                best = 0.0
                for kind, status, numeric, *_ in case["outcomes"]:
                    if kinds and kind not in kinds:
                        continue
                    value = credit[status] * (1.0 if numeric else estimate)
                    best = max(best, value)
                values[row] = best
            self._outcomes[kinds] = values
        return self._outcomes[kinds]

    def scores(
        self, query: str, *, filters: Filters | None = None, mode: Mode = "hybrid"
    ) -> tuple[NDArray[np.float64], NDArray[np.float32]]:
        """Case scores (-1 = filtered out) and passage scores for a query."""
        case, passage_scores, _, _ = self._score(query, filters, mode)
        return case, passage_scores

    def _score(
        self, query: str, filters: Filters | None, mode: Mode
    ) -> tuple[NDArray[np.float64], NDArray[np.float32], NDArray[np.float32], NDArray[np.float64]]:
        if not query.strip():
            raise SearchError("the query is empty; hint: type a few words, e.g. 'falls at home'")
        allowed = self._allowed(filters)
        vector = self.embedder.embed_query(query)
        passage_scores = (self.data.vectors @ vector).astype(np.float32)
        dense = self._case_dense(passage_scores)
        lexical, coverage = self._bm25(self._query_tokens(query))
        if mode == "dense":
            case = np.where(allowed, (dense.astype(np.float64) + 1) / 2, -1.0)
        elif mode == "bm25":
            top = float(lexical[allowed].max()) if allowed.any() else 0.0
            case = np.where(allowed, lexical / top if top > 0 else 0.0, -1.0)
        else:
            case = self._fuse(dense, lexical, allowed, coverage)
            boost = self._boost(query)
            if boost is not None:
                # scaled back into [0, 1] rather than clipped, so that boosted hits do not tie
                case = np.where(allowed, case + boost, -1.0)
                top = float(case.max())
                if top > 1.0:
                    case = np.where(allowed, case / top, -1.0)
        return case, passage_scores, dense, coverage

    def _boost(self, query: str) -> NDArray[np.float64] | None:
        """What the query's intent adds to each fused score: outcomes that answer a results
        question, topics the query names, strong evidence, results that did not change."""
        fusion = self.fusion
        boost = np.zeros(len(self.cases))
        intent = result_intent(query)
        if intent is not None and intent.outcomes and fusion.outcome_boost > 0:
            boost += fusion.outcome_boost * self._outcome_credit(intent.kinds)
        if intent is not None and intent.evidence and fusion.evidence_boost > 0:
            boost += fusion.evidence_boost * self._evidence_rank()
        if intent is not None and intent.no_effect and fusion.no_effect_boost > 0:
            boost += fusion.no_effect_boost * self._case_array("no-effect")
        named = self._query_facets(query).get("topics", ())
        if named and fusion.topic_boost > 0:
            boost += fusion.topic_boost * self._mask_share("topics", named)
        return boost if boost.any() else None

    def _mask_share(self, name: str, wanted: Sequence[str]) -> NDArray[np.float64]:
        """Per case study, the share of `wanted` values of a facet it has."""
        share = np.zeros(len(self.cases))
        for value in wanted:
            share += self._mask(name, (value,))
        return share / max(1, len(wanted))

    def _evidence_rank(self) -> NDArray[np.float64]:
        """Per case study, where its evidence level stands in this library's range (0-1): the
        strongest evidence here is 1, the weakest assessed and 'not assessed' are 0."""
        levels = self._case_array("evidence")
        assessed = levels[levels > 0]
        low, high = (float(assessed.min()), float(assessed.max())) if len(assessed) else (0, 0)
        if high <= low:
            return np.zeros(len(levels))
        return np.clip((levels - low) / (high - low), 0.0, 1.0)

    def _case_array(self, name: Literal["evidence", "no-effect"]) -> NDArray[np.float64]:
        """Per case study (computed once): its Nesta evidence level ('evidence'), or 1 for a
        result (achieved) that did not change ('no-effect')."""
        if name not in self._arrays:
            if name == "evidence":
                values = (c["evidence"] for c in self.cases)
            else:
                values = (
                    any(o[4:5] == ["no-change"] and o[1] == "achieved" for o in c["outcomes"])
                    for c in self.cases
                )
            self._arrays[name] = np.fromiter(values, dtype=np.float64, count=len(self.cases))
        return self._arrays[name]

    # ---- public API -----------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        filters: Filters | None = None,
        limit: int = 10,
        mode: Mode = "hybrid",
    ) -> list[SearchHit]:
        """The case studies closest to a query, best first; weak matches (below the relevance
        floor) come after the others and say so."""
        case_scores, passage_scores, dense, coverage = self._score(query, filters, mode)
        tokens = set(self._query_tokens(query))
        mentioned = self._query_facets(query)
        wanted = filters.active() if filters else {}
        facets = _merge(wanted, mentioned)
        intent = result_intent(query)
        kinds = intent.kinds if intent and intent.outcomes else None
        no_effect = bool(intent and intent.no_effect)
        by_outcome = filters is not None and bool(filters.outcome_kinds or filters.outcome_status)
        outcome_filter = filters if by_outcome else None
        hits = []
        top = _top(case_scores, limit)
        for position, weak in zip(top, self._weak(top, case_scores, dense, coverage), strict=True):
            hits.append(
                self._hit(
                    position,
                    case_scores,
                    facets,
                    passage_scores,
                    tokens,
                    weak=weak,
                    results=self._results(position, kinds, outcome_filter, no_effect),
                )
            )
        return [h for h in hits if not h.weak] + [h for h in hits if h.weak]

    def _weak(
        self,
        top: Sequence[int],
        scores: NDArray[np.float64],
        dense: NDArray[np.float32],
        coverage: NDArray[np.float64],
    ) -> list[bool]:
        """Which of the ranked hits `top` are weak (see Fusion: the floor and its guard)."""
        fusion = self.fusion

        def below(position: int) -> bool:
            return bool(
                dense[position] < fusion.floor_dense and coverage[position] < fusion.floor_coverage
            )

        strong = bool(top) and not below(top[0])
        return [below(p) and not (strong and scores[p] >= fusion.floor_guard) for p in top]

    def good_matches(self, query: str, *, limit: int = 10) -> int:
        """How many of a query's `limit` best hits, with no filters, are above the floor."""
        scores, _, dense, coverage = self._score(query, None, "hybrid")
        top = _top(scores, limit)
        return sum(not weak for weak in self._weak(top, scores, dense, coverage))

    def _results(
        self,
        position: int,
        kinds: tuple[str, ...] | None,
        filters: Filters | None,
        no_effect: bool = False,
    ) -> tuple[str, ...]:
        """The outcomes that answer a results question or meet the outcome filters; for a
        question about what did not work, the results that did not change come first."""
        if kinds is None and filters is None and not no_effect:
            return ()
        out = []
        order = {"achieved": 0, "estimated": 1, "target": 2}

        def key(o: list[Any]) -> tuple[int, int, int]:
            unchanged = 0 if no_effect and o[4:5] == ["no-change"] else 1
            return (unchanged, order[o[1]], -o[2])

        outcomes = sorted(self.cases[position]["outcomes"], key=key)
        for kind, status, _, sentence, *rest in outcomes:
            if not sentence:
                continue
            if no_effect and kinds is None and filters is None and rest != ["no-change"]:
                continue
            if filters is not None and not filters.wants_outcome(kind, status):
                continue
            if kinds and kind not in kinds:
                continue
            out.append(sentence)
        return tuple(out[:2])

    def _hit(
        self,
        position: int,
        scores: NDArray[np.float64] | NDArray[np.float32],
        facets: Mapping[str, Iterable[str]],
        passage_scores: NDArray[np.float32],
        tokens: set[str],
        *,
        weak: bool = False,
        results: tuple[str, ...] = (),
    ) -> SearchHit:
        """A result with why it matched: its best passage and the facets it shares."""
        case = self.cases[position]
        section, passage = self._best_passage(position, passage_scores, tokens)
        return SearchHit(
            case_id=case["id"],
            title=case["title"],
            score=round(min(max(float(scores[position]), 0.0), 1.0), 4),
            section=section,
            passage=passage,
            shared_facets=self._shared(case, facets),
            results=results,
            weak=weak,
        )

    def similar(
        self, case_id: str, *, filters: Filters | None = None, limit: int = 5
    ) -> list[SearchHit]:
        """The case studies most like one of the library's, best first (itself excluded)."""
        position = self._position.get(case_id)
        if position is None:
            from kb.suggest import nearest

            close = difflib.get_close_matches(case_id, list(self._position), n=1)
            close = list(dict.fromkeys(close + nearest(case_id, self._position)))[:3]
            hint = (
                "did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
                if close
                else "ids are the file names in content/"
            )
            raise SearchError(f"no case study with id '{case_id}'; hint: {hint}")
        source = self.cases[position]
        config = self.likeness
        centroids = self._case_centroids()
        if config.dense == "maxsim":
            dense = self._maxsim(position)
        elif config.dense == "profile":
            if self._profiles is None:
                self._profiles = np.ascontiguousarray(self.data.vectors[self.data.case_start])
            profiles = self._profiles
            dense = (profiles @ profiles[position]).astype(np.float32)
        else:
            dense = (centroids @ centroids[position]).astype(np.float32)
        tokens = self._tokens(source["profile"])
        lexical = self._bm25(tokens)[0] if config.lexical else np.zeros_like(dense)
        allowed = self._allowed(filters)
        allowed[position] = False
        if config.lexical:
            fused = self._fuse(dense, lexical, allowed)
        else:
            fused = np.where(allowed, (dense.astype(np.float64) + 1) / 2, -1.0)
        overlap = self._facet_overlap(position, config.facets)
        weight = config.facet_weight
        final = np.where(allowed, (1 - weight) * fused + weight * overlap, -1.0)
        passage_scores = (self.data.vectors @ centroids[position]).astype(np.float32)
        facets = {f: tuple(source["facets"].get(f, ())) for f in FACET_FIELDS}
        token_set = set(tokens)
        return [
            self._hit(other, final, facets, passage_scores, token_set)
            for other in _top(final, limit)
        ]

    # ---- explanations ---------------------------------------------------------------------

    def passage_text(self, row: int) -> tuple[str, str]:
        """(section heading, raw text) of a vector row."""
        position = int(self.data.passage_case[row])
        section, start, end = (int(x) for x in self.data.passage_meta[row])
        heading, text = self.data.part_text(position, section)
        return heading, text[start:end]

    def _best_passage(
        self, position: int, passage_scores: NDArray[np.float32], tokens: set[str]
    ) -> tuple[str, str]:
        """The passage that explains a hit: best dense score, nudged by shared query words.

        Only the case's three densest passages are read for words, which keeps this cheap.
        """
        starts = self.data.case_start
        start = int(starts[position])
        end = int(starts[position + 1]) if position + 1 < len(starts) else len(passage_scores)
        if end <= start:
            return "", ""
        rows = start + np.argsort(-passage_scores[start:end], kind="stable")[:PASSAGE_CANDIDATES]
        best: tuple[str, str] = ("", "")
        best_row = int(rows[0])
        best_value = -np.inf
        for row in rows.tolist():
            heading, text = self.passage_text(row)
            shared = len(self._stem_set(text) & tokens)
            value = float(passage_scores[row]) + PASSAGE_WORD_WEIGHT * shared / max(1, len(tokens))
            if value > best_value:
                best, best_value, best_row = (heading, text), value, row
            if shared == len(tokens):
                break  # every query word: the next (no denser) passage cannot do better
        return best[0], self._snippet(best[1], tokens, *self._cut(best_row))

    # distinct words of texts, stemmed once per searcher (see `_stem_set`)
    _stems: dict[str, str] | None = None

    def _stem_set(self, text: str) -> set[str]:
        """`set(self._tokens(text))`, with each distinct word stemmed once per searcher."""
        words = set(words_of(text))
        stems = self._stems
        if stems is None or len(stems) > 200_000:
            stems = self._stems = {}
        new = [w for w in words if w not in stems]
        if new:
            stems.update(zip(new, self._stemmer.stemWords(new), strict=True))
        words -= self._stopwords
        return {stems[w] for w in words}

    def _cut(self, row: int) -> tuple[bool, bool]:
        """Whether a passage starts after the start of its part, and ends before its end."""
        section, start, end = (int(x) for x in self.data.passage_meta[row])
        _, text = self.data.part_text(int(self.data.passage_case[row]), section)
        return start > 0, end < len(text)

    def _snippet(
        self, text: str, tokens: set[str], before: bool = False, after: bool = False
    ) -> str:
        """The passage's sentences that share most query words, about SNIPPET_CHARS long; '...'
        marks text left out before or after (`before`, `after`: the passage is part of a part)."""
        plain = clean_markdown(text)
        if len(plain) <= SNIPPET_CHARS:
            return ("... " if before else "") + plain + (" ..." if after else "")
        sentences = re.split(r"(?<=[.!?])\s+", plain)
        hits: list[int] = []
        for sentence in sentences:
            hits.append(len(self._stem_set(sentence) & tokens))
            if hits[-1] == len(tokens):
                break  # every query word: no later sentence comes first
        best = hits.index(max(hits)) if hits else 0
        first, last = best, best
        out = sentences[best]
        while len(out) < SNIPPET_CHARS and (first > 0 or last < len(sentences) - 1):
            if last < len(sentences) - 1:
                last += 1
            elif first > 0:
                first -= 1
            out = " ".join(sentences[first : last + 1])
        if len(out) > SNIPPET_CHARS:
            out = out[:SNIPPET_CHARS].rsplit(" ", 1)[0] + " ..."
        elif after and last == len(sentences) - 1:
            out += " ..."
        return ("... " if first > 0 or before else "") + out

    # the vocabulary terms a query may name, by their first word (see `_query_facets`), and
    # the last query's facets (a search asks twice)
    _terms_by_word: dict[str, list[tuple[int, list[str]]]] | None = None
    _facets_of: tuple[str, dict[str, tuple[str, ...]]] = ("", {})

    def _query_facets(self, query: str) -> dict[str, tuple[str, ...]]:
        """Vocabulary terms (topics, ICS, region) named in the query's words."""
        if self._facets_of[0] == query and query:
            return dict(self._facets_of[1])
        terms = self.data.store.get("query_terms", ())
        if self._terms_by_word is None:
            self._terms_by_word = {}
            for number, (_, _, stems) in enumerate(terms):
                self._terms_by_word.setdefault(stems[0], []).append((number, stems))
        fixed = self._reading(query)[2]
        words = [fixed.get(w, w) for w in self._tokens(query)]
        named = sorted(
            number
            for i, word in enumerate(words)
            for number, stems in self._terms_by_word.get(word, ())
            if words[i : i + len(stems)] == stems
        )
        found: dict[str, list[str]] = {}
        for number in named:  # in the vocabulary's order, as if each term were tried in turn
            name, term_id, _ = terms[number]
            ids = found.setdefault(name, [])
            if term_id not in ids:
                ids.append(term_id)
        self._facets_of = (query, {k: tuple(v) for k, v in found.items()})
        return dict(self._facets_of[1])

    def _shared(
        self, case: Mapping[str, Any], wanted: Mapping[str, Iterable[str]]
    ) -> dict[str, tuple[str, ...]]:
        """Field -> ids the case study has among those wanted (ICS predecessors count)."""
        out: dict[str, tuple[str, ...]] = {}
        for name in FACET_FIELDS:
            if name not in wanted:
                continue
            values = wanted[name]
            targets = set(_expand_ics(values, self._predecessors)) if name == "ics" else set(values)
            common = tuple(v for v in case["facets"].get(name, ()) if v in targets)
            if common:
                out[name] = common
        return out

    def label(self, field_name: str, value: str) -> str:
        """The label of a vocabulary id, as stored in the index."""
        return self._labels.get(field_name, {}).get(value, value)

    def _case_centroids(self) -> NDArray[np.float32]:
        if self._centroids is None:
            sums = np.add.reduceat(self.data.vectors, self.data.case_start, axis=0)
            norms = np.linalg.norm(sums, axis=1, keepdims=True)
            self._centroids = (sums / np.maximum(norms, 1e-12)).astype(np.float32)
        return self._centroids

    def _maxsim(self, position: int) -> NDArray[np.float32]:
        """Per case: the mean, over the source's passages, of their best match among its own."""
        start = int(self.data.case_start[position])
        end = (
            int(self.data.case_start[position + 1])
            if position + 1 < len(self.data.case_start)
            else len(self.data.vectors)
        )
        sims = self.data.vectors[start:end] @ self.data.vectors.T
        best = np.maximum.reduceat(sims, self.data.case_start, axis=1)
        return best.mean(axis=0).astype(np.float32)

    def _facet_overlap(
        self, position: int, facets: tuple[str, ...] = _SIMILAR_FACETS
    ) -> NDArray[np.float64]:
        """Jaccard overlap of the descriptive facets of each case study with the source's."""
        if self._facet_matrix is None:
            keys = sorted(
                {(f, v) for c in self.cases for f, vs in c["facets"].items() for v in vs}
            )
            column = {key: i for i, key in enumerate(keys)}
            matrix = np.zeros((len(self.cases), len(keys)), dtype=np.float32)
            for row, case in enumerate(self.cases):
                for f, vs in case["facets"].items():
                    for v in vs:
                        matrix[row, column[(f, v)]] = 1.0
            self._facet_matrix, self._facet_column = matrix, column
        column = self._facet_column
        keep = np.asarray([key[0] in facets for key in column], dtype=bool)
        matrix = self._facet_matrix[:, keep]
        column = {key: i for i, key in enumerate(k for k in column if k[0] in facets)}
        mine = np.zeros(matrix.shape[1], dtype=np.float32)
        for f in facets:
            for v in self.cases[position]["facets"].get(f, ()):
                if (f, v) in column:
                    mine[column[(f, v)]] = 1.0
        if not mine.any():
            return np.zeros(len(self.cases))
        common = matrix @ mine
        union = matrix.sum(axis=1) + mine.sum() - common
        return np.where(union > 0, common / np.maximum(union, 1), 0.0).astype(np.float64)


def _ranks(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """1-based rank of each value, highest first (ties share the better rank)."""
    order = np.argsort(-values)
    ranks = np.empty(len(values))
    # ties: give equal values the best rank among them
    sorted_vals = values[order]
    same = np.concatenate([[False], sorted_vals[1:] == sorted_vals[:-1]])
    first = np.maximum.accumulate(np.where(~same, np.arange(len(values)), 0))
    ranks[order] = first + 1
    return ranks


def _minmax(values: NDArray[np.float64]) -> NDArray[np.float64]:
    low, high = float(values.min()), float(values.max())
    if high - low < 1e-12:
        return np.where(values > 0, 1.0, 0.0) if high > 0 else np.zeros_like(values)
    return (values - low) / (high - low)


def _top(scores: NDArray[np.float64], limit: int) -> list[int]:
    candidates = np.flatnonzero(scores >= 0)
    if limit <= 0 or not len(candidates):
        return []
    if len(candidates) > limit:
        part = np.argpartition(-scores[candidates], limit - 1)[:limit]
        candidates = candidates[part]
    return [int(i) for i in candidates[np.lexsort((candidates, -scores[candidates]))]]


def _merge(*maps: Mapping[str, Iterable[str]]) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for mapping in maps:
        for key, values in mapping.items():
            bucket = out.setdefault(key, [])
            bucket.extend(v for v in values if v not in bucket)
    return {k: tuple(v) for k, v in out.items()}


def describe_hit(hit: SearchHit, searcher: Searcher) -> dict[str, Any]:
    """A hit as plain data for JSON output, with where it ran and labels beside ids."""
    case = searcher.cases[searcher._position[hit.case_id]]
    labels = case["labels"]
    facets = case["facets"]
    return {
        "id": hit.case_id,
        "title": hit.title,
        "ics": list(facets.get("ics", ())),
        "ics_labels": list(labels["ics"]),
        "region": list(facets.get("region", ())),
        "region_labels": list(labels["region"]),
        "tiers": list(facets.get("tiers", ())),
        "tier_labels": list(labels["tiers"]),
        "score": hit.score,
        "weak": hit.weak,
        "section": hit.section,
        "passage": hit.passage,
        "results": list(hit.results),
        "shared_facets": {
            name: [{"id": v, "label": searcher.label(name, v)} for v in values]
            for name, values in hit.shared_facets.items()
        },
    }


@dataclass(frozen=True)
class Found:
    """Rows for display, and, when filters left no good match, how many good matches the same
    query has without them (0 otherwise)."""

    rows: list[dict[str, Any]]
    elsewhere: int = 0
    corrected: dict[str, str] = field(default_factory=dict)  # a query word -> the word read


def find(
    content_dir: Path,
    cache_dir: Path,
    *,
    query: str | None = None,
    similar_to: str | None = None,
    filters: Filters | None = None,
    limit: int = 10,
) -> Found:
    """Open the index (reading the content only if it changed), run a search (or 'similar'),
    return rows for display."""
    searcher = Searcher.open(cache_dir, content_dir=content_dir)
    if similar_to is not None:
        hits = searcher.similar(similar_to, filters=filters, limit=limit)
        return Found([describe_hit(hit, searcher) for hit in hits])
    hits = searcher.search(query or "", filters=filters, limit=limit)
    elsewhere = 0
    if filters is not None and not filters.is_empty() and all(h.weak for h in hits):
        elsewhere = searcher.good_matches(query or "", limit=limit)
    rows = [describe_hit(hit, searcher) for hit in hits]
    return Found(rows, elsewhere, searcher.corrections(query or ""))


def correction_note(corrected: Mapping[str, str]) -> str:
    """'Read 'hypertention' as 'hypertension': no case study has 'hypertention'.'"""
    pairs = [f"'{typed}' as '{read}'" for typed, read in corrected.items()]
    typed = " or ".join(f"'{t}'" for t in corrected)
    return f"Read {', '.join(pairs)}: no case study has {typed}."


def _row_lines(number: int, row: Mapping[str, Any]) -> list[str]:
    where = " | ".join(
        part for part in (", ".join(row["ics_labels"]), ", ".join(row["region_labels"])) if part
    )
    lines = [f"{number}. {row['title']}  [{row['id']}]"]
    lines.append(
        f"   {where or 'national'} | tiers: {', '.join(row['tier_labels'])}"
        f" | score {row['score']:.2f}"
    )
    for result in row.get("results", ()):
        lines.append(f"   result: {result}")
    if row["passage"]:
        lines.append(f"   matched in {row['section']}: {row['passage']}")
    if row["shared_facets"]:
        shared = "; ".join(
            f"{FIELD_LABELS.get(name, name)}: " + ", ".join(v["label"] for v in values)
            for name, values in row["shared_facets"].items()
        )
        lines.append(f"   shares {shared}")
    lines.append("")
    return lines


def format_rows(
    rows: Sequence[Mapping[str, Any]],
    query: str | None = None,
    elsewhere: int = 0,
    corrected: Mapping[str, str] | None = None,
) -> str:
    """Results as text for people: title, where, tiers, score, and why each matched.

    Weak matches (below the relevance floor) are listed apart; when every match is weak, the
    text says so and suggests what to try, or, when the filters left out `elsewhere` good
    matches, says that. Query words read as another word (`corrected`) are named first.
    """
    lines: list[str] = [correction_note(corrected), ""] if corrected else []
    if not rows:
        return "\n".join([*lines, "No case studies match. Try other words or fewer filters."])
    strong = [r for r in rows if not r.get("weak")]
    weak = [r for r in rows if r.get("weak")]
    if not strong and elsewhere:
        lines += [
            "No good match" + (f" for '{query}'" if query else "") + " within your filters: "
            f"{elsewhere} case {'study' if elsewhere == 1 else 'studies'} outside them "
            f"{'is' if elsewhere == 1 else 'are'}; run the search again with fewer filters "
            "to see them. The closest within your filters follow.",
            "",
        ]
    elif not strong:
        lines += [
            "No good match" + (f" for '{query}'" if query else "") + ": nothing in the library "
            "is clearly about it. Try other words (what was done, for whom), a filter such as "
            "--topic or --region (`kb vocab topics` lists topics), or `kb stats` for what the "
            "library covers.",
            "",
        ]
    for number, row in enumerate(strong, 1):
        lines += _row_lines(number, row)
    if weak:
        lines += ["Weak matches (below the relevance floor):", ""]
        for number, row in enumerate(weak, len(strong) + 1):
            lines += _row_lines(number, row)
    return "\n".join(lines).rstrip()
