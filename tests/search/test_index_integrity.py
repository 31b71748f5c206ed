"""Fault injection on the index cache: every file and every record field damaged in turn.

For each fault, `kb search` either refuses with one clean line (exit 1, 'run `kb index`') or gives
the results of the intact index; then `kb index` repairs the cache, `kb search` gives those results
again, and a second `kb index` finds nothing left to do.

The manifest and the data files are damaged in an index built with the hashing stand-in model
(fast); the ONNX export (model, tokenizer and their record) in one built with the real model
(marked `model`), which is loaded once for the module. Each fault damages a copy of the index.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import BaseModel

import kb.index.embed
import kb.index.load
import kb.index.onnx
import kb.index.quickcheck
import kb.index.storage
from kb.check.library import load_library
from kb.index.build import update_index
from kb.index.embed import HashingEmbedder
from kb.index.load import load_index
from kb.index.records import CaseRecord, Manifest, OnnxRecord, QueryModelRecord
from tests.conftest import run_cli

from .conftest import CASES, write_case

QUERY = "older people falling at home"
CASE = "norfolk-falls"  # the case whose record fields are damaged one by one
OTHER = "suffolk-warm-homes"

# ---------------------------------------------------------------------------------------------
# the faults

Damage = Callable[[Path], None]  # given the cache's index folder


@dataclass(frozen=True)
class Fault:
    name: str
    damage: Damage
    harmless: bool = False  # the index must keep working as it is (e.g. only an mtime changed)

    def __str__(self) -> str:
        return self.name


def _file(folder: Path, pattern: str) -> Path:
    """The one file matching `pattern`, made its own (not linked to the intact index's copy)."""
    (path,) = folder.glob(pattern)
    if path.stat().st_nlink > 1:
        own = path.with_name(path.name + ".own")
        shutil.copy2(path, own)
        os.replace(own, path)
    return path


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garble(path: Path) -> None:
    """Flip 16 bytes in the middle (the size stays the same)."""
    data = bytearray(path.read_bytes())
    middle = max(0, len(data) // 2 - 8)
    for i in range(middle, min(middle + 16, len(data))):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data) if data else b"\xff" * 16)


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _touch(path: Path) -> None:
    info = path.stat()
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 5_000_000_000))


def _reformat(path: Path) -> None:
    """The same JSON, written differently: keys reordered, indented."""
    path.write_text(json.dumps(json.loads(path.read_text()), indent=2, sort_keys=True))


def _swap_files(a: Path, b: Path) -> None:
    data_a, data_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(data_b)
    b.write_bytes(data_a)


FILE_OPS: dict[str, Callable[[Path], None]] = {
    "truncate": _truncate,
    "garble": _garble,
    "empty": _empty,
    "delete": lambda path: path.unlink(),
    "touch": _touch,
}


def file_faults(patterns: list[str], json_files: tuple[str, ...] = ()) -> list[Fault]:
    """Each op on each file, each file swapped with the next one, each JSON file reformatted."""
    faults = []
    for n, pattern in enumerate(patterns):
        for op, apply in FILE_OPS.items():

            def damage(folder: Path, pattern: str = pattern, apply: Any = apply) -> None:
                apply(_file(folder, pattern))

            faults.append(Fault(f"{pattern}-{op}", damage, harmless=op == "touch"))
        other = patterns[(n + 1) % len(patterns)]
        faults.append(
            Fault(
                f"{pattern}-swap-with-{other}",
                lambda folder, a=pattern, b=other: _swap_files(_file(folder, a), _file(folder, b)),
            )
        )
        if pattern in json_files:
            faults.append(
                Fault(f"{pattern}-reformat", lambda f, p=pattern: _reformat(_file(f, p)), True)
            )
    return faults


Path_ = tuple[str | int, ...]  # a path into a JSON record


def _paths(schema: type[BaseModel], prefix: Path_ = ()) -> list[Path_]:
    """Every field of a record schema, nested records included (for `cases`, one case)."""
    out: list[Path_] = []
    for name, info in schema.model_fields.items():
        path = (*prefix, name)
        out.append(path)
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            out += _paths(info.annotation, path)
        elif name == "cases":
            out += [(*path, CASE), *_paths(CaseRecord, (*path, CASE))]
        elif name == "passages":  # (id, section, start, end) of the first passage
            out += [(*path, 0), *[(*path, 0, i) for i in range(4)]]
    return out


def _other(value: Any) -> Any:
    """A value of another JSON type."""
    if isinstance(value, bool):
        return "yes"
    if isinstance(value, int):
        return "x"
    if isinstance(value, str):
        return 5
    if isinstance(value, list):
        return 5
    return []


def _wrong(value: Any) -> Any:
    """A value of the same JSON type, but wrong."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return 99999
    if isinstance(value, str):
        return value[:-1] + ("0" if value[-1:] != "0" else "1")
    if isinstance(value, list):
        return value[:-1] if value else [0]
    return {}


def _edit(path: Path_, op: str) -> Callable[[Any], None]:
    def edit(record: Any) -> None:
        *parents, last = path
        container = record
        for key in parents:
            container = container[key]
        if op == "delete":
            del container[last]
        elif op == "retype":
            container[last] = _other(container[last])
        elif op == "revalue":
            container[last] = _wrong(container[last])
        else:  # swap with the next sibling
            keys = list(container) if isinstance(container, dict) else list(range(len(container)))
            other = keys[(keys.index(last) + 1) % len(keys)]
            container[last], container[other] = container[other], container[last]

    return edit


def _json_fault(pattern: str, name: str, edit: Callable[[Any], None]) -> Fault:
    def damage(folder: Path) -> None:
        path = _file(folder, pattern)
        record = json.loads(path.read_text())
        edit(record)
        path.write_text(json.dumps(record))

    return Fault(f"{pattern}:{name}", damage)


def field_faults(pattern: str, schema: type[BaseModel], ops: tuple[str, ...]) -> list[Fault]:
    """Each field of a JSON record deleted, given another type, a wrong value, or swapped."""
    faults = []
    for n, path in enumerate(_paths(schema)):
        name = ".".join(str(p) for p in path)
        # all ops on each field, or (for slow repairs) one op per field, in turn
        chosen = ops if len(ops) > 1 else (FIELD_OPS[n % len(FIELD_OPS)],)
        faults += [_json_fault(pattern, f"{name}-{op}", _edit(path, op)) for op in chosen]
    return faults


FIELD_OPS = ("delete", "retype", "revalue", "swap")


def _swap_ids(a: tuple[str, int], b: tuple[str, int]) -> Callable[[Any], None]:
    def edit(manifest: Any) -> None:
        first = manifest["cases"][a[0]]["passages"][a[1]]
        second = manifest["cases"][b[0]]["passages"][b[1]]
        first[0], second[0] = second[0], first[0]

    return edit


def _set(path: Path_, value: Any) -> Callable[[Any], None]:
    def edit(record: Any) -> None:
        *parents, last = path
        for key in parents:
            record = record[key]
        record[last] = value

    return edit


# the examples of the issue, and damage no single field op makes
MANIFEST_SPECIALS = [
    _json_fault(
        "manifest.json", "passage-id-99999", _set(("cases", CASE, "passages", 0, 0), 99999)
    ),
    _json_fault("manifest.json", "passages-5", _set(("cases", CASE, "passages"), 5)),
    _json_fault("manifest.json", "next_id-x", _set(("next_id",), "x")),
    _json_fault("manifest.json", "cases-list", _set(("cases",), [])),
    _json_fault("manifest.json", "ids-swapped-in-a-case", _swap_ids((CASE, 0), (CASE, 1))),
    _json_fault("manifest.json", "ids-swapped-across-cases", _swap_ids((CASE, 0), (OTHER, 0))),
    _json_fault(
        "manifest.json",
        "hashes-swapped",
        lambda m: _set(("cases", OTHER, "hash"), m["cases"][CASE]["hash"])(m),
    ),
    _json_fault("manifest.json", "not-an-object", lambda m: m.clear()),
    Fault("manifest.json-not-json", lambda f: (f / "manifest.json").write_text("[1, 2")),
    Fault("manifest.json-a-list", lambda f: (f / "manifest.json").write_text("[]")),
    Fault("manifest.json-not-utf8", lambda f: (f / "manifest.json").write_bytes(b"\xff\xfe{")),
]

DATA_FAULTS = [
    *file_faults([".lock", "manifest.json", "vectors-*.faiss", "search-*.npz"], ("manifest.json",)),
    *field_faults("manifest.json", Manifest, FIELD_OPS),
    *MANIFEST_SPECIALS,
]


def _vocabulary_edit(folder: Path) -> None:
    """A tokenizer that is still valid JSON, with two words' ids exchanged."""
    path = _file(folder, "onnx/tokenizer.json")
    tokenizer = json.loads(path.read_text("utf-8"))
    vocab = tokenizer["model"]["vocab"]
    vocab["falls"], vocab["home"] = vocab["home"], vocab["falls"]
    path.write_text(json.dumps(tokenizer), "utf-8")


ONNX_FAULTS = [
    *file_faults(["onnx/model.onnx", "onnx/tokenizer.json", "onnx/onnx.json"], ("onnx/onnx.json",)),
    *field_faults("onnx/onnx.json", OnnxRecord, ("one op per field",)),
    # the copy of the export prepared for quick loading: a search falls back on the export
    *file_faults(
        ["onnx/query.onnx", "onnx/query.onnx.data", "onnx/query.json"], ("onnx/query.json",)
    ),
    *field_faults("onnx/query.json", QueryModelRecord, ("one op per field",)),
    Fault("onnx/tokenizer.json-vocabulary-edit", _vocabulary_edit),
    Fault("onnx-folder-deleted", lambda folder: shutil.rmtree(folder / "onnx")),
]

# ---------------------------------------------------------------------------------------------
# the built indexes and the check


@dataclass(frozen=True)
class Built:
    content: Path
    cache: Path  # intact; each fault damages a copy
    expected: list[tuple[str, str, float]]  # the top 5 for QUERY
    embedder: Any


def _top5(result: Any) -> list[tuple[str, str, float]]:
    return [(r["id"], r["section"], r["score"]) for r in json.loads(result.stdout)]


def _search() -> Any:
    return run_cli(["search", QUERY, "--json", "--limit", "5"], expect=None)


def _same(got: list[tuple[str, str, float]], expected: list[tuple[str, str, float]]) -> bool:
    return [g[:2] for g in got] == [e[:2] for e in expected] and all(
        abs(g[2] - e[2]) <= 1e-3 for g, e in zip(got, expected, strict=True)
    )


def _build(root: Path, embedder: Any) -> Built:
    content, cache = root / "content", root / "cache"
    content.mkdir()
    for spec in CASES:
        write_case(spec, content)
    update_index(load_library(content), cache, embedder=embedder)
    with pytest.MonkeyPatch.context() as patch:
        _use(patch, content, cache, embedder)
        expected = _top5(run_cli(["search", QUERY, "--json", "--limit", "5"]))
    assert len(expected) == 5
    return Built(content, cache, expected, embedder)


def _use(patch: pytest.MonkeyPatch, content: Path, cache: Path, embedder: Any) -> None:
    patch.setenv("KB_CONTENT_DIR", str(content))
    patch.setenv("KB_CACHE_DIR", str(cache))
    patch.setattr(kb.index.embed, "embedder_for", lambda model: embedder)


@pytest.fixture(scope="module")
def hashing_index(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return _build(tmp_path_factory.mktemp("hashing"), HashingEmbedder(64, 64))


@pytest.fixture(scope="module")
def real_index(tmp_path_factory: pytest.TempPathFactory) -> Built:
    from kb.index.embed import SentenceTransformerEmbedder

    return _build(tmp_path_factory.mktemp("real"), SentenceTransformerEmbedder())


@pytest.fixture
def damaged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[Built], Path]:
    """Copy a built index (mtimes kept, as a cache restore would) and point kb at the copy."""

    def copy(built: Built) -> Path:
        cache = tmp_path / "cache"
        # the ONNX models (90 MB each) are linked, not copied; `_file` copies what a fault damages
        shutil.copytree(built.cache, cache, copy_function=_link_model)
        _use(monkeypatch, built.content, cache, built.embedder)
        return cache / "index"

    return copy


def _link_model(source: str, target: str) -> None:
    if source.endswith((".onnx", ".onnx.data")):
        os.link(source, target)
    else:
        shutil.copy2(source, target)


def check_fault(built: Built, folder: Path, fault: Fault, *, rebuild: bool = False) -> None:
    fault.damage(folder)
    result = _search()
    if result.exit_code == 0:
        assert _same(_top5(result), built.expected), f"{fault}: wrong results, exit 0"
    else:
        assert not fault.harmless, f"{fault}: refused: {result.stderr}"
        assert result.exit_code == 1, result.stderr
        message = result.stderr.strip()
        assert message.startswith("Error: ") and "run `kb index`" in message, message
        assert len(message.splitlines()) == 1 and "Traceback" not in result.output, message
    run_cli(["index", "--rebuild"] if rebuild else ["index"])
    repaired = run_cli(["search", QUERY, "--json", "--limit", "5"])
    assert _same(_top5(repaired), built.expected), f"{fault}: wrong results after `kb index`"
    again = run_cli(["index"])
    assert "0 new, 0 changed, 0 removed, 5 unchanged" in again.stdout
    assert again.stderr.strip() == "the index is up to date", again.stderr


# ---------------------------------------------------------------------------------------------
# the tests


@pytest.mark.parametrize("fault", DATA_FAULTS, ids=str)
def test_damaged_index_is_refused_or_right_and_repaired(hashing_index, damaged, fault):
    check_fault(hashing_index, damaged(hashing_index), fault)


@pytest.mark.model
@pytest.mark.parametrize("fault", ONNX_FAULTS, ids=str)
def test_damaged_onnx_export_is_refused_or_right_and_repaired(real_index, damaged, fault):
    check_fault(real_index, damaged(real_index), fault)


@pytest.mark.model
def test_rebuild_repairs_damage_that_keeps_size_and_mtime(real_index, damaged):
    """The cheap check trusts size and mtime; `kb index --rebuild` trusts nothing."""

    def sly(folder: Path) -> None:
        for path in (_file(folder, "onnx/model.onnx"), _file(folder, "vectors-*.faiss")):
            info = path.stat()
            _garble(path)
            os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))

    folder = damaged(real_index)
    sly(folder)
    run_cli(["index", "--rebuild"])
    repaired = run_cli(["search", QUERY, "--json", "--limit", "5"])
    assert _same(_top5(repaired), real_index.expected)


def test_a_warm_load_hashes_nothing(hashing_index, damaged, monkeypatch):
    folder = damaged(hashing_index)
    entries = load_library(hashing_index.content)
    hashed: list[Path] = []
    real_hash = kb.index.storage._file_sha256
    for module in (kb.index.storage, kb.index.load):  # every module that hashes files
        monkeypatch.setattr(module, "_file_sha256", lambda p: hashed.append(p) or real_hash(p))
    load_index(folder.parent, entries)
    assert hashed == []
    # a copy that lost its mtimes is hashed once per load, until `kb index` records them again
    _touch(_file(folder, "search-*.npz"))
    load_index(folder.parent, entries)
    assert [p.name for p in hashed] == [_file(folder, "search-*.npz").name]
    report = update_index(entries, folder.parent, embedder=hashing_index.embedder)
    assert report.embedded == 0 and report.rebuilt_reason is None
    hashed.clear()
    load_index(folder.parent, entries)
    assert hashed == []


@pytest.mark.model
def test_a_warm_query_model_load_hashes_nothing(real_index, damaged, monkeypatch):
    from kb.index.embed import OnnxEmbedder

    folder = damaged(real_index)
    hashed: list[Path] = []
    real_hash = kb.index.storage._file_sha256
    for module in (kb.index.storage, kb.index.load):  # every module that hashes files
        monkeypatch.setattr(module, "_file_sha256", lambda p: hashed.append(p) or real_hash(p))
    OnnxEmbedder(folder / "onnx")
    assert hashed == []


def test_every_record_field_is_damaged(hashing_index):
    """The faults cover every field of both schemas (a new field is covered automatically)."""
    manifest = json.loads((hashing_index.cache / "index" / "manifest.json").read_text())
    damaged_fields = {f.name.split(":")[1].rsplit("-", 1)[0] for f in DATA_FAULTS if ":" in f.name}
    assert set(manifest) <= damaged_fields
    assert {f"files.vectors.{k}" for k in manifest["files"]["vectors"]} <= damaged_fields
    assert {f"cases.{CASE}.{k}" for k in manifest["cases"][CASE]} <= damaged_fields
    onnx = {f.name.split(":")[1].rsplit("-", 1)[0] for f in ONNX_FAULTS if ":" in f.name}
    assert set(OnnxRecord.model_fields) | {"files.tokenizer.sha256"} <= onnx
    query = {f.name.split(":")[1].rsplit("-", 1)[0] for f in ONNX_FAULTS if "query.json:" in f.name}
    assert set(QueryModelRecord.model_fields) | {"files.weights.sha256"} <= query


def _plain(value: Any) -> Any:
    """Read-only attributes (as the quick check gives them) as plain JSON data."""
    if isinstance(value, SimpleNamespace):
        return {key: _plain(item) for key, item in vars(value).items()}
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def test_the_quick_check_covers_every_field_of_the_schemas():
    """Searches check records without pydantic: the checks name exactly the schemas' fields."""
    from kb.index.records import FileRecord, IndexFiles, QueryModelFiles, SourceRecord

    quick = kb.index.quickcheck
    kinds = (quick._MANIFEST, quick._ONNX, quick._QUERY_MODEL)
    manifest, onnx, query = (kind.fields for kind in kinds)
    assert set(manifest) == set(Manifest.model_fields)
    assert set(manifest["files"]) == set(IndexFiles.model_fields)
    assert set(manifest["cases"][0]) == set(CaseRecord.model_fields)
    assert set(manifest["cases"][0]["source"][1]) == set(SourceRecord.model_fields)
    assert set(onnx) == set(OnnxRecord.model_fields)
    assert set(query) == set(QueryModelRecord.model_fields)
    assert set(query["files"]) == set(QueryModelFiles.model_fields)
    for spec in (manifest["files"]["search"], onnx["files"]["model"], query["files"]["graph"]):
        assert set(spec) == set(FileRecord.model_fields)


def test_the_quick_check_reads_kb_records_as_the_schemas_do(hashing_index, tmp_path):
    from kb.index.records import QueryModelFiles, read_sealed

    onnx_dir = tmp_path / "onnx"
    onnx_dir.mkdir()
    for name in ("model.onnx", "tokenizer.json", "query.onnx", "query.onnx.data"):
        (onnx_dir / name).write_bytes(name.encode() + "\n\x01 é".encode())
    kb.index.onnx.write_onnx_record(onnx_dir, identity="a model é", max_tokens=8, dimension=4)
    export = read_sealed(onnx_dir / "onnx.json", OnnxRecord)
    prepared = QueryModelRecord(
        format=QueryModelRecord.FORMAT,
        source=export.files.model.sha256,
        runtime="1.0",
        machine="a machine",
        files=QueryModelFiles(
            graph=kb.index.storage._record(onnx_dir / "query.onnx"),
            weights=kb.index.storage._record(onnx_dir / "query.onnx.data"),
        ),
    )
    kb.index.storage._write_sealed(onnx_dir / "query.json", prepared)
    records = [
        (hashing_index.cache / "index" / "manifest.json", Manifest, kb.index.quickcheck._MANIFEST),
        (onnx_dir / "onnx.json", OnnxRecord, kb.index.quickcheck._ONNX),
        (onnx_dir / "query.json", QueryModelRecord, kb.index.quickcheck._QUERY_MODEL),
    ]
    for path, schema, spec in records:
        quick = kb.index.quickcheck._quick_record(path, spec)
        assert quick is not None, path.name
        assert _plain(quick) == read_sealed(path, schema).model_dump(mode="json")
        # written otherwise (a record the schema still accepts): left to the schema
        _reformat(path)
        assert kb.index.quickcheck._quick_record(path, spec) is None
        assert read_sealed(path, schema)
