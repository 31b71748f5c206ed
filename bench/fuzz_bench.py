"""Validate mutated real case studies and print files per second, tracebacks and slow runs.

python bench/fuzz_bench.py [-n 10000] [--seed 0]

Each file is a case study from content/ with one to three mutations (flipped bytes, truncation,
hostile constructs, YAML tags, deep nesting, huge strings; see tests/validate/mutations.py).
A traceback or a file that takes more than 2 s is a failure; the first few are printed.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kb.check.validate import validate_file
from tests.validate.mutations import case_files, mutate  # noqa: E402

SLOW_S = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=10_000, help="number of fuzzed files")
    parser.add_argument("--seed", type=int, default=0, help="seed of the mutations")
    args = parser.parse_args()
    seeds = [path.read_bytes() for path in case_files()]
    rng = random.Random(args.seed)
    tracebacks: list[str] = []
    slow: list[tuple[float, int]] = []
    worst = 0.0
    total = 0.0
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "case.md"
        for number in range(args.n):
            path.write_bytes(mutate(rng.choice(seeds), rng))
            started = time.perf_counter()
            try:
                problems, entry, _ = validate_file(path)
                if not problems and entry is None:
                    raise AssertionError("neither problems nor a valid entry")
            except Exception:  # noqa: BLE001 - counting every failure is the point
                tracebacks.append(f"file {number}:\n{traceback.format_exc()}")
            elapsed = time.perf_counter() - started
            total += elapsed
            worst = max(worst, elapsed)
            if elapsed > SLOW_S:
                slow.append((elapsed, number))
    for text in tracebacks[:3]:
        print(text)
    print(f"fuzzed files:        {args.n} (seed {args.seed}, from {len(seeds)} case studies)")
    print(f"files per second:    {args.n / total:.0f}")
    print(f"slowest file:        {worst:.3f} s")
    print(f"tracebacks:          {len(tracebacks)}")
    print(f"runs over {SLOW_S:.0f} s:       {len(slow)}")
    sys.exit(1 if tracebacks or slow else 0)


if __name__ == "__main__":
    main()
