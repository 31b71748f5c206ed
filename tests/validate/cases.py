"""A case study written from a dict with every required section, and validated: for tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kb.check.problems import Report
from kb.check.validate import validate_paths
from kb.format.content import REQUIRED_SECTIONS
from kb.format.model import REASONED_FIELDS

BODY = "\n".join(f"## {heading}\n\nNot stated in the sources.\n" for heading in REQUIRED_SECTIONS)


def check(tmp_path: Path, data: dict[str, Any]) -> Report:
    """Validate `data` as the front matter of `<id>.md`, with a body of every required section."""
    path = tmp_path / f"{data['id']}.md"
    front = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    path.write_text(f"---\n{front}---\n\n{BODY}", encoding="utf-8")
    return validate_paths([path])


def base(**changes: Any) -> dict[str, Any]:
    """A small valid case study, with `changes` made to it."""
    case: dict[str, Any] = {
        "id": "example-case",
        "title": "Example: a real initiative",
        "summary": "A short summary.",
        "organisations": ["Example Council"],
        "ics": ["greater-manchester"],
        "region": ["north-west"],
        "place": "Wigan",
        "tiers": ["primary"],
        "meps": ["social"],
        "three_cs": ["capacity"],
        "evidence": {"level": 2, "method": "before-and-after"},
        "sources": [{"title": "A report", "publisher": "Example Council", "year": 2024}],
        "rationale": {name: "Editorial: as the sources describe it." for name in REASONED_FIELDS},
    }
    case.update(changes)
    return case
