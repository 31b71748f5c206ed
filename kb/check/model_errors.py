"""Pydantic's validation errors turned into problems that name the field, the line and a hint."""

from __future__ import annotations

import difflib
import re
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from kb.check.problems import FieldPath, Problem, format_field
from kb.format.content import (
    Located,
)
from kb.format.model import CaseStudy

_UNION_TAGS = {"int", "float", "str", "bool", "number", "range", "list", "dict", "none"}


# what to write for a required field whose own description does not say how to add it
_MISSING_HINTS = {
    "sources": (
        "add a 'sources' list, one item per page or report the facts come from: title, "
        "publisher, year, url and accessed (the day you read it); each outcome's 'source' is "
        "the number of its item, counting from 1 (`kb new` writes a template)"
    ),
}

def _clean_loc(loc: tuple[Any, ...], data: Any) -> FieldPath:
    """Drop the union-member names pydantic adds (such as 'float' or 'range') from a location.

    A part is kept when it exists in the data at that point (a real key or list index), or when it
    names a field that is missing; it is dropped when it is a type name pydantic made up.
    """
    out: list[str | int] = []
    node = data
    for part in loc:
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            node = node[part]
        elif isinstance(part, str) and (
            part in _UNION_TAGS or not re.fullmatch(r"[a-z_][a-z0-9_]*", part)
        ):
            continue
        else:
            node = None
        out.append(part)
    return tuple(out)


def _unwrap_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _unwrap_model(arg)
        if found is not None:
            return found
    return None


def _model_at(path: FieldPath) -> type[BaseModel] | None:
    """The model class whose fields live at `path` (CaseStudy at the top)."""
    model: type[BaseModel] | None = CaseStudy
    for part in path:
        if isinstance(part, int) or model is None:
            continue
        info = model.model_fields.get(part)
        model = _unwrap_model(info.annotation) if info else None
    return model


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _model_problems(name: str, located: Located, exc: ValidationError) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[tuple[FieldPath, str]] = set()
    for error in exc.errors(include_url=False):
        loc = _clean_loc(error["loc"], located.data)
        ctx = error.get("ctx") or {}
        if "field" in ctx:
            loc = (*loc, ctx["field"])
        kind = error["type"]
        hint = str(ctx.get("hint", ""))
        message = error["msg"]
        if kind == "extra_forbidden" and loc:
            key = str(loc[-1])
            model = _model_at(loc[:-1])
            known = list(model.model_fields) if model else []
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            message = f"unknown field '{key}'"
            hint = f"did you mean '{close[0]}'?" if close else "allowed: " + ", ".join(known)
        elif kind == "missing" and loc:
            model = _model_at(loc[:-1])
            info = model.model_fields.get(str(loc[-1])) if model else None
            message = f"'{loc[-1]}' is required"
            hint = _MISSING_HINTS.get(str(loc[-1]), "")
            hint = hint or ((info.description or "") if info else "")
            hint = hint or "add it; see `kb new` for a template"
        elif kind in (
            "string_type",
            "list_type",
            "dict_type",
            "model_type",
            "model_attributes_type",
        ):
            wanted = {
                "string_type": "text",
                "list_type": "a list",
                "dict_type": "a set of fields",
                "model_type": "a set of fields",
                "model_attributes_type": "a set of fields",
            }[kind]
            message = f"should be {wanted}, not {_describe(error['input'])}"
            if kind == "list_type":
                hint = hint or "write [a, b] or one item per line starting with '- '"
            elif kind == "string_type":
                hint = hint or "put the value in quotes"
        elif kind == "string_type" and error.get("input") is None:
            model = _model_at(loc[:-1])
            info = model.model_fields.get(str(loc[-1])) if model and loc else None
            message = f"'{format_field(loc)}' is empty"
            described = (info.description or "") if info else ""
            hint = f"give a value: {described}" if described else "give a value, or remove the line"
        elif kind == "string_too_long" and isinstance(error.get("input"), str):
            limit = ctx.get("max_length")
            length = len(error["input"])
            message = f"'{format_field(loc)}' is {length} characters long; the limit is {limit}"
            hint = f"cut {length - int(limit or length)} characters; detail belongs in the body"
        elif kind == "string_pattern_mismatch" and loc == ("id",):
            message = f"the id {_describe(error['input'])} is not kebab-case"
            hint = "use lowercase words and digits joined by hyphens, e.g. norfolk-falls-prevention"
        elif kind in ("too_short",) and isinstance(error.get("input"), list):
            message = f"'{format_field(loc)}' needs at least one value"
            hint = hint or "add at least one value"
        elif kind not in ("vocabulary", "number", "duplicate", "url", "year_month"):
            message = f"{message[0].lower()}{message[1:]}"
            if not isinstance(error.get("input"), dict | list):
                message += f" (got {_describe(error.get('input'))})"
        if not hint:
            model = _model_at(loc[:-1])
            info = model.model_fields.get(str(loc[-1])) if model and loc else None
            hint = (info.description or "") if info else ""
            hint = f"{loc[-1]}: {hint}" if hint else "`kb schema` describes every field"
        seen_key = (loc, message)
        if seen_key in seen:
            continue
        seen.add(seen_key)
        where = located.key_position if kind == "extra_forbidden" else located.position
        line, column = where(loc)
        problems.append(Problem(name, line, column, format_field(loc), message, hint, code=kind))
    return problems
