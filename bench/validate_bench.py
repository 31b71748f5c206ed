"""Validate a generated library of case studies and print files per second.

python bench/validate_bench.py [-n 1000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import write_library  # noqa: E402

from kb.check.validate import validate_paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=1000, help="number of case studies")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the best is reported")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_library(root, args.n, 0)
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            report = validate_paths([root])
            times.append(time.perf_counter() - start)
        size = sum(p.stat().st_size for p in root.glob("*.md"))
    best = min(times)
    print(
        f"files: {report.files_checked}, errors: {len(report.errors)}, "
        f"warnings: {len(report.warnings)}, total size: {size / 1e6:.1f} MB"
    )
    print(
        f"validate: best {best:.2f} s, median {sorted(times)[len(times) // 2]:.2f} s "
        f"of {args.repeat} runs; {report.files_checked / best:.0f} files/s"
    )


if __name__ == "__main__":
    main()
