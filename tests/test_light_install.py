"""The pull-request check installs only the light libraries: validation must need no more."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_validate_runs_when_search_and_site_libraries_are_missing() -> None:
    blocked = (
        "torch",
        "sentence_transformers",
        "faiss",
        "onnxruntime",
        "bm25s",
        "mkdocs",
        "markdown",
        "nh3",
        "numpy",
        "tokenizers",
    )
    code = (
        "import sys\n"
        f"for name in {blocked!r}:\n"
        "    sys.modules[name] = None  # importing it now raises ImportError\n"
        "from kb.cli import main\n"
        "main(['validate', '--format', 'github', 'content'])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    workflow = (ROOT / ".github" / "workflows" / "pull-request.yml").read_text(encoding="utf-8")
    job = workflow.split("case-studies:", 1)[1].split("\n  near-duplicates:", 1)[0]
    assert "pip install -e '.[validate]'" in job  # a named extra, not a hand-kept list
    for heavy in ("torch", "sentence-transformers", "faiss", "onnxruntime", "mkdocs"):
        assert heavy not in job, heavy
    assert ".github/scripts/pr_report.py" in job


def test_the_validate_extra_names_no_search_or_site_library() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    light = " ".join(project["dependencies"] + project["optional-dependencies"]["validate"])
    for heavy in ("torch", "sentence-transformers", "faiss", "onnx", "bm25s", "mkdocs", "numpy"):
        assert heavy not in light, heavy
    # everything else comes with the search and site extras, which `make install` installs
    assert "kb[all]" in project["optional-dependencies"]["dev"]
