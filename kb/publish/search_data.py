"""The site's search by meaning: what the built site ships so that a browser ranks as `kb search`.

`export_site_search` reads the search index through `kb.search.searcher.Searcher` (so the site uses
exactly
the index's passages, BM25 statistics and ranking parameters) and writes, under the site folder:

- `semantic-search/data.json`: the ranking's parameters (`Fusion`, query stop words, result cues,
  snippet length), BM25 vocabulary and idf, per case study its title, address, labels, facets,
  evidence and outcomes, the passages (case, section, character range) and the spellings a query
  may name; plus the encoding of the vectors;
- `semantic-search/bm25.bin`: the BM25 score matrix (one row of documents and scores per term);
- `semantic-search/vectors.bin`: the passage vectors, each dimension quantised to a few bits
  (8 while the library is small; fewer as it grows, so that 1,000 case studies stay under 1 MB);
- `semantic-search/texts.json`: the texts of the passages' parts, for snippets;
- `semantic-search/model/`: the embedding model as ONNX with int8 weights (per output channel,
  computed in float: cosine >= 0.998 to the float model on the evaluation queries) and its
  tokenizer;
- `semantic-search/ort/`: onnxruntime-web's single-threaded WebAssembly runtime, copied from
  `node_modules` (never a CDN).

Without an ONNX export (an index made by a stand-in model) or without `node_modules`, the site
ships no model, and its search shows keyword results with a notice saying why.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from kb.index.layout import StoredCase
    from kb.index.load import SearchData
    from kb.search.searcher import Searcher

__all__ = [
    "ORT_FILES",
    "SEARCH_DIR",
    "VECTOR_BUDGET",
    "SiteSearchReport",
    "decode_vectors",
    "encode_vectors",
    "export_site_search",
    "quantise_model",
]

SEARCH_DIR = "semantic-search"
FORMAT = 1
# the most bytes the passage vectors may take; the bits per dimension are chosen to fit
VECTOR_BUDGET = 900_000
# onnxruntime-web's files for the single-threaded WebAssembly backend (no SharedArrayBuffer, so
# no cross-origin isolation is needed)
ORT_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
ORT_PACKAGE = Path("node_modules") / "onnxruntime-web"


@dataclass
class SiteSearchReport:
    """What an export wrote: bytes per file (relative to the site folder) and why no model."""

    files: dict[str, int]
    model: bool
    reason: str = ""
    vector_bits: float = 0.0


# ---------------------------------------------------------------------------------------------
# vectors


def _gaussian_levels(bits: int) -> list[float]:
    """Lloyd-Max reconstruction levels of a standard normal variable for `bits` bits."""
    grid = np.linspace(-8.0, 8.0, 64001)
    weight = np.exp(-0.5 * grid * grid)
    count = 2**bits
    cdf = np.cumsum(weight) / weight.sum()
    levels = np.interp((np.arange(count) + 0.5) / count, cdf, grid)
    for _ in range(200):
        edges = (levels[1:] + levels[:-1]) / 2
        cell = np.searchsorted(edges, grid)
        sums = np.bincount(cell, weights=weight * grid, minlength=count)
        mass = np.bincount(cell, weights=weight, minlength=count)
        levels = sums / np.maximum(mass, 1e-300)
    return [round(float(v), 6) for v in levels]


def _bits_for(rows: int, dimension: int, budget: int) -> list[int]:
    """Bits per dimension: 8 where the budget allows, else 4, 3, or a mix of 3 and 2."""
    if rows == 0:
        return [8] * dimension
    for bits in (8, 4, 3):
        if math.ceil(bits * dimension / 8) * rows <= budget:
            return [bits] * dimension
    three = int((budget / rows * 8 - 2 * dimension) // 1)
    three = max(0, min(dimension, three))
    while three > 0 and math.ceil((2 * dimension + three) / 8) * rows > budget:
        three -= 1
    return [3] * three + [2] * (dimension - three)


def encode_vectors(
    vectors: NDArray[np.float32], budget: int = VECTOR_BUDGET
) -> tuple[bytes, dict[str, Any]]:
    """Pack unit vectors into a few bits per dimension; returns the bytes and how to read them.

    Each dimension d has `bits[d]` bits, an `offset` and a `scale`: with 8 bits a code c means
    offset + scale * c (uniform between the dimension's extremes); with fewer it means
    offset + scale * levels[bits][c] (the dimension's mean and deviation, Lloyd-Max levels of a
    normal variable). Rows are bit streams of the codes in dimension order, little end first,
    padded to whole bytes. Dimensions with more variance get the extra bits of a mixed budget.
    """
    rows, dimension = vectors.shape
    order_bits = _bits_for(rows, dimension, budget)
    spread = vectors.std(axis=0) if rows else np.zeros(dimension)
    by_spread = np.argsort(-spread, kind="stable")
    bits = np.zeros(dimension, dtype=np.int64)
    bits[by_spread] = order_bits
    offset = np.zeros(dimension)
    scale = np.ones(dimension)
    codes = np.zeros((rows, dimension), dtype=np.int64)
    levels = {b: np.asarray(_gaussian_levels(b)) for b in sorted({int(b) for b in bits}) if b < 8}
    for d in range(dimension):
        column = vectors[:, d].astype(np.float64)
        b = int(bits[d])
        if b == 8:
            low = float(column.min()) if rows else 0.0
            high = float(column.max()) if rows else 0.0
            step = (high - low) / 255 if high > low else 1.0
            offset[d], scale[d] = low, step
            codes[:, d] = np.clip(np.round((column - low) / step), 0, 255)
        else:
            mean, deviation = float(column.mean()), float(column.std()) or 1e-6
            offset[d], scale[d] = mean, deviation
            edges = (levels[b][1:] + levels[b][:-1]) / 2
            codes[:, d] = np.searchsorted(edges, (column - mean) / deviation)
    row_bits = int(bits.sum())
    row_bytes = (row_bits + 7) // 8
    stream = np.zeros((rows, row_bytes * 8), dtype=np.uint8)
    position = 0
    for d in range(dimension):
        for bit in range(int(bits[d])):
            stream[:, position] = (codes[:, d] >> bit) & 1
            position += 1
    packed = np.packbits(stream, axis=1, bitorder="little") if rows else np.zeros((0, row_bytes))
    spec = {
        "rows": rows,
        "dimension": dimension,
        "rowBytes": row_bytes,
        "bits": [int(b) for b in bits],
        "offset": [float(np.float32(v)) for v in offset],
        "scale": [float(np.float32(v)) for v in scale],
        "levels": {str(b): [float(v) for v in lv] for b, lv in levels.items()},
    }
    return np.ascontiguousarray(packed, dtype=np.uint8).tobytes(), spec


def decode_vectors(data: bytes, spec: dict[str, Any]) -> NDArray[np.float32]:
    """The vectors `encode_vectors` packed, as the browser reads them (for tests and benches)."""
    rows, dimension, row_bytes = spec["rows"], spec["dimension"], spec["rowBytes"]
    packed = np.frombuffer(data, dtype=np.uint8).reshape(rows, row_bytes)
    stream = np.unpackbits(packed, axis=1, bitorder="little").astype(np.int64)
    out = np.zeros((rows, dimension), dtype=np.float64)
    position = 0
    for d in range(dimension):
        b = spec["bits"][d]
        code = np.zeros(rows, dtype=np.int64)
        for bit in range(b):
            code |= stream[:, position] << bit
            position += 1
        table = np.arange(256.0) if b == 8 else np.asarray(spec["levels"][str(b)])
        out[:, d] = spec["offset"][d] + spec["scale"][d] * table[code]
    return out.astype(np.float32)


# ---------------------------------------------------------------------------------------------
# model


def quantise_model(source: Path, target: Path) -> Path:
    """The ONNX model with its large weights stored as int8, one scale per output channel.

    Each float matrix read by a MatMul (or the embedding tables read by a Gather) becomes int8
    codes and a DequantizeLinear node; activations stay in float, so the query vectors keep a
    cosine above 0.99 to the float model's (dynamic int8 quantisation drops to 0.95-0.99).
    """
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    uses: dict[str, list[tuple[str, int]]] = {}
    for node in graph.node:
        for slot, name in enumerate(node.input):
            uses.setdefault(name, []).append((node.op_type, slot))
    kept, added, nodes = [], [], []
    for init in graph.initializer:
        weights = numpy_helper.to_array(init)
        users = uses.get(init.name, [])
        matmul = bool(users) and all(op == "MatMul" and slot == 1 for op, slot in users)
        gather = bool(users) and all(op == "Gather" and slot == 0 for op, slot in users)
        if weights.dtype != np.float32 or weights.ndim != 2 or weights.size < 4096:
            kept.append(init)
            continue
        if not (matmul or gather):
            kept.append(init)
            continue
        axis = 0 if gather else 1
        peak = np.abs(weights).max(axis=1 - axis)
        scale = (np.maximum(peak, 1e-12) / 127).astype(np.float32)
        shaped = scale[:, None] if axis == 0 else scale[None, :]
        codes = np.clip(np.round(weights / shaped), -127, 127).astype(np.int8)
        zero = np.zeros_like(scale, dtype=np.int8)
        added += [
            numpy_helper.from_array(codes, init.name + "_int8"),
            numpy_helper.from_array(scale, init.name + "_scale"),
            numpy_helper.from_array(zero, init.name + "_zero"),
        ]
        nodes.append(
            helper.make_node(
                "DequantizeLinear",
                [init.name + "_int8", init.name + "_scale", init.name + "_zero"],
                [init.name],
                axis=axis,
                name=init.name + "_dequantize",
            )
        )
    del graph.initializer[:]
    graph.initializer.extend(kept + added)
    rest = list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes + rest)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    onnx.save(model, str(tmp))
    os.replace(tmp, target)
    return target


def _cached_model(cache_dir: Path, onnx_file: Path, identity: str) -> Path:
    """The int8 model for an ONNX export, made once per model identity under the cache."""
    key = hashlib.sha256(identity.encode()).hexdigest()[:16]
    target = Path(cache_dir) / "site-search" / f"model-{key}.onnx"
    if not target.is_file() or target.stat().st_mtime < onnx_file.stat().st_mtime:
        quantise_model(onnx_file, target)
    return target


# ---------------------------------------------------------------------------------------------
# export


def _ranking_parameters(searcher: Searcher) -> dict[str, Any]:
    """Every parameter the browser's ranking reads, taken from kb.search as it runs."""
    from kb.index.layout import StoredOutcome
    from kb.search import params as search
    from kb.search.filters import FACET_FIELDS, FIELD_LABELS

    fusion = dataclasses.asdict(searcher.fusion)
    params: dict[str, Any] = {
        "fusion": fusion,
        "snippetChars": search.SNIPPET_CHARS,
        "passageCandidates": search.PASSAGE_CANDIDATES,
        "passageWordWeight": search.PASSAGE_WORD_WEIGHT,
        "queryStopwords": sorted(search.QUERY_STOPWORDS),
        "resultCues": [
            {"words": list(cue.words), "kinds": list(cue.kinds)} for cue in search.RESULT_CUES
        ],
        "evidenceCues": list(search.EVIDENCE_CUES),
        "noEffectCues": list(search.NO_EFFECT_CUES),
        "outcomeCredit": searcher.fusion.outcome_credit(),
        "facetFields": list(FACET_FIELDS),
        "fieldLabels": dict(FIELD_LABELS),
        "outcomeFields": list(StoredOutcome._fields),
    }
    return params


def _case_url(case_id: str) -> str:
    return f"cases/{case_id}/"


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _bm25_bytes(bm25: dict[str, Any], cases: int) -> tuple[bytes, dict[str, Any]]:
    indptr = np.asarray(bm25["indptr"], dtype=np.uint32)
    kind = np.uint16 if cases < 65536 else np.uint32
    indices = np.asarray(bm25["indices"], dtype=kind)
    values = np.asarray(bm25["data"], dtype=np.float32)
    body = indptr.tobytes() + values.tobytes() + indices.tobytes()
    spec = {
        "terms": len(indptr) - 1,
        "nonzero": len(values),
        "indexBytes": int(np.dtype(kind).itemsize),
    }
    return body, spec


def _doc_positions(searcher: Searcher) -> list[int]:
    """BM25 document number -> case position (the index may order them differently)."""
    position = {cid: i for i, cid in enumerate(searcher.data.case_ids)}
    return [position[str(d)] for d in searcher.data.bm25["doc_ids"]]


def export_site_search(
    searcher: Searcher,
    site_dir: Path,
    *,
    cache_dir: Path,
    project_dir: Path,
    vector_budget: int = VECTOR_BUDGET,
) -> SiteSearchReport:
    """Write the site's search files under `site_dir/semantic-search` (see the module doc)."""
    from kb.index.layout import INDEX_DIR, ONNX_DIR

    data = searcher.data
    out = Path(site_dir) / SEARCH_DIR
    tmp = Path(tempfile.mkdtemp(prefix=".semantic-search-", dir=site_dir))
    try:
        onnx_dir = Path(cache_dir) / INDEX_DIR / ONNX_DIR
        ort_dir = Path(project_dir) / ORT_PACKAGE / "dist"
        reason = _missing_model_reason(onnx_dir, ort_dir)
        model_spec: dict[str, Any] | None = None
        vector_spec: dict[str, Any] | None = None
        bits = 0.0
        if not reason:
            _copy_model_files(cache_dir, onnx_dir, ort_dir, data.identity, tmp)
            vectors, vector_spec = encode_vectors(data.vectors, vector_budget)
            (tmp / "vectors.bin").write_bytes(vectors)
            bits = sum(vector_spec["bits"]) / max(1, vector_spec["dimension"])
            model_spec = _model_spec(data, tmp, vectors)
        bm25_spec, parts = _write_bm25_and_texts(searcher, tmp)
        payload = _data_payload(searcher, tmp, model_spec, reason, vector_spec, bm25_spec, parts)
        (tmp / "data.json").write_bytes(_json_bytes(payload))
        files = _publish_folder(tmp, out, site_dir)
        return SiteSearchReport(files, model_spec is not None, reason, bits)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _missing_model_reason(onnx_dir: Path, ort_dir: Path) -> str:
    """Why the site ships no model ('' if it does): no ONNX export, or no onnxruntime-web."""
    if not (onnx_dir / "model.onnx").is_file():
        return "this site was built without the embedding model"
    if not all((ort_dir / name).is_file() for name in ORT_FILES):
        return "this site was built without onnxruntime-web (run `npm ci`)"
    return ""


def _copy_model_files(
    cache_dir: Path, onnx_dir: Path, ort_dir: Path, identity: str, tmp: Path
) -> None:
    """Copy the int8 model, its tokenizer and the onnxruntime-web files into `tmp`."""
    model = _cached_model(cache_dir, onnx_dir / "model.onnx", identity)
    (tmp / "model").mkdir()
    shutil.copyfile(model, tmp / "model" / "model.onnx")
    shutil.copyfile(onnx_dir / "tokenizer.json", tmp / "model" / "tokenizer.json")
    (tmp / "ort").mkdir()
    for name in ORT_FILES:
        shutil.copyfile(ort_dir / name, tmp / "ort" / name)


def _model_spec(data: SearchData, tmp: Path, vectors: bytes) -> dict[str, Any]:
    """data.json's description of the model copied into `tmp`."""
    return {
        "identity": data.identity,
        "dimension": int(data.manifest.dimension),
        "maxTokens": int(data.manifest.max_tokens),
        "file": "model/model.onnx",
        "tokenizer": "model/tokenizer.json",
        "bytes": (tmp / "model" / "model.onnx").stat().st_size,
        "runtime": "ort/ort.wasm.min.mjs",
        "runtimeDir": "ort/",
        "version": _version(tmp / "model" / "model.onnx", vectors),
    }


def _write_bm25_and_texts(
    searcher: Searcher, tmp: Path
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """Write bm25.bin and texts.json into `tmp`; return the BM25 encoding and the headings."""
    data = searcher.data
    bm25, bm25_spec = _bm25_bytes(data.bm25, len(data.case_ids))
    (tmp / "bm25.bin").write_bytes(bm25)
    texts, parts = _texts(searcher)
    (tmp / "texts.json").write_bytes(_json_bytes(texts))
    return bm25_spec, parts


def _data_payload(
    searcher: Searcher,
    tmp: Path,
    model_spec: dict[str, Any] | None,
    reason: str,
    vector_spec: dict[str, Any] | None,
    bm25_spec: dict[str, Any],
    parts: list[dict[str, str]],
) -> dict[str, Any]:
    """The content of data.json, describing the files already written into `tmp`."""
    data = searcher.data
    return {
        "format": FORMAT,
        "model": model_spec,
        "noModel": reason,
        "vectors": vector_spec and {**vector_spec, "file": "vectors.bin"},
        "params": _ranking_parameters(searcher),
        "bm25": {
            **bm25_spec,
            "file": "bm25.bin",
            "vocab": [str(t) for t in data.bm25["vocab"]],
            "idf": [float(v) for v in np.asarray(data.bm25["idf"], dtype=np.float32)],
            "stopwords": sorted(str(w) for w in data.bm25["stopwords"]),
            "docCase": _doc_positions(searcher),
        },
        "cases": [_case_record(case, parts[i]) for i, case in enumerate(searcher.cases)],
        "caseStart": [int(v) for v in data.case_start],
        "passages": [[int(s), int(a), int(b)] for s, a, b in data.passage_meta],
        "labels": data.store.get("labels", {}),
        "queryTerms": data.store.get("query_terms", []),
        "icsPredecessors": data.store.get("ics_predecessors", {}),
        "texts": "texts.json",
        "bytes": {
            name: (tmp / name).stat().st_size
            for name in ("bm25.bin", "texts.json", "vectors.bin")
            if (tmp / name).is_file()
        },
    }


def _publish_folder(tmp: Path, out: Path, site_dir: Path) -> dict[str, int]:
    """Move `tmp` to `out`, replacing it, readable by a web server; return the sizes of its files
    by path under `site_dir`."""
    files: dict[str, int] = {}
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    out.chmod(0o755)  # mkdtemp made it private; a web server must read it
    for path in sorted(out.rglob("*")):
        if path.is_file():
            files[path.relative_to(site_dir).as_posix()] = path.stat().st_size
    return files


def _version(model: Path, vectors: bytes) -> str:
    digest = hashlib.sha256(vectors)
    digest.update(str(model.stat().st_size).encode())
    digest.update(str(model.stat().st_mtime_ns).encode())
    return digest.hexdigest()[:12]


def _texts(searcher: Searcher) -> tuple[list[dict[str, list[str]]], list[dict[str, str]]]:
    """Per case study, its parts' (heading, text) by section number."""
    texts: list[dict[str, list[str]]] = []
    headings: list[dict[str, str]] = []
    for position, case in enumerate(searcher.cases):
        mine: dict[str, list[str]] = {}
        for section in case.get("parts", {}):
            heading, text = searcher.data.part_text(position, int(section))
            mine[section] = [heading, text]
        texts.append(mine)
        headings.append({k: v[0] for k, v in mine.items()})
    return texts, headings


def _case_record(case: StoredCase, headings: dict[str, str]) -> dict[str, Any]:
    return {
        "id": case["id"],
        "title": case["title"],
        "url": _case_url(case["id"]),
        "facets": case.get("facets", {}),
        "evidence": case.get("evidence"),
        "labels": case.get("labels", {}),
        "outcomes": [list(o) for o in case["outcomes"]],  # fields: params.outcomeFields
    }


def total_bytes(report: SiteSearchReport, names: Iterable[str]) -> int:
    """Bytes of the named files of an export (paths relative to the site folder)."""
    return sum(report.files.get(name, 0) for name in names)
