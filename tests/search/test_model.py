"""The real model: ONNX query path equals sentence-transformers; real search; no torch at query.

Marked `model`: slower (the model loads in seconds), but runs in CI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kb.index.build import update_index
from kb.index.embed import OnnxEmbedder, SentenceTransformerEmbedder
from kb.index.load import load_index
from kb.index.passages import passages_for
from kb.search.searcher import Searcher

from .conftest import CASES, LONG_TEXT, make_entry, write_case

pytestmark = pytest.mark.model

PARITY_TEXTS = [
    "Who else has stopped older people falling at home?",
    "council housing staff spotting mental illness early",
    "CVD",
    "Blood pressure checks in barbershops, mosques & community pharmacies (2023-24).",
    "Population health management: linking GP, hospital and social-care records.",
    "Smoking in pregnancy — opt-out tobacco treatment for every admitted smoker.",
    "Ünïcödé text with accents: café, naïve, façade.",
    "£175 lower weekly care costs; 15% less fear of falling.",
    LONG_TEXT,  # longer than 256 tokens: both paths truncate it the same way
    "",
]


@pytest.fixture(scope="module")
def real_index(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list]:
    root = tmp_path_factory.mktemp("real")
    cache, content = root / "cache", root / "content"
    content.mkdir()
    for spec in CASES:
        write_case(spec, content)
    from kb.check.library import load_library

    entries = load_library(content)
    update_index(entries, cache)  # the packaged model, exported to ONNX
    return cache, content, entries


def test_onnx_and_sentence_transformers_agree(real_index):
    cache, _, _ = real_index
    reference = SentenceTransformerEmbedder()
    onnx = OnnxEmbedder(cache / "index" / "onnx")
    assert onnx.identity == reference.identity
    a = reference.embed_documents(PARITY_TEXTS)
    b = onnx.embed_documents(PARITY_TEXTS)  # batched: exercises padding and the mask
    cosines = np.sum(a * b, axis=1)
    assert cosines.min() >= 0.999, cosines
    single = np.stack([onnx.embed_query(t) for t in PARITY_TEXTS])
    assert np.sum(single * a, axis=1).min() >= 0.999
    assert np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)


def test_real_search_finds_meaning_not_just_words(real_index):
    cache, _, entries = real_index
    searcher = Searcher.open(cache, entries)
    assert isinstance(searcher.embedder, OnnxEmbedder)
    assert searcher.search("who else has stopped older people falling at home")[0].case_id == (
        "norfolk-falls"
    )
    hits = searcher.search("council housing staff spotting mental illness early", mode="dense")
    assert hits[0].case_id == "manchester-housing-mental-health"
    hits = searcher.search("hypertension screening in the community", mode="dense")
    assert hits[0].case_id == "birmingham-blood-pressure"


def test_kb_search_process_uses_onnx_without_torch(real_index):
    """Nor pydantic: a search checks the index's records and the query model's without it."""
    cache, content, _ = real_index
    code = (
        "import sys, json\n"
        "from kb.cli import main\n"
        "try:\n"
        "    main(['search', 'stopping falls in older people', '--json', '--limit', '1'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "names = ('torch', 'sentence_transformers', 'transformers', 'pydantic')\n"
        "heavy = [m for m in names if m in sys.modules]\n"
        "print('HEAVY=' + json.dumps(heavy) + ' ORT=' + str('onnxruntime' in sys.modules))\n"
    )
    env = {**os.environ, "KB_CACHE_DIR": str(cache), "KB_CONTENT_DIR": str(content)}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout[: out.stdout.rindex("HEAVY=")])
    assert rows[0]["id"] == "norfolk-falls"
    assert out.stdout.strip().splitlines()[-1] == "HEAVY=[] ORT=True"


def test_edit_reembeds_one_case_with_the_real_model(real_index, tmp_path):
    cache, content, entries = real_index
    spec = {
        **CASES[3],
        "sections": {**CASES[3]["sections"], "Outcomes": "Fewer winter admissions."},
    }
    edited = [make_entry(spec) if e.case.id == spec["id"] else e for e in entries]
    report = update_index(edited, cache)
    assert report.updated == ["suffolk-warm-homes"] and report.rebuilt_reason is None
    assert report.embedded < report.passages / 2
    assert "ONNX" not in " ".join(report.messages)  # the export is kept, not redone
    # a small update is embedded by the ONNX export: its vectors equal sentence-transformers'
    data = load_index(cache, edited)
    target = next(e for e in edited if e.case.id == spec["id"])
    rows = data.passage_case == data.case_ids.index(spec["id"])
    texts = [p.text for p in passages_for(target, SentenceTransformerEmbedder())]
    expected = SentenceTransformerEmbedder().embed_documents(texts)
    assert np.sum(data.vectors[rows] * expected, axis=1).min() >= 0.999
    update_index(entries, cache)  # restore for other tests in this module


def test_queries_load_the_prepared_model_and_get_the_same_vectors(
    real_index, tmp_path, monkeypatch
):
    """`kb index` keeps a copy of the export prepared for quick loading; a query embedder
    loads it, and its vectors are the export's, bit for bit. Without it, the export loads."""
    import shutil

    import onnxruntime

    cache, _, _ = real_index
    onnx_dir = tmp_path / "onnx"
    shutil.copytree(cache / "index" / "onnx", onnx_dir, copy_function=os.link)
    loaded: list[str] = []
    real = onnxruntime.InferenceSession

    def session(path: str, *args: object, **kwargs: object) -> object:
        loaded.append(Path(path).name)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(onnxruntime, "InferenceSession", session)
    prepared = OnnxEmbedder(onnx_dir)
    (onnx_dir / "query.json").unlink()
    export = OnnxEmbedder(onnx_dir)
    assert loaded == ["query.onnx", "model.onnx"]
    one_by_one = [np.stack([e.embed_query(t) for t in PARITY_TEXTS]) for e in (prepared, export)]
    assert one_by_one[0].tobytes() == one_by_one[1].tobytes()
    batched = [e.embed_documents(PARITY_TEXTS) for e in (prepared, export)]
    assert batched[0].tobytes() == batched[1].tobytes()
