"""A quick check of the index's sealed records, without pydantic.

A search checks the records kb wrote against the same fields and seal as the pydantic schemas in
`kb.index.records`, with plain functions, so that a search need not import pydantic (a third of
its cold start). Anything the quick check does not accept is read again by `read_sealed`, which
says exactly what is wrong."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from kb.index.passages import (
    RESULTS,
)

if TYPE_CHECKING:

    pass
from kb.index.layout import (
    MANIFEST_FORMAT,
    MANIFEST_VERSION_FIELDS,
    ONNX_FORMAT,
    QUERY_MODEL_FORMAT,
)
from kb.index.storage import no_cycle_collection

# The quick check of a record, without pydantic (which would cost a search a tenth of its start):
# what each field of the schemas in kb.index.records must be. A dict is a record (exactly these
# fields), [spec] a mapping of ids to records, (None, spec) an optional record. It accepts only
# what the schema accepts; a record it does not accept goes to the schema.
_BIG = 1 << 63


def _integer(value: Any) -> bool:
    return type(value) is int and -_BIG <= value < _BIG


def _count(value: Any) -> bool:
    return type(value) is int and 0 <= value < _BIG


def _positive(value: Any) -> bool:
    return type(value) is int and 0 < value < _BIG


def _string(value: Any) -> bool:
    return type(value) is str


def _text(value: Any) -> bool:
    return type(value) is str and value != ""


_SHA256 = re.compile(r"[0-9a-f]{64}")


_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def _sha256(value: Any) -> bool:
    return type(value) is str and _SHA256.fullmatch(value) is not None


def _name(value: Any) -> bool:
    return type(value) is str and _NAME.fullmatch(value) is not None


def _passage_list(value: Any) -> bool:
    """(id, section, start, end) lists, as CaseRecord.passages (written out: it runs per
    passage)."""
    if type(value) is not list:
        return False
    for passage in value:
        if type(passage) is not list or len(passage) != 4:
            return False
        number, section, start, end = passage
        if not (type(number) is int and type(section) is int and type(start) is int):
            return False
        if type(end) is not int or not (0 <= number < _BIG and RESULTS <= section < _BIG):
            return False
        if not (0 <= start < _BIG and 0 <= end < _BIG):
            return False
    return True


@dataclass(frozen=True)
class _Kind:
    """A record the quick check reads: its fields, its format, the fields left out of its seal."""

    fields: dict[str, Any]
    format: int
    version_fields: frozenset[str] = frozenset({"format"})


_FILE: dict[str, Any] = {"name": _name, "size": _count, "mtime_ns": _count, "sha256": _sha256}


_SEALED: dict[str, Any] = {"format": _integer, "checksum": _string}


_MANIFEST_FIELDS: dict[str, Any] = {
    **_SEALED,
    "model": _text,
    "dimension": _positive,
    "max_tokens": _positive,
    "scheme": _string,
    "search_scheme": _string,
    "generation": _name,
    "files": {"vectors": _FILE, "search": _FILE},
    "next_id": _count,
    "cases": [
        {
            "hash": _text,
            "passages": _passage_list,
            "source": (None, {"path": _text, "size": _count, "mtime_ns": _count}),
        }
    ],
}


_ONNX_FIELDS: dict[str, Any] = {
    **_SEALED,
    "identity": _text,
    "max_tokens": _positive,
    "dimension": _positive,
    "pooling": lambda value: type(value) is str and value == "mean",
    "normalize": lambda value: value is True,
    "files": {"model": _FILE, "tokenizer": _FILE},
}


_QUERY_MODEL_FIELDS: dict[str, Any] = {
    **_SEALED,
    "source": _sha256,
    "runtime": _text,
    "machine": _text,
    "files": {"graph": _FILE, "weights": _FILE},
}


_MANIFEST = _Kind(_MANIFEST_FIELDS, MANIFEST_FORMAT, MANIFEST_VERSION_FIELDS)


_ONNX = _Kind(_ONNX_FIELDS, ONNX_FORMAT)


_QUERY_MODEL = _Kind(_QUERY_MODEL_FIELDS, QUERY_MODEL_FORMAT)


def _fits(value: Any, spec: Any) -> bool:
    if isinstance(spec, dict):
        return (
            type(value) is dict
            and value.keys() == spec.keys()
            and all(_fits(value[key], field) for key, field in spec.items())
        )
    if isinstance(spec, list):
        return type(value) is dict and all(_fits(item, spec[0]) for item in value.values())
    if isinstance(spec, tuple):
        return value is None or _fits(value, spec[1])
    return bool(spec(value))


def _attributes(value: Any, spec: Any) -> Any:
    if isinstance(spec, dict):
        fields = {key: _attributes(value[key], field) for key, field in spec.items()}
        return SimpleNamespace(**fields)
    if isinstance(spec, list):
        return {key: _attributes(item, spec[0]) for key, item in value.items()}
    if isinstance(spec, tuple):
        return None if value is None else _attributes(value, spec[1])
    return value


def _quick_record(path: Path, kind: _Kind) -> Any:
    """A sealed record as kb writes it, checked without pydantic: this kb's format, every field
    of its schema's type, and its seal the sha256 of its JSON as written (kb writes it compact,
    in the schema's order, as the seal is computed). Its fields come back as read-only attributes
    (SimpleNamespace; `cases` a dict of them); None when only the schema can judge the record (a
    missing, damaged, reformatted or older one): `kb.index.records.read_sealed` then does."""
    with no_cycle_collection():
        try:
            raw = json.loads(path.read_bytes())
            if type(raw) is not dict or raw.get("format") != kind.format:
                return None
            if not _fits(raw, kind.fields):
                return None
            body = {key: value for key, value in raw.items() if key not in kind.version_fields}
            del body["checksum"]
            text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
            if hashlib.sha256(text.encode("utf-8")).hexdigest() != raw["checksum"]:
                return None
        except (OSError, ValueError, RecursionError):
            return None
        return _attributes(raw, kind.fields)
