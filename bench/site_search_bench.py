"""The site's search by meaning in headless Chromium on loopback: bytes and times.

    python bench/site_search_bench.py [--cases 1000] [--queries 10]

For the shipped library, and for a generated library of `--cases` case studies (bench/generate.py),
it builds the site, serves it on 127.0.0.1, and prints:
- bytes the browser downloads for the first search (page, scripts, data, model, runtime) and for
  later searches, counted by the server;
- the vectors' and the model's bytes;
- time from query to rendered results: the first search with a fresh profile (model download and
  start included) and warm searches after it.

The generated library is indexed with the hashing stand-in model (embedding 8,000 passages with the
real model takes many minutes on a small CPU), and its site ships the real model's files from the
shipped library's index: its sizes and times are those of a real build of that size, its rankings
are not meaningful. Needs Chromium, chromedriver and `npm ci`, like the browser tests.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from functools import partial
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")


from tests.browser.chromium import QuietHandler, chromium  # noqa: E402


class _Counting(QuietHandler):
    """Counts the bytes sent for each path."""

    sent: Counter[str] = Counter()

    def copyfile(self, source: Any, outputfile: Any) -> None:
        data = source.read()
        outputfile.write(data)
        _Counting.sent[self.path.split("?")[0]] += len(data)


def _build(content: Path, cache: Path, site: Path, embedder: Any = None) -> None:
    from kb.publish import plugin as mkdocs_plugin
    from kb.settings import Settings

    settings = Settings(content_dir=content, cache_dir=cache, site_dir=site, model=None)
    mkdocs_plugin.build_site(settings, config_file=ROOT / "mkdocs.yml", embedder=embedder)
    mkdocs_plugin._shared.clear()


def _browser(profile: Path) -> Any:
    driver = chromium(profile)
    driver.set_script_timeout(120)
    return driver


def _wait(driver: Any, script: str, timeout: float = 120) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.02)
    raise TimeoutError(script)


def _measure(site: Path, queries: list[str], label: str) -> None:
    handler = partial(_Counting, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/search/"
    profile = Path(tempfile.mkdtemp(prefix="kb-bench-profile-"))
    driver = _browser(profile)
    try:
        _Counting.sent.clear()
        started = time.perf_counter()
        driver.get(f"{url}?q={quote(queries[0])}")
        _wait(
            driver,
            "return window.kbSemanticSearch && window.kbSemanticSearch.mode"
            " === 'meaning' && window.kbSemanticSearch.renders > 0",
        )
        cold = time.perf_counter() - started
        first_bytes = sum(_Counting.sent.values())
        top = sorted(_Counting.sent.items(), key=lambda kv: -kv[1])[:6]
        _Counting.sent.clear()
        warm = []
        for query in queries[1:]:
            ms = driver.execute_async_script(
                "const done = arguments[arguments.length - 1];"
                "const api = window.kbSemanticSearch; const t = performance.now();"
                "api.search(arguments[0]).then(() => requestAnimationFrame(() =>"
                " done(performance.now() - t)));",
                query,
            )
            warm.append(float(ms))
        later_bytes = sum(_Counting.sent.values())
    finally:
        driver.quit()
        server.shutdown()
        server.server_close()
        shutil.rmtree(profile, ignore_errors=True)
    files = {
        p.relative_to(site).as_posix(): p.stat().st_size
        for p in (site / "semantic-search").rglob("*")
        if p.is_file()
    }
    print(f"\n== {label}")
    print(f"first search: {first_bytes / 1e6:.2f} MB downloaded; largest:")
    for path, size in top:
        print(f"   {size / 1e6:8.2f} MB  {path}")
    print(f"later searches ({len(queries) - 1}): {later_bytes} bytes downloaded")
    print(
        f"vectors: {files.get('semantic-search/vectors.bin', 0) / 1e6:.3f} MB; "
        f"model: {files.get('semantic-search/model/model.onnx', 0) / 1e6:.2f} MB; "
        f"runtime: {files.get('semantic-search/ort/ort-wasm-simd-threaded.wasm', 0) / 1e6:.2f} MB"
    )
    print(f"cold: page open to rendered results by meaning: {cold * 1000:.0f} ms")
    print(
        f"warm: query to rendered results: median {statistics.median(warm):.1f} ms, "
        f"max {max(warm):.1f} ms over {len(warm)} queries"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=10)
    args = parser.parse_args(argv)
    raw = yaml.safe_load((ROOT / "tests" / "eval" / "queries.yml").read_text("utf-8"))
    queries = [str(q["q"]) for q in raw["queries"]][: args.queries + 1]
    work = Path(tempfile.mkdtemp(prefix="kb-site-search-bench-"))
    try:
        shipped_cache = Path(os.environ.get("KB_CACHE_DIR", work / "cache"))
        _build(ROOT / "content", shipped_cache, work / "site")
        _measure(work / "site", queries, "shipped library")
        if args.cases > 0:
            from generate import write_library

            from kb.index.embed import HashingEmbedder
            from kb.index.layout import INDEX_DIR, ONNX_DIR

            content = work / "generated"
            write_library(content, args.cases, 0)
            cache = work / "generated-cache"
            # the real model's export, so that the site ships the real model and runtime
            shutil.copytree(shipped_cache / INDEX_DIR / ONNX_DIR, cache / INDEX_DIR / ONNX_DIR)
            _build(content, cache, work / "generated-site", embedder=HashingEmbedder())
            _measure(work / "generated-site", queries, f"{args.cases} generated case studies")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
