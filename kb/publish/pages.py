"""The published site's pages, made from case-study entries and 'similar' search hits.

Everything here is renderer-neutral: functions take `Entry` objects (never re-parsing front-matter)
and search hits as plain data, and return Markdown strings with the docs-relative path each page
should have. `kb.publish.plugin` is the thin adapter that hands them to mkdocs-material. This
module gathers the pages (`make_pages`) and fills the markers of the hand-written pages; the case
page is `kb.publish.case_page`'s, the browse, catalogue and coverage pages `kb.publish.browse`'s.

Contributed text is untrusted. Every front-matter string is escaped before it enters a page
(`md_text`), and the rendered HTML of a case-study page is sanitised (`kb.format.html`) so that
neither the front-matter nor the body can put script into the site."""

from __future__ import annotations

import posixpath
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from kb.format.figures import figure_sentence
from kb.format.vocab import Vocabularies, Vocabulary

if TYPE_CHECKING:
    from kb.format.content import Entry
from kb.publish.browse import browse_pages, catalogue_page, coverage_page
from kb.publish.case_page import _table, case_page, headline_outcomes
from kb.publish.markup import (
    BROWSE_FACETS,
    CASES_DIR,
    COVERAGE_PATH,
    REGION,
    TIER,
    TOPIC,
    SimilarHit,
    SitePage,
    _labels,
    _md_link,
    browse_path,
    case_path,
    md_text,
)

__all__ = ["expand_markers", "make_pages", "unknown_case_links"]


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


# the columns of a field table; on a phone, kb.css labels each stacked cell with the same words
_FIELD_COLUMNS = ("Field", "Needed", "What to write", "Meaning")


def _fields_table(model_name: str, page_path: str) -> str:
    """The fields of a part of the format, from the model itself, so the docs cannot drift."""
    from kb.format.schema import field_docs

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
    # in a wrapper whose class lets a phone show each row as a card of labelled lines (kb.css)
    table = _table(_FIELD_COLUMNS, rows)
    return "\n".join(['<div class="kb-stack kb-fields" markdown>', "", *table, "", "</div>"])


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
