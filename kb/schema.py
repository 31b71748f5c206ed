"""The JSON Schema of the front-matter, for editors with a YAML language server."""

from __future__ import annotations

from typing import Any

from kb.model import CaseStudy
from kb.vocab import load_vocabularies

__all__ = ["SCHEMA_ID", "case_study_schema"]

SCHEMA_ID = "https://kb.invalid/case-study.schema.json"


def _add_enums(node: Any) -> None:
    """Fill every `x-vocabulary` marker with the accepted spellings, so editors complete them."""
    vocab = load_vocabularies()
    if isinstance(node, dict):
        name = node.get("x-vocabulary")
        if name:
            allowed = getattr(vocab, name).allowed_values()
            if node.get("type") == "array":
                node["items"] = {"type": "string", "enum": allowed}
            elif "anyOf" in node:
                for branch in node["anyOf"]:
                    if branch.get("type") == "string":
                        branch["enum"] = allowed
            else:
                node["enum"] = allowed
        for value in node.values():
            _add_enums(value)
    elif isinstance(node, list):
        for value in node:
            _add_enums(value)


def case_study_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a case study's front-matter, vocabularies included."""
    schema = CaseStudy.model_json_schema(mode="validation")
    _add_enums(schema)
    # a contributor may write one value where a list is expected; the schema says so too
    for prop in schema.get("properties", {}).values():
        if prop.get("type") == "array" and "x-vocabulary" in prop:
            items = prop["items"]
            prop.pop("type")
            prop["anyOf"] = [{"type": "array", "items": items}, items]
            prop.pop("items")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}
