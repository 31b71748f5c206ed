"""Every figure in the shipped library must be found in the source text it cites.

The source texts are not part of the repository. Point ``KB_SEEDS_DIR`` at the folder that holds
them (CI uses ``../shared/seeds``); without it the library check is skipped. The number matcher
itself is tested here on small texts, so it is always exercised.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CONTENT_DIR = Path(__file__).resolve().parents[2] / "content"

# --- reading numbers out of prose -------------------------------------------------------------

_WORD_NUMBERS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100,
}
_FRACTION_WORDS = {
    "half": 1 / 2, "third": 1 / 3, "thirds": 1 / 3, "quarter": 1 / 4, "quarters": 1 / 4,
    "fifth": 1 / 5, "fifths": 1 / 5,
}
_SCALE = {"thousand": 1e3, "k": 1e3, "million": 1e6, "m": 1e6, "bn": 1e9, "billion": 1e9}

_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_WORD = "|".join(sorted(_WORD_NUMBERS, key=len, reverse=True))
_AMOUNT = re.compile(
    rf"(?P<pound>£\s?)?(?P<num>{_NUM}|\b(?:{_WORD})\b)"
    rf"(?:\s*(?:-|–|to)\s*(?P<pound2>£\s?)?(?P<num2>{_NUM}))?"
    r"(?P<scale>\s*(?:thousand|million|billion|bn|m|k)\b)?"
    r"(?P<pct>\s*(?:per\s?cent|percent|%))?",
    re.IGNORECASE,
)
_FRACTION = re.compile(
    rf"\b(?P<num>a|an|one|{_WORD}|\d+)[\s-]+(?P<den>{'|'.join(_FRACTION_WORDS)})\b"
    rf"|(?<![\d.])\b(?P<n2>{_WORD}|\d+)[\s-]+(?:in|out)[\s-]+(?:every[\s-]+|of[\s-]+)?(?P<d2>{_WORD}|\d+)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Number:
    """One number read from a text, with the signs around it that fix its meaning."""

    value: float
    pounds: bool = False
    percent: bool = False
    fraction: bool = False


def _as_float(token: str) -> float:
    word = token.lower()
    if word in _WORD_NUMBERS:
        return float(_WORD_NUMBERS[word])
    if word in {"a", "an"}:
        return 1.0
    return float(token.replace(",", ""))


def normalise(text: str) -> str:
    """Fold the layout of extracted PDF text: curly quotes, non-breaking and repeated spaces."""
    text = text.replace("\u00a0", " ").replace("\u2019", "'").replace("\u2018", "'")
    text = text.replace("\u2013", "-").replace("\u2014", "-")
    return re.sub(r"\s+", " ", text)


def numbers_in(text: str) -> set[Number]:
    """Every number a reader would see in ``text``: digits, words, money, percentages, fractions."""
    text = normalise(text)
    found: set[Number] = set()
    for match in _AMOUNT.finditer(text):
        scale_word = (match.group("scale") or "").strip().lower()
        scale = _SCALE.get(scale_word, 1.0)
        pounds = bool(match.group("pound") or match.group("pound2"))
        if scale_word in {"m", "k", "bn"} and not pounds:
            scale = 1.0  # '5 m' is a distance, not money; only '£5m' is scaled
        percent = bool(match.group("pct"))
        for key in ("num", "num2"):
            token = match.group(key)
            if token is None:
                continue
            value = _as_float(token) * scale
            found.add(Number(value, pounds=pounds, percent=percent))
    for match in _FRACTION.finditer(text):
        if match.group("den"):
            value = _as_float(match.group("num")) * _FRACTION_WORDS[match.group("den").lower()]
        else:
            denominator = _as_float(match.group("d2"))
            if denominator == 0:
                continue
            value = _as_float(match.group("n2")) / denominator
        found.add(Number(value, fraction=True))
    return found


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def figure_in_text(value: float, unit: str, found: Iterable[Number]) -> bool:
    """Whether ``value`` in ``unit`` is one of the numbers ``found`` in a source text.

    Strict about meaning: a percentage must be printed as one ('35 per cent', '35%'), money must
    carry a pound sign, and a ratio may be a printed fraction ('seven in every ten' is 0.7) read to
    two decimal places. Layout is free: '1,000', '£4 million' and '£4m' all match their value.
    """
    for number in found:
        plain = not (number.fraction or number.pounds or number.percent)
        if unit == "percent":
            if number.percent and _close(number.value, value):
                return True
        elif unit == "GBP":
            if number.pounds and _close(number.value, value):
                return True
        elif unit == "ratio":
            if number.fraction and round(number.value, 2) == round(value, 2):
                return True
            if not (number.fraction or number.percent) and _close(number.value, value):
                return True
        elif plain and _close(number.value, value):
            return True
    return False


# --- the shipped library ----------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One figure in the library, where it claims to come from."""

    path: str
    field: str
    metric: str
    values: tuple[float, ...]
    unit: str
    source: int


def _value_parts(value: Any) -> tuple[float, ...]:
    if isinstance(value, int | float):
        return (float(value),)
    low = getattr(value, "low", None)
    high = getattr(value, "high", None)
    if low is None and isinstance(value, dict):
        low, high = value.get("low"), value.get("high")
    return tuple(float(v) for v in (low, high) if v is not None)


def library_figures(entries: Iterable[Any]) -> Iterator[Figure]:
    """Every outcome and context figure of every entry, with its value(s) and cited source."""
    for entry in entries:
        case = entry.case
        for field in ("outcomes", "context_figures"):
            for item in getattr(case, field, None) or []:
                if item.value is None:
                    continue
                unit = getattr(item, "unit", None) or "count"
                # the whole of '148 of 211' must be in the source as much as the part
                whole = getattr(item, "out_of", None)
                yield Figure(
                    path=str(entry.path),
                    field=field,
                    metric=item.metric,
                    values=_value_parts(item.value) + ((float(whole),) if whole else ()),
                    unit=str(unit),
                    source=int(item.source or 1),
                )


def find_seed(title: str, seeds: dict[Path, str]) -> Path:
    """The one seed file whose text contains ``title`` (case and layout folded)."""
    wanted = normalise(title).lower()
    hits = [path for path, text in seeds.items() if wanted in normalise(text).lower()]
    if len(hits) != 1:
        names = ", ".join(sorted(p.name for p in hits)) or "none"
        raise LookupError(f"source title {title!r} found in {len(hits)} seed files ({names})")
    return hits[0]


def anchors_of(case: Any) -> list[str]:
    """Names a source uses for the initiative: its place, its ICSs and its organisations."""
    names = [getattr(case, "place", None) or ""]
    ics = getattr(case, "ics", None) or []
    if ics:
        from kb.format.vocab import load_vocabularies

        names += [load_vocabularies().ics.label(ics_id) for ics_id in ics]
    names += list(getattr(case, "organisations", None) or [])
    return sorted({name for name in names if name})


def passages(text: str, anchors: Iterable[str], before: int = 1000, after: int = 4000) -> list[str]:
    """The stretches of ``text`` around each mention of an anchor (all of it when none is given).

    A source discusses many initiatives; a figure must come from the passage about this one, not
    from anywhere in the document. A case study runs on for a few paragraphs after it names its
    place, hence the longer reach forwards.
    """
    text = normalise(text)
    anchors = [normalise(a).lower() for a in anchors]
    if not anchors:
        return [text]
    lowered = text.lower()
    starts = sorted(m.start() for a in anchors for m in re.finditer(re.escape(a), lowered))
    return [text[max(0, start - before) : start + after] for start in starts]


def missing_figures(entries: Iterable[Any], seeds: dict[Path, str]) -> list[str]:
    """One message per figure not found near a mention of its initiative in its cited source."""
    problems: list[str] = []
    for entry in entries:
        titles = [s.title for s in entry.case.sources]
        anchors = anchors_of(entry.case)
        found_by_seed: dict[Path, list[set[Number]]] = {}
        for figure in library_figures([entry]):
            if not 1 <= figure.source <= len(titles):
                problems.append(f"{figure.path}: {figure.metric!r} cites source {figure.source}, "
                                f"but the file lists {len(titles)} sources")
                continue
            title = titles[figure.source - 1]
            seed = find_seed(title, seeds)
            if seed not in found_by_seed:
                found_by_seed[seed] = [numbers_in(p) for p in passages(seeds[seed], anchors)]
            if not found_by_seed[seed]:
                problems.append(f"{figure.path}: {title!r} ({seed.name}) never names the "
                                f"initiative (looked for: {', '.join(anchors)})")
                continue
            for value in figure.values:
                near = found_by_seed[seed]
                if not any(figure_in_text(value, figure.unit, found) for found in near):
                    problems.append(
                        f"{figure.path}: {figure.field} {figure.metric!r} value {value:g} "
                        f"({figure.unit}) not found in {title!r} ({seed.name}) near "
                        f"{' / '.join(anchors) or 'the text'}"
                    )
        problems += _missing_funding(entry, anchors, seeds)
    return problems


def _missing_funding(entry: Any, anchors: list[str], seeds: dict[Path, str]) -> list[str]:
    """A funding amount names no source: it must be in the initiative's passage of one of them."""
    funding = getattr(entry.case, "funding", None)
    amount = getattr(funding, "amount_gbp", None)
    if amount is None:
        return []
    for source in entry.case.sources:
        seed = find_seed(source.title, seeds)
        if any(figure_in_text(float(amount), "GBP", numbers_in(p))
               for p in passages(seeds[seed], anchors)):
            return []
    return [f"{entry.path}: funding amount_gbp {float(amount):g} (GBP) not found in any source"]


# --- tests of the matcher (always run) --------------------------------------------------------

TEXT = (
    "The fund provides £4 million. About 1,000 people took part and 35 per cent improved; "
    "15% reported less fear. It saved £600,000 - £700,000, with £11-17 million possible. "
    "Costs fell by £175 a week. A third of people over 65 fall; the model predicts seven in "
    "every ten, or over seven-out-of-ten patients. Scores averaged 4.3 out of 5 across ten PCNs, "
    "with zero re-admissions and over two-thirds not in contact."
)


@pytest.mark.parametrize(
    ("value", "unit"),
    [
        (4_000_000, "GBP"),
        (1000, "people"),
        (35, "percent"),
        (15, "percent"),
        (600_000, "GBP"),
        (700_000, "GBP"),
        (11_000_000, "GBP"),
        (17_000_000, "GBP"),
        (175, "GBP"),
        (0.33, "ratio"),
        (0.7, "ratio"),
        (0.67, "ratio"),
        (65, "years"),
        (4.3, "score"),
        (10, "count"),
        (0, "count"),
    ],
)
def test_matcher_finds_figures_however_printed(value: float, unit: str) -> None:
    assert figure_in_text(value, unit, numbers_in(TEXT))


@pytest.mark.parametrize(
    ("value", "unit", "why"),
    [
        (5_000_000, "GBP", "a sum the text never gives"),
        (36, "percent", "a near miss"),
        (1000, "percent", "a count is not a percentage"),
        (65, "percent", "an age is not a percentage"),
        (35, "count", "a percentage is not a count"),
        (4, "count", "£4 million is money, not a count of four"),
        (4.0, "GBP", "£4 million is not £4"),
        (0.8, "ratio", "no fraction of eight in ten"),
        (70, "percent", "'seven in every ten' is not printed as a percentage"),
        (12_000_000, "GBP", "inside a range is not in the text"),
    ],
)
def test_matcher_rejects_figures_not_in_text(value: float, unit: str, why: str) -> None:
    assert not figure_in_text(value, unit, numbers_in(TEXT)), why


@dataclass
class _Item:
    metric: str
    value: Any
    unit: str
    source: int


@dataclass
class _Source:
    title: str


@dataclass
class _Case:
    sources: list[_Source]
    outcomes: list[_Item]
    context_figures: list[_Item]
    place: str | None = None
    funding: Any = None


@dataclass
class _Entry:
    path: Path
    case: _Case


def test_missing_figures_names_file_metric_and_value(tmp_path: Path) -> None:
    seeds = {tmp_path / "000_a.txt": "A Report Title\nThe pilot cut admissions by 35 per cent."}
    entry = _Entry(
        path=Path("content/x.md"),
        case=_Case(
            sources=[_Source("A report title")],
            outcomes=[_Item("admissions", 35, "percent", 1), _Item("cost", 2.7e6, "GBP", 1)],
            context_figures=[_Item("range", {"low": 30, "high": 35}, "percent", 1)],
        ),
    )
    assert missing_figures([entry], seeds) == [
        "content/x.md: outcomes 'cost' value 2.7e+06 (GBP) not found in 'A report title' "
        "(000_a.txt) near the text",
        "content/x.md: context_figures 'range' value 30 (percent) not found in "
        "'A report title' (000_a.txt) near the text",
    ]


def test_a_figure_must_come_from_the_passage_about_its_initiative(tmp_path: Path) -> None:
    filler = "Unrelated discussion of policy. " * 200  # about 6,400 characters
    text = (
        f"A Report Title\nIn Northtown, 41 per cent improved. {filler} "
        "In Southtown, 12 per cent did."
    )
    seeds = {tmp_path / "000_a.txt": text}

    def entry(place: str, value: float) -> _Entry:
        item = _Item("improved", value, "percent", 1)
        case = _Case([_Source("A Report Title")], [item], [], place=place)
        return _Entry(Path(f"content/{place.lower()}.md"), case)

    assert missing_figures([entry("Northtown", 41), entry("Southtown", 12)], seeds) == []
    assert missing_figures([entry("Northtown", 12)], seeds) == [
        "content/northtown.md: outcomes 'improved' value 12 (percent) not found in "
        "'A Report Title' (000_a.txt) near Northtown"
    ]
    assert missing_figures([entry("Easttown", 12)], seeds) == [
        "content/easttown.md: 'A Report Title' (000_a.txt) never names the initiative "
        "(looked for: Easttown)"
    ]


def test_a_funding_amount_must_be_in_a_source(tmp_path: Path) -> None:
    @dataclass
    class _Funding:
        amount_gbp: float

    seeds = {tmp_path / "000_a.txt": "A Report Title. The fund provides £4 million."}
    case = _Case([_Source("A Report Title")], [], [], funding=_Funding(4_000_000))
    assert missing_figures([_Entry(Path("content/x.md"), case)], seeds) == []
    case = _Case([_Source("A Report Title")], [], [], funding=_Funding(5_000_000))
    assert missing_figures([_Entry(Path("content/x.md"), case)], seeds) == [
        "content/x.md: funding amount_gbp 5e+06 (GBP) not found in any source"
    ]


def test_the_whole_of_a_part_must_be_in_the_source_too(tmp_path: Path) -> None:
    @dataclass
    class _Part(_Item):
        out_of: int | None = None

    seeds = {tmp_path / "000_a.txt": "A Report Title. 148 of 211 residents felt more connected."}

    def case(whole: int) -> _Case:
        return _Case([_Source("A Report Title")], [_Part("connected", 148, "people", 1, whole)], [])

    assert missing_figures([_Entry(Path("content/x.md"), case(211))], seeds) == []
    assert missing_figures([_Entry(Path("content/x.md"), case(212))], seeds) == [
        "content/x.md: outcomes 'connected' value 212 (people) not found in 'A Report Title' "
        "(000_a.txt) near the text"
    ]


def test_a_figure_citing_a_missing_source_is_reported(tmp_path: Path) -> None:
    seeds = {tmp_path / "000_a.txt": "A Report Title: 35 per cent."}
    case = _Case([_Source("A Report Title")], [_Item("x", 35, "percent", 2)], [])
    assert missing_figures([_Entry(Path("content/x.md"), case)], seeds) == [
        "content/x.md: 'x' cites source 2, but the file lists 1 sources"
    ]


def test_find_seed_needs_exactly_one_match(tmp_path: Path) -> None:
    seeds = {tmp_path / "a.txt": "Title one", tmp_path / "b.txt": "Title one and more"}
    with pytest.raises(LookupError, match="found in 2 seed files"):
        find_seed("title one", seeds)
    with pytest.raises(LookupError, match="found in 0 seed files"):
        find_seed("absent", seeds)


# --- the library check (needs the source texts) -----------------------------------------------


@pytest.fixture(scope="module")
def seeds() -> dict[Path, str]:
    folder = os.environ.get("KB_SEEDS_DIR")
    if not folder:
        pytest.skip("KB_SEEDS_DIR is not set: the source texts are needed to check provenance")
    paths = sorted(Path(folder).glob("*.txt"))
    if not paths:
        pytest.fail(f"KB_SEEDS_DIR={folder} holds no .txt source texts")
    return {path: path.read_text(encoding="utf-8") for path in paths}


# the publisher of the two source documents; case studies citing them are checked against their text
SEED_PUBLISHER = "NHS Confederation"


def seed_entries() -> list[Any]:
    """The case studies drawn from the two source documents (every source is one of them)."""
    from kb.check.library import load_library

    return [
        e
        for e in load_library(CONTENT_DIR)
        if all((s.publisher or "").startswith(SEED_PUBLISHER) for s in e.case.sources)
    ]


def test_every_cited_title_names_one_seed(seeds: dict[Path, str]) -> None:
    titles = {s.title for e in seed_entries() for s in e.case.sources}
    assert len(titles) == 2, titles
    for title in sorted(titles):
        find_seed(title, seeds)


def test_every_figure_is_in_its_cited_source(seeds: dict[Path, str]) -> None:
    entries = seed_entries()
    assert len(entries) >= 13
    figures = list(library_figures(entries))
    assert len(figures) >= 50, f"only {len(figures)} figures in the library"
    problems = missing_figures(entries, seeds)
    assert not problems, "\n".join(problems)
