"""Every text check runs in time linear in the input: the worst inputs at the size cap, < 1 s.

Each input is a whole case-study body of about 256 KB built from one repeated unit, aimed at a
pattern that would backtrack: an unclosed tag, comment, attribute list or quote, digits with
separators, and the like. CPU time is measured, so other work on a shared machine does not count.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kb.check.validate import validate_file
from kb.format.content import MAX_FILE_BYTES

HEAD = "---\nid: case\ntitle: x\n---\n## Context\n"
BUDGET = MAX_FILE_BYTES - 64


def fill(unit: str, prefix: str = "", suffix: str = "") -> str:
    room = BUDGET - len((HEAD + prefix + suffix).encode("utf-8"))
    count = room // len(unit.encode("utf-8"))
    return prefix + unit * count + suffix


WORST = {
    "lt-then-spaces": fill(" ", "<"),
    "lt-spaces-x20000": "<" + " " * 20_000,
    "a-on": fill("<a on"),
    "a-space": fill("<a "),
    "unclosed-comment": fill("<!--"),
    "lt-slash": fill("< / "),
    "a-quote-on": fill('<a " on'),
    "a-then-letters": fill("on", "<a x"),
    "tag-in-attribute": fill("<a x<1 "),
    "attribute-list": fill("{: on"),
    "attribute-list-open": fill(" on", "{"),
    "quotes": fill('"on'),
    "quote-spaces": fill(" ", '"'),
    "quote-letters": fill("x ", '"'),
    "javascript": fill("javascript"),
    "javascript-spaces": fill(" ", "javascript"),
    "tabbed-scheme": fill("java\t"),
    "data-url": fill("data :"),
    "image-open": fill("!["),
    "image-dest": fill("![a]("),
    "image-alt": fill("a", "!["),
    "reference": fill("[a]: "),
    "src": fill("src="),
    "src-value": fill("a", "src="),
    "entities": fill("&"),
    "entity-digits": fill("1", "&#"),
    "double-entities": fill("&amp;"),
    "email-at": fill("a@"),
    "email-local": fill("a", "", "@"),
    "email-domain": fill("b.", "a@"),
    "digits-spaced": fill("1 "),
    "digits-dotted": fill("1."),
    "digits-wide-gaps": fill("1   "),
    "digits-percent": fill("1%20"),
    "digits": fill("1"),
    "plus-digits": fill("+0"),
    "nbsp-digits": fill("1\u00a0"),
    "zero-width-digits": fill("1\u200b"),
    "fullwidth-digits": fill("０ "),
    "heading-spaces": fill(" ", "## ", "x"),
    "heading-hashes": fill("# ", "## ", "x"),
    "headings": fill("## a\n"),
    "distinct-headings": "".join(f"## h{i}\n" for i in range(BUDGET // 10)),
    "fences": fill("```\n"),
    "tags": fill("<b>"),
    "combining": fill("e\u0301"),
    "newlines": fill("\n"),
    "lt": fill("<"),
    "placeholders": fill("TODO\n"),
    # numbers split by punctuation, wide gaps and markup; figures that are no number
    "digits-commas": fill("1,"),
    "digits-comma-spaces": fill("1, "),
    "digits-colons": fill("1:"),
    "digits-bars": fill("1|"),
    "digits-table": fill("1 | "),
    "digits-plus": fill("1+"),
    "digits-four-spaces": fill("1    "),
    "digits-spaces-x20000": "1" + " " * 20_000 + "1",
    "zeros-commas": fill("0,"),
    "phone-starts": fill("07 "),
    "thousands": fill("1,000,"),
    "years": fill("2018/19 "),
    "bold-digits": fill("1**"),
    "tagged-digits": fill("1<b>"),
    "commented-digits": fill("1<!-- -->"),
    "comments": fill("<!--x-->"),
    "comment-close": fill("-->"),
    "emphasis": fill("*"),
    "underscores": fill("_a"),
    "link-brackets": fill("[a]"),
    "link-dest": fill("]("),
    "phones": fill("07700 900123 "),
    "helplines": fill("helpline 0300 123 4567, "),
    "phones-then-helpline": fill("07700 900123 ", "", "helpline"),
    "helpline-words": fill("helpline ", "", "07700 900123"),
    # e-mail addresses written out
    "at-words": fill("a at "),
    "dot-words": fill("a dot "),
    "bracketed-at": fill("(at)"),
    "bracket-spaces": fill(" ", "a", "(at)"),
    "spaced-at": fill("a @ "),
    "at-spaces": fill(" ", "a @"),
    "written-mail": fill("a.b at c dot com "),
    "dash-at": fill("a -at- "),
    # dates of birth, postcodes, named patients
    "born": fill("born on "),
    "birth-dates": fill("born on 1 January 1941 "),
    "born-in-months": fill("born in March 1941 "),
    "b-dates": fill("b. 1/1/41 "),
    "date-gaps": fill("1 - ", "", "Jan"),
    "dates": fill("1 January 1941 "),
    "numeric-dates": fill("1/1/41 "),
    "postcodes": fill("LS1 4AB "),
    "postcode-dates": fill("LS1 4AB 1/1/41 "),
    "titles": fill("Mr "),
    "capitals": fill("A"),
    "capitalised-words": fill("Jane "),
    "full-names": fill("Jane Doe, "),
    "named-patients": fill("Mrs Jane Doe, aged 82, "),
    "aged-in-words": fill("Mr Smith, eighty-two, "),
    "lowercase-postcodes": fill("ls1 4ab 1/1/41 "),
    "patient-words": fill("patient Jane Doe "),
}


@pytest.mark.parametrize("name", sorted(WORST))
def test_worst_inputs_are_checked_in_under_a_second(name: str, tmp_path: Path) -> None:
    path = tmp_path / "case.md"
    path.write_text(HEAD + WORST[name], encoding="utf-8")
    assert path.stat().st_size <= MAX_FILE_BYTES
    started = time.process_time()
    problems, _, _ = validate_file(path)
    elapsed = time.process_time() - started
    assert problems
    assert elapsed < 1.0, f"{name}: {elapsed:.2f} s"


@pytest.mark.parametrize("name", ["a-on", "quote-letters", "digits-spaced", "lt-then-spaces"])
def test_worst_inputs_in_a_front_matter_value(name: str, tmp_path: Path) -> None:
    import json

    value = WORST[name][: BUDGET - 200]
    path = tmp_path / "case.md"
    path.write_text(f"---\nid: case\ntitle: {json.dumps(value)}\n---\n## Context\nx\n", "utf-8")
    started = time.process_time()
    validate_file(path)
    assert time.process_time() - started < 1.0


def test_repeated_findings_are_counted_not_listed(tmp_path: Path) -> None:
    path = tmp_path / "case.md"
    path.write_text(HEAD + fill("<a onclick=x>"), encoding="utf-8")
    problems, _, _ = validate_file(path)
    handlers = [p for p in problems if p.code == "unsafe-html"]
    assert len(handlers) <= 21
    assert "more like the one above" in handlers[-1].message
