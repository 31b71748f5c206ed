"""`kb serve` answers hostile requests with a clear status, never a 500 or a traceback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from conftest import ROOT

SERVE = """
import sys
from pathlib import Path
from kb.index.embed import HashingEmbedder
from kb.publish.plugin import serve_site
from kb.settings import Settings
content, cache, port, config = sys.argv[1:5]
settings = Settings(Path(content), Path(cache), Path(cache) / "site", None)
serve_site(settings, port=int(port), embedder=HashingEmbedder(), config_file=Path(config))
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_kb_serve_answers_a_nul_in_the_path_with_400(tmp_path: Path) -> None:
    content = tmp_path / "content"
    shutil.copytree(ROOT / "tests" / "site" / "data" / "content", content)
    port = _free_port()
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "HF_HUB_OFFLINE": "1"}
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(content), str(tmp_path / "cache"), str(port),
             str(ROOT / "mkdocs.yml")],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 180
            while True:
                try:
                    if _status(base + "/") == 200:
                        break
                except OSError:
                    pass
                assert server.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "kb serve did not start"
                time.sleep(0.5)
            assert _status(base + "/%00") == 400
            assert _status(base + "/cases/%00/") == 400
            assert _status(base + "/cases/alpha-falls-east/") == 200  # still serving
            assert _status(base + "/no-such-page/") == 404
        finally:
            server.terminate()
            server.wait(timeout=30)
    logged = log_path.read_text()
    assert "Traceback" not in logged, logged[-3000:]
