"""The contributing page's folds and tables, without a browser: its long reference parts fold
(`<details markdown>`, rendered by md_in_html), and every table sits in a `kb-stack` wrapper whose
phone labels in kb.css are the table's own column headings."""

from __future__ import annotations

import re

import markdown

from kb.format.schema import field_docs
from kb.format.vocab import load_vocabularies
from kb.publish.pages import expand_markers
from tests.conftest import ROOT

PAGE = ROOT / "site" / "contributing.md"
CSS = ROOT / "site" / "assets" / "stylesheets" / "kb.css"
MODELS = ("CaseStudy", "Outcome", "Evidence", "Source", "Funding")
LABEL = re.compile(
    r"\.kb-(?P<table>[a-z]+) td:nth-child\((?P<n>\d)\)::before "
    r"\{ content: \"(?P<label>[^\"]+): \"; \}"
)
STACK = re.compile(
    r'<div class="kb-stack kb-(?P<table>[a-z]+)">\s*<table>\s*<thead>\s*<tr>(?P<head>.*?)</tr>'
    r"(?P<body>.*?)</table>\s*</div>",
    re.DOTALL,
)


def rendered() -> str:
    """The page as the site renders it: markers filled, then Markdown with mkdocs.yml's
    extensions (and fenced_code, which mkdocs adds)."""
    text = expand_markers(PAGE.read_text("utf-8"), "contributing.md", [], load_vocabularies())
    extensions = ["tables", "attr_list", "md_in_html", "admonition", "toc", "fenced_code"]
    return markdown.markdown(text, extensions=extensions)


def test_the_long_reference_parts_fold_and_their_markdown_still_renders() -> None:
    html = rendered()
    folds = re.findall(r'<details class="kb-fold">\s*<summary>([^<]+)</summary>', html)
    assert len(folds) == html.count("<details") == html.count("</details>") == 8, folds
    assert "markdown=" not in html and "kb:fields" not in html
    assert "|---|" not in html and "| `" not in html  # every table became a table
    assert '</summary>\n<pre><code class="language-yaml">---\nid: norfolk-falls-prevention' in html
    # every table is inside a fold, in a wrapper that stacks it on a phone
    tables = STACK.findall(html)
    assert len(tables) == html.count("<table>") == 2 + len(MODELS)
    folded = re.findall(r"<details.*?</details>", html, re.DOTALL)
    assert [f.count("<table>") for f in folded] == [0, 1, 1, 1, 1, 1, 1, 1]


def test_every_field_of_the_format_is_in_its_table() -> None:
    fields = [m.groupdict() for m in STACK.finditer(rendered()) if m.group("table") == "fields"]
    assert len(fields) == len(MODELS)
    for model, table in zip(MODELS, fields, strict=True):
        names = re.findall(r"<tr>\s*<td><code>([a-z_]+)</code></td>", table["body"])
        assert names == [d.name for d in field_docs(model)], model


def test_the_phone_labels_are_the_column_headings() -> None:
    labels: dict[str, dict[int, str]] = {}
    for m in LABEL.finditer(CSS.read_text("utf-8")):
        labels.setdefault(m.group("table"), {})[int(m.group("n"))] = m.group("label")
    seen = set()
    for m in STACK.finditer(rendered()):
        headings = re.findall(r"<th>(.*?)</th>", m.group("head"))
        kind = m.group("table")
        assert kind in labels, f"kb.css has no phone labels for the kb-{kind} tables"
        assert [labels[kind].get(n + 1) for n in range(len(headings))] == headings, kind
        seen.add(kind)
    assert seen == {"fields", "shapes", "silent"}
