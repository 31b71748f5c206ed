"""Every YAML construct gets a located message: explicit tags, NaN and infinities, odd scalars."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from kb.check.problems import format_field
from kb.check.validate import validate_file
from kb.format.content import parse_front_matter, read_source

ROOT = Path(__file__).resolve().parents[2]
VALID = Path(__file__).parent / "data" / "valid" / "norfolk-falls-prevention.md"


def with_front_line(line: str, tmp_path: Path, key: str = "title") -> tuple[list, Any]:
    """The valid example with the line starting `key:` replaced by `line`."""
    text = VALID.read_text(encoding="utf-8")
    lines = text.split("\n")
    index = next(i for i, value in enumerate(lines) if value.startswith(f"{key}:"))
    lines[index] = line
    path = tmp_path / VALID.name
    path.write_text("\n".join(lines), encoding="utf-8")
    problems, entry, _ = validate_file(path)
    return problems, entry


@pytest.mark.parametrize(
    "line",
    [
        "title: !!bool maybe",
        "title: !!timestamp not-a-date",
        'title: !!int ""',
        'title: !!float ""',
        "title: !!float .nan",
        "title: !!binary aGVsbG8gOTQzIDQ3NiA1OTE5",
        "title: !!str plain",
        "title: !!python/object:os.system x",
        "title: !local thing",
        "title: ! text",
        "title: !<tag:example.com,2024:x> value",
        "title: !!set {a, b}",
        "title: !!omap [a: 1]",
        "title: !!map {a: 1}",
        "title: !!seq [a]",
        "title: !!null x",
        "title: !!merge x",
    ],
)
def test_explicit_tags_are_refused_with_a_located_message(line: str, tmp_path: Path) -> None:
    problems, entry = with_front_line(line, tmp_path)
    assert entry is None
    assert len(problems) == 1
    problem = problems[0]
    assert problem.code == "yaml" and "tag" in problem.message
    assert (problem.line, problem.column) == (3, 8)
    assert problem.hint


def test_binary_data_is_refused_outright(tmp_path: Path) -> None:
    problems, entry = with_front_line("title: !!binary OTQzIDQ3NiA1OTE5", tmp_path)
    assert entry is None
    assert "personal data" in problems[0].message


def test_a_tag_on_a_key_or_a_list_is_refused(tmp_path: Path) -> None:
    for line in ("!!str title: x", "title: !!seq [a]", "title: [!!int 3]"):
        problems, entry = with_front_line(line, tmp_path)
        assert entry is None and "tag" in problems[0].message, line


@pytest.mark.parametrize(
    "value", ["0b_", "0x_", "0o_", "._", "1:_", "2024-13-45", "2024-02-30", "1e+999999"]
)
def test_odd_untagged_scalars_give_a_message(value: str, tmp_path: Path) -> None:
    problems, entry = with_front_line(f"title: {value}", tmp_path)
    assert problems or entry is not None
    assert all(p.line >= 1 and p.message for p in problems)


def test_parse_front_matter_never_raises_anything_but_file_error() -> None:
    from kb.errors import FileError

    for text in ("a: !!int ''", "a: !!bool x", "a: !!timestamp x", "? [a]\n: b", "a: 0x_"):
        try:
            parse_front_matter(text)
        except FileError as exc:
            assert exc.line >= 1 and exc.message


# ------------------------------------------------------------------------------------------
# NaN and infinities, in every numeric field the real case studies use


def _numeric_paths(data: Any, path: tuple = ()) -> list[tuple]:
    if isinstance(data, dict):
        return [p for k, v in data.items() for p in _numeric_paths(v, (*path, k))]
    if isinstance(data, list):
        return [p for i, v in enumerate(data) for p in _numeric_paths(v, (*path, i))]
    if isinstance(data, int | float) and not isinstance(data, bool):
        return [path]
    return []


def _one_file_per_numeric_field() -> list[tuple[Path, tuple]]:
    chosen: dict[tuple, tuple[Path, tuple]] = {}
    for path in sorted((ROOT / "content").glob("*.md")):
        source = read_source(path)
        data = parse_front_matter(source.front_matter, 2).data
        for field_path in _numeric_paths(data):
            shape = tuple(0 if isinstance(p, int) else p for p in field_path)
            chosen.setdefault(shape, (path, field_path))
    return sorted(chosen.values(), key=lambda c: (c[0].name, str(c[1])))


def _set(data: Any, path: tuple, value: Any) -> None:
    for part in path[:-1]:
        data = data[part]
    data[path[-1]] = value


def _rewrite(path: Path, tmp_path: Path, field_path: tuple, value: Any) -> Path:
    source = read_source(path)
    data = parse_front_matter(source.front_matter, 2).data
    _set(data, field_path, value)
    out = tmp_path / path.name
    front = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    out.write_text(f"---\n{front}---\n{source.body}", encoding="utf-8")
    return out


NUMERIC_FIELDS = _one_file_per_numeric_field()


def test_the_real_case_studies_have_numeric_fields() -> None:
    shapes = {format_field(p) for _, p in NUMERIC_FIELDS}
    assert any("value" in s for s in shapes) and any("year" in s for s in shapes)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize(
    ("path", "field_path"), NUMERIC_FIELDS, ids=[format_field(p) for _, p in NUMERIC_FIELDS]
)
def test_non_finite_numbers_are_refused_in_every_numeric_field(
    path: Path, field_path: tuple, bad: float, tmp_path: Path
) -> None:
    out = _rewrite(path, tmp_path, field_path, bad)
    assert (".nan" if math.isnan(bad) else ".inf") in out.read_text(encoding="utf-8")
    problems, entry, _ = validate_file(out)
    assert entry is None, "a non-finite number reached a valid entry (the site would show it)"
    errors = [p for p in problems if p.severity == "error"]
    assert any(p.field.startswith(format_field(field_path)) for p in errors), errors


@pytest.mark.parametrize(
    ("field_path", "value"),
    [
        (("outcomes", 0, "value"), {"low": -math.inf, "high": math.inf}),
        (("outcomes", 0, "value"), {"low": 1, "high": math.nan}),
        (("funding",), {"source": "ICB", "amount_gbp": math.nan}),
        (("funding",), {"source": "ICB", "amount_gbp": math.inf}),
        (("outcomes", 0, "baseline"), math.nan),
    ],
)
def test_non_finite_ranges_and_amounts_are_refused(
    field_path: tuple, value: Any, tmp_path: Path
) -> None:
    out = _rewrite(VALID, tmp_path, field_path, value)
    problems, entry, _ = validate_file(out)
    assert entry is None
    assert any(p.field.startswith(format_field(field_path)) for p in problems), problems
    assert all("nan" not in p.field for p in problems)


def test_an_overflowing_float_is_refused(tmp_path: Path) -> None:
    text = VALID.read_text(encoding="utf-8").replace("value: 93\n", "value: 1e+999\n", 1)
    path = tmp_path / VALID.name
    path.write_text(text, encoding="utf-8")
    problems, entry, _ = validate_file(path)
    assert entry is None and any(p.field == "outcomes[0].value" for p in problems)
