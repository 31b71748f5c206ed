"""`kb serve` answers hostile requests with a clear status, never a 500 or a traceback."""

from __future__ import annotations

import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

from conftest import ROOT

from tests.serving import kb_serve


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_kb_serve_answers_a_nul_in_the_path_with_400(tmp_path: Path) -> None:
    content = tmp_path / "content"
    shutil.copytree(ROOT / "tests" / "site" / "data" / "content", content)
    with kb_serve(content, tmp_path) as base:
        deadline = time.monotonic() + 120
        while _status(base + "/") != 200:  # the first build may still be running
            assert time.monotonic() < deadline, "kb serve did not build the site"
            time.sleep(0.5)
        assert _status(base + "/%00") == 400
        assert _status(base + "/cases/%00/") == 400
        assert _status(base + "/cases/alpha-falls-east/") == 200  # still serving
        assert _status(base + "/no-such-page/") == 404
    logged = (tmp_path / "serve.log").read_text()
    assert "Traceback" not in logged, logged[-3000:]
