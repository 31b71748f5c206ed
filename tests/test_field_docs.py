"""The contributor docs list every field of the format, from the model, so they cannot drift."""

from __future__ import annotations

import pytest

from kb.format.model import CaseStudy, Evidence, Outcome, Source
from kb.format.schema import field_docs
from kb.format.vocab import load_vocabularies
from kb.publish.pages import expand_markers
from tests.conftest import ROOT


@pytest.mark.parametrize("model", [CaseStudy, Outcome, Evidence, Source], ids=lambda m: m.__name__)
def test_every_field_is_documented(model: type) -> None:
    docs = field_docs(model.__name__)
    assert [d.name for d in docs] == list(model.model_fields)
    for doc in docs:
        assert doc.description, f"{model.__name__}.{doc.name} has no description"
        assert doc.kind
    required = {d.name for d in docs if d.required}
    assert required == {n for n, f in model.model_fields.items() if f.is_required()}


def test_contributing_page_shows_the_generated_tables() -> None:
    page = (ROOT / "site" / "contributing.md").read_text(encoding="utf-8")
    out = expand_markers(page, "contributing.md", [], load_vocabularies())
    assert "kb:fields" not in out
    for name in CaseStudy.model_fields:
        assert f"| `{name}` |" in out, name
    assert "| `tiers` | required | values from the prevention tier list (`kb vocab tiers`)" in out
    assert "| `status` | required | one of achieved, estimated, target |" in out


def test_the_part_of_a_whole_shape_is_documented() -> None:
    page = (ROOT / "site" / "contributing.md").read_text(encoding="utf-8")
    out = expand_markers(page, "contributing.md", [], load_vocabularies())
    assert "| `out_of` | optional | a whole number |" in out
    shape = next(line for line in page.splitlines() if "`out_of: 211`" in line)
    assert '"148 of 211' in shape and "`value: 148`" in shape and "`measure: level`" in shape
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "`out_of`" in readme
