"""The JSON Schema of the front-matter, for editors with a YAML language server."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from kb import model
from kb.model import CaseStudy
from kb.vocab import load_vocabularies

__all__ = ["SCHEMA_ID", "FieldDoc", "case_study_schema", "field_docs"]

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


@dataclass(frozen=True)
class FieldDoc:
    """One field of the format, for the contributor docs."""

    name: str
    required: bool
    kind: str  # what to write, in words
    description: str
    vocabulary: str | None  # the `kb vocab` name of a controlled field


def _kind(prop: dict[str, Any]) -> str:
    """What a JSON Schema property asks for, in words."""
    options = [p for p in prop.get("anyOf", [prop]) if p.get("type") != "null"]
    if len(options) > 1:
        kinds = list(dict.fromkeys(_kind(option) for option in options))
        if "a number" in kinds and "a whole number" in kinds:
            kinds.remove("a whole number")
        return " or ".join(kinds)
    first = options[0] if options else prop
    if "oneOf" in first:
        return "a number, or a range {low, high}"
    if "const" in first:
        return repr(first["const"])
    if "$ref" in first:
        return f"fields of {first['$ref'].rsplit('/', 1)[-1]}"
    kind = first.get("type")
    if kind == "array":
        inner = _kind(first.get("items", {}))
        return f"a list of {inner}"
    if first.get("format") == "date":
        return "a date (YYYY-MM-DD)"
    if "examples" in first:
        return "a year or year-month"
    if "enum" in first:
        return "one of " + ", ".join(str(v) for v in first["enum"])
    words = {
        "string": "text",
        "integer": "a whole number",
        "number": "a number",
        "boolean": "true or false",
    }
    if isinstance(kind, str):
        return words.get(kind, kind)
    return " or ".join(words.get(k, str(k)) for k in first.get("anyOf", []))


def field_docs(name: str = "CaseStudy") -> list[FieldDoc]:
    """The fields of a format model (CaseStudy, Outcome, ContextFigure, Evidence, Source, ...)."""
    cls = getattr(model, name, None)
    if not (isinstance(cls, type) and issubclass(cls, BaseModel)):
        raise KeyError(name)
    schema = cls.model_json_schema()
    docs = []
    for field_name, info in cls.model_fields.items():
        prop = schema["properties"][field_name]
        vocabulary = prop.get("x-vocabulary") or next(
            (p.get("x-vocabulary") for p in prop.get("anyOf", []) if p.get("x-vocabulary")), None
        )
        kind = _kind(prop)
        if vocabulary:
            many = "array" in (prop.get("type"), *(p.get("type") for p in prop.get("anyOf", [])))
            kind = "values" if many else "a value"
            kind += f" from the {getattr(load_vocabularies(), vocabulary).name} list"
        docs.append(
            FieldDoc(field_name, info.is_required(), kind, info.description or "", vocabulary)
        )
    return docs
