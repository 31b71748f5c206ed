"""The published site's pages, made from case-study entries and 'similar' search hits.

Everything here is renderer-neutral: functions take `Entry` objects (never re-parsing front-matter)
and search hits as plain data, and return Markdown strings with the docs-relative path each page
should have. `kb.mkdocs_plugin` is the thin adapter that hands them to mkdocs-material.

Contributed text is untrusted. Every front-matter string is escaped before it enters a page
(`md_text`), and the rendered HTML of a case-study page is sanitised (`sanitise_html`) so that
neither the front-matter nor the body can put script into the site.
"""

from __future__ import annotations

import html
import posixpath
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlencode, urlsplit

from kb.figures import figure_sentence, format_amount
from kb.passages import is_placeholder
from kb.vocab import Vocabularies, Vocabulary, in_sentence

if TYPE_CHECKING:
    from kb.content import Entry
    from kb.model import CaseStudy, Figure, Outcome

__all__ = [
    "BROWSE_FACETS",
    "CATALOGUE_FACETS",
    "CATALOGUE_PATH",
    "COVERAGE_PATH",
    "Facet",
    "SimilarHit",
    "SitePage",
    "browse_pages",
    "case_page",
    "case_path",
    "catalogue_page",
    "coverage_page",
    "expand_markers",
    "facet_values",
    "headline_outcomes",
    "make_pages",
    "md_text",
    "plain_title",
    "problems_html",
    "repository_file_url",
    "sanitise_html",
    "unknown_case_links",
]

# front-matter for generated list pages: their text repeats the case studies', so search skips them
NOT_SEARCHED = "---\nsearch:\n  exclude: true\n---\n\n"
CASES_DIR = "cases"
BROWSE_DIR = "browse"
CATALOGUE_PATH = "catalogue.md"
COVERAGE_PATH = "coverage.md"
FRAMEWORKS_PATH = "frameworks.md"


class SimilarHit(Protocol):
    """What a page needs from a 'similar' search hit (`kb.search.SearchHit` fits)."""

    @property
    def case_id(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def score(self) -> float: ...

    @property
    def shared_facets(self) -> Mapping[str, Sequence[str]]: ...


@dataclass(frozen=True)
class SitePage:
    """One generated page: where it goes (docs-relative .md path) and its Markdown."""

    path: str
    markdown: str
    kind: str  # "case", "browse", "catalogue" or "coverage"
    case_id: str | None = None
    title: str | None = None  # set where the title is contributed text


@dataclass(frozen=True)
class Facet:
    """A way to group case studies: a field of the case study and its vocabulary."""

    key: str  # URL slug, query parameter and data attribute
    field: str  # CaseStudy field name, or "evidence" for the evidence level
    vocab: str  # attribute of Vocabularies
    title: str  # singular heading, e.g. "Prevention tier"
    plural: str  # e.g. "prevention tiers"


REGION = Facet("region", "region", "regions", "Region", "regions")
ICS = Facet("ics", "ics", "ics", "Integrated care system", "integrated care systems")
TIER = Facet("tier", "tiers", "tiers", "Prevention tier", "prevention tiers")
MEPS = Facet("meps", "meps", "meps", "MEPS category", "MEPS categories")
THREE_CS = Facet("three-cs", "three_cs", "three_cs", "3Cs theme", "3Cs themes")
TOPIC = Facet("topic", "topics", "topics", "Topic", "topics")
STATUS = Facet("status", "status", "statuses", "Status", "statuses")
LEVEL = Facet("level", "level", "levels", "Level of the system", "levels of the system")
EVIDENCE = Facet("evidence", "evidence", "evidence_levels", "Evidence level", "evidence levels")

BROWSE_FACETS: tuple[Facet, ...] = (REGION, ICS, TIER, MEPS, THREE_CS, TOPIC)
CATALOGUE_FACETS: tuple[Facet, ...] = (*BROWSE_FACETS, STATUS, LEVEL, EVIDENCE)

_STATUS_GROUPS = (
    ("achieved", "Achieved results", "Measured after the initiative ran."),
    ("estimated", "Estimates", "Modelled or projected figures: not measured results."),
    ("target", "Targets", "What the initiative aims for: not results."),
)

# Characters that could start Markdown or HTML syntax, as character references. Python-Markdown
# passes references through untouched, so the text reads the same and cannot become markup.
_MD_ESCAPES = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    '"': "&quot;",
    "*": "&#42;",
    "_": "&#95;",
    "[": "&#91;",
    "]": "&#93;",
    "`": "&#96;",
    "|": "&#124;",
    "\\": "&#92;",
    "{": "&#123;",
    "}": "&#125;",
    "#": "&#35;",
    "!": "&#33;",
}
_MD_ESCAPE_TABLE = str.maketrans(_MD_ESCAPES)


def md_text(value: object) -> str:
    """Escape contributed text for a Markdown page: it reads the same and cannot become markup."""
    text = " ".join(str(value).split()).translate(_MD_ESCAPE_TABLE)
    # a leading '-', '+' or '1.' would start a list
    if text[:1] in ("-", "+"):
        return f"&#{ord(text[0])};{text[1:]}"
    return re.sub(r"^(\d+)\.", r"\1&#46;", text)


def plain_title(value: str) -> str:
    """A page title safe in templates that print it raw or unescape it (no markup can form)."""
    text = " ".join(value.split()).replace("<", "\u2039").replace(">", "\u203a")
    return re.sub(r"&(?=[#A-Za-z0-9])", "&amp;", text)


def attr(value: object) -> str:
    """Escape a value for an HTML attribute."""
    return html.escape(" ".join(str(value).split()), quote=True)


def case_path(case_id: str) -> str:
    """The docs-relative path of a case study's page."""
    return f"{CASES_DIR}/{case_id}.md"


def browse_path(facet: Facet, value: str | None = None) -> str:
    """The docs-relative path of a facet's index page, or of one value's page."""
    if value is None:
        return f"{BROWSE_DIR}/{facet.key}/index.md"
    return f"{BROWSE_DIR}/{facet.key}/{value}.md"


def link(from_path: str, to_path: str, query: Mapping[str, str] | None = None) -> str:
    """A relative Markdown link target from one docs page to another (mkdocs resolves `.md`)."""
    base = posixpath.dirname(from_path)
    target = posixpath.relpath(to_path, base or ".")
    if query:
        target += "?" + urlencode(query)
    return target


def _md_link(
    label: str, from_path: str, to_path: str, query: Mapping[str, str] | None = None
) -> str:
    return f"[{md_text(label)}]({link(from_path, to_path, query)})"


def facet_values(case: CaseStudy, facet: Facet) -> tuple[str, ...]:
    """The vocabulary ids a case study has for a facet."""
    if facet.field == "evidence":
        return (str(case.evidence.level),)
    value = getattr(case, facet.field)
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def _vocab(vocab: Vocabularies, facet: Facet) -> Vocabulary:
    result: Vocabulary = getattr(vocab, facet.vocab)
    return result


def _labels(vocabulary: Vocabulary, ids: Iterable[str]) -> list[str]:
    return [vocabulary.label(i) for i in ids]


def _source_ref(figure: Figure, case: CaseStudy) -> str:
    """'source 1, p. 9' as HTML, the number linking to the numbered reference."""
    if figure.source > len(case.sources):
        return "source not stated"
    ref = f'source <a href="#source-{figure.source}">{figure.source}</a>'
    if isinstance(figure.page, int) or (isinstance(figure.page, str) and figure.page.isdigit()):
        ref += f", p. {figure.page}"
    elif figure.page:
        ref += f", {html.escape(str(figure.page))}"
    return ref


HEADLINE_LIMIT = 3
# kinds of outcome a leader looks for first
_KIND_ORDER = ("health", "service-use", "financial", "wider-determinants", "experience", "process")


def headline_outcomes(case: CaseStudy, limit: int = HEADLINE_LIMIT) -> list[Outcome]:
    """The results a case page opens with: achieved ones first, health and service use first.

    Estimates and targets fill the remaining places only when there are too few achieved results.
    """

    def rank(item: tuple[int, Outcome]) -> tuple[int, int, int, int]:
        index, outcome = item
        status = ("achieved", "estimated", "target").index(outcome.status)
        kind = _KIND_ORDER.index(outcome.kind) if outcome.kind in _KIND_ORDER else len(_KIND_ORDER)
        return (status, 0 if outcome.numeric else 1, kind, index)

    ranked = sorted(enumerate(case.outcomes), key=rank)
    return [outcome for _, outcome in ranked[:limit]]


def _facts_rows(entry: Entry, vocab: Vocabularies, here: str) -> list[tuple[str, str]]:
    """Rows of the metadata panel: (fact, Markdown value)."""
    case = entry.case
    rows: list[tuple[str, str]] = []

    def linked(facet: Facet) -> str:
        vocabulary = _vocab(vocab, facet)
        values = facet_values(case, facet)
        return ", ".join(_md_link(vocabulary.label(v), here, browse_path(facet, v)) for v in values)

    def filtered(facet: Facet) -> str:
        vocabulary = _vocab(vocab, facet)
        return ", ".join(
            _md_link(vocabulary.label(v), here, CATALOGUE_PATH, {facet.key: v})
            for v in facet_values(case, facet)
        )

    rows.append(("Region", linked(REGION) or "National (no single region)"))
    rows.append(("Integrated care system", linked(ICS) or "None named (national or regional)"))
    if case.place:
        rows.append(("Place", md_text(case.place)))
    if case.level:
        rows.append(("Level", filtered(LEVEL)))
    if case.started:
        years = case.started[:4]
        if case.ended:
            years += f" to {case.ended[:4]}"
        rows.append(("Started", md_text(years)))
    if case.status:
        rows.append(("Status", filtered(STATUS)))
    rows.append(("Prevention tiers", linked(TIER)))
    if case.kaiser_level:
        rows.append(
            ("Kaiser pyramid", md_text(", ".join(_labels(vocab.kaiser, case.kaiser_level))))
        )
    if case.meps:
        rows.append(("MEPS", linked(MEPS)))
    if case.three_cs:
        rows.append(("3Cs", linked(THREE_CS)))
    if case.topics:
        rows.append(("Topics", linked(TOPIC)))
    evidence = case.evidence
    level_label = vocab.evidence_levels.label(str(evidence.level))
    text = _md_link(level_label, here, CATALOGUE_PATH, {EVIDENCE.key: str(evidence.level)})
    labels = [vocab.evidence_methods.label(m) for m in evidence.method]
    methods = " and ".join([labels[0], *(in_sentence(label) for label in labels[1:])])
    text += f" ({md_text(methods)}"
    if evidence.evaluator and not is_placeholder(evidence.evaluator):
        text += f"; evaluated by {md_text(evidence.evaluator)}"
    text += ")"
    rows.append(("Evidence", text))
    rows.append(("Led by", md_text("; ".join(case.organisations))))
    if case.partners:
        rows.append(("Partners", md_text("; ".join(case.partners))))
    if case.cohort:
        rows.append(("Who it is for", md_text(case.cohort)))
    if case.enablers:
        rows.append(("Enablers", md_text(", ".join(_labels(vocab.enablers, case.enablers)))))
    if case.challenges:
        rows.append(
            ("Challenges overcome", md_text(", ".join(_labels(vocab.challenges, case.challenges))))
        )
    if case.drivers:
        rows.append(("Drivers", md_text(", ".join(_labels(vocab.drivers, case.drivers)))))
    if case.funding is not None:
        funding = case.funding
        parts = []
        if funding.source:
            parts.append(md_text(funding.source))
        if funding.amount_gbp is not None:
            parts.append(format_amount(funding.amount_gbp, "GBP", vocab))
        if funding.recurrent is not None:
            parts.append("recurrent" if funding.recurrent else "non-recurrent")
        if parts:
            rows.append(("Funding", "; ".join(parts)))
    if case.reviewed:
        rows.append(("Last reviewed", case.reviewed.isoformat()))
    return rows


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines.extend("| " + " | ".join(cell or " " for cell in row) + " |" for row in rows)
    return lines


def _figure_card(figure: Figure, case: CaseStudy, vocab: Vocabularies) -> str:
    """One figure as a card: its sentence, then what it is, what it is compared with, its source."""
    status = getattr(figure, "status", "setting")
    details = []
    kind = getattr(figure, "kind", None)
    if kind:
        details.append(html.escape(vocab.outcome_kinds.label(kind)))
    if figure.comparator and figure.comparator.strip().lower() != "not stated":
        details.append("compared with " + html.escape(" ".join(figure.comparator.split())))
    details.append(_source_ref(figure, case))
    card = (
        f'<li class="kb-figure kb-figure-{status}">'
        f'<p class="kb-figure-text">{html.escape(figure_sentence(figure, vocab))}</p>'
        f'<p class="kb-figure-meta">{_cap(" · ".join(details))}</p>'
    )
    if figure.note:
        card += f'<p class="kb-figure-note">{html.escape(" ".join(figure.note.split()))}</p>'
    return card + "</li>"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _figures_section(entry: Entry, vocab: Vocabularies) -> list[str]:
    """Every figure as a card (no table: it reads on a phone), grouped by what the figure is."""
    case = entry.case
    lines: list[str] = []
    if not case.outcomes and not case.context_figures and not case.outcomes_note:
        return lines
    lines += ["## Outcome figures", ""]
    if case.outcomes_note:
        lines += [md_text(case.outcomes_note), ""]
    elif not case.outcomes:
        lines += ["No outcome figures are stated yet.", ""]
    groups: list[tuple[str, str, str, list[Figure]]] = [
        (s, h, n, [o for o in case.outcomes if o.status == s]) for s, h, n in _STATUS_GROUPS
    ]
    if case.context_figures:
        groups.append(
            ("setting", "The setting", "Figures that describe the setting, not results.",
             list(case.context_figures))  # fmt: skip
        )
    for _status, heading, note, group in groups:
        if not group:
            continue
        lines += [f"### {heading}", "", note, ""]
        cards = "".join(_figure_card(f, case, vocab) for f in group)
        lines += [f'<ul class="kb-figures">{cards}</ul>', ""]
    return lines


def _sources_section(case: CaseStudy) -> list[str]:
    lines = ["## Sources", "", '<ol class="kb-sources">']
    for number, source in enumerate(case.sources, start=1):
        title = html.escape(source.title)
        if source.url:
            title = f'<a href="{attr(source.url)}">{title}</a>'
        year = source.year if source.year is not None else "undated"
        detail = f"{year}".capitalize()  # 'Undated' when the source names no publisher
        if source.publisher:
            detail = f"{html.escape(source.publisher)}, {year}"
        if source.section:
            detail += f", {html.escape(source.section)}"
        if source.note:
            detail += f" ({html.escape(source.note)})"
        if source.accessed:
            detail += f"; read {source.accessed.isoformat()}"
        lines.append(f'<li id="source-{number}">{title}. {detail}.</li>')
    lines += ["</ol>", ""]
    return lines


# facets worth naming under a comparable initiative, in the order shown
_SHARED_FACETS = (
    ("region", "region"),
    ("ics", "ICS"),
    ("tiers", "prevention tiers"),
    ("meps", "MEPS"),
    ("three_cs", "3Cs"),
    ("kaiser_level", "Kaiser level"),
    ("topics", "topics"),
)


def _shared_text(shared: Mapping[str, Sequence[str]], vocab: Vocabularies) -> str:
    parts = []
    for name, label in _SHARED_FACETS:
        values = shared.get(name) or ()
        if values:
            words = ", ".join(vocab.for_field(name).label(v) for v in values)
            parts.append(f"{label} ({words})")
    return "; ".join(parts)


def _comparables_section(
    entry: Entry,
    hits: Sequence[SimilarHit] | None,
    by_id: Mapping[str, Entry],
    vocab: Vocabularies,
) -> list[str]:
    lines = ["## Comparable initiatives", ""]
    here = case_path(entry.id)
    if hits is None:
        return lines + ["Comparable initiatives appear once the search index is built.", ""]
    shown = [h for h in hits if h.case_id in by_id and h.case_id != entry.id]
    if not shown:
        return lines + ["No comparable initiative in the library yet.", ""]
    lines += ["The most similar case studies elsewhere, by the meaning of their text.", ""]
    for hit in shown:
        other = by_id[hit.case_id].case
        regions = ", ".join(_labels(vocab.regions, other.region)) or "National"
        tiers = ", ".join(_labels(vocab.tiers, other.tiers))
        item = (
            f"- **{_md_link(other.title, here, case_path(other.id))}**: "
            f"{md_text(regions)}; {md_text(tiers)}; similarity {hit.score:.2f}."
        )
        shared = _shared_text(hit.shared_facets, vocab)
        if shared:
            item += f" Shares: {md_text(shared)}."
        lines.append(item)
    return lines + [""]


def _headline_section(entry: Entry, vocab: Vocabularies) -> list[str]:
    """The results a leader reads first, as plain sentences; estimates and targets say so."""
    case = entry.case
    lines = ["## What changed", ""]
    chosen = headline_outcomes(case)
    if not chosen:
        note = case.outcomes_note or "The sources give no outcome figures yet."
        return lines + [md_text(note), "{ .kb-results-none }", ""]
    items = "".join(
        f'<li class="kb-result kb-result-{o.status}">{html.escape(figure_sentence(o, vocab))}</li>'
        for o in chosen
    )
    lines += [f'<ul class="kb-results">{items}</ul>', ""]
    total = len(case.outcomes) + len(case.context_figures)
    if total > len(chosen):
        lines += [
            f'<p class="kb-more"><a href="#outcome-figures">All {total} figures, with their '
            "sources</a></p>",
            "",
        ]
    return lines


def _glance_section(entry: Entry, vocab: Vocabularies, here: str) -> list[str]:
    """Where and when, the prevention tiers and the evidence level: four short lines."""
    case = entry.case

    def linked(facet: Facet) -> str:
        vocabulary = _vocab(vocab, facet)
        return ", ".join(
            _md_link(vocabulary.label(v), here, browse_path(facet, v))
            for v in facet_values(case, facet)
        )

    where = [linked(ICS) or linked(REGION) or "National"]
    if case.ics and case.region:
        where.append(linked(REGION))
    if case.place:
        where.append(md_text(case.place))
    when = []
    if case.started:
        when.append(
            f"{case.started[:4]} to {case.ended[:4]}" if case.ended else f"from {case.started[:4]}"
        )
    if case.status:
        when.append(md_text(vocab.statuses.label(case.status)))
    evidence = str(case.evidence.level)
    rows = [
        ("Where", " · ".join(where)),
        ("When", " · ".join(when) or "Not stated"),
        ("Prevention tier", linked(TIER)),
        (
            "Evidence",
            _md_link(vocab.evidence_levels.label(evidence), here, CATALOGUE_PATH,
                     {EVIDENCE.key: evidence}),  # fmt: skip
        ),
    ]
    lines = ['<div class="kb-glance" markdown>', ""]
    for label, value in rows:
        lines += [f"**{label}:** {value}", "{ .kb-glance-item }", ""]
    return [*lines, "</div>", ""]


def case_page(
    entry: Entry,
    hits: Sequence[SimilarHit] | None,
    by_id: Mapping[str, Entry],
    vocab: Vocabularies,
) -> SitePage:
    """The page of one case study: summary, headline results, where, when, tier and evidence on
    the first screen; then every figure, the story, the facts, sources and comparables."""
    case = entry.case
    here = case_path(case.id)
    lines = [
        f"# {md_text(case.title)}",
        "",
        f"{md_text(case.summary)}",
        "{ .kb-summary }",
        "",
        *_headline_section(entry, vocab),
        *_glance_section(entry, vocab, here),
        *_figures_section(entry, vocab),
        entry.body.strip(),
        "",
        "## About this initiative",
        "",
        '<div class="kb-facts" markdown>',
        "",
        *_table(("Fact", "Details"), _facts_rows(entry, vocab, here)),
        "",
        "</div>",
        "",
        *_sources_section(case),
        # other case studies' titles would make every search match here: kept out of the index
        '<div class="kb-comparables" data-search-exclude markdown>',
        "",
        *_comparables_section(entry, hits, by_id, vocab),
        "</div>",
        "",
    ]
    return SitePage(
        path=here,
        markdown="\n".join(lines),
        kind="case",
        case_id=case.id,
        title=plain_title(case.title),
    )


def _case_list(entries: Sequence[Entry], here: str, vocab: Vocabularies) -> list[str]:
    lines = []
    for entry in sorted(entries, key=lambda e: e.case.title.lower()):
        case = entry.case
        regions = ", ".join(_labels(vocab.regions, case.region)) or "National"
        tiers = ", ".join(_labels(vocab.tiers, case.tiers))
        lines.append(
            f"- **{_md_link(case.title, here, case_path(case.id))}** "
            f"({md_text(regions)}; {md_text(tiers)}): {md_text(case.summary)}"
        )
    return lines


def _grouped(entries: Sequence[Entry], facet: Facet) -> dict[str, list[Entry]]:
    groups: dict[str, list[Entry]] = {}
    for entry in entries:
        for value in facet_values(entry.case, facet):
            groups.setdefault(value, []).append(entry)
    return groups


def browse_pages(entries: Sequence[Entry], vocab: Vocabularies) -> list[SitePage]:
    """The browse index, an index per facet, and a page per vocabulary value (even if empty)."""
    pages: list[SitePage] = []
    overview = [
        "# Browse",
        "",
        f"Browse the {len(entries)} case studies by where they are and what they do. Every value "
        "has a page, even with no case study yet: an empty page is a gap to fill.",
        "",
    ]
    for facet in BROWSE_FACETS:
        vocabulary = _vocab(vocab, facet)
        groups = _grouped(entries, facet)
        facet_index = browse_path(facet)
        overview += [
            f"## {facet.title}",
            "",
            (
                ", ".join(
                    f"{_md_link(t.label, 'browse/index.md', browse_path(facet, t.id))} "
                    f"({len(groups.get(t.id, []))})"
                    for t in vocabulary.terms
                    if groups.get(t.id)
                )
                or "No case study yet"
            )
            + ". See "
            + _md_link(
                f"all {len(vocabulary.terms)} {facet.plural}", "browse/index.md", facet_index
            )
            + (
                ", including those with no case study yet."
                if any(not groups.get(t.id) for t in vocabulary.terms)
                else "."
            ),
            "",
        ]
        heading = facet.title if facet is ICS else facet.title.lower()
        lines = [f"# Case studies by {md_text(heading)}", ""]
        if facet is ICS:
            lines += _ics_index(vocabulary, groups, vocab, facet_index)
        else:
            described = any(t.description for t in vocabulary.terms)
            rows = [
                (
                    _md_link(t.label, facet_index, browse_path(facet, t.id)),
                    str(len(groups.get(t.id, []))),
                    *([md_text(t.description)] if described else []),
                )
                for t in vocabulary.terms
            ]
            columns = (facet.title, "Case studies", *(["What it means"] if described else []))
            lines += [*_table(columns, rows), ""]
        pages.append(SitePage(facet_index, NOT_SEARCHED + "\n".join(lines), "browse"))
        for term in vocabulary.terms:
            here = browse_path(facet, term.id)
            members = groups.get(term.id, [])
            body = [f"# {md_text(term.label)}", ""]
            kind = facet.title.lower() if facet is not ICS else "integrated care system"
            if term.description:
                body += [md_text(term.description), ""]
            if facet is ICS:
                body += _ics_note(term.id, vocab, here)
            count = len(members)
            noun = "case study" if count == 1 else "case studies"
            body += [f"{count} {noun} for this {md_text(kind)}.", ""]
            if members:
                body += [*_case_list(members, here, vocab), ""]
            else:
                body += [
                    "None yet. Has your system done something here? "
                    + _md_link("Add a case study", here, "contributing.md")
                    + ".",
                    "",
                ]
            body += [
                _md_link(f"All {facet.plural}", here, facet_index)
                + " · "
                + _md_link("Filter the catalogue", here, CATALOGUE_PATH, {facet.key: term.id}),
                "",
            ]
            pages.append(SitePage(here, NOT_SEARCHED + "\n".join(body), "browse"))
    pages.insert(0, SitePage(f"{BROWSE_DIR}/index.md", "\n".join(overview), "browse"))
    return pages


def _ics_index(
    vocabulary: Vocabulary, groups: Mapping[str, list[Entry]], vocab: Vocabularies, here: str
) -> list[str]:
    lines: list[str] = []
    for region in vocab.regions.terms:
        terms = [t for t in vocabulary.terms if t.region == region.id]
        if not terms:
            continue
        lines += [f"## {md_text(region.label)}", ""]
        rows = []
        for term in terms:
            label = term.label
            count = str(len(groups.get(term.id, [])))
            if term.valid_from and term.valid_from.year >= 2026:
                label += f" (from {term.valid_from.isoformat()})"
                earlier = sum(len(groups.get(p, [])) for p in term.predecessors)
                if earlier:
                    names = " and ".join(vocab.ics.label(p) for p in term.predecessors)
                    count += f" (and {earlier} under {names}, which it succeeds)"
            rows.append((_md_link(label, here, browse_path(ICS, term.id)), md_text(count)))
        lines += [*_table(("Integrated care system", "Case studies"), rows), ""]
    return lines


def _ics_note(ics_id: str, vocab: Vocabularies, here: str) -> list[str]:
    term = vocab.ics.get(ics_id)
    notes = []
    if term.region:
        notes.append(
            "Region: "
            + _md_link(vocab.regions.label(term.region), here, browse_path(REGION, term.region))
        )
    if term.successors:
        notes.append(
            "From "
            + (term.valid_to.isoformat() if term.valid_to else "2026")
            + " part of "
            + ", ".join(
                _md_link(vocab.ics.label(s), here, browse_path(ICS, s)) for s in term.successors
            )
            + (" (provisional)" if term.provisional else "")
        )
    if term.predecessors:
        notes.append(
            "Formed from "
            + ", ".join(
                _md_link(vocab.ics.label(p), here, browse_path(ICS, p)) for p in term.predecessors
            )
        )
    return [". ".join(notes) + ".", ""] if notes else []


# facets whose values read best in alphabetical order (regions and tiers keep their own order)
_ALPHABETICAL = (ICS, TOPIC)


def catalogue_page(entries: Sequence[Entry], vocab: Vocabularies) -> SitePage:
    """Every case study on one page, with filters that run in the browser (no server)."""
    here = CATALOGUE_PATH
    total = len(entries)
    lines = [
        "# Catalogue",
        "",
        "Every case study in the library. Choose any combination of filters to narrow the list; "
        "the address of the page keeps your choices, so you can share it.",
        "",
        '<details class="kb-filter-panel" id="kb-filter-panel" hidden>',
        '<summary>Filters <span class="kb-filter-chosen" id="kb-filter-chosen"></span></summary>',
        '<form class="kb-filters" id="kb-filters" aria-label="Filter case studies">',
    ]
    for facet in CATALOGUE_FACETS:
        vocabulary = _vocab(vocab, facet)
        counts = Counter(v for e in entries for v in facet_values(e.case, facet))
        terms = list(vocabulary.terms)
        if facet in _ALPHABETICAL:
            terms.sort(key=lambda t: t.label.casefold())
        options = [f'<option value="">All {html.escape(facet.plural)}</option>']
        options += [
            f'<option value="{attr(t.id)}" data-label="{attr(t.label)}">'
            f"{html.escape(t.label)} ({counts[t.id]})</option>"
            for t in terms
            if counts[t.id]
        ]
        lines += [
            '<div class="kb-filter">',
            f'<label for="kb-filter-{facet.key}">{html.escape(facet.title)}</label>',
            f'<select id="kb-filter-{facet.key}" name="{facet.key}" data-facet="{facet.key}">',
            *options,
            "</select>",
            "</div>",
        ]
    lines += [
        '<div class="kb-filter kb-filter-actions">',
        '<button type="reset" class="md-button">Clear filters</button>',
        "</div>",
        "</form>",
        "</details>",
        "",
        f'<p class="kb-count" id="kb-count" role="status" aria-live="polite" data-total="{total}">'
        f"{total} case studies.</p>",
        "",
        '<div class="kb-empty" id="kb-empty" hidden markdown>',
        "",
        "No case study matches all these filters.",
        "",
        '<p><button type="button" class="md-button md-button--primary" id="kb-undo">'
        "Remove the last filter</button> "
        '<button type="button" class="md-button" id="kb-clear">Clear all filters</button></p>',
        "",
        "Has your system done something like this? "
        + _md_link("Suggest a case study", here, "contributing.md")
        + ".",
        "",
        "</div>",
        "",
        '<div class="kb-catalogue" id="kb-catalogue" markdown>',
        "",
    ]
    for entry in sorted(entries, key=lambda e: e.case.title.lower()):
        case = entry.case
        data = " ".join(
            f'data-{facet.key}="{attr(" ".join(facet_values(case, facet)))}"'
            for facet in CATALOGUE_FACETS
        )
        where = ", ".join(_labels(vocab.regions, case.region)) or "National"
        if case.ics:
            where += " · " + ", ".join(_labels(vocab.ics, case.ics))
        tiers = ", ".join(_labels(vocab.tiers, case.tiers))
        status = vocab.statuses.label(case.status) if case.status else ""
        lines += [
            f'<div class="kb-card" {data} markdown>',
            "",
            f"**{_md_link(case.title, here, case_path(case.id))}**",
            "",
            md_text(case.summary),
            "",
            f"{md_text(where)} · {md_text(tiers)}" + (f" · {md_text(status)}" if status else ""),
            "{ .kb-card-meta }",
            "",
            "</div>",
            "",
        ]
    lines += ["</div>", ""]
    return SitePage(here, NOT_SEARCHED + "\n".join(lines), "catalogue")


def _heat(count: int) -> int:
    for level, floor in enumerate((1, 2, 4, 8)):
        if count < floor:
            return level
    return 4


def _coverage_table(
    entries: Sequence[Entry],
    rows_facet: Facet,
    cols_facet: Facet,
    vocab: Vocabularies,
) -> list[str]:
    here = COVERAGE_PATH
    row_terms = _vocab(vocab, rows_facet).terms
    col_terms = _vocab(vocab, cols_facet).terms
    counts: Counter[tuple[str, str]] = Counter()
    for entry in entries:
        for row_id in facet_values(entry.case, rows_facet):
            for col_id in facet_values(entry.case, cols_facet):
                counts[(row_id, col_id)] += 1
    header = (rows_facet.title, *(t.label for t in col_terms))
    rows = []
    for r in row_terms:
        cells = [_md_link(r.label, here, browse_path(rows_facet, r.id))]
        for c in col_terms:
            n = counts[(r.id, c.id)]
            number = (
                _md_link(str(n), here, CATALOGUE_PATH, {rows_facet.key: r.id, cols_facet.key: c.id})
                if n
                else "0"
            )
            cells.append(f'<span class="kb-heat kb-heat-{_heat(n)}">{number}</span>')
        rows.append(cells)
    unplaced = [e for e in entries if not facet_values(e.case, rows_facet)]
    if unplaced:  # national work has no region: count it so the totals add up
        cells = [f"No {md_text(rows_facet.title.lower())} (national)"]
        for c in col_terms:
            n = sum(1 for e in unplaced if c.id in facet_values(e.case, cols_facet))
            cells.append(f'<span class="kb-heat kb-heat-{_heat(n)}">{n}</span>')
        rows.append(cells)
    return [*_table([md_text(h) for h in header], rows), ""]


def coverage_page(entries: Sequence[Entry], vocab: Vocabularies) -> SitePage:
    """Counts of case studies by region x tier and MEPS x 3Cs: where the library is thin."""
    lines = [
        "# Coverage",
        "",
        f"Where the library's {len(entries)} case studies sit. A case study with several tiers, "
        "regions or themes counts in each. Pale and empty cells show where the library is thin: "
        "good places for the next contribution.",
        "",
        "## Region and prevention tier",
        "",
        *_coverage_table(entries, REGION, TIER, vocab),
        "## MEPS category and 3Cs theme",
        "",
        *_coverage_table(entries, MEPS, THREE_CS, vocab),
        "## Topics",
        "",
    ]
    topics = Counter(t for e in entries for t in e.case.topics)
    missing = [t for t in vocab.topics.terms if not topics[t.id]]
    rows = [
        (_md_link(t.label, COVERAGE_PATH, browse_path(TOPIC, t.id)), str(topics[t.id]))
        for t in sorted(vocab.topics.terms, key=lambda t: (-topics[t.id], t.label))
        if topics[t.id]
    ]
    lines += [*_table(("Topic", "Case studies"), rows), ""]
    if missing:
        lines += [
            "No case study yet on: "
            + ", ".join(_md_link(t.label, COVERAGE_PATH, browse_path(TOPIC, t.id)) for t in missing)
            + ".",
            "",
        ]
    return SitePage(COVERAGE_PATH, "\n".join(lines), "coverage")


def make_pages(
    entries: Sequence[Entry],
    similar: Mapping[str, Sequence[SimilarHit]] | None,
    vocab: Vocabularies,
) -> list[SitePage]:
    """Every generated page of the site: case studies, browse pages, catalogue and coverage."""
    by_id = {e.id: e for e in entries}
    pages = [
        case_page(e, None if similar is None else similar.get(e.id, ()), by_id, vocab)
        for e in entries
    ]
    pages += browse_pages(entries, vocab)
    pages.append(catalogue_page(entries, vocab))
    pages.append(coverage_page(entries, vocab))
    return pages


_MARKER = re.compile(r"<!--\s*kb:(?P<name>[a-z_]+)(?:\s+(?P<arg>[A-Za-z_]+))?\s*-->")
_TERM_FACETS = {f.vocab: f for f in BROWSE_FACETS}


def expand_markers(
    markdown: str, page_path: str, entries: Sequence[Entry], vocab: Vocabularies
) -> str:
    """Fill hand-written pages' markers: `<!-- kb:terms tiers -->`, `<!-- kb:fields Outcome -->`
    and `<!-- kb:stats -->`."""

    def replace(match: re.Match[str]) -> str:
        name, arg = match.group("name"), match.group("arg")
        if name == "stats":
            return _stats(entries, vocab, page_path)
        if name in _HOME_MARKERS:
            return _HOME_MARKERS[name](entries, vocab, page_path)
        if name == "fields" and arg:
            return _fields_table(arg, page_path)
        if name == "terms" and arg and hasattr(vocab, arg):
            vocabulary: Vocabulary = getattr(vocab, arg)
            facet = _TERM_FACETS.get(arg)
            lines = []
            for term in vocabulary.terms:
                label = (
                    _md_link(term.label, page_path, browse_path(facet, term.id))
                    if facet
                    else md_text(term.label)
                )
                described = f": {md_text(term.description)}" if term.description else ""
                lines.append(f"- **{label}**{described}")
            return "\n".join(lines)
        return match.group(0)

    return _MARKER.sub(replace, markdown)


def _search_box(entries: Sequence[Entry], vocab: Vocabularies, page_path: str) -> str:
    """A search box for the middle of a page: it opens the site's search with the words typed."""
    return "\n".join(
        [
            '<form class="kb-home-search" role="search" action="search/" method="get">',
            '<label for="kb-home-query">Search the case studies in your own words</label>',
            '<div class="kb-home-search-row">',
            '<input type="search" id="kb-home-query" name="q" autocomplete="off" '
            'placeholder="falls, blood pressure, housing, Norfolk">',
            '<button type="submit" class="md-button md-button--primary">Search</button>',
            "</div>",
            "</form>",
        ]
    )


def _case_teaser(entry: Entry, vocab: Vocabularies, page_path: str) -> str:
    """A list item: the title linked, where and when, and the first headline result."""
    case = entry.case
    where = ", ".join(_labels(vocab.ics, case.ics)) or ", ".join(
        _labels(vocab.regions, case.region)
    )
    meta = " · ".join(p for p in (where or "National", (case.started or "")[:4]) if p)
    item = f"- **{_md_link(case.title, page_path, case_path(case.id))}**  \n  "
    results = headline_outcomes(case, limit=1)
    if results:
        item += md_text(figure_sentence(results[0], vocab)) + ". "
    return item + f"*{md_text(meta)}*"


def _recent(entries: Sequence[Entry], vocab: Vocabularies, page_path: str) -> str:
    """The initiatives that began most recently."""
    chosen = sorted(entries, key=lambda e: (e.case.started or "", e.id), reverse=True)[:4]
    return "\n".join(_case_teaser(e, vocab, page_path) for e in chosen)


def _notable(entries: Sequence[Entry], vocab: Vocabularies, page_path: str) -> str:
    """The initiatives with the strongest evidence and the most measured results."""

    def strength(entry: Entry) -> tuple[int, int, str]:
        achieved = sum(1 for o in entry.case.outcomes if o.status == "achieved" and o.numeric)
        return (-entry.case.evidence.rank, -achieved, entry.id)

    chosen = sorted(entries, key=strength)[:4]
    return "\n".join(_case_teaser(e, vocab, page_path) for e in chosen)


def _topic_links(entries: Sequence[Entry], vocab: Vocabularies, page_path: str) -> str:
    """The topics with the most case studies, with their counts."""
    counts = Counter(t for e in entries for t in e.case.topics)
    terms = sorted(
        (t for t in vocab.topics.terms if counts[t.id]), key=lambda t: (-counts[t.id], t.label)
    )
    links = [
        _md_link(t.label, page_path, browse_path(TOPIC, t.id)) + f"&nbsp;({counts[t.id]})"
        for t in terms[:16]
    ]
    more = _md_link(f"all {len(vocab.topics.terms)} topics", page_path, browse_path(TOPIC))
    return " · ".join(links) + f" · {more}"


def _region_bars(entries: Sequence[Entry], vocab: Vocabularies, page_path: str) -> str:
    """Case studies per region as a bar chart that is also a list of links (the number written)."""
    counts = Counter(r for e in entries for r in e.case.region)
    most = max(counts.values(), default=1)
    lines = ['<div class="kb-bars" markdown>', ""]
    for term in vocab.regions.terms:
        n = counts[term.id]
        width = round(100 * n / most)
        lines.append(
            f"- {_md_link(term.label, page_path, browse_path(REGION, term.id))} "
            f'<span class="kb-bar" style="width: {width}%"></span> '
            f'<span class="kb-bar-count">{n}</span>'
        )
    tiers = Counter(t for e in entries for t in e.case.tiers)
    by_tier = " · ".join(
        _md_link(t.label, page_path, browse_path(TIER, t.id)) + f"&nbsp;({tiers[t.id]})"
        for t in vocab.tiers.terms
    )
    lines += ["", f"By prevention tier: {by_tier}.", "", "</div>"]
    return "\n".join(lines)


_HOME_MARKERS = {
    "search": _search_box,
    "recent": _recent,
    "notable": _notable,
    "topics": _topic_links,
    "regions": _region_bars,
}


def _fields_table(model_name: str, page_path: str) -> str:
    """The fields of a part of the format, from the model itself, so the docs cannot drift."""
    from kb.schema import field_docs

    try:
        docs = field_docs(model_name)
    except KeyError:
        return f"*(no part of the format is called {md_text(model_name)})*"
    rows = []
    for doc in docs:
        kind = md_text(doc.kind)
        if doc.vocabulary:
            kind += f" (`kb vocab {doc.vocabulary}`)"
        rows.append(
            (
                f"`{doc.name}`",
                "required" if doc.required else "optional",
                kind,
                md_text(doc.description),
            )
        )
    return "\n".join(_table(("Field", "Needed", "What to write", "Meaning"), rows))


def _stats(entries: Sequence[Entry], vocab: Vocabularies, page_path: str) -> str:
    systems = {i for e in entries for i in e.case.ics}
    regions = {r for e in entries for r in e.case.region}
    return (
        f"The library holds **{len(entries)} case studies** from **{len(systems)} integrated care "
        f"systems** in **{len(regions)} of the {len(vocab.regions.terms)} NHS England regions**. "
        f"See the {_md_link('coverage', page_path, COVERAGE_PATH)} for where it is thin."
    )


_MD_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HREF = re.compile(r"""href\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_CASE_TARGET = re.compile(
    rf"^{CASES_DIR}/(?P<id>[A-Za-z0-9_-]+?)(?:\.md|/|/index\.md|/index\.html)?$"
)


def unknown_case_links(markdown: str, page_path: str, known_ids: Iterable[str]) -> list[str]:
    """Case-study ids that a page links to but that are not in the library."""
    known = set(known_ids)
    base = posixpath.dirname(page_path)
    missing: list[str] = []
    for target in [*_MD_LINK.findall(markdown), *_HREF.findall(markdown)]:
        parts = urlsplit(target)
        if parts.scheme or parts.netloc or not parts.path:
            continue
        resolved = posixpath.normpath(posixpath.join(base, parts.path)).lstrip("/")
        match = _CASE_TARGET.match(resolved)
        if match and match.group("id") not in known and match.group("id") not in missing:
            missing.append(match.group("id"))
    return missing


_ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "details", "div", "dl",
    "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p",
    "pre", "s", "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td",
    "tfoot", "th", "thead", "tr", "u", "ul",
}  # fmt: skip
_ALLOWED_ATTRIBUTES = {
    "*": {"class", "id", "title", "lang"},
    "div": {"data-search-exclude"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "th": {"scope", "colspan", "rowspan"},
    "td": {"colspan", "rowspan"},
    "ol": {"start"},
}


_URL_IGNORED = re.compile(r"[\t\n\r]")  # browsers drop these anywhere in a URL
_URL_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.\-]*:")
_C0_AND_SPACE = "".join(map(chr, range(0x21)))  # browsers strip these around a URL
_IMG_WITHOUT_SRC = re.compile(r"<img(?![^>]*\ssrc=)[^>]*>")


def is_remote_url(url: str) -> bool:
    """True if a browser would fetch `url` from a server other than the site's own.

    Anything with a scheme (`https:`, `data:` ...) or a network path (`//host`, `/\\host`) is
    remote; only paths on the site itself, such as `images/chart.png`, are not.
    """
    cleaned = _URL_IGNORED.sub("", url).strip(_C0_AND_SPACE)
    cleaned = cleaned.replace("\\", "/")
    return cleaned.startswith("//") or bool(_URL_SCHEME.match(cleaned))


def _local_images_only(element: str, attribute: str, value: str) -> str | None:
    if element == "img" and attribute == "src" and is_remote_url(value):
        return None
    return value


def sanitise_html(fragment: str, *, markup: bool = True) -> str:
    """Remove script, event handlers, frames, unsafe URLs and remote images from page HTML.

    An image from another server is dropped whole (it would let that server see every reader);
    `kb validate` warns about it. With `markup=False` every tag goes and only text (with its
    character references) is kept.
    """
    import nh3

    if not markup:
        return nh3.clean(fragment, tags=set(), attributes={}, strip_comments=True)
    clean = nh3.clean(
        fragment,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        attribute_filter=_local_images_only,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
        strip_comments=True,
    )
    # nh3 writes every attribute as name="value" with '>' escaped, so this sees whole tags
    return _IMG_WITHOUT_SRC.sub("", clean) if "<img" in clean else clean


def repository_file_url(
    repo_url: str | None, edit_uri: str | None, docs_dir: str, path: str
) -> str | None:
    """The address to edit a file of the repository, made from mkdocs.yml's repo_url and edit_uri.

    `edit_uri` points at the docs folder (`edit/main/site/`); a case study lives elsewhere in the
    repository (`content/x.md`), so the docs folder is taken off the end and `path` (relative to
    the repository root) put in its place. None when mkdocs.yml names no repository.
    """
    if not repo_url or edit_uri is None:
        return None
    base = edit_uri.strip("/")
    docs = docs_dir.strip("/")
    if docs and (base == docs or base.endswith("/" + docs)):
        base = base[: -len(docs)].rstrip("/")
    parts = [repo_url.rstrip("/"), base, path.lstrip("/")]
    return "/".join(p for p in parts if p)


class ProblemLike(Protocol):
    """What the problems banner needs from a validation problem (`kb.validate.Problem` fits)."""

    @property
    def path(self) -> str: ...

    @property
    def line(self) -> int: ...

    @property
    def field(self) -> str: ...

    @property
    def message(self) -> str: ...

    @property
    def hint(self) -> str: ...


def problems_html(problems: Sequence[ProblemLike], root: str | None = None) -> str:
    """A banner listing validation problems with file and line (HTML, every value escaped).

    `kb serve` shows it on every page while a file is invalid; the site keeps the valid case
    studies meanwhile, and the page reloads once the file is fixed.
    """
    if not problems:
        return ""
    files = len({p.path for p in problems})
    noun = "problem" if len(problems) == 1 else "problems"
    where = "file" if files == 1 else "files"
    items = []
    for p in problems:
        path = p.path
        if root and path.startswith(root.rstrip("/") + "/"):
            path = path[len(root.rstrip("/")) + 1 :]
        text = f"<code>{html.escape(path)}</code>, line {p.line}"
        if p.field:
            text += f", <code>{html.escape(p.field)}</code>"
        text += f": {html.escape(p.message)}"
        if p.hint:
            text += f' <span class="kb-problem-hint">(hint: {html.escape(p.hint)})</span>'
        items.append(f"<li>{text}</li>")
    return (
        '<div class="kb-problems" id="kb-problems" role="alert">'
        f"<p><strong>{len(problems)} {noun} in {files} {where}</strong>: the site shows the "
        "case studies that are valid. Fix the file and save it; this page reloads by itself.</p>"
        f'<ul>{"".join(items)}</ul></div>'
    )
