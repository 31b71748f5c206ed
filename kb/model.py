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
    note: str | None = Field(None, description="What a reader should know about the evidence.")


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

    title: Text = Field(description="The title as published.")
    publisher: Text = Field(description="Who published it.")
    year: int = Field(ge=1900, le=2100, description="Year of publication.")
    url: Annotated[str | None, AfterValidator(_http_url)] = Field(
        None, description="A web address starting with https://, if there is one."
    )
    section: str | None = Field(None, description="Chapter or section the case study draws on.")


class Funding(_Strict):
    """How the initiative was paid for, where the source says."""

    source: str | None = Field(None, description="Who paid, e.g. the ICB or a national fund.")
    amount_gbp: Number | None = Field(None, description="The amount in pounds, digits only.")
    recurrent: bool | None = Field(None, description="true if the money recurs each year.")
    note: str | None = Field(None, description="Anything else about the money.")


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
    summary: Text = Field(max_length=300, description="One or two sentences for a busy leader.")
    organisations: list[Text] = Field(min_length=1, description="Who led it.")
    partners: list[Text] = Field(default_factory=list, description="Who else took part.")
    ics: VocabList("ics") = Field(  # type: ignore[valid-type]
        default_factory=list,
        description="The ICS (or ICSs) as named when the initiative ran; empty for national work.",
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
    context_figures: list[ContextFigure] = Field(
        default_factory=list, description="Figures about the setting or scale, not results."
    )
    evidence: Evidence = Field(description="How sure we are: Nesta level and method.")
    sources: list[Source] = Field(min_length=1, description="Where the facts come from.")
    reviewed: date | None = Field(None, description="When the entry was last checked (YYYY-MM-DD).")
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
