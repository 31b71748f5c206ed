"""How a case study becomes passages (for the model) and words (for BM25): used by index and search.

A case study is read as parts, each a text with a heading:
- the profile (`PROFILE`): title, what was done, for whom, the summary and the topics;
- the results (`RESULTS`): each outcome as a plain sentence, with its status;
- the preamble (`PREAMBLE`): body text before the first level-2 heading, if any;
- every body section, by its number.
Text that only says the sources are silent ('Not stated in the sources.', a leftover TODO) is
removed before anything is embedded, counted or shown: it is never a match or a reason. Parts
longer than the model reads are cut into overlapping token windows, so nothing is truncated.

`PassageScheme` holds the choices the evaluation compared (bench/eval_retrieval.py --passages);
`SCHEME` is the one in use, and its name is written into the index, so changing it rebuilds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kb.format.markers import is_placeholder, without_placeholders

if TYPE_CHECKING:
    from kb.format.content import Entry

__all__ = [
    "PREAMBLE",
    "PROFILE",
    "Part",
    "Passage",
    "PassageScheme",
    "RESULTS",
    "SCHEME",
    "WORD",
    "bm25_text",
    "bm25_tokens",
    "clean_markdown",
    "new_stemmer",
    "parts_for",
    "passages_for",
    "profile_text",
    "results_sentences",
    "words_of",
]

PROFILE = -1  # section number of the profile passage
PREAMBLE = -2  # section number of body text before the first level-2 heading
RESULTS = -3  # section number of the outcomes passage
PART_HEADINGS = {PROFILE: "Summary", PREAMBLE: "Introduction", RESULTS: "Results"}
WINDOW_OVERLAP = 32
PREFIX_ALLOWANCE = 24  # tokens kept free for the "title - heading:" prefix of each window
# How outcomes read as sentences (kb.format.figures.figure_sentence), which passages and the search
# file
# hold: a change to that wording must change this, so that indexes rebuild what they store.
FIGURE_WORDING = "figures-v3-comparison-share-of"
_SECTION_START = re.compile(r"^##(?!#)")

# a word for BM25 and for explanations: two or more word characters (see `words_of`)
WORD = re.compile(r"(?u)\b\w\w+\b")
# a letter, '&' and a letter standing alone ('A&E', 'R&D'): read as one word ('ae'), since single
# letters are no words
_LETTER_AND_LETTER = re.compile(r"(?<!\w)([^\W\d_])&([^\W\d_])(?!\w)")
# a link: its text holds no bracket, its target parentheses one deep at most ('a_(b)'), so that
# runs of brackets take linear time (the site's ranker cleans text the same way, rank.js MD_LINK)
_MD_LINK = re.compile(r"\[([^\[\]]*)\]\((?:[^()]|\([^()]*\))*\)")
_MD_MARKS = re.compile(r"[*_`#>|]+")









def clean_markdown(text: str) -> str:
    """Markdown as plain prose for the model: links keep their words, marks and newlines go."""
    text = _MD_LINK.sub(r"\1", text)
    text = _MD_MARKS.sub(" ", text)
    return re.sub(r"\s+", " ", text).strip()


def _drop_link_targets(text: str) -> str:
    return _MD_LINK.sub(r"\1", text) if "](" in text else text


@dataclass(frozen=True)
class PassageScheme:
    """What the model reads of a case study (each choice was compared on the tuning half)."""

    profile: str = "what-first"  # 'summary-first': title, summary, for, what; or what-first
    results: bool = True  # a passage of the outcomes as sentences
    section_context: bool = False  # prefix section windows with the cohort as well as the title
    window: int = 0  # most tokens a passage holds (0: as many as the model reads)

    @property
    def name(self) -> str:
        size = f"-size{self.window}" if self.window else ""
        return (
            f"parts-v4-linear-links/profile-{self.profile}/results-{int(self.results)}/"
            f"context-{int(self.section_context)}/word-windows-overlap{WINDOW_OVERLAP}{size}/"
            f"{FIGURE_WORDING}"
        )


# Chosen on the tuning half (bench/eval_retrieval.py --passages prints the comparison).
SCHEME = PassageScheme()


@dataclass(frozen=True)
class Part:
    """A part of a case study, placeholders removed: its section number, heading and text."""

    section: int  # PROFILE, RESULTS, PREAMBLE or a body section's number
    heading: str
    text: str  # Markdown as written (offsets of passages point into it)


@dataclass(frozen=True)
class Passage:
    """A piece of a case study that gets one vector: a window of one part."""

    section: int  # the part's section number
    start: int  # character offsets into the part's text
    end: int
    text: str  # what the model reads


def _labels(field_name: str, values: Sequence[str]) -> list[str]:
    from kb.format.vocab import load_vocabularies

    vocabulary = load_vocabularies().for_field(field_name)
    return [vocabulary.label(v) for v in values]


def profile_text(entry: Entry, scheme: PassageScheme | None = None) -> str:
    """The profile passage: title, what was done, for whom, summary and topics."""
    scheme = scheme or SCHEME
    case = entry.case
    what = [i for i in case.interventions if not is_placeholder(i)]
    cohort = None if is_placeholder(case.cohort) else case.cohort
    summary = without_placeholders(case.summary)
    parts = [f"{case.title}."]
    if scheme.profile == "what-first":
        if what:
            parts.append("What was done: " + "; ".join(w.rstrip(".") for w in what) + ".")
        if cohort:
            parts.append(f"For: {cohort.rstrip('.')}.")
        parts.append(summary)
    else:
        parts.append(summary)
        if cohort:
            parts.append(f"For: {cohort.rstrip('.')}.")
        if what:
            parts.append("What: " + "; ".join(w.rstrip(".") for w in what) + ".")
    if case.topics:
        parts.append("Topics: " + ", ".join(_labels("topics", case.topics)) + ".")
    return " ".join(p.strip() for p in parts if p and p.strip())


def results_sentences(entry: Entry) -> list[str]:
    """Each outcome as a plain sentence ('33% fewer admissions in the first year')."""
    from kb.format.figures import figure_sentence
    from kb.format.vocab import load_vocabularies

    vocab = load_vocabularies()
    out = []
    for outcome in entry.case.outcomes:
        sentence = without_placeholders(figure_sentence(outcome, vocab)).strip()
        if sentence and not is_placeholder(sentence):
            out.append(sentence.rstrip(".") + ".")
    return out


def preamble_text(entry: Entry) -> str:
    """Body text before the first level-2 heading (usually empty), so that it is indexed too."""
    lines = []
    for line in entry.body.split("\n"):
        if _SECTION_START.match(line):
            break
        lines.append(line)
    return "\n".join(lines).strip()


def parts_for(entry: Entry, scheme: PassageScheme | None = None) -> list[Part]:
    """The parts of a case study that are embedded and shown, placeholders removed."""
    scheme = scheme or SCHEME
    parts = [Part(PROFILE, PART_HEADINGS[PROFILE], profile_text(entry, scheme))]
    if scheme.results:
        sentences = results_sentences(entry)
        if sentences:
            parts.append(Part(RESULTS, PART_HEADINGS[RESULTS], " ".join(sentences)))
    preamble = without_placeholders(preamble_text(entry))
    if preamble:
        parts.append(Part(PREAMBLE, PART_HEADINGS[PREAMBLE], preamble))
    for number, section in enumerate(entry.sections):
        text = without_placeholders(section.text)
        if text and not is_placeholder(clean_markdown(text)):
            parts.append(Part(number, section.heading, text))
    return parts


def _windows(spans: list[tuple[int, int]], size: int, length: int) -> list[tuple[int, int]]:
    """Character ranges of overlapping windows of at most `size` tokens covering a text.

    The first window starts at 0 and the last ends at `length`, so nothing between tokens
    (closing punctuation, for a tokenizer that skips it) is lost either. Windows start and end
    between words, never inside one ('Gentoo' is three tokens): a start moves back to its word's
    first token, and an end back to the word before.
    """
    if not spans:
        return []
    if len(spans) <= size:
        return [(0, length)]
    step = max(1, size - WINDOW_OVERLAP)
    out = []
    for first in range(0, len(spans), step):
        last = min(first + size, len(spans)) - 1
        start = 0 if first == 0 else spans[_word_start(spans, first)][0]
        if last == len(spans) - 1:
            end = length
        else:
            cut = _word_start(spans, last + 1)
            end = spans[cut - 1][1] if cut > first else spans[last][1]
        out.append((start, end))
        if last == len(spans) - 1:
            break
    return out


WORD_TOKENS = 16  # the most tokens of one word (longer runs, such as addresses, are cut anywhere)


def _word_start(spans: list[tuple[int, int]], token: int) -> int:
    """The first token of the word that `token` is in: tokens with nothing between them."""
    first = token
    while first > 0 and spans[first][0] == spans[first - 1][1]:
        first -= 1
        if token - first >= WORD_TOKENS:
            return token
    return first


def passages_for(
    entry: Entry, embedder: Any, scheme: PassageScheme | None = None
) -> list[Passage]:
    """Every passage of a case study; long parts become overlapping token windows.

    The profile is read as it is; other parts are prefixed with the title and their heading
    ('Title - Outcomes: ...'), so a window still says which initiative it is about.
    """
    scheme = scheme or SCHEME
    token_spans: Callable[[str], list[tuple[int, int]]] = embedder.token_spans
    size = max(16, int(embedder.max_tokens) - 2 - PREFIX_ALLOWANCE)
    if scheme.window:
        size = min(size, scheme.window)
    title = entry.case.title
    context = title
    if scheme.section_context and not is_placeholder(entry.case.cohort):
        context = f"{title} (for {entry.case.cohort})"
    passages = []
    for part in parts_for(entry, scheme):
        text = part.text
        windows = _windows(token_spans(text), size, len(text)) or [(0, len(text))]
        for start, end in windows:
            if part.section == PROFILE:
                passages.append(Passage(PROFILE, start, end, text[start:end]))
                continue
            body = clean_markdown(text[start:end])
            prefixed = f"{context} - {part.heading}: {body}"
            passages.append(Passage(part.section, start, end, prefixed))
    return passages


def bm25_text(entry: Entry) -> str:
    """The BM25 document of a case study: its words and the labels of its metadata.

    Title and summary count twice, as a lead paragraph would in a search engine. Placeholder
    sentences are left out.
    """
    case = entry.case
    parts = [case.title, case.title, case.summary, case.summary]
    parts += case.organisations + case.partners + case.interventions
    parts += [case.place or "", case.cohort or ""]
    parts += [o.metric for o in case.outcomes]
    parts += _metadata_words(entry)
    # BM25 words ignore Markdown marks; only link targets would add noise words
    parts.append(_drop_link_targets(preamble_text(entry)))
    parts += [f"{s.heading} {_drop_link_targets(s.text)}" for s in entry.sections]
    return "\n".join(without_placeholders(p) for p in parts if p and not is_placeholder(p))


def _metadata_words(entry: Entry) -> list[str]:
    from kb.format.vocab import load_vocabularies

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


def words_of(text: str) -> list[str]:
    """The lower-cased words of a text, as BM25 and explanations read them: two or more word
    characters, and 'A&E' as 'ae'."""
    lower = text.lower()
    if "&" in lower:
        lower = _LETTER_AND_LETTER.sub(r"\1\2", lower)
    return WORD.findall(lower)


def bm25_tokens(text: str, stemmer: Any, stopwords: frozenset[str]) -> list[str]:
    """Lower-cased words (`words_of`), stop words out, stemmed (as bm25s does)."""
    words = [w for w in words_of(text) if w not in stopwords]
    return list(stemmer.stemWords(words))


def new_stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")
