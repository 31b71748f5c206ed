"""Whatever the input, validation reports problems and never raises."""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kb.check.validate import validate_file
from tests.validate.mutations import MUTATIONS, Mutation, case_files, mutate

FIELDS = [
    "id",
    "title",
    "summary",
    "region",
    "ics",
    "tiers",
    "meps",
    "outcomes",
    "evidence",
    "sources",
    "started",
    "organisations",
    "regoin",
    "value",
    "low",
]
BODY = "\n## Context\nx\n## What they did\nx\n## Outcomes\nx\n"

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.dates(),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), inner, max_size=4),
    ),
    max_leaves=20,
)


def check(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "case.md"
        path.write_bytes(raw)
        problems, entry, _ = validate_file(path)
        assert problems or entry is not None
        for problem in problems:
            assert problem.line >= 1 and problem.column >= 1 and problem.message


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(FIELDS), values, max_size=10))
def test_wrong_types_in_front_matter(data: dict) -> None:
    text = "---\n" + yaml.safe_dump(data, allow_unicode=True) + "---\n" + BODY
    check(text.encode("utf-8"))


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=400))
def test_malformed_front_matter_text(text: str) -> None:
    check(("---\n" + text + "\n---\n" + BODY).encode("utf-8", "surrogatepass"))


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400))
def test_binary_junk(raw: bytes) -> None:
    check(raw)
    check(b"---\n" + raw + b"\n---\n")


def test_empty_and_blank_files() -> None:
    for raw in (b"", b"\n", b"---\n---\n", b"---\n\n---\n", b"\xef\xbb\xbf"):
        check(raw)


def test_deep_nesting_is_refused_quickly() -> None:
    for text in (
        "a: " + "[" * 5000 + "]" * 5000,
        "a: " + "{b: " * 3000 + "1" + "}" * 3000,
        "\n".join(" " * i + f"k{i}:" for i in range(500)) + " 1",
    ):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "case.md"
            path.write_text(f"---\n{text}\n---\n")
            problems, entry, _ = validate_file(path)
            assert entry is None
            assert any("nested" in p.message or "YAML" in p.message for p in problems)


def test_alias_bomb_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "case.md"
        path.write_text("---\n" + "\n".join(lines) + "\n---\n")
        problems, entry, _ = validate_file(path)
    assert entry is None
    assert "alias" in problems[0].message


def test_huge_file_is_refused() -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "case.md"
        path.write_text("---\ntitle: x\n---\n" + "words " * 100_000)
        problems, entry, _ = validate_file(path)
    assert entry is None and "limit" in problems[0].message


# ------------------------------------------------------------------------------------------
# mutated real case studies (bench/fuzz_bench.py runs many more)

REAL = case_files()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(REAL) - 1), st.integers(0, 2**32 - 1))
def test_mutated_real_case_studies(index: int, seed: int) -> None:
    raw = mutate(REAL[index].read_bytes(), random.Random(seed))
    started = time.process_time()
    check(raw)
    assert time.process_time() - started < 2.0


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.__name__)
def test_each_mutation_alone(mutation: Mutation) -> None:
    rng = random.Random(mutation.__name__)
    for path in REAL[:: max(1, len(REAL) // 8)]:
        raw = mutation(path.read_bytes(), rng)
        started = time.process_time()
        check(raw)
        assert time.process_time() - started < 2.0
