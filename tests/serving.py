"""`kb serve` started for a test: a content folder served with the stand-in embedder on a free
loopback port, in its own process, stopped when the test ends."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def kb_serve(content: Path, work: Path, *, timeout: float = 120) -> Iterator[str]:
    """Serve `content` (cache and log under `work`) and yield its address once it answers; the
    log is at work/serve.log."""
    port = free_port()
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "HF_HUB_OFFLINE": "1"}
    log_path = work / "serve.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(content), str(work / "cache"), str(port),
             str(ROOT / "mkdocs.yml")],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    assert server.poll() is None, log_path.read_text()
                    assert time.monotonic() < deadline, "kb serve did not start"
                    time.sleep(0.5)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
