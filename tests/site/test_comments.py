"""HTML comments in a case study (the section guides `kb new` writes) are notes for editors: the
validator accepts them, and no page, search text, pack or comparison ever shows them."""

from __future__ import annotations

from pathlib import Path

from kb.check.validate import validate_paths
from kb.format.content import strip_comments
from kb.format.vocab import load_vocabularies
from kb.index.passages import parts_for
from kb.publish.case_page import case_page
from tests.conftest import ROOT

NOTE = "zebra-note-for-editors"


def _with_comments(tmp_path: Path) -> Path:
    text = (ROOT / "content" / "norfolk-falls-prevention.md").read_text(encoding="utf-8")
    body = text.index("\n## ", text.index("\n---", 4))
    text = text[:body] + f"\n<!-- {NOTE} before the sections -->\n" + text[body:]
    text = text.replace(
        "## What they did\n",
        f"## What they did\n\n<!-- {NOTE}: who did what,\nfor whom -->\n",
        1,
    )
    text = text.replace("## Challenges\n", f"## Challenges\n\nIn line <!-- {NOTE} --> here.\n", 1)
    text += f"\n```\nkept <!-- {NOTE} in code -->\n```\n"
    path = tmp_path / "norfolk-falls-prevention.md"
    path.write_text(text, encoding="utf-8")
    return path


def test_comments_are_accepted_and_never_published(tmp_path: Path) -> None:
    path = _with_comments(tmp_path)
    report = validate_paths([path])
    assert not report.errors, report.errors
    assert not [p for p in report.warnings if "HTML" in p.message or p.code == "raw-html"]
    (entry,) = report.entries
    code = f"kept <!-- {NOTE} in code -->"  # a comment in a code fence is code, shown as such
    assert entry.body.count(NOTE) == 1 and code in entry.body
    assert "In line  here." in entry.body
    assert all(NOTE not in s.text for s in entry.sections if s.heading != "Lessons for peers")
    assert all(NOTE not in part.text for part in parts_for(entry) if code not in part.text)
    page = case_page(entry, [], {entry.id: entry}, load_vocabularies()).markdown
    assert page.count(NOTE) == 1 and code in page
    # line numbers are kept: each section still starts on its heading's line
    lines = path.read_text(encoding="utf-8").split("\n")
    assert all(lines[s.line - 1].startswith(f"## {s.heading}") for s in entry.sections)


def test_a_comment_is_still_checked_for_personal_data(tmp_path: Path) -> None:
    path = _with_comments(tmp_path)
    path.write_text(
        path.read_text(encoding="utf-8") + "\n<!-- ask jane.smith@gmail.com -->\n",
        encoding="utf-8",
    )
    assert [p.code for p in validate_paths([path]).errors] == ["personal-data"]


def test_strip_comments_keeps_lines_and_code() -> None:
    text = "a <!-- x --> b\n<!-- two\nlines -->c\n```\n<!-- code -->\n```\nd <!-- never closed\ne"
    assert strip_comments(text) == "a  b\n\nc\n```\n<!-- code -->\n```\nd \n"
    assert strip_comments("<!---->x<!-- a --><!-- b -->y") == "xy"
