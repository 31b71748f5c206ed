"""kb.site: the pages made from entries and 'similar' hits, without mkdocs."""

from __future__ import annotations

import re

import markdown
import pytest
from conftest import Hit

from kb import site
from kb.content import Entry
from kb.vocab import load_vocabularies

VOCAB = load_vocabularies()


def by_id(entries: list[Entry]) -> dict[str, Entry]:
    return {e.id: e for e in entries}


def render(text: str) -> str:
    """Markdown to HTML with the extensions mkdocs.yml enables."""
    return markdown.markdown(text, extensions=["tables", "attr_list", "md_in_html", "toc"])


def page_for(entries: list[Entry], case_id: str, hits: list[Hit] | None = None) -> str:
    entry = by_id(entries)[case_id]
    return site.case_page(entry, hits, by_id(entries), VOCAB).markdown


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
    html = render(site.md_text(text))
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
    # the achieved figure sits under 'Achieved results', the estimate and target in their own tables
    assert achieved < text.index("down 12%") < estimates
    estimate_row = next(line for line in text.splitlines() if "yearly saving" in line)
    assert "**Estimated:** down £100,000 to £150,000" in estimate_row
    assert "| Estimated |" in estimate_row
    target_row = next(line for line in text.splitlines() if line.startswith("| people reached |"))
    assert "**Target:** at least 5,000 people" in target_row
    assert "| by 2026 |" in target_row
    assert "[1](#source-1), p. 4" in next(line for line in text.splitlines() if "12%" in line)


def test_facts_link_to_browse_pages(entries: list[Entry]) -> None:
    text = page_for(entries, "alpha-falls-east")
    assert "| Region | [East of England](../browse/region/east-of-england.md) |" in text
    assert "[Norfolk and Waveney](../browse/ics/norfolk-and-waveney.md)" in text
    assert "[Secondary prevention](../browse/tier/secondary.md)" in text
    assert "[Medical](../browse/meps/medical.md)" in text
    assert "[Capacity](../browse/three-cs/capacity.md)" in text
    assert "[Falls](../browse/topic/falls.md)" in text
    assert "| Started | 2022 |" in text
    assert "[Pilot](../catalogue.md?status=pilot)" in text
    assert "(../catalogue.md?evidence=2)" in text and "evaluated by Alpha analytics team" in text


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
    pages = {p.path: p for p in site.browse_pages(entries, VOCAB)}
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
    page = site.catalogue_page(entries, VOCAB)
    cards = re.findall(r'<div class="kb-card" ([^>]*) markdown>', page.markdown)
    assert len(cards) == len(entries)
    alpha = next(c for c in cards if 'data-tier="secondary tertiary"' in c)
    assert 'data-region="east-of-england"' in alpha
    assert 'data-ics="norfolk-and-waveney"' in alpha
    assert 'data-evidence="2"' in alpha
    # options only for values in the library, with their counts
    assert '<option value="falls">Falls (2)</option>' in page.markdown
    assert 'value="south-west"' not in page.markdown
    assert f'data-total="{len(entries)}"' in page.markdown


def test_coverage_counts(entries: list[Entry]) -> None:
    text = site.coverage_page(entries, VOCAB).markdown
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
        assert f"- **[{site.md_text(term.label)}](browse/tier/{term.id}.md)**" in out
    for term in VOCAB.evidence_levels.terms:
        assert site.md_text(term.label) in out
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
    clean = site.sanitise_html(dirty)
    for bad in ("onclick", "<script", "alert", "<iframe", "javascript:", "onerror"):
        assert bad not in clean
    assert 'href="cases/x/"' in clean and "hi" in clean


def test_plain_title_cannot_form_markup() -> None:
    title = site.plain_title("</title><script>x</script> &lt;b&gt; & more")
    assert "<" not in title and ">" not in title
    assert "&amp;lt;b&amp;gt;" in title and "& more" in title


def test_coverage_counts_national_work(entries: list[Entry]) -> None:
    text = site.coverage_page(entries, VOCAB).markdown
    national = next(line for line in text.splitlines() if line.startswith("| No region"))
    cells = [c.strip() for c in national.strip("|").split("|")]
    assert ">1<" in cells[2]  # delta-national-smoking: primary prevention
