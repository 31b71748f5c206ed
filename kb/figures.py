"""Figures in words: the one place that phrases an amount, an outcome and its status for readers.

Site pages, peer-review packs and search results all call these, so a figure reads the same
everywhere and no internal unit id ('count', 'rate-per-100000') reaches a reader.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kb.model import RATE_UNITS

if TYPE_CHECKING:
    from kb.model import Amount, Figure, Outcome, Range
    from kb.vocab import Vocabularies

__all__ = ["STATUS_WORDS", "format_amount", "format_figure", "format_outcome", "format_source"]

_QUALIFIERS = {
    "about": "about ",
    "nearly": "nearly ",
    "at-least": "at least ",
    "more-than": "more than ",
    "up-to": "up to ",
    "less-than": "less than ",
}
# how the status of an outcome reads after its figure
STATUS_WORDS = {"achieved": "achieved", "estimated": "estimate", "target": "target"}
_CHANGE_WORDS = {"increase": "up", "decrease": "down", "no-change": "no change"}
_LEVEL_WORDS = {"increase": "rose to", "decrease": "fell to", "no-change": "held at"}
_QUALITATIVE = {
    "increase": "went up (no figure given)",
    "decrease": "went down (no figure given)",
    "no-change": "no change (no figure given)",
}


def _number(value: float) -> str:
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def format_amount(
    value: float | Range,
    unit: str,
    vocab: Vocabularies,
    *,
    qualifier: str | None = None,
    scale: str | None = None,
    denominator: str | None = None,
) -> str:
    """An amount with its unit in words: 'about £175', '25% to 35%', '3.8 points on WEMWBS'."""
    numbers = [value] if isinstance(value, float | int) else [value.low, value.high]  # a Range
    amounts = [_number(n) for n in numbers]
    if unit == "GBP":
        parts = [f"£{a}" for a in amounts]
    elif unit == "percent":
        parts = [f"{a}%" for a in amounts]
    elif unit == "count":
        parts = amounts
    elif unit == "ratio":
        parts = [f"a ratio of {a}" for a in amounts]
    elif unit == "score":
        parts = [f"a score of {a}" for a in amounts]
    elif unit == "scale-points" and scale:
        parts = [f"{a} points" for a in amounts]
    else:
        label = vocab.units.label(unit)
        parts = [f"{a} {label}" for a in amounts]
    text = " to ".join(parts)
    if unit in RATE_UNITS:
        text += f" {denominator or 'people'}"
    if scale and unit in ("score", "scale-points"):
        text += f" on {scale}"
    return _QUALIFIERS.get(qualifier or "", "") + text


def _amount(amount: Amount, vocab: Vocabularies) -> str:
    return format_amount(amount.value, amount.unit, vocab, qualifier=amount.qualifier)


def format_figure(figure: Figure, vocab: Vocabularies) -> str:
    """A figure's number in words with its unit, and any other units it is given in (plain text).

    An outcome stated without a number reads 'no figure given'.
    """
    if figure.value is None or figure.unit is None:
        return "no figure given"
    text = format_amount(
        figure.value,
        figure.unit,
        vocab,
        qualifier=figure.qualifier,
        scale=figure.scale,
        denominator=figure.denominator,
    )
    also = getattr(figure, "also", [])
    if also:
        text += " (" + "; ".join(_amount(a, vocab) for a in also) + ")"
    return text


def format_outcome(outcome: Outcome, vocab: Vocabularies, *, status: bool = True) -> str:
    """An outcome's figure with which way it went: 'down 32%', 'fell to 8.8% (from 12%)'.

    With `status`, estimates and targets say so in words: 'down 141 (estimate)'.
    """
    if outcome.value is None or outcome.unit is None:
        text = _QUALITATIVE[outcome.direction or "no-change"]
    elif outcome.measure == "change":
        figure = format_figure(outcome, vocab)
        word = _CHANGE_WORDS[outcome.direction or "no-change"]
        text = f"{figure}, no change" if word == "no change" else f"{word} {figure}"
    else:
        figure = format_figure(outcome, vocab)
        text = f"{_LEVEL_WORDS[outcome.direction]} {figure}" if outcome.direction else figure
        if outcome.baseline is not None:
            before = format_amount(outcome.baseline, outcome.unit, vocab)
            text += f" (from {before})"
    if status and outcome.status != "achieved":
        text += f" ({STATUS_WORDS[outcome.status]})"
    return text


def format_source(title: str, publisher: str, year: int | None) -> str:
    """'Title (Publisher, 2024)', or 'Title (Publisher, undated)' (plain text)."""
    return f"{title} ({publisher}, {year if year is not None else 'undated'})"
