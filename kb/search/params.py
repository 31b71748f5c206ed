"""The ranking's parameters, all in one place: word lists, cues, the fusion and 'more like this'.

Every number here was chosen on the tuning half of the evaluation (bench/eval_retrieval.py); the
site's ranker reads the same values from the search data it is given, so the two cannot drift."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:

    pass

__all__ = ["Fusion", "Likeness"]


# fields compared by `similar` for its facet overlap
_SIMILAR_FACETS = ("topics", "tiers", "meps", "kaiser_level", "three_cs", "enablers", "challenges")


OUTCOME_STATUSES = ("achieved", "estimated", "target")


SNIPPET_CHARS = 280


# how a hit's best passage is chosen: among its densest few passages, nudged by the share of the
# query's words each holds (the site's search reads both from kb.publish.search_data's export)
PASSAGE_CANDIDATES = 3


PASSAGE_WORD_WEIGHT = 0.3


Mode = Literal["hybrid", "dense", "bm25"]


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

    def outcome_credit(self) -> dict[str, float]:
        """How much an outcome answers a question about results, by its status; an outcome with
        no number ('noFigure') counts `estimate_credit` times that. The site's ranker reads this
        table as it is (`kb.publish.search_data`)."""
        estimate = self.estimate_credit
        return {
            "achieved": 1.0,
            "estimated": estimate,
            "target": estimate / 4,
            "noFigure": estimate,
        }


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
