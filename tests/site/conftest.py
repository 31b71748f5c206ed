"""Fixtures for the site tests: small libraries in tests/site/data, a fake embedder, tmp paths."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kb.check.library import load_library
from kb.format.content import Entry, parse_front_matter, read_source, split_sections
from kb.format.model import CaseStudy

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[2]
MKDOCS_YML = ROOT / "mkdocs.yml"


@dataclass(frozen=True)
class Hit:
    """A 'similar' hit as kb.publish.pages reads it (kb.search.searcher.SearchHit has the same
    fields)."""

    case_id: str
    title: str
    score: float
    shared_facets: dict[str, tuple[str, ...]]


def load_unvalidated(path: Path) -> Entry:
    """An Entry made from a file by the model alone, skipping the validator's safety checks."""
    source = read_source(path)
    located = parse_front_matter(source.front_matter, source.front_matter_line)
    case = CaseStudy.model_validate(located.data)
    sections = split_sections(source.body, source.body_line)
    return Entry(path, case, source.body, sections, source.content_hash)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("KB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("KB_SITE_DIR", str(tmp_path / "site"))
    monkeypatch.setenv("KB_CONTENT_DIR", str(DATA / "content"))
    monkeypatch.setenv("NO_MKDOCS_2_WARNING", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    yield
    from kb.publish import plugin as mkdocs_plugin

    mkdocs_plugin._shared.clear()


@pytest.fixture(scope="session")
def entries() -> list[Entry]:
    return load_library(DATA / "content")
