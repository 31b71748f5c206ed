"""The case-study format: the front-matter of a case study, defined once, as pydantic models.

Controlled fields accept a vocabulary id, label or alias (any case) and hold the canonical id after
validation. The JSON Schema for editors (`kb schema`) and the contributor docs come from these
models, so they cannot drift from what is enforced.
"""

from __future__ import annotations

import re
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
    model_validator,
)
from pydantic_core import PydanticCustomError

from kb.vocab import load_vocabularies

__all__ = [
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

_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_STARTED = re.compile(r"^(19|20)\d{2}(-(0[1-9]|1[0-2]))?$")


def _vocab_id(attr: str) -> Any:
    """A validator mapping a value to the id of vocabulary `attr`, or failing with a hint."""

    def check(value: str) -> str:
        vocabulary = getattr(load_vocabularies(), attr)
        found = vocabulary.resolve(value)
        if found is not None:
            return str(found)
        suggestion = vocabulary.suggest(value)
        if suggestion:
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
        list[Annotated[str, AfterValidator(_vocab_id(attr))]],
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


Number = Annotated[float | int, BeforeValidator(_number)]


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


class Figure(_Strict):
    """A number the sources give, with what it counts and where it comes from."""

    metric: Text = Field(
        description="What is counted, in plain words, e.g. 'falls-related admissions'."
    )
    value: FigureValue = Field(description="A number, or {low: .., high: ..} for a range.")
    qualifier: Literal["about", "at-least", "more-than", "up-to", "less-than"] | None = Field(
        None, description="When the source says 'about', 'over', 'up to' and so on."
    )
    unit: VocabId("units") = Field(description="GBP, percent, people, count, days, ...")  # type: ignore[valid-type]
    timeframe: str = Field(
        "not stated", description="The period the figure covers, as the source states it."
    )
    comparator: str = Field(
        "not stated", description="What the figure is compared with, if anything."
    )
    source: int = Field(1, ge=1, description="Which entry of `sources` gives it (1 = the first).")
    page: str | int | None = Field(None, description="Page number or section of the source.")
    note: str | None = Field(None, description="Anything a reader needs to read the figure right.")


class ContextFigure(Figure):
    """A figure describing the setting or scale (a budget, a population, a number of practices)."""


class Outcome(Figure):
    """A result, an estimate or a target: `status` keeps an estimate from reading as a result."""

    direction: Literal["increase", "decrease", "no-change"] = Field(
        description="Whether the figure went (or is to go) up or down."
    )
    status: Literal["achieved", "estimated", "target"] = Field(
        description="achieved: measured; estimated: modelled or projected; target: an aim."
    )
    kind: VocabId("outcome_kinds") = Field(  # type: ignore[valid-type]
        description="health, service-use, financial, experience, process, wider-determinants"
    )


class Evidence(_Strict):
    """How sure we are: the Nesta level and the method behind it."""

    level: int = Field(ge=1, le=5, description="Nesta Standards of Evidence level, 1 to 5.")
    method: VocabId("evidence_methods") = Field(  # type: ignore[valid-type]
        description="How the evidence was gathered, e.g. before-and-after, comparison-group."
    )
    evaluator: str | None = Field(None, description="Who evaluated it, if anyone.")
    note: str | None = None


def _http_url(value: str | None) -> str | None:
    if value is not None and not re.match(r"^https?://[^\s<>\"']+$", value):
        raise PydanticCustomError(
            "url",
            "'{value}' is not a web address",
            {"value": value, "hint": "write a full address starting with https://"},
        )
    return value


class Source(_Strict):
    """A published source of the case study's facts and figures."""

    title: Text
    publisher: Text
    year: int = Field(ge=1900, le=2100)
    url: Annotated[str | None, AfterValidator(_http_url)] = None
    section: str | None = Field(None, description="Chapter or section the case study draws on.")


class Funding(_Strict):
    """How the initiative was paid for, where the source says."""

    source: str | None = None
    amount_gbp: Number | None = None
    recurrent: bool | None = None
    note: str | None = None


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
    title: Text = Field(max_length=120)
    summary: Text = Field(max_length=300, description="One or two sentences for a busy leader.")
    organisations: list[Text] = Field(min_length=1, description="Who led it.")
    partners: list[Text] = Field(default_factory=list)
    ics: VocabList("ics") = Field(  # type: ignore[valid-type]
        default_factory=list,
        description="The ICS (or ICSs) as named when the initiative ran; empty for national work.",
    )
    region: VocabList("regions") = Field(  # type: ignore[valid-type]
        default_factory=list, description="NHS England region(s); must agree with the ICS."
    )
    place: str | None = Field(None, description="The place (town, borough, county) if narrower.")
    level: VocabList("levels") = Field(default_factory=list)  # type: ignore[valid-type]
    started: YearMonth | None = None
    ended: YearMonth | None = None
    status: VocabId("statuses") | None = None  # type: ignore[valid-type]
    tiers: VocabList("tiers", min_length=1)  # type: ignore[valid-type]
    kaiser_level: VocabList("kaiser") = Field(default_factory=list)  # type: ignore[valid-type]
    meps: VocabList("meps") = Field(default_factory=list)  # type: ignore[valid-type]
    three_cs: VocabList("three_cs") = Field(default_factory=list)  # type: ignore[valid-type]
    enablers: VocabList("enablers") = Field(default_factory=list)  # type: ignore[valid-type]
    challenges: VocabList("challenges") = Field(default_factory=list)  # type: ignore[valid-type]
    drivers: VocabList("drivers") = Field(default_factory=list)  # type: ignore[valid-type]
    topics: VocabList("topics") = Field(default_factory=list)  # type: ignore[valid-type]
    cohort: str | None = Field(None, description="Who the initiative is for.")
    interventions: list[Text] = Field(default_factory=list)
    funding: Funding | None = None
    outcomes: list[Outcome] = Field(default_factory=list)
    context_figures: list[ContextFigure] = Field(default_factory=list)
    evidence: Evidence
    sources: list[Source] = Field(min_length=1)
    reviewed: date | None = Field(None, description="When the entry was last checked (YYYY-MM-DD).")
    rationale: Rationale | None = None

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
