"""The JSON Schema of the front-matter, for editors with a YAML language server."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import BaseModel

from kb.format import model as model
from kb.format.model import CaseStudy
from kb.format.vocab import load_vocabularies, normalise

__all__ = ["SCHEMA_ID", "FieldDoc", "case_study_schema", "field_docs", "vocabulary_pattern"]

SCHEMA_ID = "https://kb.invalid/case-study.schema.json"


_SEP = "[^A-Za-z0-9'’&]"  # what `kb.format.vocab.normalise` turns into a space
_ICS_PREFIX = f"(?:[Nn][Hh][Ss]{_SEP}+)?"
_ICS_SUFFIX = (
    f"(?:{_SEP}+(?:[Ii][Nn][Tt][Ee][Gg][Rr][Aa][Tt][Ee][Dd]{_SEP}+[Cc][Aa][Rr][Ee]{_SEP}+"
    f"(?:[Bb][Oo][Aa][Rr][Dd]|[Ss][Yy][Ss][Tt][Ee][Mm]|[Pp][Aa][Rr][Tt][Nn][Ee][Rr][Ss][Hh][Ii][Pp])"
    f"|[Ii][Cc][SsBbPp]))?"
)
_YEAR = "(?:19|20)[0-9]{2}"
_YEAR_MONTH = f"^{_YEAR}(?:-(?:0[1-9]|1[0-2])(?:-(?:0[1-9]|[12][0-9]|3[01]))?)?$"
_URL = "^https?://[^\\s<>\"']+$"


def _ci(word: str) -> str:
    """A regex matching `word` (lowercase letters, digits, apostrophes) in any case."""
    out = []
    for char in word:
        if char.isalpha():
            out.append(f"[{char.upper()}{char}]" if char.upper() != char else char)
        elif char == "'":
            out.append("['’]")
        else:
            out.append(re.escape(char))
    return "".join(out)


def _spelling_regex(spelling: str) -> str:
    """A regex for every text that `normalise` folds to the same words as `spelling`.

    Case, punctuation and spacing do not matter, and '&' stands for the word 'and'.
    """
    words = normalise(spelling).split(" ")
    out = ""
    for index, word in enumerate(words):
        inner = 0 < index < len(words) - 1
        if word == "and" and inner:
            out += f"(?:{_SEP}*&{_SEP}*|{_SEP}+{_ci('and')}{_SEP}+)"
            continue
        if index and not (words[index - 1] == "and" and index - 1 > 0):
            out += f"{_SEP}+"
        out += f"(?:{_ci(word)}|&)" if word == "and" else _ci(word)
    return out


@cache
def vocabulary_pattern(attr: str) -> str:
    """A regex (ECMA-262 and Python alike) accepting exactly what the validator resolves.

    The validator folds case, punctuation and '&', and for ICSs also drops 'NHS' before a name
    and 'ICB', 'ICS', 'ICP' or 'Integrated Care Board/System/Partnership' after it.
    """
    vocabulary = getattr(load_vocabularies(), attr)
    keys = sorted(
        {normalise(s) for t in vocabulary.terms for s in (t.id, t.label, *t.aliases)} - {""},
        key=lambda k: (-len(k), k),
    )
    names = "|".join(_spelling_regex(k) for k in keys)
    if attr == "ics":
        return f"^{_SEP}*{_ICS_PREFIX}(?:{names}){_ICS_SUFFIX}{_SEP}*$"
    return f"^{_SEP}*(?:{names}){_SEP}*$"


def _vocab_node(attr: str) -> dict[str, Any]:
    """Completion from the listed spellings; acceptance of any spelling the validator resolves."""
    allowed = getattr(load_vocabularies(), attr).allowed_values()
    return {
        "type": "string",
        "anyOf": [{"enum": allowed}, {"pattern": vocabulary_pattern(attr)}],
    }


def _add_enums(node: Any) -> None:
    """Fill every `x-vocabulary` marker with the accepted spellings, so editors complete them."""
    if isinstance(node, dict):
        name = node.get("x-vocabulary")
        if name:
            if node.get("type") == "array":
                node["items"] = _vocab_node(name)
                node["uniqueItems"] = True
            elif "anyOf" in node:
                node["anyOf"] = [
                    _vocab_node(name) if branch.get("type") == "string" else branch
                    for branch in node["anyOf"]
                ]
            else:
                node.pop("type", None)
                node.update(_vocab_node(name))
        for value in node.values():
            _add_enums(value)
    elif isinstance(node, list):
        for value in node:
            _add_enums(value)


def _no_blanks(node: Any) -> Any:
    """The validator refuses blank values: drop `null` branches, ask text for a non-space."""
    if isinstance(node, list):
        return [_no_blanks(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _no_blanks(v) for k, v in node.items()}
    branches = out.get("anyOf")
    if isinstance(branches, list):
        kept = [b for b in branches if b != {"type": "null"}]
        if len(kept) == 1 and len(kept) < len(branches):
            out.pop("anyOf")
            out = {**kept[0], **out}
        else:
            out["anyOf"] = kept
    if out.get("default", 0) is None:
        out.pop("default")
    constrained = {"enum", "const", "pattern", "anyOf", "format"} & set(out)
    if out.get("type") == "string" and not constrained:
        out["pattern"] = "\\S"
    return out


def _year_month(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "anyOf": [
            {"type": "integer", "minimum": 1900, "maximum": 2099},
            {"type": "string", "pattern": _YEAR_MONTH},
        ],
        "examples": [2023, "2023-04"],
    }


_EVIDENCE_WORDS = (
    f"^\\s*(?:[1-5]|{_ci('not')}[-_ ]+{_ci('assessed')}|{_ci('unassessed')}|{_ci('none')})\\s*$"
)


def case_study_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a case study's front-matter, vocabularies included.

    It accepts what `kb validate` accepts in shape and vocabulary (a test holds the two
    together); rules across fields (an ICS in its region, dates in order, a source that exists)
    are the validator's alone.
    """
    schema = CaseStudy.model_json_schema(mode="validation")
    _add_enums(schema)
    # a contributor may write one value where a list is expected; the schema says so too
    nested = [d.get("properties", {}) for d in schema.get("$defs", {}).values()]
    for prop in [p for props in (schema.get("properties", {}), *nested) for p in props.values()]:
        if prop.get("type") == "array" and "x-vocabulary" in prop:
            items = prop["items"]
            prop.pop("type")
            prop["anyOf"] = [{"type": "array", "items": items, "uniqueItems": True}, items]
            prop.pop("items")
            prop.pop("uniqueItems", None)
            if prop.get("minItems"):
                prop["anyOf"][0]["minItems"] = prop.pop("minItems")
            else:
                prop.pop("minItems", None)
    schema = _no_blanks(schema)
    props = schema["properties"]
    for name in ("started", "ended"):
        props[name] = _year_month(props[name].get("description", ""))
    defs = schema["$defs"]
    defs["Source"]["properties"]["url"] = {
        "type": "string",
        "pattern": _URL,
        "description": defs["Source"]["properties"]["url"].get("description", ""),
    }
    level = defs["Evidence"]["properties"]["level"]
    level["anyOf"] = [
        {"type": "integer", "minimum": 1, "maximum": 5},
        {"type": "string", "pattern": _EVIDENCE_WORDS},
    ]
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
