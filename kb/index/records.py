"""The cache's records as pydantic schemas: the index manifest, the ONNX export's record and the
record of the query model prepared from it (see `kb.index` for what each holds).

`kb index` writes records from these schemas, sealed with the sha256 of their contents. Reading
them, a search first tries `kb.index`'s quick check (the seal and the fields' types, without
pydantic, which costs a tenth of a search's start); only a record that check does not accept
comes here, to be accepted after all (written differently) or refused with the reason.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kb.errors import IndexDamaged, IndexFileMissing, IndexStale
from kb.index.layout import (
    MANIFEST_FORMAT,
    MANIFEST_VERSION_FIELDS,
    ONNX_FORMAT,
    QUERY_MODEL_FORMAT,
)
from kb.index.passages import RESULTS

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "CaseRecord",
    "FileRecord",
    "IndexFiles",
    "Manifest",
    "OnnxFiles",
    "OnnxRecord",
    "QueryModelFiles",
    "QueryModelRecord",
    "SourceRecord",
    "read_sealed",
]

_Count = Annotated[int, Field(strict=True, ge=0)]
_Positive = Annotated[int, Field(strict=True, gt=0)]
_Text = Annotated[str, Field(strict=True, min_length=1)]
_Sha256 = Annotated[str, Field(strict=True, pattern=r"^[0-9a-f]{64}$")]
# a name inside its folder, never a path
_FileName = Annotated[str, Field(strict=True, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")]
_Section = Annotated[int, Field(strict=True, ge=RESULTS)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileRecord(_Record):
    """A cached file as it was written: name in its folder, size, mtime and sha256."""

    name: _FileName
    size: _Count
    mtime_ns: _Count
    sha256: _Sha256


class _Sealed(_Record):
    """A JSON record that carries the sha256 of its own contents, so that any edit or partial
    write shows. Its version fields are left out of the seal: they are compared with this kb's
    own, so that a record from another version is recognised as such."""

    FORMAT: ClassVar[int]
    VERSION_FIELDS: ClassVar[frozenset[str]] = frozenset({"format"})

    format: Annotated[int, Field(strict=True)]
    checksum: Annotated[str, Field(strict=True)] = ""

    def digest(self) -> str:
        """The seal: sha256 of the record's canonical JSON, without version fields or checksum."""
        body = self.model_dump_json(exclude={*self.VERSION_FIELDS, "checksum"})
        return hashlib.sha256(body.encode()).hexdigest()


class IndexFiles(_Record):
    vectors: FileRecord
    search: FileRecord


class SourceRecord(_Record):
    """A case-study file as it was indexed: absolute path, size and mtime."""

    path: _Text
    size: _Count
    mtime_ns: _Count


class CaseRecord(_Record):
    hash: _Text  # content hash of the case-study file
    passages: list[tuple[_Count, _Section, _Count, _Count]]  # (id, section, start, end)
    source: SourceRecord | None = None  # None for entries that were not read from a file


class Manifest(_Sealed):
    """`index/manifest.json`: what the index holds and the data files of its generation."""

    FORMAT: ClassVar[int] = MANIFEST_FORMAT
    VERSION_FIELDS: ClassVar[frozenset[str]] = MANIFEST_VERSION_FIELDS

    model: _Text  # identity of the embedding model
    dimension: _Positive
    max_tokens: _Positive
    scheme: str  # the passage scheme's name when written
    search_scheme: str  # search_scheme() when written
    generation: _FileName
    files: IndexFiles
    next_id: _Count  # the id the next passage gets
    cases: dict[str, CaseRecord]  # by case-study id; their passages are the vector rows

    def passage_ids(self) -> NDArray[np.int64]:
        ids = [p[0] for case in self.cases.values() for p in case.passages]
        return np.asarray(ids, dtype=np.int64)


class OnnxFiles(_Record):
    model: FileRecord
    tokenizer: FileRecord


class OnnxRecord(_Sealed):
    """`index/onnx/onnx.json`: which model the ONNX export is, how it pools, and its files."""

    FORMAT: ClassVar[int] = ONNX_FORMAT

    identity: _Text
    max_tokens: _Positive
    dimension: _Positive
    pooling: Literal["mean"]
    normalize: Literal[True]
    files: OnnxFiles


class QueryModelFiles(_Record):
    graph: FileRecord
    weights: FileRecord


class QueryModelRecord(_Sealed):
    """`index/onnx/query.json`: the export prepared by `kb index` for quick loading: its graph
    as onnxruntime optimises it, saved with the weights in a file of their own (which a search
    maps rather than parses). It computes exactly what the export does; a search uses it only
    while it was made from that export (sha256) by the onnxruntime and on the machine in use."""

    FORMAT: ClassVar[int] = QUERY_MODEL_FORMAT

    source: _Sha256  # sha256 of the export's model.onnx
    runtime: _Text  # onnxruntime version
    machine: _Text
    files: QueryModelFiles


_RecordT = TypeVar("_RecordT", bound=_Sealed)


def read_sealed(path: Path, schema: type[_RecordT]) -> _RecordT:
    """A record checked against its schema and its seal (parsed and validated in one pass)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise IndexFileMissing(f"{path} is missing") from None
    except OSError as exc:
        raise IndexDamaged(f"{path} is unreadable ({exc.strerror})") from None
    try:
        record = schema.model_validate_json(data)
    except ValidationError as exc:
        raise _invalid(path, data, schema, exc) from None
    if record.format != schema.FORMAT:
        raise IndexStale(f"{path} is from another version of kb")
    if record.checksum != record.digest():
        raise IndexDamaged(f"{path} does not match its checksum (edited by hand or partly written)")
    return record


def _invalid(path: Path, data: bytes, schema: type[_Sealed], exc: ValidationError) -> IndexStale:
    """Why a record failed its schema, in one line."""
    try:
        raw = json.loads(data)
    except (ValueError, RecursionError) as error:
        return IndexDamaged(f"{path} is unreadable ({error})")
    if not isinstance(raw, dict):
        return IndexDamaged(f"{path} is not a kb record (not a JSON object)")
    if raw.get("format") != schema.FORMAT or type(raw["format"]) is not int:
        return IndexStale(f"{path} is from another version of kb (format {raw.get('format')!r})")
    problem = exc.errors()[0]
    where = ".".join(str(part) for part in problem["loc"])
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return IndexDamaged(f"{path} is invalid: {where}: {problem['msg']}{more}")
