"""kb.publish.pages: the pages made from entries and 'similar' hits, without mkdocs."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import markdown
import pytest
from conftest import Hit

from kb.format.content import Entry
from kb.format.html import sanitise_html
from kb.format.vocab import load_vocabularies
from kb.publish import pages as site
from kb.publish.browse import browse_pages, catalogue_page, coverage_page
from kb.publish.case_page import case_page, headline_outcomes
from kb.publish.markup import md_text, plain_title, problems_html, repository_file_url

VOCAB = load_vocabularies()


def by_id(entries: list[Entry]) -> dict[str, Entry]:
    return {e.id: e for e in entries}


def render(text: str) -> str:
    """Markdown to HTML with the extensions mkdocs.yml enables."""
    return markdown.markdown(text, extensions=["tables", "attr_list", "md_in_html", "toc"])


def page_for(entries: list[Entry], case_id: str, hits: list[Hit] | None = None) -> str:
    entry = by_id(entries)[case_id]
    return case_page(entry, hits, by_id(entries), VOCAB).markdown


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(1)</script>",
        "[x](javascript:alert(1))",
        "*bold* _under_ `code` | pipe {: onclick=alert(1) }",
        "![img](x.png) <img src=x onerror=alert(1)>",
        "- starts a list",
        "1. starts a numbered list",
        "# a heading",
        "&lt;script&gt; already escaped",
    ],
)
def test_md_text_reads_the_same_and_makes_no_markup(text: str) -> None:
    html = render(md_text(text))
    assert html.startswith("<p>") and html.endswith("</p>")
    inner = html[3:-4]
    assert "<" not in inner.replace("&lt;", "")
    from html import unescape

    assert unescape(inner) == text


def test_figures_say_what_they_are(entries: list[Entry]) -> None:
    text = page_for(entries, "alpha-falls-east")
    achieved = text.index("### Achieved results")
    estimates = text.index("### Estimates")
    targets = text.index("### Targets")
    assert achieved < estimates < targets
    # each figure sits as a card under its own heading, its sentence marked in words
    assert achieved < text.index("12% fewer falls-related admissions", achieved) < estimates
    estimate = text[estimates:targets]
    assert "£100,000 to £150,000 yearly saving to the system per year (estimate)" in estimate
    assert 'class="kb-figure kb-figure-estimated"' in estimate
    assert "At least 5,000 people reached by 2026 (target)" in text[targets:]
    card = next(line for line in text.splitlines() if "12% fewer" in line and "kb-figure" in line)
    meta = 'Service use · compared with the year before · source <a href="#source-1">1</a>, p. 4'
    assert meta in card


def test_a_case_page_opens_with_what_changed_and_the_facts_at_a_glance(
    entries: list[Entry],
) -> None:
    text = page_for(entries, "alpha-falls-east")
    summary = text.index("{ .kb-summary }")
    changed = text.index("## What changed")
    glance = text.index('<div class="kb-glance" markdown>')
    figures = text.index("## Outcome figures")
    assert summary < changed < glance < figures
    results = text[changed:glance]
    # achieved results first, then estimates and targets to fill the three places
    assert results.index("12% fewer") < results.index("(estimate)") < results.index("(target)")
    assert '<li class="kb-result kb-result-achieved">' in results
    assert "All 3 figures" not in results  # three figures, three shown: no link needed
    at_a_glance = text[glance:figures]
    for label in ("**Where:**", "**When:**", "**Prevention tier:**", "**Evidence:**"):
        assert label in at_a_glance
    assert "[Norfolk and Waveney](../browse/ics/norfolk-and-waveney.md)" in at_a_glance
    assert "from 2022" in at_a_glance


def test_headline_prefers_achieved_health_results(entries: list[Entry]) -> None:
    case = by_id(entries)["alpha-falls-east"].case
    chosen = headline_outcomes(case, limit=1)
    assert [o.metric for o in chosen] == ["falls-related admissions"]
    assert [o.status for o in headline_outcomes(case)] == ["achieved", "estimated", "target"]


def test_contributed_text_in_figure_cards_is_escaped(entries: list[Entry]) -> None:
    entry = by_id(entries)["alpha-falls-east"]
    outcome = entry.case.outcomes[0].model_copy(
        update={"metric": "<script>alert(1)</script> admissions", "note": "<b>n</b>"}
    )
    case = entry.case.model_copy(update={"outcomes": [outcome]})
    page = case_page(replace(entry, case=case), None, by_id(entries), VOCAB).markdown
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<b>n</b>" not in page


def test_facts_link_to_browse_pages(entries: list[Entry]) -> None:
    text = page_for(entries, "alpha-falls-east")
    assert "| Region | [East of England](../browse/region/east-of-england.md) |" in text
    assert text.index("## About this initiative") < text.index("| Region |")
    assert "[Norfolk and Waveney](../browse/ics/norfolk-and-waveney.md)" in text
    assert "[Secondary prevention](../browse/tier/secondary.md)" in text
    assert "[Medical](../browse/meps/medical.md)" in text
    assert "[Capacity](../browse/three-cs/capacity.md)" in text
    assert "[Falls](../browse/topic/falls.md)" in text
    assert "| Started | 2022 |" in text
    assert "[Pilot](../catalogue.md?status=pilot)" in text
    assert "(../catalogue.md?evidence=2)" in text and "evaluated by Alpha analytics team" in text


def test_an_evaluator_not_stated_is_not_printed(entries: list[Entry]) -> None:
    entry = by_id(entries)["alpha-falls-east"]
    evidence = entry.case.evidence.model_copy(update={"evaluator": "not stated"})
    case = entry.case.model_copy(update={"evidence": evidence})
    page = case_page(replace(entry, case=case), None, by_id(entries), VOCAB).markdown
    row = next(line for line in page.splitlines() if line.startswith("| Evidence |"))
    assert "evaluated by" not in row and row.endswith("(Before and after comparison) |"), row


def test_national_case_has_no_region_links(entries: list[Entry]) -> None:
    text = page_for(entries, "delta-national-smoking")
    assert "| Region | National (no single region) |" in text
    assert "No outcome figures" not in text  # no outcomes and no context figures: no section


def test_comparable_initiatives_from_hits(entries: list[Entry]) -> None:
    hits = [
        Hit("gamma-housing-north", "ignored", 0.8123, {"topics": ("falls",), "tiers": ()}),
        Hit("unknown-case", "Not in the library", 0.7, {}),
        Hit("beta-hypertension-london", "ignored", 0.5, {"meps": ("medical",)}),
    ]
    text = page_for(entries, "alpha-falls-east", hits)
    section = text[text.index("## Comparable initiatives") :]
    items = [line for line in section.splitlines() if line.startswith("- ")]
    assert len(items) == 2  # the unknown id is dropped
    assert items[0].startswith("- **[Gamma warm homes in the north](gamma-housing-north.md)**")
    assert "North West; Wider determinants, Primary prevention; similarity 0.81." in items[0]
    assert "Shares: topics (Falls)." in items[0]
    assert "Shares: MEPS (Medical)." in items[1]


def test_comparables_without_an_index(entries: list[Entry]) -> None:
    text = page_for(entries, "alpha-falls-east", None)
    assert "appear once the search index is built" in text


def test_every_vocabulary_value_has_a_browse_page(entries: list[Entry]) -> None:
    pages = {p.path: p for p in browse_pages(entries, VOCAB)}
    for facet in site.BROWSE_FACETS:
        vocabulary = getattr(VOCAB, facet.vocab)
        for term in vocabulary.terms:
            assert f"browse/{facet.key}/{term.id}.md" in pages
    falls = pages["browse/topic/falls.md"].markdown
    assert "2 case studies for this topic." in falls
    assert "(../../cases/alpha-falls-east.md)" in falls
    assert "(../../cases/gamma-housing-north.md)" in falls
    empty = pages["browse/region/south-west.md"].markdown
    assert "0 case studies" in empty and "(../../contributing.md)" in empty


def test_catalogue_lists_every_case_with_its_facets(entries: list[Entry]) -> None:
    page = catalogue_page(entries, VOCAB)
    cards = re.findall(r'<div class="kb-card" ([^>]*) markdown>', page.markdown)
    assert len(cards) == len(entries)
    alpha = next(c for c in cards if 'data-tier="secondary tertiary"' in c)
    assert 'data-region="east-of-england"' in alpha
    assert 'data-ics="norfolk-and-waveney"' in alpha
    assert 'data-evidence="2"' in alpha
    # options only for values in the library, with their counts
    assert '<option value="falls" data-label="Falls">Falls (2)</option>' in page.markdown
    assert 'value="south-west"' not in page.markdown
    assert f'data-total="{len(entries)}"' in page.markdown


def test_coverage_counts(entries: list[Entry]) -> None:
    text = coverage_page(entries, VOCAB).markdown
    east = next(line for line in text.splitlines() if line.startswith("| [East of England]"))
    cells = [c.strip() for c in east.strip("|").split("|")]
    # columns: region, wider determinants, primary, secondary, tertiary
    assert "kb-heat-0" in cells[1] and ">0<" in cells[1]
    assert "(catalogue.md?region=east-of-england&tier=secondary)" in cells[3]
    assert "[1]" in cells[3] and "[1]" in cells[4]
    assert "No case study yet on:" in text


def test_markers_fill_hand_written_pages(entries: list[Entry]) -> None:
    text = "Intro\n\n<!-- kb:stats -->\n\n<!-- kb:terms tiers -->\n\n"
    text += "<!-- kb:terms evidence_levels -->"
    out = site.expand_markers(text, "frameworks.md", entries, VOCAB)
    assert "**4 case studies** from **3 integrated care systems** in **3 of the 7" in out
    for term in VOCAB.tiers.terms:
        assert f"- **[{md_text(term.label)}](browse/tier/{term.id}.md)**" in out
    for term in VOCAB.evidence_levels.terms:
        assert md_text(term.label) in out
    assert "<!--" not in out


def test_unknown_case_links() -> None:
    text = (
        "[a](cases/known.md) [b](cases/missing.md) [c](../cases/also-missing/) "
        '<a href="cases/html-missing.md">d</a> [e](https://example.org/cases/x.md) '
        "[f](cases/known.md#context) [g](browse/index.md)"
    )
    assert site.unknown_case_links(text, "index.md", ["known"]) == [
        "missing",
        "html-missing",
    ]
    assert site.unknown_case_links("[x](other.md)", "cases/a.md", ["a"]) == ["other"]
    assert site.unknown_case_links("[x](../cases/also-missing/)", "browse/index.md", []) == [
        "also-missing"
    ]


def test_sanitise_html_removes_script() -> None:
    dirty = (
        '<p onclick="x()">hi<script>alert(1)</script><iframe src="https://e.example"></iframe>'
        '<a href="javascript:alert(1)">j</a><a href="cases/x/">ok</a>'
        '<img src="x" onerror="alert(1)"></p>'
    )
    clean = sanitise_html(dirty)
    for bad in ("onclick", "<script", "alert", "<iframe", "javascript:", "onerror"):
        assert bad not in clean
    assert 'href="cases/x/"' in clean and "hi" in clean


def test_plain_title_cannot_form_markup() -> None:
    title = plain_title("</title><script>x</script> &lt;b&gt; & more")
    assert "<" not in title and ">" not in title
    assert "&amp;lt;b&amp;gt;" in title and "& more" in title


def test_coverage_counts_national_work(entries: list[Entry]) -> None:
    text = coverage_page(entries, VOCAB).markdown
    national = next(line for line in text.splitlines() if line.startswith("| No region"))
    cells = [c.strip() for c in national.strip("|").split("|")]
    assert ">1<" in cells[2]  # delta-national-smoking: primary prevention


def test_catalogue_lists_ics_and_topics_alphabetically(entries: list[Entry]) -> None:
    page = catalogue_page(entries, VOCAB).markdown
    for key in ("ics", "topic"):
        block = page[page.index(f'id="kb-filter-{key}"') :]
        block = block[: block.index("</select>")]
        labels = re.findall(r'data-label="([^"]+)"', block)
        assert len(labels) >= 2 and labels == sorted(labels, key=str.casefold)
    assert 'id="kb-filter-panel"' in page and "<summary>Filters" in page
    assert 'id="kb-empty" hidden' in page and 'id="kb-undo"' in page
    assert "[Suggest a case study](contributing.md)" in page


@pytest.mark.parametrize(
    ("repo", "edit_uri", "docs", "expected"),
    [
        ("https://github.com/org/lib", "edit/main/site/", "site",
         "https://github.com/org/lib/edit/main/content/x.md"),
        ("https://github.com/org/lib/", "blob/main/docs/", "docs",
         "https://github.com/org/lib/blob/main/content/x.md"),
        ("https://gitlab.com/org/lib", "-/edit/main/", "site",
         "https://gitlab.com/org/lib/-/edit/main/content/x.md"),
        (None, "edit/main/site/", "site", None),
        ("https://github.com/org/lib", None, "site", None),
    ],
)  # fmt: skip
def test_repository_file_url_from_repo_url_and_edit_uri(
    repo: str | None, edit_uri: str | None, docs: str, expected: str | None
) -> None:
    assert repository_file_url(repo, edit_uri, docs, "content/x.md") == expected


def test_the_repository_is_configured_once_in_mkdocs_yml() -> None:
    import yaml
    from conftest import MKDOCS_YML

    config = yaml.safe_load(MKDOCS_YML.read_text("utf-8").replace("!!python", "#"))
    assert config["repo_url"].startswith("https://") and config["edit_uri"].endswith("site/")
    assert config["docs_dir"] == "site"


@dataclass(frozen=True)
class FakeProblem:
    path: str
    line: int
    field: str
    message: str
    hint: str = ""


def test_problems_banner_names_file_and_line_and_escapes_everything() -> None:
    problems = [
        FakeProblem("/repo/content/a.md", 7, "summary", "'<script>x</script>' is too long", "cut"),
        FakeProblem("/repo/content/b.md", 2, "", "invalid YAML"),
    ]
    banner = problems_html(problems, "/repo")
    assert "2 problems in 2 files" in banner
    assert "<code>content/a.md</code>, line 7, <code>summary</code>" in banner
    assert "<code>content/b.md</code>, line 2: invalid YAML" in banner
    assert "<script>" not in banner and "&lt;script&gt;" in banner
    assert "(hint: cut)" in banner
    assert problems_html([]) == ""


def test_home_page_markers(entries: list[Entry]) -> None:
    page = "<!-- kb:search -->\n<!-- kb:recent -->\n<!-- kb:notable -->\n<!-- kb:topics -->\n"
    page += "<!-- kb:regions -->"
    text = site.expand_markers(page, "index.md", entries, VOCAB)
    assert "<!--" not in text
    assert '<form class="kb-home-search" role="search" action="search/" method="get">' in text
    assert 'name="q"' in text  # the search page reads ?q=
    assert "(cases/alpha-falls-east.md)" in text
    assert "12% fewer falls-related admissions in the first year." in text  # its first result
    assert "[Falls](browse/topic/falls.md)&nbsp;(2)" in text
    assert "[East of England](browse/region/east-of-england.md)" in text
    html = render(text)
    assert "<script" not in html


def test_a_part_of_a_whole_shows_its_whole_on_the_case_page(entries: list[Entry]) -> None:
    entry = by_id(entries)["alpha-falls-east"]
    part = entry.case.outcomes[0].model_copy(
        update={"metric": "care homes that joined", "value": 9, "unit": "count", "out_of": 12,
                "measure": "level", "direction": None}
    )  # fmt: skip
    case = entry.case.model_copy(update={"outcomes": [part]})
    page = case_page(replace(entry, case=case), None, by_id(entries), VOCAB).markdown
    changed = page[page.index("## What changed") : page.index("## Outcome figures")]
    assert "9 of 12 care homes that joined" in changed
    assert '<p class="kb-figure-text">9 of 12 care homes that joined' in page


def test_shipped_parts_of_a_whole_read_with_their_whole() -> None:
    from conftest import ROOT

    from kb.check.library import load_library

    library = by_id(load_library(ROOT / "content"))

    def page(case_id: str) -> str:
        return case_page(library[case_id], None, library, VOCAB).markdown

    assert "148 of 211 residents with wellbeing scores recorded" in page(
        "cornwall-community-health-and-wellbeing-workers"
    )
    leeds = page("leeds-lung-health-check")
    headline = leeds[leeds.index("## What changed") : leeds.index("## Outcome figures")]
    assert "22,815 of 44,943 people invited responded" in headline and "(50.8%)" in headline


def test_a_source_without_a_publisher_reads_well_everywhere(entries: list[Entry]) -> None:
    from kb.format.figures import format_source
    from kb.tools.export import export_rows

    entry = by_id(entries)["alpha-falls-east"]
    source = entry.case.sources[0].model_copy(update={"publisher": None, "year": None})
    case = entry.case.model_copy(update={"sources": [source]})
    page = case_page(replace(entry, case=case), None, by_id(entries), VOCAB).markdown
    item = next(line for line in page.splitlines() if line.startswith('<li id="source-1">'))
    assert "None" not in item and ". Undated" in item, item
    assert format_source("A page", None, 2016) == "A page (2016)"
    assert format_source("A page", None, None) == "A page (undated)"
    assert format_source("A page", "Example ICB", None) == "A page (Example ICB, undated)"
    (row,) = [r for r in export_rows([replace(entry, case=case)]) if r["record"] == "case-study"]
    assert row["sources"] == f"{source.title} (undated)"


def test_browse_pages_say_no_more_than_is_true() -> None:
    """No 'What it means' column without meanings, no 'those with no case study' when every
    value has one, and a system that succeeds others points to their case studies."""
    from pathlib import Path

    from kb.check.library import load_library

    content = Path(__file__).resolve().parents[2] / "content"
    pages = {p.path: p.markdown for p in browse_pages(load_library(content), VOCAB)}
    assert "What it means" not in pages["browse/region/index.md"]
    assert "[all 7 regions](region/index.md)." in pages["browse/index.md"]
    assert "under Mid and South Essex, which it succeeds" in pages["browse/ics/index.md"]
