"""Index and search at scale on a generated library: build, incremental update, latency, memory.

    python bench/search_scale.py --cases 1000          # the packaged model (real embeddings)
    python bench/search_scale.py --cases 10000 --fake  # hashing stand-in: index mechanics only

Prints: full index time, no-change and one-edit and one-delete update times (and the edit as a
share of the full build), open time, warm query latency p50/p95 (with and without filters),
`similar` latency, RSS memory and cache size. With --reuse, an existing cache for the same
library is updated rather than rebuilt (to measure latency without waiting for a new build).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from generate import generate_entries  # noqa: E402

from kb.format.content import Entry, Section
from kb.index.build import update_index
from kb.search.filters import Filters
from kb.search.searcher import Searcher

QUERIES = [
    "who else has stopped older people falling at home",
    "council housing staff spotting mental illness early",
    "blood pressure checks in the community",
    "families on low incomes with young children",
    "stop smoking support for pregnant women",
    "helping people with back pain back into work",
    "damp and mould in rented homes",
    "type 2 diabetes remission diet",
    "crisis support in the evenings",
    "linking GP and social care data to find people at risk",
    "strength and balance classes",
    "alcohol harm in emergency departments",
    "evaluation with a matched comparison group",
    "funding ran out after the pilot",
    "voluntary sector reaching people services rarely see",
    "apprenticeships for care leavers",
]


def rss_mb() -> float:
    try:
        import psutil

        return float(psutil.Process().memory_info().rss) / 2**20
    except ImportError:  # pragma: no cover
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def folder_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def edited(entry: Entry, note: str) -> Entry:
    sections = list(entry.sections)
    first = sections[0]
    sections[0] = Section(first.heading, first.text + " " + note, first.line)
    new_hash = entry.content_hash[:-8] + "edited00"
    return replace(entry, sections=tuple(sections), content_hash=new_hash)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--fake", action="store_true", help="hashing embedder, not the model")
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--reuse", action="store_true", help="keep an existing cache")
    parser.add_argument("--repeat", type=int, default=200, help="warm queries to time")
    parser.add_argument(
        "--onnx",
        type=Path,
        default=None,
        help="with --fake: embed queries with this ONNX export (e.g. <cache>/index/onnx), so "
        "latency includes the real query model; the stand-in vectors have the same shape",
    )
    args = parser.parse_args(argv)

    embedder = None
    if args.fake:
        from kb.index.embed import HashingEmbedder

        embedder = HashingEmbedder()
    cache = args.cache or Path(tempfile.mkdtemp(prefix="kb-scale-"))
    print(f"model: {'hashing stand-in' if args.fake else 'all-MiniLM-L6-v2 (CPU)'}; "
          f"cpus: {os.cpu_count()}; cache: {cache}")

    t = time.perf_counter()
    entries = generate_entries(args.cases)
    print(f"generated {len(entries)} case studies in {time.perf_counter() - t:.1f} s")

    marks = {0}

    def progress(done: int, total: int) -> None:
        step = 10 * done // max(1, total)
        if step not in marks:
            marks.add(step)
            print(f"  embedded {done}/{total} passages ({time.perf_counter() - t0:.0f} s)",
                  flush=True)

    t0 = time.perf_counter()
    report = update_index(entries, cache, embedder=embedder, progress=progress)
    full = time.perf_counter() - t0
    if report.embedded:
        print(f"full index: {full:.1f} s for {report.passages} passages "
              f"({report.embedded / full:.0f} passages/s)")
    else:
        print(f"(reused cache: {report.passages} passages, nothing embedded in {full:.1f} s)")

    t0 = time.perf_counter()
    update_index(entries, cache, embedder=embedder)
    print(f"update, nothing changed: {time.perf_counter() - t0:.2f} s")

    changed = list(entries)
    changed[len(changed) // 2] = edited(changed[len(changed) // 2], "A late addition to the text.")
    t0 = time.perf_counter()
    report = update_index(changed, cache, embedder=embedder)
    one_edit = time.perf_counter() - t0
    share = f" = {100 * one_edit / full:.2f}% of the full build" if full > one_edit * 2 else ""
    print(f"update, one case edited: {one_edit:.2f} s ({report.embedded} passages embedded){share}")

    fewer = changed[:-1]
    t0 = time.perf_counter()
    report = update_index(fewer, cache, embedder=embedder)
    print(f"update, one case deleted: {time.perf_counter() - t0:.2f} s")

    before = rss_mb()
    t0 = time.perf_counter()
    searcher = Searcher.open(cache, fewer, embedder=None if not args.fake else embedder)
    print(f"open: {time.perf_counter() - t0:.2f} s; RSS {rss_mb():.0f} MB "
          f"(+{rss_mb() - before:.0f} MB); cache on disk {folder_mb(cache):.0f} MB")

    if args.fake and args.onnx:
        from kb.index.embed import OnnxEmbedder

        searcher.embedder = OnnxEmbedder(args.onnx)
        print(f"queries embedded by the ONNX model in {args.onnx}")
    searcher.search("warm up")
    filters = Filters.parse({"region": ["London", "Midlands"], "tiers": ["primary"]})
    for label, kwargs in (("search", {}), ("search + 2 filters", {"filters": filters})):
        times = []
        for i in range(args.repeat):
            t0 = time.perf_counter()
            searcher.search(QUERIES[i % len(QUERIES)], limit=10, **kwargs)
            times.append(1000 * (time.perf_counter() - t0))
        print(
            f"warm {label}: p50 {percentile(times, 50):.1f} ms, "
            f"p95 {percentile(times, 95):.1f} ms "
            f"(n={len(times)}, mean {statistics.mean(times):.1f} ms)"
        )
    times = []
    for i in range(min(args.repeat, 100)):
        t0 = time.perf_counter()
        searcher.similar(fewer[(i * 37) % len(fewer)].case.id, limit=5)
        times.append(1000 * (time.perf_counter() - t0))
    print(f"warm similar: p50 {percentile(times, 50):.1f} ms, p95 {percentile(times, 95):.1f} ms")
    # split the query time: embedding vs scoring
    vector_times = []
    for i in range(50):
        t0 = time.perf_counter()
        searcher.embedder.embed_query(QUERIES[i % len(QUERIES)])
        vector_times.append(1000 * (time.perf_counter() - t0))
    print(f"  of which query embedding: p50 {percentile(vector_times, 50):.1f} ms")
    print(f"RSS at end: {rss_mb():.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
