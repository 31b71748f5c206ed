"""The ONNX export's records: the export that embeds, and the query model prepared from it.

`onnx/onnx.json` (`OnnxRecord`) records the export and its two files; `onnx/query.onnx` with its
weights in `onnx/query.onnx.data` is the export prepared for quick loading (graph optimised,
weights mapped), recorded in `onnx/query.json` (`QueryModelRecord`): queries use it while it
matches the export and this onnxruntime, and the export otherwise."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from kb.errors import IndexDamaged, IndexStale, SearchIndexError

if TYPE_CHECKING:

    from kb.index.records import (
        OnnxRecord,
        QueryModelRecord,
    )
from kb.index.layout import QUERY_META, QUERY_MODEL, QUERY_WEIGHTS, IndexReport
from kb.index.quickcheck import _ONNX, _QUERY_MODEL, _quick_record
from kb.index.storage import _fresh, _record, _verify_file, _write_sealed

__all__ = ["query_model", "read_onnx_record", "write_onnx_record"]


def _check_onnx(onnx_dir: Path, *, quick: bool = False) -> tuple[OnnxRecord, bool]:
    """The verified record of an ONNX export, and whether its file records were refreshed (not
    with `quick`, which reads the record as `_read_manifest` does)."""
    from kb.index.layout import ONNX_META

    path = onnx_dir / ONNX_META
    record = _quick_record(path, _ONNX) if quick else None
    if record is None:
        from kb.index.records import OnnxRecord, read_sealed

        record = read_sealed(path, OnnxRecord)
    model = _verify_file(onnx_dir, record.files.model)
    tokenizer = _verify_file(onnx_dir, record.files.tokenizer)
    if quick or (model, tokenizer) == (
        record.files.model.mtime_ns,
        record.files.tokenizer.mtime_ns,
    ):
        return record, False
    from kb.index.records import OnnxFiles

    files = OnnxFiles(
        model=_fresh(record.files.model, model), tokenizer=_fresh(record.files.tokenizer, tokenizer)
    )
    return record.model_copy(update={"files": files}), True


def _machine() -> str:
    if hasattr(os, "uname"):
        return os.uname().machine or "unknown"
    import platform  # pragma: no cover - not POSIX

    return platform.machine() or "unknown"  # pragma: no cover


def _check_query_model(
    onnx_dir: Path, export: OnnxRecord, runtime: str, *, quick: bool = False
) -> tuple[QueryModelRecord, bool]:
    """The verified record of the prepared query model, and whether its file records were
    refreshed (not with `quick`); IndexStale if it is missing, damaged or not made from this export
    here."""
    path = onnx_dir / QUERY_META
    record = _quick_record(path, _QUERY_MODEL) if quick else None
    if record is None:
        from kb.index.records import QueryModelRecord, read_sealed

        record = read_sealed(path, QueryModelRecord)
    if record.source != export.files.model.sha256:
        raise IndexStale(f"{path} was made from another export")
    if record.runtime != runtime or record.machine != _machine():
        raise IndexStale(f"{path} was made by another onnxruntime or machine")
    if (record.files.graph.name, record.files.weights.name) != (QUERY_MODEL, QUERY_WEIGHTS):
        raise IndexDamaged(f"{path} names other files")
    graph = _verify_file(onnx_dir, record.files.graph)
    weights = _verify_file(onnx_dir, record.files.weights)
    if quick or (graph, weights) == (record.files.graph.mtime_ns, record.files.weights.mtime_ns):
        return record, False
    from kb.index.records import QueryModelFiles

    files = QueryModelFiles(
        graph=_fresh(record.files.graph, graph), weights=_fresh(record.files.weights, weights)
    )
    return record.model_copy(update={"files": files}), True


def query_model(onnx_dir: Path, export: OnnxRecord, runtime: str) -> Path | None:
    """The prepared query model (see `QueryModelRecord`) if it is intact and was made from this
    export by this onnxruntime (`runtime`, its version) here; None otherwise, and the export is
    loaded instead. Its files are checked by size and mtime (sha256 only if the mtime differs)."""
    try:
        _check_query_model(onnx_dir, export, runtime, quick=True)
    except IndexStale:
        return None
    return onnx_dir / QUERY_MODEL


def _prepare_query_model(onnx_dir: Path, export: OnnxRecord, report: IndexReport) -> None:
    """Save the export's optimised graph with its weights apart, for searches to load quickly
    (once per export, onnxruntime version and machine)."""
    import shutil

    import onnxruntime as ort

    from kb.index.layout import ONNX_FILE
    from kb.index.records import QueryModelFiles, QueryModelRecord

    try:
        record, refreshed = _check_query_model(onnx_dir, export, ort.__version__)
        if refreshed:  # only mtimes changed (a copied cache): keep searches from hashing
            _write_sealed(onnx_dir / QUERY_META, record)
        return
    except IndexStale as reason:
        if (onnx_dir / QUERY_META).exists():
            report.messages.append(f"preparing the query model again: {reason}")
    tmp = Path(tempfile.mkdtemp(prefix=".query-", dir=onnx_dir))
    try:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.optimized_model_filepath = str(tmp / QUERY_MODEL)
        for key, value in (
            ("session.optimized_model_external_initializers_file_name", QUERY_WEIGHTS),
            ("session.optimized_model_external_initializers_min_size_in_bytes", "1024"),
        ):
            options.add_session_config_entry(key, value)
        ort.InferenceSession(str(onnx_dir / ONNX_FILE), options, providers=["CPUExecutionProvider"])
        # the old record goes first, so that no search pairs it with the new files
        with contextlib.suppress(FileNotFoundError):
            (onnx_dir / QUERY_META).unlink()
        for name in (QUERY_WEIGHTS, QUERY_MODEL):
            os.replace(tmp / name, onnx_dir / name)
        files = QueryModelFiles(
            graph=_record(onnx_dir / QUERY_MODEL), weights=_record(onnx_dir / QUERY_WEIGHTS)
        )
        prepared = QueryModelRecord(
            format=QueryModelRecord.FORMAT,
            source=export.files.model.sha256,
            runtime=ort.__version__,
            machine=_machine(),
            files=files,
        )
        _write_sealed(onnx_dir / QUERY_META, prepared)
    except Exception as exc:  # onnxruntime raises its own exception types
        report.messages.append(f"searches will load the whole ONNX export: {exc}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def read_onnx_record(onnx_dir: Path) -> OnnxRecord:
    """The record of the ONNX export in `onnx_dir`, with its files verified; SearchIndexError
    (naming
    the file, with the hint to run `kb index`) if anything is missing, changed or damaged."""
    try:
        record, _ = _check_onnx(onnx_dir, quick=True)
    except IndexStale as reason:
        raise SearchIndexError(
            f"the ONNX query model cannot be used: {reason}; hint: run `kb index` to repair it"
        ) from None
    return record


def write_onnx_record(onnx_dir: Path, *, identity: str, max_tokens: int, dimension: int) -> None:
    """Record the ONNX export in `onnx_dir` (its model.onnx and tokenizer.json as written)."""
    from kb.index.layout import ONNX_FILE, ONNX_META, TOKENIZER_FILE
    from kb.index.records import OnnxFiles, OnnxRecord

    record = OnnxRecord(
        format=OnnxRecord.FORMAT,
        identity=identity,
        max_tokens=max_tokens,
        dimension=dimension,
        pooling="mean",
        normalize=True,
        files=OnnxFiles(
            model=_record(onnx_dir / ONNX_FILE), tokenizer=_record(onnx_dir / TOKENIZER_FILE)
        ),
    )
    _write_sealed(onnx_dir / ONNX_META, record)
