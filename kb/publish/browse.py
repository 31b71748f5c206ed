"""The pages that list case studies: by region, ICS, tier, MEPS, 3Cs and topic; the catalogue with
its filters; the coverage page."""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from kb.format.vocab import Term, Vocabularies, Vocabulary

if TYPE_CHECKING:
    from kb.format.content import Entry
from kb.format.review import review_due
from kb.publish.case_page import _table
from kb.publish.markup import (
    BROWSE_DIR,
    BROWSE_FACETS,
    CATALOGUE_FACETS,
    CATALOGUE_PATH,
    COVERAGE_PATH,
    ICS,
    MEPS,
    NOT_SEARCHED,
    REGION,
    THREE_CS,
    TIER,
    TOPIC,
    Facet,
    SitePage,
    _labels,
    _md_link,
    _vocab,
    attr,
    browse_path,
    case_path,
    facet_values,
    md_text,
)

__all__ = ["browse_pages", "catalogue_page", "coverage_page"]


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
        overview += _overview_section(facet, vocabulary, groups)
        pages.append(_facet_index_page(facet, vocabulary, groups, vocab))
        for term in vocabulary.terms:
            pages.append(_term_page(facet, term, groups.get(term.id, []), vocab))
    pages.insert(0, SitePage(f"{BROWSE_DIR}/index.md", "\n".join(overview), "browse"))
    return pages


def _overview_section(
    facet: Facet, vocabulary: Vocabulary, groups: Mapping[str, list[Entry]]
) -> list[str]:
    """The browse index's section for a facet: its values with case studies, and a link to all."""
    return [
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
            f"all {len(vocabulary.terms)} {facet.plural}", "browse/index.md", browse_path(facet)
        )
        + (
            ", including those with no case study yet."
            if any(not groups.get(t.id) for t in vocabulary.terms)
            else "."
        ),
        "",
    ]


def _facet_index_page(
    facet: Facet, vocabulary: Vocabulary, groups: Mapping[str, list[Entry]], vocab: Vocabularies
) -> SitePage:
    """A facet's index: a table of its values and their counts (ICSs grouped by region)."""
    facet_index = browse_path(facet)
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
    return SitePage(facet_index, NOT_SEARCHED + "\n".join(lines), "browse")


def _term_page(facet: Facet, term: Term, members: list[Entry], vocab: Vocabularies) -> SitePage:
    """A vocabulary value's page: its case studies, or an invitation to add one."""
    facet_index = browse_path(facet)
    here = browse_path(facet, term.id)
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
    return SitePage(here, NOT_SEARCHED + "\n".join(body), "browse")


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
        *_filter_panel(entries, vocab),
        "",
        f'<p class="kb-count" id="kb-count" role="status" aria-live="polite" data-total="{total}">'
        f"{total} case studies.</p>",
        "",
        *_no_match_notice(here),
        "",
        '<div class="kb-catalogue" id="kb-catalogue" markdown>',
        "",
    ]
    for entry in sorted(entries, key=lambda e: e.case.title.lower()):
        lines += _catalogue_card(entry, vocab, here)
    lines += ["</div>", ""]
    return SitePage(here, NOT_SEARCHED + "\n".join(lines), "catalogue")


def _filter_panel(entries: Sequence[Entry], vocab: Vocabularies) -> list[str]:
    """The catalogue's filter form: a list of values per facet, those in use only, with counts."""
    lines = [
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
    return [
        *lines,
        '<div class="kb-filter kb-filter-actions">',
        '<button type="reset" class="md-button">Clear filters</button>',
        "</div>",
        "</form>",
        "</details>",
    ]


def _no_match_notice(here: str) -> list[str]:
    """The notice the catalogue shows when no case study matches the filters."""
    return [
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
    ]


def _catalogue_card(entry: Entry, vocab: Vocabularies, here: str) -> list[str]:
    """A case study's card in the catalogue, with its facet values as data attributes."""
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
    if review_due(case):
        status = f"{status} · due for review" if status else "due for review"
    return [
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
