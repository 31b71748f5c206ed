"""Peer-review packs for facilitators: a session's cases, agenda, roles, prompts and notes page.

A pack is built once (`build_pack`) as plain data; `kb.tools.pack_text` renders it as Markdown or
as HTML that prints cleanly on A4. Selection keeps only case studies relevant to the theme: those
tagged with a topic the theme names, or, when the theme names none, whose own words (never a
'not stated' line) contain the theme's words. Among them the closest come first; among equally
close ones, those with outcome figures, then a mix of regions, ICSs and tiers; it says so when
fewer relevant cases exist than were asked for. The participants' own case studies are left out
of the comparables and summarised as the session's starting point.

It reads the library through `kb.search`; it never reads files or prints."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml

from kb.errors import SearchError
from kb.format.content import Entry
from kb.format.figures import counted
from kb.format.markers import is_placeholder, without_placeholders
from kb.format.vocab import in_sentence, load_vocabularies, normalise
from kb.search.filters import Filters
from kb.search.searcher import Searcher, SearchHit

__all__ = [
    "AgendaItem",
    "Pack",
    "PackCase",
    "PackRequest",
    "Prompt",
    "build_pack",
    "case_words",
    "plan_agenda",
    "relevance",
    "theme_topics",
]


Format = Literal["md", "html"]


MIN_MINUTES = 30


_STATUS = {"achieved": "Achieved", "estimated": "Estimate", "target": "Target"}


_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "the",
        "of",
        "for",
        "in",
        "on",
        "to",
        "with",
        "by",
        "at",
        "from",
        "or",
        "our",
        "their",
        "its",
        "is",
        "are",
        "be",
        "as",
        "into",
        "how",
        "what",
        "who",
        "why",
        "we",
        "people",
        "work",
        "prevention",
        "programme",
        "programmes",
        "project",
        "session",
    ]
)


@dataclass(frozen=True)
class PackRequest:
    """What a facilitator asks for."""

    theme: str
    participants: tuple[str, ...] = ()  # ICS ids of the systems taking part
    limit: int = 4  # how many comparable case studies
    filters: Filters | None = None
    today: date | None = None  # the date printed on the pack (default: today)
    minutes: int = 90  # the length of the session


@dataclass(frozen=True)
class AgendaItem:
    """One slot of the session."""

    start: int  # minutes from the start
    minutes: int
    title: str
    lead: str  # the role that leads it


@dataclass(frozen=True)
class PackCase:
    """A comparable case study and why it was chosen."""

    entry: Entry
    score: float
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Prompt:
    """A discussion question tied to the case studies that raise it."""

    text: str
    cases: tuple[str, ...]  # titles
    basis: str  # what ties it to them: '3Cs: capacity', 'challenge: ...', 'tier: ...'


@dataclass
class Pack:
    """Everything a session needs, as data."""

    theme: str
    day: date
    minutes: int
    participants: tuple[str, ...]  # ICS labels
    own: dict[str, list[Entry]]  # participant label -> its case studies on the theme
    cases: list[PackCase]
    selection: list[str]  # how the cases were chosen, in sentences
    agenda: list[AgendaItem]
    roles: list[tuple[str, str]]
    prompts: list[Prompt]
    notes: list[str] = field(default_factory=list)


@cache
def _prompts() -> dict[str, Any]:
    text = resources.files("kb").joinpath("data", "prompts.yml").read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def theme_topics(theme: str) -> tuple[str, ...]:
    """Topic ids the theme names ('falls and frailty' -> falls, frailty)."""
    topics = load_vocabularies().topics
    found = topics.resolve(theme)
    if found:
        return (found,)
    several = topics.split(theme)
    if several:
        return tuple(several)
    words = normalise(theme).split()
    out: list[str] = []
    for size in (3, 2, 1):
        for start in range(len(words) - size + 1):
            term = topics.resolve(" ".join(words[start : start + size]))
            if term and term not in out:
                out.append(term)
    return tuple(out)


def _stem(word: str) -> str:
    for suffix in ("ies", "es", "s", "ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def _theme_words(theme: str) -> set[str]:
    return {_stem(w) for w in normalise(theme).split() if w not in _STOP and len(w) >= 3}


def case_words(entry: Entry) -> set[str]:
    """The stemmed words of a case study's own text, with 'not stated' sentences removed."""
    case = entry.case
    vocab = load_vocabularies()
    parts = [case.title, case.summary, case.cohort or "", *case.interventions]
    parts += [vocab.topics.label(t) for t in case.topics]
    parts += [s.text for s in entry.sections]
    # kb.index.passages decides what is placeholder text, for search and packs alike
    text = "\n".join(without_placeholders(p) for p in parts if not is_placeholder(p))
    return {_stem(w) for w in normalise(text).split()}


def relevance(entry: Entry, theme: str) -> tuple[bool, list[str]]:
    """Whether a case study is about the theme, and the reasons (topics or words it shares)."""
    topics = theme_topics(theme)
    vocab = load_vocabularies()
    if topics:
        shared = [t for t in topics if t in entry.case.topics]
        reasons = [f"tagged {in_sentence(vocab.topics.label(t))}" for t in shared]
        return bool(shared), reasons
    wanted = _theme_words(theme)
    shared_words = sorted(wanted & case_words(entry))
    if not wanted:
        return False, []
    # most of the theme's words, and at least one, in the case study's own text
    enough = len(shared_words) >= max(1, (len(wanted) + 1) // 2)
    return enough, [f"its text mentions {', '.join(shared_words)}"] if enough else []


def _is_participant(entry: Entry, participants: Sequence[str]) -> bool:
    return bool(participants) and Filters(ics=tuple(participants)).matches(entry.case)


# case studies whose scores lie this close to the best one left count as equally relevant: among
# them, one with outcome figures, then one from a region, system or tier not yet in the pack, wins
EQUALLY_RELEVANT = 0.05


def _has_figures(entry: Entry) -> bool:
    """Whether a case study gives at least one outcome with a number."""
    return any(outcome.numeric for outcome in entry.case.outcomes)


def _diverse(candidates: list[tuple[SearchHit, Entry, list[str]]], count: int) -> list[PackCase]:
    """Relevance first: strong matches before weak ones, the closest first; among case studies
    about equally relevant (scores within EQUALLY_RELEVANT of the best left), one with outcome
    figures first, then one that adds a region, system or tier the pack lacks."""
    chosen: list[PackCase] = []
    regions: Counter[str] = Counter()
    systems: Counter[str] = Counter()
    tiers: Counter[str] = Counter()
    pool = list(candidates)
    while pool and len(chosen) < count:
        lead = max(pool, key=lambda item: (not item[0].weak, item[0].score))[0]
        tied = [
            item
            for item in pool
            if item[0].weak == lead.weak and item[0].score >= lead.score - EQUALLY_RELEVANT
        ]

        def balance(item: tuple[SearchHit, Entry, list[str]]) -> tuple[bool, float, float]:
            hit, entry, _ = item
            case = entry.case
            repeats = 1.0 * sum(regions[r] for r in case.region or ["national"])
            repeats += 0.5 * sum(systems[i] for i in case.ics)
            repeats += 0.1 * sum(tiers[t] for t in case.tiers)
            return (_has_figures(entry), -repeats, hit.score)

        best = max(tied, key=balance)
        pool.remove(best)
        hit, entry, reasons = best
        case = entry.case
        extra = []
        if chosen and not any(regions[r] for r in case.region or ["national"]):
            extra.append("adds a region not yet in the pack")
        regions.update(case.region or ["national"])
        systems.update(case.ics)
        tiers.update(case.tiers)
        chosen.append(PackCase(entry, hit.score, tuple(reasons + extra)))
    return chosen


def plan_agenda(minutes: int, cases: int, participants: int) -> list[AgendaItem]:
    """Timed slots that add up to `minutes` exactly (at least MIN_MINUTES), none under 2."""
    if minutes < MIN_MINUTES:
        raise SearchError(
            f"a session of {minutes} minutes is too short for a peer review; "
            f"hint: give --minutes {MIN_MINUTES} or more"
        )
    slots: list[tuple[float, str, str]] = [
        (5, "Welcome, purpose and ground rules", "Chair"),
        (
            10 if participants else 5,
            "Where we start: the participating systems' own work",
            "Participants",
        ),
    ]
    slots += [
        (8, f"Case study {n}: presentation and questions", "Presenter") for n in range(1, cases + 1)
    ]
    slots += [
        (10, "Outcomes side by side: what counts as evidence here?", "Chair"),
        (20, "Discussion: the prompts", "Chair"),
        (10, "Actions, owners and next steps", "Note-taker"),
    ]
    if minutes < 3 * len(slots):
        raise SearchError(
            f"{cases} case studies do not fit in {minutes} minutes; "
            f"hint: ask for fewer --cases or more --minutes (about 8 minutes a case)"
        )
    weight = sum(w for w, _, _ in slots)
    shares = [max(2.0, w * minutes / weight) for w, _, _ in slots]
    scale = (minutes - 2 * len(slots)) / max(1e-9, sum(s - 2 for s in shares))
    shares = [2 + (s - 2) * scale for s in shares]
    lengths = [int(s) for s in shares]
    # the minutes lost to rounding go to the slots that lost most
    order = sorted(range(len(slots)), key=lambda i: lengths[i] - shares[i])
    for i in order[: minutes - sum(lengths)]:
        lengths[i] += 1
    agenda: list[AgendaItem] = []
    start = 0
    for length, (_, title, lead) in zip(lengths, slots, strict=True):
        agenda.append(AgendaItem(start, length, title, lead))
        start += length
    return agenda


def _prompt_list(cases: Sequence[PackCase]) -> list[Prompt]:
    prompts = _prompts()
    vocab = load_vocabularies()
    out: list[Prompt] = []

    def titles(field_name: str, value: str) -> tuple[str, ...]:
        return tuple(
            c.entry.case.title for c in cases if value in getattr(c.entry.case, field_name)
        )

    three_cs = Counter(v for c in cases for v in c.entry.case.three_cs)
    for value, _ in three_cs.most_common():
        if value in prompts["three_cs"]:
            basis = f"3Cs: {in_sentence(vocab.three_cs.label(value))}"
            out.append(
                Prompt(_one_line(prompts["three_cs"][value]), titles("three_cs", value), basis)
            )
    challenges = Counter(v for c in cases for v in c.entry.case.challenges)
    for value, _ in challenges.most_common(3):
        if value in prompts["challenges"]:
            basis = f"challenge: {in_sentence(vocab.challenges.label(value))}"
            text = _one_line(prompts["challenges"][value])
            out.append(Prompt(text, titles("challenges", value), basis))
    tiers = Counter(v for c in cases for v in c.entry.case.tiers)
    for value, _ in tiers.most_common(2):
        if value in prompts.get("tiers", {}):
            basis = f"tier: {in_sentence(vocab.tiers.label(value))}"
            out.append(Prompt(_one_line(prompts["tiers"][value]), titles("tiers", value), basis))
    estimated = tuple(
        c.entry.case.title
        for c in cases
        if any(o.status != "achieved" for o in c.entry.case.outcomes)
    )
    if estimated:
        out.append(Prompt(_one_line(prompts["estimates"]), estimated, "estimates and targets"))
    out += [Prompt(_one_line(p), (), "general") for p in prompts["general"][:2]]
    return out


def _one_line(text: Any) -> str:
    return " ".join(str(text).split())


def build_pack(searcher: Searcher, entries: Sequence[Entry], request: PackRequest) -> Pack:
    """Choose the cases and lay out the session; SearchError when nothing relevant exists."""
    if not request.theme.strip():
        raise SearchError("the theme is empty; hint: say what the session is about, in words")
    vocab = load_vocabularies()
    by_id = {e.case.id: e for e in entries}
    hits = searcher.search(request.theme, filters=request.filters, limit=len(by_id))
    relevant: list[tuple[SearchHit, Entry, list[str]]] = []
    own_relevant: list[Entry] = []
    for hit in hits:
        entry = by_id[hit.case_id]
        ok, reasons = relevance(entry, request.theme)
        if not ok:
            continue
        if _is_participant(entry, request.participants):
            own_relevant.append(entry)
        else:
            relevant.append((hit, entry, reasons))
    if not relevant:
        topics = theme_topics(request.theme)
        named = ", ".join(vocab.topics.label(t) for t in topics)
        raise SearchError(
            "no case study from outside the participating systems is about "
            f"'{request.theme}'"
            + (f" (topics: {named})" if named else "")
            + "; hint: widen the theme or drop a filter"
        )
    cases = _diverse(relevant, request.limit)
    own: dict[str, list[Entry]] = {}
    for ics in request.participants:
        mine = [e for e in entries if _is_participant(e, (ics,))]
        on_theme = [e for e in own_relevant if e in mine]
        own[vocab.ics.label(ics)] = on_theme or mine
    selection = _selection_text(request, cases, len(relevant))
    labels = tuple(vocab.ics.label(i) for i in request.participants)
    agenda = plan_agenda(request.minutes, len(cases), len(labels))
    roles = _roles(labels, cases)
    return Pack(
        theme=request.theme.strip(),
        day=request.today or date.today(),
        minutes=request.minutes,
        participants=labels,
        own=own,
        cases=cases,
        selection=selection,
        agenda=agenda,
        roles=roles,
        prompts=_prompt_list(cases),
    )


def _selection_text(request: PackRequest, cases: Sequence[PackCase], available: int) -> list[str]:
    vocab = load_vocabularies()
    topics = theme_topics(request.theme)
    if topics:
        rule = "tagged with " + " or ".join(in_sentence(vocab.topics.label(t)) for t in topics)
    else:
        rule = "whose own text (not 'not stated' lines) uses the theme's words"
    lines = [
        f"Only case studies {rule} were considered: {available} from outside the "
        "participating systems."
    ]
    regions = {r for c in cases for r in c.entry.case.region} or {"national"}
    lines.append(
        f"Among them, the closest to the theme were taken; among equally close ones, those with "
        f"outcome figures, then a mix of regions, systems and tiers: "
        f"{counted(len(cases), 'case study', 'case studies')} from "
        f"{counted(len(regions), 'region', 'regions')}."
    )
    if available < request.limit:
        lines.append(
            f"You asked for {request.limit}; the library holds only "
            f"{counted(available, 'relevant case study', 'relevant case studies')} from "
            "elsewhere, so the pack has fewer."
        )
    if request.participants:
        lines.append("The participating systems' own case studies are left out of the comparables.")
    return lines


def _roles(participants: Sequence[str], cases: Sequence[PackCase]) -> list[tuple[str, str]]:
    roles = [
        ("Chair", "keeps time, opens and closes each item, makes sure every system is heard"),
        ("Note-taker", "records points on the notes page and the actions with owners and dates"),
    ]
    vocab = load_vocabularies()
    for n, case in enumerate(cases, 1):
        who = (
            f"someone from {participants[(n - 1) % len(participants)]}"
            if participants
            else "a volunteer"
        )
        own = case.entry.case
        systems = " and ".join(vocab.ics.label(i) for i in own.ics)
        whose = f"{systems}'s work" if systems else "work done nationally"
        roles.append(
            (
                f"Presenter, case study {n}",
                f"{who} reads '{own.title}' ({whose}) beforehand and presents it in three minutes",
            )
        )
    return roles
