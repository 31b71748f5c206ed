"""One case study's page: the facts, the headline figures, every outcome, sources and
comparables."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from kb.format.figures import figure_sentence, format_amount
from kb.format.markers import is_placeholder
from kb.format.vocab import Vocabularies, in_sentence

if TYPE_CHECKING:
    from kb.format.content import Entry
    from kb.format.model import CaseStudy, Figure, Outcome
from kb.format.review import review_due
from kb.publish.markup import (
    _STATUS_GROUPS,
    CATALOGUE_PATH,
    EVIDENCE,
    ICS,
    LEVEL,
    MEPS,
    REGION,
    STATUS,
    THREE_CS,
    TIER,
    TOPIC,
    Facet,
    SimilarHit,
    SitePage,
    _labels,
    _md_link,
    _source_ref,
    _vocab,
    attr,
    browse_path,
    case_path,
    facet_values,
    md_text,
    plain_title,
)

__all__ = ["case_page", "headline_outcomes"]


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
    funding = _funding_text(case, vocab)
    if funding:
        rows.append(("Funding", funding))
    reviewed = _reviewed_text(case)
    if reviewed:
        rows.append(("Last reviewed", reviewed))
    return rows


def _funding_text(case: CaseStudy, vocab: Vocabularies) -> str:
    """Where the money came from, how much and whether it recurs; '' when not stated."""
    funding = case.funding
    if funding is None:
        return ""
    parts = []
    if funding.source:
        parts.append(md_text(funding.source))
    if funding.amount_gbp is not None:
        parts.append(format_amount(funding.amount_gbp, "GBP", vocab))
    if funding.recurrent is not None:
        parts.append("recurrent" if funding.recurrent else "non-recurrent")
    return "; ".join(parts)


def _reviewed_text(case: CaseStudy) -> str:
    """The day the facts were last checked, marked when the case study is due for review."""
    due = " (**due for review**)" if review_due(case) else ""
    if case.reviewed:
        return case.reviewed.isoformat() + due
    return "not stated" + due if due else ""


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
