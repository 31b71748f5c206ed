"""`kb index`, `kb search`, `kb similar` through the command line (fake model, in-process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import kb.index.embed
from kb.index.embed import HashingEmbedder
from tests.conftest import run_cli

from .conftest import CASES, write_case


@pytest.fixture
def library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    content = tmp_path / "content"
    content.mkdir()
    for spec in CASES:
        write_case(spec, content)
    monkeypatch.setenv("KB_CONTENT_DIR", str(content))
    monkeypatch.setattr(kb.index.embed, "embedder_for", lambda model: HashingEmbedder(64, 64))
    return content


def test_index_then_search(library):
    first = run_cli(["index"])
    assert "Indexed 5 new, 0 changed, 0 removed, 0 unchanged" in first.stdout
    again = run_cli(["index"])
    assert "0 new, 0 changed, 0 removed, 5 unchanged" in again.stdout
    assert "up to date" in again.stderr
    result = run_cli(["search", "falls at home", "--region", "East of England", "--limit", "2"])
    assert result.stdout.startswith("1. Falls prevention at home for older people  [norfolk-falls]")
    assert "Norfolk and Waveney | East of England | tiers: Secondary prevention" in result.stdout
    assert "matched in " in result.stdout
    assert "shares region: East of England" in result.stdout
    assert "2. " in result.stdout and "3. " not in result.stdout


def test_search_json(library):
    run_cli(["index"])
    result = run_cli(
        ["search", "blood pressure", "--json", "--tier", "secondary", "--evidence", "2"]
    )
    rows = json.loads(result.stdout)
    assert rows[0]["id"] == "birmingham-blood-pressure"
    assert {"title", "score", "section", "passage", "ics", "region", "tiers"} <= set(rows[0])
    assert rows[0]["shared_facets"]["tiers"] == [
        {"id": "secondary", "label": "Secondary prevention"}
    ]
    assert all(set(r["tiers"]) & {"secondary"} for r in rows)


def test_similar(library):
    run_cli(["index"])
    result = run_cli(["similar", "norfolk-falls", "--json"])
    rows = json.loads(result.stdout)
    assert len(rows) == 4 and "norfolk-falls" not in [r["id"] for r in rows]
    text = run_cli(["similar", "norfolk-falls", "--limit", "1"]).stdout
    assert text.startswith("1. ") and "shares" in text


def test_edit_and_delete_reach_the_index(library):
    run_cli(["index"])
    (library / "london-child-poverty.md").unlink()
    path = library / "suffolk-warm-homes.md"
    path.write_text(path.read_text().replace("boilers", "boilers and heat pumps"))
    result = run_cli(["index"])
    assert "0 new, 1 changed, 1 removed, 3 unchanged" in result.stdout


def test_errors_are_one_clean_line(library):
    missing = run_cli(["search", "falls"], expect=1)
    assert "run `kb index`" in missing.stderr and "Traceback" not in missing.stderr
    run_cli(["index"])
    bad = run_cli(["search", "falls", "--region", "Nrth West"], expect=1)
    assert "did you mean 'North West'" in bad.stderr
    unknown = run_cli(["similar", "norfolk-fals"], expect=1)
    assert "did you mean 'norfolk-falls'" in unknown.stderr
    usage = run_cli(["search", "falls", "--evidence", "9"], expect=2)
    assert "--evidence" in usage.stderr


def test_nothing_found_message(library):
    run_cli(["index"])
    result = run_cli(["search", "falls", "--region", "South West"])
    assert "No case studies match" in result.stdout


def test_search_process_never_imports_torch(library, tmp_path):
    """A real `kb search` process: the query path must not load torch or sentence-transformers
    (nor pydantic: it checks the index's records without it, to start sooner)."""
    run_cli(["index"])  # the fake model is recorded in the manifest, so no ONNX is needed
    code = (
        "import sys, json\n"
        "from kb.cli import main\n"
        "try:\n"
        "    main(['search', 'falls at home', '--json'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "names = ('torch', 'sentence_transformers', 'transformers', 'pydantic')\n"
        "heavy = [m for m in names if m in sys.modules]\n"
        "print('HEAVY=' + json.dumps(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert '"norfolk-falls"' in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "HEAVY=[]"


def test_a_filter_that_leaves_out_every_good_match_is_named(library):
    run_cli(["index"])
    plain = run_cli(["search", "falls prevention at home for older people"]).stdout
    assert plain.startswith("1. Falls prevention at home")  # a good match, unfiltered
    filtered = run_cli(["search", "falls prevention at home for older people", "--region",
                        "London"]).stdout
    assert "within your filters: 1 case study outside them is" in filtered
    assert "fewer filters" in filtered and "[norfolk-falls]" not in filtered
    rows = json.loads(run_cli(["search", "falls prevention at home for older people",
                               "--region", "London", "--json"]).stdout)
    assert isinstance(rows, list) and all(r["weak"] for r in rows)  # JSON keeps its shape
