"""Cold start: a new `kb search` process (ONNX query path) against one with sentence-transformers.

    python bench/search_cold.py [--content content] [--runs 7]
    python bench/search_cold.py --cases 1000 [--cache DIR]   # 1,000 generated case studies

Indexes the content folder (or, with --cases, that many generated case studies written into the
cache folder) with the packaged model into a temporary cache (--cache keeps one between runs, so a
second run embeds nothing), then times, in one run:
- `kb search QUERY` as a new process, end to end (load library, open index, embed, rank, print);
- the same search in a new process whose query embedder is sentence-transformers (torch).
kb's modules are compiled to bytecode first, as an installed package has them. Prints the median
wall time of each and the ratio.
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from kb.check.library import load_library
from kb.index.build import update_index

QUERY = "who else has stopped older people falling at home"

TORCH_SEARCH = """
import sys
from pathlib import Path
from kb.check.library import load_library
from kb.index.embed import SentenceTransformerEmbedder
from kb.search.searcher import Searcher
entries = load_library(Path(sys.argv[1]))
searcher = Searcher.open(Path(sys.argv[2]), entries, embedder=SentenceTransformerEmbedder())
for hit in searcher.search(sys.argv[3], limit=10):
    print(hit.case_id, hit.score)
"""


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{command[:3]} failed:\n{done.stderr}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--content", type=Path, default=ROOT / "content")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--cases", type=int, default=0, help="search this many generated case studies instead"
    )
    parser.add_argument("--cache", type=Path, default=None, help="cache folder to keep and reuse")
    args = parser.parse_args(argv)
    cache = args.cache or Path(tempfile.mkdtemp(prefix="kb-cold-"))
    if args.cases > 0:
        from generate import write_library

        args.content = cache / f"generated-{args.cases}"
        if not args.content.is_dir():
            write_library(args.content, args.cases, 0)
    entries = load_library(args.content)
    update_index(entries, cache)
    env = {
        **os.environ,
        "KB_CACHE_DIR": str(cache),
        "KB_CONTENT_DIR": str(args.content),
        "HF_HUB_OFFLINE": "1",
    }
    kb = str(Path(sys.executable).with_name("kb"))
    # bytecode for every module, as an installed package has: time the start, not the compiler
    compileall.compile_dir(ROOT / "kb", quiet=1)
    onnx_runs, torch_runs = [], []
    timed([kb, "search", QUERY], env)  # page cache warm: measure process start, not disk
    for _ in range(args.runs):
        onnx_runs.append(timed([kb, "search", QUERY], env))
        torch_runs.append(
            timed([sys.executable, "-c", TORCH_SEARCH, str(args.content), str(cache), QUERY], env)
        )
    onnx, torch = statistics.median(onnx_runs), statistics.median(torch_runs)
    print(f"{len(entries)} case studies; query: {QUERY!r}; {args.runs} runs each, median")
    print(f"cold `kb search` (onnxruntime, no torch):      {onnx:.2f} s  "
          f"(min {min(onnx_runs):.2f}, max {max(onnx_runs):.2f})")
    print(f"cold search with sentence-transformers (torch): {torch:.2f} s  "
          f"(min {min(torch_runs):.2f}, max {max(torch_runs):.2f})")
    print(f"speed-up: {torch / onnx:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
