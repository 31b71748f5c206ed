"""The case-study format: the front-matter of a case study, defined once, as pydantic models.

Controlled fields accept a vocabulary id, label or alias (any case) and hold the canonical id after
validation. The JSON Schema for editors (`kb schema`) and the contributor docs come from these
models, so they cannot drift from what is enforced. The module is long but reads better whole: it
is the format itself, top to bottom (values, figures and their cross-field rules, evidence,
sources, the case study), and each part leans on the vocabularies, unit sets and checks above it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from kb.format.vocab import load_vocabularies

__all__ = [
    "Amount",
    "CaseStudy",
    "ContextFigure",
    "Evidence",
    "Figure",
    "Funding",
    "Outcome",
    "Range",
    "Rationale",
    "Source",
]

ICS_START = "2022-07"  # integrated care systems became statutory on 1 July 2022
_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SUMMARY_MAX = 600
_STARTED = re.compile(r"^(19|20)\d{2}(-(0[1-9]|1[0-2]))?$")
_FULL_DATE = re.compile(r"^(19|20)\d{2}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")


def _vocab_id(attr: str, *, many: bool = False) -> Any:
    """A validator mapping a value to the id of vocabulary `attr`, or failing with a hint."""

    def check(value: str) -> str:
        vocabulary = getattr(load_vocabularies(), attr)
        found = vocabulary.resolve(value)
        if found is not None:
            return str(found)
        suggestion = vocabulary.suggest(value)
        several = vocabulary.split(value) if many else []
        if several:
            names = ", ".join(several)
            hint = f"this names {len(several)} values: write them as a list, [{names}]"
        elif suggestion:
            hint = f"did you mean '{suggestion}'?"
        elif len(vocabulary.terms) <= 12:
            hint = "allowed: " + ", ".join(t.id for t in vocabulary.terms)
        else:
            hint = f"run `kb vocab {attr}` for the allowed values, or add one to kb/data/vocab/"
        raise PydanticCustomError(
            "vocabulary",
            "'{value}' is not a known {kind}",
            {"value": value, "kind": vocabulary.name, "hint": hint},
        )

    return check


def _as_list(value: Any) -> Any:
    """Let a contributor write one value where a list is expected."""
    if isinstance(value, str):
        return [value]
    return value


def _no_duplicates(values: list[str]) -> list[str]:
    seen: list[str] = []
    for value in values:
        if value in seen:
            raise PydanticCustomError(
                "duplicate", "'{value}' is listed twice", {"value": value, "hint": "remove one"}
            )
        seen.append(value)
    return values


def VocabId(attr: str) -> Any:  # noqa: N802 - reads as a type in annotations
    """A single controlled value."""
    return Annotated[
        str,
        AfterValidator(_vocab_id(attr)),
        Field(json_schema_extra={"x-vocabulary": attr}),
    ]


def VocabList(attr: str, *, min_length: int = 0) -> Any:  # noqa: N802
    """A list of controlled values (one value alone is accepted)."""
    return Annotated[
        list[Annotated[str, AfterValidator(_vocab_id(attr, many=True))]],
        BeforeValidator(_as_list),
        AfterValidator(_no_duplicates),
        Field(min_length=min_length, json_schema_extra={"x-vocabulary": attr}),
    ]


def _started(value: Any) -> Any:
    if isinstance(value, date):
        return f"{value.year:04d}-{value.month:02d}"
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str) and _STARTED.match(value.strip()):
        return value.strip()
    if isinstance(value, str) and _FULL_DATE.match(value.strip()):  # '2023-04-01' read as text
        return value.strip()[:7]
    raise PydanticCustomError(
        "year_month",
        "'{value}' is not a year or year-month",
        {"value": value, "hint": "write 2023 or 2023-04"},
    )


YearMonth = Annotated[
    str,
    BeforeValidator(_started),
    Field(pattern=_STARTED.pattern, json_schema_extra={"examples": [2023, "2023-04"]}),
]
Text = Annotated[str, Field(min_length=1)]


def _year_text(value: Any) -> Any:
    """A timeframe YAML read as a number because it is a bare year (2021) is that year's text."""
    if isinstance(value, int) and not isinstance(value, bool) and 1800 <= value <= 2200:
        return str(value)
    return value


# a period as the source states it: 'first year of the pilot', '2019/20', or a bare year
Period = Annotated[
    str,
    BeforeValidator(_year_text),
    WithJsonSchema(
        {"anyOf": [{"type": "string"}, {"type": "integer", "minimum": 1800, "maximum": 2200}]}
    ),
]


def _figure_value_tag(value: Any) -> str:
    return "range" if isinstance(value, dict) else "number"


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        hint = "write digits only, such as 1000 or 3.5; put the unit in 'unit'"
        if isinstance(value, str):
            hint += " and words like 'about' or 'over' in 'qualifier'"
        raise PydanticCustomError(
            "number", "'{value}' is not a number", {"value": value, "hint": hint}
        )
    return value


def _finite(value: float | int) -> float | int:
    if isinstance(value, float) and not math.isfinite(value):
        raise PydanticCustomError(
            "number",
            "'{value}' is not a finite number",
            {"value": value, "hint": "write the figure in digits, such as 1000 or 3.5"},
        )
    return value


Number = Annotated[float | int, BeforeValidator(_number), AfterValidator(_finite)]
QUALIFIERS = ("about", "nearly", "at-least", "more-than", "up-to", "less-than")
# the words a source uses for each qualifier, as a contributor may copy them
QUALIFIER_WORDS = {
    "approximately": "about", "approx": "about", "approx.": "about", "around": "about",
    "roughly": "about", "circa": "about", "c.": "about", "some": "about",
    "almost": "nearly", "just under": "nearly",
    "at least": "at-least", "a minimum of": "at-least",
    "over": "more-than", "more than": "more-than", "above": "more-than",
    "greater than": "more-than", "in excess of": "more-than", "upwards of": "more-than",
    "up to": "up-to", "as many as": "up-to", "as much as": "up-to",
    "less than": "less-than", "fewer than": "less-than", "under": "less-than",
    "below": "less-than",
}  # fmt: skip


def _word_for(words: dict[str, str], ids: tuple[str, ...]) -> Any:
    """A before-validator: an id in any case, or one of `words` for it; else the value as given
    (the field's own check then lists the ids)."""

    def read(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        text = " ".join(value.strip().lower().replace("_", "-").split())
        if text in ids:
            return text
        return words.get(text, words.get(text.replace("-", " "), value))

    return BeforeValidator(read)


Qualifier = Annotated[
    Literal["about", "nearly", "at-least", "more-than", "up-to", "less-than"],
    _word_for(QUALIFIER_WORDS, QUALIFIERS),
]

# the words a contributor may write for an outcome's direction and status ('fell' is decrease)
DIRECTION_WORDS = {
    "up": "increase", "rise": "increase", "rose": "increase", "increased": "increase",
    "higher": "increase", "more": "increase",
    "down": "decrease", "fall": "decrease", "fell": "decrease", "decreased": "decrease",
    "lower": "decrease", "fewer": "decrease", "less": "decrease", "reduced": "decrease",
    "reduction": "decrease",
    "no change": "no-change", "unchanged": "no-change",
    "same": "no-change", "no difference": "no-change", "stable": "no-change",
}  # fmt: skip
STATUS_SYNONYMS = {
    "measured": "achieved", "actual": "achieved", "observed": "achieved",
    "estimate": "estimated", "modelled": "estimated", "modeled": "estimated",
    "projected": "estimated", "projection": "estimated", "forecast": "estimated",
    "predicted": "estimated",
    "aim": "target", "goal": "target", "ambition": "target", "planned": "target",
    "targeted": "target",
}  # fmt: skip

Direction = Annotated[
    Literal["increase", "decrease", "no-change"],
    _word_for(DIRECTION_WORDS, ("increase", "decrease", "no-change")),
]
Status = Annotated[
    Literal["achieved", "estimated", "target"],
    _word_for(STATUS_SYNONYMS, ("achieved", "estimated", "target")),
]

# units whose figures are rates of a population named in 'denominator'
RATE_UNITS = frozenset({"rate-per-1000", "rate-per-10000", "rate-per-100000"})
# '1 in 240': a level whose value is the N; like a rate, it names whom it counts in 'denominator'
ONE_IN = "one-in"
DENOMINATOR_UNITS = RATE_UNITS | {ONE_IN}
# units whose figures are on a named scale given in 'scale'
SCALE_UNITS = frozenset({"score", "scale-points"})
# units that count whole things, so a figure in one may be part of a whole given in 'out_of'
COUNT_UNITS = frozenset(
    {"count", "people", "households", "organisations", "practices", "visits", "admissions"}
)
_OUT_OF_EXAMPLE = "for '148 of 211 residents' write value: 148, unit: people, out_of: 211"


def _whole(value: Any) -> Any:
    """'out_of': one whole number above zero, the whole that a count is part of."""
    if isinstance(value, dict):
        raise PydanticCustomError(
            "out_of",
            "'out_of' is one number, not a range",
            {"hint": "give the whole as the source gives it; a range of wholes goes in 'note'"},
        )
    value = _finite(_number(value))
    if isinstance(value, float):
        if not value.is_integer():
            raise PydanticCustomError(
                "out_of",
                "'out_of' must be a whole number",
                {"hint": f"'out_of' counts the whole: {_OUT_OF_EXAMPLE}"},
            )
        value = int(value)
    if value <= 0:
        raise PydanticCustomError(
            "out_of",
            "'out_of' must be more than zero",
            {"hint": f"'out_of' counts the whole: {_OUT_OF_EXAMPLE}"},
        )
    return value


Whole = Annotated[int, BeforeValidator(_whole), Field(json_schema_extra={"exclusiveMinimum": 0})]


def _out_of_unit_hint(unit: str, *, has_also: bool) -> str:
    """Why a figure in `unit` has no 'out_of', and what to write instead."""
    if unit == "percent":
        also = ", with the percentage in 'also'" if has_also else ""
        return (
            "a percentage is already a share of its whole: remove 'out_of' (say what the whole "
            f"is in 'metric' or 'note'), or give the count{also}: {_OUT_OF_EXAMPLE}"
        )
    if unit == "percentage-points":
        return "percentage points measure a change in a share: remove 'out_of'"
    if unit in DENOMINATOR_UNITS:
        return (
            "a rate or a '1 in N' has its whole already: name whom it counts in 'denominator', "
            "not 'out_of'"
        )
    if unit in SCALE_UNITS:
        return "for a score 'out of 5', name the scale in 'scale' (scale: 'feedback, out of 5')"
    units = ", ".join(sorted(COUNT_UNITS))
    return (
        f"'out_of' is the whole that a count is part of ({_OUT_OF_EXAMPLE}); it goes with "
        f"unit: {units}. Say any other whole in 'note'"
    )


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class Range(_Strict):
    """A figure given as a range, such as 25 to 35 per cent."""

    low: Number
    high: Number

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.low > self.high:
            raise PydanticCustomError(
                "range_order",
                "the range's low ({low}) is above its high ({high})",
                {"low": self.low, "high": self.high, "field": "low", "hint": "swap the two values"},
            )
        return self


FigureValue = Annotated[
    Annotated[Number, Tag("number")] | Annotated[Range, Tag("range")],
    Discriminator(_figure_value_tag),
]


class Amount(_Strict):
    """The same figure in another unit, e.g. the 25% behind '598 fewer visits a month'."""

    value: FigureValue = Field(description="A number, or {low: .., high: ..} for a range.")
    unit: VocabId("units") = Field(description="GBP, percent, people, count, days, ...")  # type: ignore[valid-type]
    qualifier: Qualifier | None = Field(
        None,
        description="When the source says 'about', 'nearly', 'over', 'up to' and so on: "
        "about, nearly, at-least, more-than, up-to or less-than, or the source's word "
        "('over' is read as more-than).",
    )
    denominator: str | None = Field(
        None, description="Whom a rate or a '1 in N' counts, e.g. 'people tested'; for a "
        "percentage, what it is a share of ('17.4% of people tested')."
    )
    measure: Literal["change", "level"] | None = Field(
        None,
        description="change: how far an outcome's level moved from its baseline, in this unit "
        "(the 40% behind 'from 440 to 266 per 100,000'); left out: the same figure in another "
        "unit (the 87% behind '2,456 of 2,823 people').",
    )

    @model_validator(mode="after")
    def _unit_details(self) -> Amount:
        _check_denominator(self.unit, self.denominator, self.value)
        return self


def _check_denominator(unit: str | None, denominator: str | None, value: Any) -> None:
    """'denominator' goes with a rate, a '1 in N' or a percentage; the N of a '1 in N' is 1 or
    more."""
    if denominator is not None and unit not in DENOMINATOR_UNITS | {"percent"}:
        raise PydanticCustomError(
            "denominator",
            "'denominator' goes with a rate, a '1 in N' or a percentage, not '{unit}'",
            {
                "unit": unit,
                "field": "denominator",
                "hint": "use unit: rate-per-100000 (or rate-per-1000, or one-in for '1 in 240', "
                "or percent for '17.4% of people tested'), or remove 'denominator'",
            },
        )
    if unit == ONE_IN and value is not None:
        low = value.low if isinstance(value, Range) else value
        if low < 1:
            raise PydanticCustomError(
                "one_in",
                "a '1 in N' figure needs N of 1 or more, not {value}",
                {
                    "value": low,
                    "field": "value",
                    "hint": "for '1 in 240' write value: 240, unit: one-in; a share below one in "
                    "one is a percentage (unit: percent)",
                },
            )


class Figure(_Strict):
    """A number the sources give, with what it counts and where it comes from."""

    metric: Text = Field(
        description="What is counted, in plain words, e.g. 'falls-related admissions'."
    )
    value: FigureValue = Field(description="A number, or {low: .., high: ..} for a range.")
    qualifier: Qualifier | None = Field(
        None,
        description="When the source says 'about', 'nearly', 'over', 'up to' and so on: "
        "about, nearly, at-least, more-than, up-to or less-than, or the source's word "
        "('over' is read as more-than).",
    )
    unit: VocabId("units") = Field(description="GBP, percent, people, count, days, ...")  # type: ignore[valid-type]
    scale: str | None = Field(
        None, description="The named scale of a 'score' or 'scale-points' figure, e.g. WEMWBS."
    )
    denominator: str | None = Field(
        None,
        description="Whom a rate or a '1 in N' counts, e.g. 'smokers' for 'per 100,000 "
        "smokers', 'people tested' for '1 in 240 people tested'; for a percentage, what it is "
        "a share of ('17.4% of people tested').",
    )
    out_of: Whole | None = Field(
        None,
        description="The whole a count is part of: 211 for '148 of 211 residents' (a whole "
        "number, with a count unit such as people, count or households).",
    )
    timeframe: Period = Field(
        "not stated", description="The period the figure covers, as the source states it."
    )
    comparator: str = Field(
        "not stated", description="What the figure is compared with, if anything."
    )
    source: int = Field(
        1, ge=1, strict=True, description="Which entry of `sources` gives it (1 = the first)."
    )
    page: str | int | None = Field(None, description="Page number or section of the source.")
    note: str | None = Field(None, description="Anything a reader needs to read the figure right.")


    @model_validator(mode="after")
    def _unit_details(self) -> Figure:
        _check_denominator(self.unit, self.denominator, self.value)
        return self

    @model_validator(mode="after")
    def _part_of_whole(self) -> Figure:
        """'148 of 211': a count in a count unit, a whole number, no more than its whole."""
        if self.out_of is None or self.value is None or self.unit is None:
            return self  # an outcome without a number is told so by its own check
        if self.unit not in COUNT_UNITS:
            has_also = "also" in type(self).model_fields
            raise PydanticCustomError(
                "out_of",
                "'out_of' goes with a count, not '{unit}'",
                {
                    "unit": self.unit,
                    "field": "out_of",
                    "hint": _out_of_unit_hint(self.unit, has_also=has_also),
                },
            )
        value = self.value
        low, high = (value.low, value.high) if isinstance(value, Range) else (value, value)
        shown = f"{low:g} to {high:g}" if isinstance(value, Range) else f"{low:g}"
        if not (float(low).is_integer() and float(high).is_integer()):
            raise PydanticCustomError(
                "out_of",
                "with 'out_of' the value counts part of a whole, so {value} must be a whole number",
                {
                    "value": shown,
                    "field": "value",
                    "hint": "for a share such as 50.8%, write unit: percent and remove 'out_of'; "
                    f"otherwise give the count: {_OUT_OF_EXAMPLE}",
                },
            )
        if low < 0:
            raise PydanticCustomError(
                "out_of",
                "with 'out_of' the value counts part of a whole, so {value} cannot be below zero",
                {
                    "value": shown,
                    "field": "value",
                    "hint": f"give the count the source gives: {_OUT_OF_EXAMPLE}",
                },
            )
        if high > self.out_of:
            raise PydanticCustomError(
                "out_of",
                "the value ({value}) is more than its whole, 'out_of' ({out_of})",
                {
                    "value": shown,
                    "out_of": self.out_of,
                    "field": "out_of",
                    "hint": "'out_of' is the whole the value is part of (a range's high too): "
                    f"{_OUT_OF_EXAMPLE}; check the two numbers count the same things",
                },
            )
        return self


class ContextFigure(Figure):
    """A figure describing the setting or scale (a budget, a population, a number of practices)."""


class Outcome(Figure):
    """A result, an estimate or a target: `status` keeps an estimate from reading as a result.

    An outcome the source states without a number ('fewer evictions') leaves out `value` and
    `unit`; `measure` says whether the value is the size of a change or a level.
    """

    value: FigureValue | None = Field(  # type: ignore[assignment]
        None,
        description="A number, or {low: .., high: ..} for a range; leave out when the source "
        "gives no number.",
    )
    unit: VocabId("units") | None = Field(  # type: ignore[valid-type]
        None, description="GBP, percent, people, count, days, ... (with a value)."
    )
    measure: Literal["change", "level"] = Field(
        "change",
        description="change: the value is the size of a change ('12 fewer'); "
        "level: a level observed or reached ('76% had', 'a quit rate of 8.8%'); "
        "write it always (a change if left out)."
    )
    direction: Direction | None = Field(
        None,
        description="Which way it went (or is to go); required for a change, optional for a "
        "level.",
    )
    baseline: Number | None = Field(
        None, description="The level before, in the same unit, for a level ('from 12% to 8.8%')."
    )
    comparison: Number | None = Field(
        None,
        description="The comparison group's level over the same time, in the same unit, for a "
        "level ('5.1% of births were preterm, against 11.2% with usual care'); say who the "
        "group is in 'comparator'.",
    )
    also: list[Amount] = Field(
        default_factory=list,
        description="The same result in other units, e.g. a percentage beside a count.",
    )
    status: Status = Field(
        description="achieved: measured; estimated: modelled or projected; target: an aim."
    )
    kind: VocabId("outcome_kinds") = Field(  # type: ignore[valid-type]
        description="health, service-use, financial, experience, process, wider-determinants"
    )
    # an outcome must say when, against what and where from: 'not stated' when the source is silent
    timeframe: Annotated[Period, Field(min_length=1)] = Field(
        description="The period the figure covers, as the source states it; 'not stated' when "
        "the source does not say."
    )
    comparator: Text = Field(
        description="What the figure is compared with; 'not stated' (or 'none') when nothing."
    )
    source: int = Field(
        ge=1, strict=True, description="Which entry of `sources` gives it (1 = the first)."
    )

    @property
    def numeric(self) -> bool:
        """True when the outcome carries a number."""
        return self.value is not None

    @model_validator(mode="after")
    def _shape(self) -> Outcome:
        """The cross-field rules of an outcome, in order: the first one broken is the error."""
        for check in _WITHOUT_VALUE if self.value is None else _WITH_VALUE:
            error = check(self)
            if error is not None:
                raise error
        return self


def _shape_error(code: str, message: str, field: str, hint: str) -> PydanticCustomError:
    """An outcome's shape error: what is wrong, the field to fix and how."""
    return PydanticCustomError(code, message, {"field": field, "hint": hint})


_OutcomeCheck = Callable[[Outcome], PydanticCustomError | None]


# ---- an outcome stated without a number ('fewer evictions') ----


def _unit_without_value(outcome: Outcome) -> PydanticCustomError | None:
    """missing_value: a unit belongs to a value."""
    if outcome.unit is None:
        return None
    return _shape_error(
        "missing_value",
        "a unit is given but no value",
        "value",
        "add the value, or remove 'unit' for an outcome stated without a number",
    )


def _direction_without_value(outcome: Outcome) -> PydanticCustomError | None:
    """missing_direction: without a number, the direction is what the outcome says."""
    if outcome.direction is not None:
        return None
    return _shape_error(
        "missing_direction",
        "an outcome without a number needs a direction",
        "direction",
        "add direction: increase, decrease or no-change ('fewer evictions': decrease)",
    )


def _extras_without_value(outcome: Outcome) -> PydanticCustomError | None:
    """missing_value: the fields that qualify a value need one."""
    for name in ("baseline", "comparison", "also", "qualifier", "out_of"):
        if getattr(outcome, name):
            return _shape_error(
                "missing_value",
                f"'{name}' needs a value",
                name,
                f"add the value, or remove '{name}'",
            )
    return None


# ---- an outcome with a number ----


def _missing_unit(outcome: Outcome) -> PydanticCustomError | None:
    """missing_unit: a value has a unit."""
    if outcome.unit is not None:
        return None
    return _shape_error(
        "missing_unit",
        "'unit' is required with a value",
        "unit",
        "add the unit, e.g. unit: percent; `kb vocab units` lists them",
    )


def _out_of_change(outcome: Outcome) -> PydanticCustomError | None:
    """out_of: part of a whole is a level reached, not the size of a change."""
    if outcome.out_of is None or outcome.measure != "change":
        return None
    return _shape_error(
        "out_of",
        "'out_of' goes with measure: level",
        "out_of",
        "'148 of 211' is a level reached, not the size of a change: write measure: level "
        "(with a direction if it rose or fell); for a change in a share, give it in "
        "percent or percentage-points without 'out_of'",
    )


def _out_of_baseline(outcome: Outcome) -> PydanticCustomError | None:
    """out_of: the whole is the value's alone, so an earlier level cannot share it."""
    if outcome.out_of is None or outcome.baseline is None:
        return None
    return _shape_error(
        "out_of",
        "'baseline' and 'out_of' do not go together",
        "baseline",
        "'out_of' is the whole of the value alone, and the earlier level may be part of "
        "another whole: give it in 'comparator' (e.g. '232 of 423 in 2015/16'), or give "
        "both levels in percent with 'baseline' and no 'out_of'",
    )


def _one_in_level(outcome: Outcome) -> PydanticCustomError | None:
    """one_in: '1 in N' is a level, with no baseline."""
    if outcome.unit != ONE_IN or (outcome.measure != "change" and outcome.baseline is None):
        return None
    return _shape_error(
        "one_in",
        "a '1 in N' figure is a level: it goes with measure: level and no 'baseline'",
        "measure",
        "write measure: level for '1 in 240 people tested'; for how it changed, give the "
        "earlier figure in 'comparator' (e.g. '1 in 300 in 2022'), or use a rate with "
        "'baseline'",
    )


def _change_direction(outcome: Outcome) -> PydanticCustomError | None:
    """missing_direction: a change says which way it went."""
    if outcome.measure != "change" or outcome.direction is not None:
        return None
    return _shape_error(
        "missing_direction",
        "a change needs a direction",
        "direction",
        "add direction: increase, decrease or no-change; or, if the value is a level "
        "reached rather than the size of a change, write measure: level",
    )


def _baseline_level(outcome: Outcome) -> PydanticCustomError | None:
    """baseline: the level before goes with a level reached."""
    if outcome.baseline is None or outcome.measure == "level":
        return None
    return _shape_error(
        "baseline",
        "'baseline' goes with measure: level",
        "baseline",
        "for 'from 12% to 8.8%' write value: 8.8, baseline: 12, measure: level",
    )


def _comparison_level(outcome: Outcome) -> PydanticCustomError | None:
    """comparison: the comparison group's level goes with a level."""
    if outcome.comparison is None or outcome.measure == "level":
        return None
    return _shape_error(
        "comparison",
        "'comparison' goes with measure: level",
        "comparison",
        "give the two groups' levels (value: 5.1, comparison: 11.2, measure: level) and "
        "the difference in 'also' or 'note'; for two changes, give each in 'note'",
    )


def _also_change(outcome: Outcome) -> PydanticCustomError | None:
    """also: a change beside a level needs the level it moved from, and which way."""
    moved = outcome.baseline is not None and outcome.direction in ("increase", "decrease")
    if outcome.measure != "level" or moved or not any(a.measure == "change" for a in outcome.also):
        return None
    return _shape_error(
        "also",
        "a change in 'also' needs the level it moved from: this outcome has no "
        "'baseline' and direction increase or decrease",
        "also",
        "give the earlier level in 'baseline' and the direction (from 440 to 266: "
        "value: 266, baseline: 440, direction: decrease, also: [{value: 40, unit: "
        "percent, measure: change}]), or remove 'measure' from the 'also' item if it is "
        "the same level in another unit",
    )


def _top_of(value: Any) -> float:
    """The number of a value, or the high end of a range."""
    return float(value.high if isinstance(value, Range) else value)


def _fall_beyond_whole(outcome: Outcome) -> PydanticCustomError | None:
    """percent: a percentage fall is at most 100% (all of it gone), in 'value' or 'also'."""
    if outcome.direction != "decrease":
        return None
    amounts: list[tuple[str, Outcome | Amount]] = [("value", outcome)]
    amounts += [("also", amount) for amount in outcome.also]
    for field_name, amount in amounts:
        if amount.unit == "percent" and amount.measure == "change" and _top_of(amount.value) > 100:
            return _shape_error(
                "percent",
                f"a fall of {_top_of(amount.value):g}% is more than all of it: a percentage "
                "fall is at most 100%",
                field_name,
                "check the figure against the source: a level reached is measure: level; a "
                "number that fell to a fraction ('2.4 times fewer') is unit: ratio; a rise is "
                "direction: increase",
            )
    return None


# what a percentage above 100 can be a percentage of (a share of people cannot pass 100%)
_CAN_EXCEED = re.compile(
    r"\b(target|average|baseline|expected|plan(ned)?|trajectory|previous|last year|national|"
    r"england|budget|capacity|benchmark|predicted)\b",
    re.IGNORECASE,
)


def _share_beyond_whole(outcome: Outcome) -> PydanticCustomError | None:
    """percent: a share is at most 100%, unless 'denominator' names what it may exceed."""
    if outcome.unit != "percent" or outcome.measure == "change":
        return None
    over = [v for v in (outcome.value, outcome.baseline, outcome.comparison) if v is not None]
    if not any(_top_of(v) > 100 for v in over):
        return None
    if outcome.denominator and _CAN_EXCEED.search(outcome.denominator):
        return None
    return _shape_error(
        "percent",
        "a share above 100%: a percentage level is a share of a whole, at most 100%",
        "value",
        "check the figure against the source; if it is a percentage of something it can "
        "pass (a target, an average), say so in denominator ('of the target'); a count goes "
        "in unit: people or count",
    )


# a metric that names a saving (a saving is an amount reached, never a rise)
_SAVING = re.compile(r"\b(saving|savings|saved|save|costs? avoided|avoided costs?)\b", re.I)


def _saving_as_increase(outcome: Outcome) -> PydanticCustomError | None:
    """saving: a saving written as a change that went up reads as costs going up."""
    if outcome.measure != "change" or outcome.direction != "increase":
        return None
    if outcome.unit != "GBP" and outcome.kind != "financial":
        return None
    if not _SAVING.search(outcome.metric):
        return None
    return _shape_error(
        "saving",
        "a saving written as an increase: the site would show it as a rise",
        "direction",
        "write a saving as an amount: measure: level and no direction (metric: 'NHS saving "
        "from fewer attendances', value: 132720, unit: GBP); or, as a fall in a cost, metric: "
        "'cost of attendances', measure: change, direction: decrease",
    )


# Outcome._shape runs one of these lists, in order, and raises the first error found.
_WITHOUT_VALUE: tuple[_OutcomeCheck, ...] = (
    _unit_without_value,
    _direction_without_value,
    _extras_without_value,
)
_WITH_VALUE: tuple[_OutcomeCheck, ...] = (
    _missing_unit,
    _out_of_change,
    _out_of_baseline,
    _one_in_level,
    _change_direction,
    _baseline_level,
    _comparison_level,
    _also_change,
    _fall_beyond_whole,
    _share_beyond_whole,
    _saving_as_increase,
)


def _evidence_level(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip().lower().replace(" ", "-").replace("_", "-")
        if text.isdigit():
            return int(text)
        if text in ("not-assessed", "unassessed", "none"):
            return "not-assessed"
    return value


EvidenceLevel = Annotated[
    Annotated[int, Field(ge=1, le=5)] | Literal["not-assessed"],
    BeforeValidator(_evidence_level),
]


# evidence methods that say there is none to name: they cannot stand beside another
_METHODS_ALONE = frozenset({"not-stated", "none-yet"})


class Evidence(_Strict):
    """How sure we are: the Nesta level and the method behind it."""

    level: EvidenceLevel = Field(
        description="Nesta Standards of Evidence level, 1 to 5, or not-assessed when the sources "
        "give too little to judge (say why in rationale.evidence)."
    )
    method: VocabList("evidence_methods", min_length=1) = Field(  # type: ignore[valid-type]
        description="How the evidence was gathered, e.g. before-and-after, comparison-group; "
        "a list where it was gathered in more than one way ([comparison-group, qualitative])."
    )
    evaluator: str | None = Field(None, description="Who evaluated it, if anyone.")

    @model_validator(mode="after")
    def _methods_agree(self) -> Evidence:
        alone = [m for m in self.method if m in _METHODS_ALONE]
        if alone and len(self.method) > 1:
            raise PydanticCustomError(
                "method",
                "'{method}' says there is no method to name, so it goes alone",
                {
                    "method": alone[0],
                    "field": "method",
                    "hint": f"remove '{alone[0]}', or keep it and remove the other methods",
                },
            )
        return self

    @property
    def rank(self) -> int:
        """The level as a number for filtering and sorting: 0 when not assessed."""
        return self.level if isinstance(self.level, int) else 0
    note: str | None = Field(None, description="What a reader should know about the evidence.")


def _http_url(value: str | None) -> str | None:
    if value is not None and not re.match(r"^https?://[^\s<>\"']+$", value):
        raise PydanticCustomError(
            "url",
            "'{value}' is not a web address",
            {
                "value": value,
                "hint": "write a full address starting with https:// (or http:// for a page "
                "served only over http)",
            },
        )
    return value


# what a source that names no publisher may say instead of leaving the line out
_NO_PUBLISHER = re.compile(r"^\s*not\s+stated\.?\s*$", re.IGNORECASE)


def _publisher(value: Any) -> Any:
    """'not stated' (any case) means no publisher is named: the same as leaving the line out."""
    return None if isinstance(value, str) and _NO_PUBLISHER.match(value) else value


class Source(_Strict):
    """A published source of the case study's facts and figures."""

    title: Text = Field(
        description="The title as published; for a page that shows none, a description in "
        "square brackets ('[Conference abstract on alcohol liaison nurses]')."
    )
    publisher: Annotated[Text | None, BeforeValidator(_publisher)] = Field(
        None,
        description="Who published it, as the source names it; leave out (or write 'not "
        "stated') when it names none.",
    )
    year: int | None = Field(
        None,
        ge=1900,
        le=2100,
        strict=True,
        description="Year of publication; leave out when undated.",
    )
    url: Annotated[str | None, AfterValidator(_http_url)] = Field(
        None,
        description="The web address, if there is one: https://, or http:// for a page served "
        "only over http.",
    )
    section: str | None = Field(None, description="Chapter or section the case study draws on.")
    accessed: date | None = Field(
        None,
        description="The day you read the web page (YYYY-MM-DD); give it for every source with "
        "a url (the validator warns when it is missing).",
    )
    note: str | None = Field(None, description="Anything a reader should know about the source.")


class Funding(_Strict):
    """How the initiative was paid for, where the source says."""

    source: str | None = Field(None, description="Who paid, e.g. the ICB or a national fund.")
    amount_gbp: Number | None = Field(None, description="The amount in pounds, digits only.")
    recurrent: bool | None = Field(
        None, strict=True, description="true if the money recurs each year."
    )
    note: str | None = Field(None, description="Anything else about the money.")


# the tag fields every case study gives a reason for in 'rationale' (why these tags, or why none)
REASONED_FIELDS = (
    "tiers", "kaiser_level", "meps", "three_cs", "enablers", "challenges", "drivers", "topics",
    "evidence",
)  # fmt: skip


class Rationale(_Strict):
    """One line per tag field saying why the tags were chosen (they are editorial judgements)."""

    tiers: str | None = None
    kaiser_level: str | None = None
    meps: str | None = None
    three_cs: str | None = None
    enablers: str | None = None
    challenges: str | None = None
    drivers: str | None = None
    topics: str | None = None
    evidence: str | None = None
    level: str | None = None
    status: str | None = None


class CaseStudy(_Strict):
    """The front-matter of one case study."""

    id: str = Field(
        pattern=_ID.pattern,
        max_length=80,
        description="kebab-case, equal to the file name without .md",
    )
    title: Text = Field(
        max_length=120, description="The initiative in a few words, with its place."
    )
    summary: Text = Field(
        max_length=SUMMARY_MAX, description="One to three sentences for a busy leader."
    )
    organisations: list[Text] = Field(min_length=1, description="Who led it.")
    partners: list[Text] = Field(default_factory=list, description="Who else took part.")
    ics: VocabList("ics") = Field(  # type: ignore[valid-type]
        default_factory=list,
        description="The ICS (or ICSs) as named when the initiative ran; for work begun before "
        "July 2022, the ICS that covers the place (and give 'place'); empty for national work.",
    )
    region: VocabList("regions") = Field(  # type: ignore[valid-type]
        default_factory=list, description="NHS England region(s); must agree with the ICS."
    )
    place: str | None = Field(None, description="The place (town, borough, county) if narrower.")
    level: VocabList("levels") = Field(  # type: ignore[valid-type]
        default_factory=list, description="The level of the system the work runs at."
    )
    started: YearMonth | None = Field(None, description="Year, or year-month, it began.")
    ended: YearMonth | None = Field(None, description="Year, or year-month, it ended.")
    status: VocabId("statuses") | None = Field(  # type: ignore[valid-type]
        None, description="Where it stands: idea, pilot, scaling, established or ended."
    )
    tiers: VocabList("tiers", min_length=1) = Field(  # type: ignore[valid-type]
        description="Prevention tiers: wider determinants, primary, secondary, tertiary."
    )
    kaiser_level: VocabList("kaiser") = Field(  # type: ignore[valid-type]
        default_factory=list, description="Levels of the Kaiser pyramid it reaches."
    )
    meps: VocabList("meps") = Field(  # type: ignore[valid-type]
        default_factory=list, description="MEPS: medical, environmental, public, social."
    )
    three_cs: VocabList("three_cs") = Field(  # type: ignore[valid-type]
        default_factory=list,
        description="The 3Cs barriers it overcame: clarity, congruity, capacity.",
    )
    enablers: VocabList("enablers") = Field(  # type: ignore[valid-type]
        default_factory=list, description="What made it work, from the report's enablers."
    )
    challenges: VocabList("challenges") = Field(  # type: ignore[valid-type]
        default_factory=list, description="What got in the way, from the report's barriers."
    )
    drivers: VocabList("drivers") = Field(  # type: ignore[valid-type]
        default_factory=list, description="The guide's drivers of short-term impact it shows."
    )
    topics: VocabList("topics") = Field(  # type: ignore[valid-type]
        default_factory=list, description="What it is about (falls, housing, ...)."
    )
    cohort: str | None = Field(None, description="Who the initiative is for.")
    interventions: list[Text] = Field(default_factory=list, description="What was done, briefly.")
    funding: Funding | None = Field(None, description="How it was paid for, where stated.")
    outcomes: list[Outcome] = Field(
        default_factory=list, description="Results, estimates and targets, each with its figure."
    )
    outcomes_note: str | None = Field(
        None,
        description="What a reader should know about the outcomes, e.g. that the sources give "
        "no figures.",
    )
    context_figures: list[ContextFigure] = Field(
        default_factory=list, description="Figures about the setting or scale, not results."
    )
    evidence: Evidence = Field(description="How sure we are: Nesta level and method.")
    sources: list[Source] = Field(min_length=1, description="Where the facts come from.")
    reviewed: date | None = Field(
        None,
        description="The day the entry was last checked against its sources (YYYY-MM-DD); the "
        "validator warns when it is missing. After 24 months, or once every web source was read "
        "more than 24 months ago, the case study is due for review and its page says so.",
    )
    rationale: Rationale | None = Field(
        None, description="One line per tag field saying why those tags were chosen."
    )

    @model_validator(mode="after")
    def _dates_in_order(self) -> CaseStudy:
        if self.started and self.ended and self.ended < self.started:
            raise PydanticCustomError(
                "date_order",
                "'ended' ({ended}) is before 'started' ({started})",
                {
                    "ended": self.ended,
                    "started": self.started,
                    "field": "ended",
                    "hint": "check the two years",
                },
            )
        return self

    @property
    def figures(self) -> list[Figure]:
        """Outcomes and context figures together."""
        return [*self.outcomes, *self.context_figures]
