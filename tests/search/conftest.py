"""Fixtures for index and search tests: a tiny fake embedder and a small hand-written library.

Cache paths already point at tmp_path (tests/conftest.py). Only tests marked `model` load the
real embedding model.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from kb.format.content import REQUIRED_SECTIONS, Entry, split_sections
from kb.format.model import CaseStudy
from kb.index.embed import HashingEmbedder

LONG_TEXT = " ".join(
    f"Sentence {i} describes how the falls team visited homes and fitted grab rails."
    for i in range(60)
)

CASES: list[dict[str, Any]] = [
    {
        "id": "norfolk-falls",
        "title": "Falls prevention at home for older people",
        "summary": "Occupational therapists check homes and teach strength and balance.",
        "ics": ["Norfolk and Waveney"],
        "region": ["East of England"],
        "tiers": ["secondary", "tertiary"],
        "meps": ["medical", "environmental"],
        "topics": ["falls", "older-people"],
        "evidence": {"level": 3, "method": "comparison-group"},
        "sections": {
            "Context": "Hip fractures after falls were rising among people living alone.",
            "What they did": LONG_TEXT,
            "Outcomes": "Ambulance call-outs for falls fell by a fifth.",
        },
    },
    {
        "id": "manchester-housing-mental-health",
        "title": "Housing officers trained to spot mental illness early",
        "summary": "Council housing staff learn to notice distress and refer tenants quickly.",
        "ics": ["Greater Manchester"],
        "region": ["North West"],
        "tiers": ["primary", "wider-determinants"],
        "meps": ["social", "environmental"],
        "topics": ["mental-health", "housing"],
        "evidence": {"level": 2, "method": "before-and-after"},
        "sections": {
            "Context": "Tenants in arrears often had untreated depression.",
            "What they did": "Housing officers took mental health first aid training.",
        },
    },
    {
        "id": "birmingham-blood-pressure",
        "title": "Blood pressure checks in barbershops and mosques",
        "summary": "Community pharmacists measure blood pressure where people already go.",
        "ics": ["Birmingham and Solihull"],
        "region": ["Midlands"],
        "tiers": ["secondary"],
        "meps": ["medical"],
        "topics": ["hypertension", "cardiovascular-disease"],
        "evidence": {"level": 2, "method": "process-monitoring"},
        "sections": {
            "Context": "Many adults had high blood pressure and did not know it.",
            "What they did": "Pharmacists ran pop-up checks in barbershops and mosques.",
        },
    },
    {
        "id": "suffolk-warm-homes",
        "title": "Warm homes for people with lung disease",
        "summary": "Grants for heating and insulation for tenants with COPD in cold homes.",
        "ics": ["Suffolk and North East Essex"],
        "region": ["East of England"],
        "tiers": ["wider-determinants"],
        "meps": ["environmental"],
        "topics": ["housing", "long-term-conditions"],
        "evidence": {"level": 4, "method": "independent-evaluation"},
        "sections": {
            "Context": "Cold damp homes made breathing worse in winter.",
            "What they did": "The council paid for boilers and insulation.",
        },
    },
    {
        "id": "london-child-poverty",
        "title": "Family hubs tackling child poverty",
        "summary": "Benefits advice and health visiting for families on low incomes.",
        "ics": [],
        "region": ["London"],
        "tiers": ["wider-determinants", "primary"],
        "meps": ["social"],
        "topics": ["child-poverty", "children-and-young-people"],
        "evidence": {"level": 1, "method": "none-yet"},
        "sections": {
            "Context": "One child in three in the borough lived in poverty.",
            "What they did": "Family hubs added welfare rights advisers.",
        },
    },
]


def _front_and_body(spec: dict[str, Any]) -> tuple[dict[str, Any], str]:
    front = {k: v for k, v in spec.items() if k != "sections"}
    front.setdefault("organisations", ["Test organisation"])
    front.setdefault("sources", [{"title": "Report", "publisher": "Test", "year": 2024}])
    sections = {h: spec["sections"].get(h, "Not stated in the source.") for h in REQUIRED_SECTIONS}
    body = "\n".join(f"## {h}\n\n{t}\n" for h, t in sections.items())
    return front, body


def make_entry(spec: dict[str, Any], root: Path = Path("content")) -> Entry:
    """An Entry as load_library would return it for this front-matter and these sections."""
    front, body = _front_and_body(spec)
    text = "---\n" + yaml.safe_dump(front, sort_keys=False) + "---\n\n" + body
    case = CaseStudy.model_validate(front)
    return Entry(
        path=root / f"{case.id}.md",
        case=case,
        body=body,
        sections=split_sections(body, 1),
        content_hash=hashlib.sha256(text.encode()).hexdigest(),
    )


def write_case(spec: dict[str, Any], folder: Path) -> Path:
    """Write a case-study file for a spec (as a contributor would)."""
    front, body = _front_and_body(spec)
    path = folder / f"{spec['id']}.md"
    path.write_text("---\n" + yaml.safe_dump(front, sort_keys=False) + "---\n\n" + body, "utf-8")
    return path


@pytest.fixture
def embedder() -> HashingEmbedder:
    """A tiny deterministic model; 64 tokens so long sections are split into windows."""
    return HashingEmbedder(dimension=64, max_tokens=64)


@pytest.fixture
def entries() -> list[Entry]:
    return [make_entry(spec) for spec in CASES]


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"
