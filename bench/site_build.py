"""Build the site of a generated library and report the time and what a browser downloads.

    python bench/site_build.py [-n 1000] [--real-model] [--keep DIR]

Stages, as `kb build` runs them: validate the files, update the search index (the fake hashing
embedder by default, so the figure is the site's own cost; --real-model embeds with the packaged
model), build the site with mkdocs. Then the sizes, raw and gzipped, of what a browser fetches
for the catalogue page and for the first search.
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from generate import write_library  # noqa: E402

from kb.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def sizes(paths: list[Path]) -> tuple[int, int]:
    """Total bytes, raw and gzipped (level 6, as a static host would serve them)."""
    raw = sum(p.stat().st_size for p in paths)
    packed = sum(len(gzip.compress(p.read_bytes(), compresslevel=6)) for p in paths)
    return raw, packed


def page_assets(site_dir: Path, page: Path) -> list[Path]:
    """The page and the local CSS and JS files it links to."""
    import re

    html = page.read_text("utf-8")
    found = [page]
    for ref in re.findall(r'(?:href|src)="([^"]+\.(?:css|js))"', html):
        target = (page.parent / ref).resolve()
        if target.is_file() and target.is_relative_to(site_dir.resolve()):
            found.append(target)
    return found


def kib(n: int) -> str:
    return f"{n / 1024:,.0f} KiB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=1000, help="number of case studies")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--real-model", action="store_true", help="embed with the real model")
    parser.add_argument("--keep", type=Path, default=None, help="build here and keep it")
    args = parser.parse_args()

    from kb.index.embed import HashingEmbedder
    from kb.publish.plugin import build_site

    with tempfile.TemporaryDirectory() as folder:
        work = args.keep or Path(folder)
        content = work / "content"
        started = time.perf_counter()
        write_library(content, args.n, args.seed)
        print(f"generated {args.n} case studies in {time.perf_counter() - started:.1f} s")
        settings = Settings(
            content_dir=content, cache_dir=work / "cache", site_dir=work / "site", model=None
        )
        embedder = None if args.real_model else HashingEmbedder()
        started = time.perf_counter()
        report = build_site(
            settings,
            embedder=embedder,
            config_file=ROOT / "mkdocs.yml",
            progress=lambda m: print(f"  {m}"),
        )
        total = time.perf_counter() - started
        stages = ", ".join(f"{k} {v:.1f} s" for k, v in report.seconds.items())
        model = "real model" if args.real_model else "fake embedder"
        print(f"kb build of {report.cases} case studies ({model}): {total:.1f} s ({stages})")
        print(f"site build alone (mkdocs, pages, comparables): {report.seconds['site']:.1f} s")
        site_dir = settings.site_dir
        pages = list(site_dir.rglob("*.html"))
        all_raw = sum(p.stat().st_size for p in site_dir.rglob("*") if p.is_file())
        print(f"site: {len(pages)} pages, {kib(all_raw)} on disk")

        catalogue = page_assets(site_dir, site_dir / "catalogue" / "index.html")
        raw, packed = sizes(catalogue)
        page_raw, page_packed = sizes(catalogue[:1])
        print(
            f"catalogue page: {kib(raw)} raw, {kib(packed)} gzipped, in {len(catalogue)} files "
            f"(the HTML itself {kib(page_raw)} raw, {kib(page_packed)} gzipped)"
        )
        workers = list((site_dir / "assets" / "javascripts" / "workers").glob("search*.js"))
        index = site_dir / "search" / "search_index.json"
        raw, packed = sizes([index, *workers])
        index_raw, index_packed = sizes([index])
        print(
            f"search (index + worker, fetched on the first search): {kib(raw)} raw, "
            f"{kib(packed)} gzipped (the index {kib(index_raw)} raw, {kib(index_packed)} gzipped)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
