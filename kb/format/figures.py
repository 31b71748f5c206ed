"""Figures in words: the one place that phrases an amount, an outcome and its status for readers.

Site pages, peer-review packs and search results all call these, so a figure reads the same
everywhere and no internal unit id ('count', 'rate-per-100000') reaches a reader.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from kb.format.model import COUNT_UNITS, DENOMINATOR_UNITS, ONE_IN, RATE_UNITS, Outcome

if TYPE_CHECKING:
    from kb.format.model import Amount, Figure, Range
    from kb.format.vocab import Vocabularies

__all__ = [
    "STATUS_LABELS",
    "figure_sentence",
    "format_amount",
    "format_figure",
    "format_outcome",
    "format_source",
]

_QUALIFIERS = {
    "about": "about ",
    "nearly": "nearly ",
    "at-least": "at least ",
    "more-than": "more than ",
    "up-to": "up to ",
    "less-than": "less than ",
}
# how the status of an outcome reads after its figure
STATUS_LABELS = {"achieved": "achieved", "estimated": "estimate", "target": "target"}
_CHANGE_WORDS = {"increase": "up", "decrease": "down", "no-change": "no change"}
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
    out_of: int | None = None,
) -> str:
    """An amount with its unit in words: 'about £175', '25% to 35%', '3.8 points on WEMWBS'.

    A part of a whole (a count with `out_of`) reads '148 of 211 people', '62 of 82'.
    """
    numbers = [value] if isinstance(value, float | int) else [value.low, value.high]  # a Range
    amounts = [_number(n) for n in numbers]
    if out_of is not None:
        whole = f"{' to '.join(amounts)} of {_number(out_of)}"
        label = "" if unit == "count" else f" {vocab.units.label(unit)}"
        return _QUALIFIERS.get(qualifier or "", "") + whole + label
    if unit == "GBP":
        parts = [f"£{a}" for a in amounts]
    elif unit == "percent":
        parts = [f"{a}%" for a in amounts]
    elif unit == "count":
        parts = amounts
    elif unit == "ratio":
        parts = [f"a ratio of {a}" for a in amounts]
    elif unit == ONE_IN:
        parts = [f"1 in {a}" for a in amounts]
    elif unit == "score":
        parts = [f"a score of {a}" for a in amounts]
    elif unit == "scale-points" and scale:
        parts = [f"{a} points" for a in amounts]
    else:
        label = vocab.units.label(unit)
        parts = [f"{a} {label}" for a in amounts]
    text = " to ".join(parts)
    if unit in DENOMINATOR_UNITS:
        text += f" {denominator or 'people'}"
    elif unit == "percent" and denominator:
        text += f" of {denominator}"  # '17.4% of people tested'
    if scale and unit in ("score", "scale-points"):
        text += f" on {scale}"
    return _QUALIFIERS.get(qualifier or "", "") + text


def counted(count: int, one: str, many: str) -> str:
    """'1 case study', '3 case studies'."""
    return f"{count} {one if count == 1 else many}"


def format_also(amount: Amount, vocab: Vocabularies, direction: str | None = None) -> str:
    """The same figure in another unit ('also'), in words: '25%', '1 in 240 people tested'; or,
    for a level's change from its baseline, the change with its `direction`: 'down about 40%'."""
    text = format_amount(
        amount.value, amount.unit, vocab, qualifier=amount.qualifier, denominator=amount.denominator
    )
    if amount.measure == "change" and direction in ("increase", "decrease"):
        return f"{_CHANGE_WORDS[direction]} {text}"
    return text


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
        out_of=figure.out_of,
    )
    return text + _also(figure, vocab)


def format_outcome(outcome: Outcome, vocab: Vocabularies, *, status: bool = True) -> str:
    """An outcome's figure with which way it went: 'down 32%', 'fell from 12% to 8.8%'.

    With `status`, estimates and targets say so in words: 'down 141 (estimate)'.
    """
    if outcome.value is None or outcome.unit is None:
        text = _QUALITATIVE[outcome.direction or "no-change"]
    elif outcome.measure == "change" and outcome.unit == "ratio" and outcome.direction not in (
        None,
        "no-change",
    ):
        text = _ratio_change(outcome, outcome.direction) + _also(outcome, vocab)
    elif outcome.measure == "change":
        figure = format_figure(outcome, vocab)
        word = _CHANGE_WORDS[outcome.direction or "no-change"]
        text = f"{figure}, no change" if word == "no change" else f"{word} {figure}"
    elif outcome.baseline is not None:  # 'fell from 12% to 8.8%'
        moved = outcome.direction in ("increase", "decrease")
        went = _FROM_VERBS[outcome.direction or "no-change"] + " " if moved else ""
        text = went + _from_to(outcome, vocab)
        if outcome.unit in _COUNTED and outcome.unit != "count":  # 'rose from 167 to 415 people'
            text += f" {vocab.units.label(outcome.unit)}"
        text += _also(outcome, vocab)
    else:
        figure = format_figure(outcome, vocab)
        direction = outcome.direction if outcome.comparison is None else None  # not 'fell'
        text = f"{_LEVEL_VERBS[direction]} {figure}" if direction else figure
    if status and outcome.status != "achieved":
        text += f" ({STATUS_LABELS[outcome.status]})"
    return text


def format_source(title: str, publisher: str | None, year: int | None) -> str:
    """'Title (Publisher, 2024)', 'Title (Publisher, undated)', or 'Title (2024)' when the source
    names no publisher (plain text)."""
    when = str(year) if year is not None else "undated"
    return f"{title} ({publisher}, {when})" if publisher else f"{title} ({when})"


# ---------------------------------------------------------------------------------------------
# a figure as a plain sentence: '141 fewer strokes over three years (estimate)'


def _set(words: str) -> frozenset[str]:
    return frozenset(words.split())


# units whose figures count the things the metric names ('70 people who ...', '29 projects')
_COUNTED = COUNT_UNITS
# units whose figures need their unit words even where the metric names the unit ('a score of')
_NOT_NAMED = frozenset({"score", "scale-points", "ratio", "rank", "percentage-points", ONE_IN})
# how an estimate or a target is marked at the end of a sentence
_STATUS_MARKS = {"estimated": "estimate", "target": "target"}
# where a metric's leading noun phrase ends
_LEAD_END = re.compile(
    r"[,;:(]| (?:who|whose|that|which|among|in|of|by|for|at|to|per|from|with|after|since|"
    r"across|on|off|through|during|before|if|under|into|over|as|than|where|when|such|without|"
    r"(?:a|each|every) (?:year|month|week|day))\b"
)
# heads of a noun phrase that measure something rather than count it: 'fewer rates' is wrong
_MEASURES = _set(
    "rate rates share proportion percentage prevalence level levels odds ratio average median "
    "mean number cost costs score scores spending value time uptake likelihood chance risk gap "
    "amount attendance size population length maximum minimum budget rank position"
)
_QUESTIONS = _set("how what whether why which")
# metrics that already say which way the figure went: '310 admissions avoided'
_SAID = re.compile(
    r"\b(?:prevent(?:ed|able)?|avoid(?:ed|able)?|saving|savings|saved|gained|reductions?)\b"
    r"|\bno longer\b"
)
_SAID_START = re.compile(r"^(?:additional|extra)\b")
_SPLIT = re.compile(r" (?:who|that(?= (?:was|were|is|are|had|have|has)\b)) ")
_PREPOSITIONS = _set(
    "over by since in during from to within after before at per each every for until between "
    "across throughout up around"
)
_ORDINAL_START = _set(
    "first second third fourth fifth last early initial final latest next previous current same"
)
_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_DATED = re.compile(rf"^(?:\d{{1,2}} )?(?:{_MONTHS})\b|^(?:19|20)\d\d(?:\b|/)")
_AFTER_TIME = re.compile(r"^\d+ (?:days?|weeks?|months?|years?) (?:after|before|from|of)\b")
_STOP = _set("a an the of in to and per each every")


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9&'’-]+", text.lower())


_PARTICIPLES = _set(
    "found made given seen taken held run done known shown paid sent built brought kept met led "
    "born spent won grown"
)


def _lead(metric: str) -> list[str]:
    """The words of a metric's leading noun phrase, participles and what follows them cut."""
    match = _LEAD_END.search(metric)
    words = (metric[: match.start()] if match else metric).split()
    for index, word in enumerate(words):
        low = word.lower()
        if index and (re.search(r"(?:ed|ing|ly)$", low) or low in _PARTICIPLES):
            return words[:index]
    return words


def _counts_things(metric: str) -> bool:
    """True when the metric names a plural count ('A&E attendances', 'residents afraid of
    falling'), so 'fewer' and '% of' fit; False for a measure ('fear of falling', 'rate')."""
    lead = _lead(metric)
    if not lead:
        return False
    if any(re.search(r"['’](?:s)?$", w) for w in lead):  # 'trainees' attitudes'
        return False
    low = [w.lower() for w in lead]
    if low[0] in _MEASURES | _QUESTIONS or low[-1] in _MEASURES:
        return False
    return any(
        w in ("people", "children", "men", "women") or re.search(r"(?:[^su'’]s|ies)$", w)
        for w in low
    )


def _said(metric: str) -> bool:
    """True when the metric already says the figure is a gain ('admissions avoided')."""
    text = metric.lower()
    return bool(_SAID.search(text) or _SAID_START.search(text))


def _number_words(
    value: float | Range,
    unit: str,
    vocab: Vocabularies,
    qualifier: str | None,
    out_of: int | None = None,
) -> str:
    """The number alone (with '%' or '£'), for sentences where the metric names the unit.

    A part of a whole keeps its whole: '148 of 211'.
    """
    if unit in ("GBP", "percent"):
        return format_amount(value, unit, vocab, qualifier=qualifier)
    return format_amount(value, "count", vocab, qualifier=qualifier, out_of=out_of)


def _ordinal(value: float) -> str:
    number = int(value)
    suffix = (
        "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    )
    return f"{number:,}{suffix}"


def _amount_words(figure: Figure, vocab: Vocabularies, *, change: bool = False) -> str:
    """The figure's amount in words, in the form a 'Metric: figure' sentence uses."""
    assert figure.value is not None and figure.unit is not None
    value, unit = figure.value, figure.unit
    if unit == "rank" and isinstance(value, float | int) and float(value).is_integer():
        if change:
            places = "place" if value == 1 else "places"
            return f"{_number_words(value, 'count', vocab, figure.qualifier)} {places}"
        return _QUALIFIERS.get(figure.qualifier or "", "") + _ordinal(value)
    return format_amount(
        value,
        unit,
        vocab,
        qualifier=figure.qualifier,
        scale=figure.scale,
        denominator=figure.denominator,
        out_of=figure.out_of,
    )


def _from_to(figure: Outcome, vocab: Vocabularies) -> str:
    """'from 7.3% to 5.6%', 'from 167 to 415', 'from 59.3 to 54.8 mmol/mol'."""
    assert figure.baseline is not None and figure.value is not None and figure.unit is not None
    unit = figure.unit
    if unit in ("GBP", "percent"):
        before = format_amount(figure.baseline, unit, vocab)
        return f"from {before} to {_amount_words(figure, vocab)}"
    after = _number_words(figure.value, unit, vocab, figure.qualifier)
    text = f"from {_number(figure.baseline)} to {after}"
    if unit in _COUNTED:
        return text
    if unit in RATE_UNITS:
        return f"{text} {vocab.units.label(unit)} {figure.denominator or 'people'}"
    if unit in ("score", "scale-points"):
        points = " points" if unit == "scale-points" else ""
        return text + points + (f" on {figure.scale}" if figure.scale else "")
    if unit == "ratio":
        return f"from a ratio of {_number(figure.baseline)} to {after}"
    return f"{text} {vocab.units.label(unit)}"


_UNSTATED = re.compile(r"\s*\([^()]*\bnot (?:stated|given|dated)\b[^()]*\)", re.IGNORECASE)


def _timeframe(timeframe: str, metric: str, *, has_from: bool = False) -> str:
    """The timeframe as the end of a sentence: ' over three years', ' in 2016', ' (pilot)'."""
    text = _UNSTATED.sub("", " ".join(timeframe.split())).strip().rstrip(".")
    parts = [p.strip() for p in text.split(";")]
    if all(p.count("(") == p.count(")") for p in parts):
        text = "; ".join(p for p in parts if p and not re.search(r"\bnot stated\b", p, re.I))
    if not text or text.lower().startswith("not stated"):
        return ""
    said = set(_words(metric))
    bare = re.sub(r"\s*\([^()]*\)", "", text)
    wanted = {w for w in _words(bare) if w not in _STOP}
    if wanted and wanted <= said:  # 'referrals in the first 12 months': the metric says it
        extra = re.findall(r"\(([^()]*)\)", text)
        return "".join(f" ({e})" for e in extra if not set(_words(e)) <= said)
    first = text.split()[0].lower()
    if first in _PREPOSITIONS and " ".join(text.split()[:3]).lower() in metric.lower():
        return ""  # 'since the pilot began' twice
    if first == "pilot":
        return f" in the {text}"
    if first in _PREPOSITIONS or text.lower().startswith(("a year", "a month", "a week")):
        return f" {text}"
    if _AFTER_TIME.match(text):
        return f" {text}"
    if first == "the":
        return f" in {text}"
    if first in _ORDINAL_START:
        return f" in the {text}"
    if first == "one":
        return f" in {text}"
    if _DATED.match(text):
        return f" from {text}" if " to " in text and not has_from else f" in {text}"
    return f" ({text})"


def _also(figure: Figure, vocab: Vocabularies) -> str:
    """' (25%)', ' (down 43%)', ' (comparison group: 11.2%)': the figure's other units and the
    comparison group's level, in brackets."""
    also = getattr(figure, "also", [])
    direction = getattr(figure, "direction", None)
    parts = [format_also(a, vocab, direction) for a in also]
    comparison = getattr(figure, "comparison", None)
    if comparison is not None and figure.unit is not None:
        # a rate's population is the same kind of people; a percentage's base is the figure's own
        whom = figure.denominator if figure.unit in DENOMINATOR_UNITS else None
        amount = format_amount(comparison, figure.unit, vocab, denominator=whom)
        parts.append(f"comparison group: {amount}")
    return " (" + "; ".join(parts) + ")" if parts else ""


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:] if text[:1].islower() else text


def _metric(figure: Figure) -> str:
    return " ".join(figure.metric.split()).rstrip(".")


def _qualitative(metric: str, direction: str, target: bool) -> str:
    """'Fewer late-stage diagnoses', 'Clients' quality of life went up', 'No change in earnings'."""
    if direction == "no-change":
        the = "the " if _lead(metric)[:1] and _lead(metric)[0].lower() in _MEASURES else ""
        return f"{'To stay the same:' if target else 'No change in'} {the}{metric}"
    if _counts_things(metric):
        return f"{'Fewer' if direction == 'decrease' else 'More'} {metric}"
    went = {"increase": "up", "decrease": "down"}[direction]
    verb = f"to go {went}" if target else f"went {went}"
    joint = ": " if "," in metric else " "
    return f"{_capital(metric)}{joint}{verb}"


def _change(figure: Outcome, metric: str, vocab: Vocabularies) -> str | None:
    """'141 fewer strokes', '15% fewer A&E attendances', '310 admissions avoided', or None."""
    assert figure.value is not None and figure.unit is not None
    unit, direction = figure.unit, figure.direction
    if direction not in ("increase", "decrease"):
        return None
    named = unit in _COUNTED or unit in ("GBP", "percent")
    if getattr(figure, "denominator", None):
        return None  # 'Metric: down 5% of people tested'
    if not named and (unit in _NOT_NAMED or vocab.units.label(unit).lower() not in _words(metric)):
        return None  # '6 weeks' of life expectancy: the metric does not name weeks
    amount = _number_words(figure.value, unit, vocab, figure.qualifier)
    if _said(metric):
        return f"{amount} of {metric}" if unit == "percent" else f"{amount} {metric}"
    things = re.sub(r"^(?:the )?number of ", "", metric, flags=re.IGNORECASE)
    if unit == "GBP" or not _counts_things(things):
        return None
    return f"{amount} {'fewer' if direction == 'decrease' else 'more'} {things}"


def _level(figure: Figure, metric: str, vocab: Vocabularies) -> str | None:
    """'70 people had interventions delivered', '71% of people said ...', or None."""
    assert figure.value is not None and figure.unit is not None
    unit = figure.unit
    named = unit in _COUNTED or (
        unit not in _NOT_NAMED and vocab.units.label(unit).lower() in _words(metric)
    )
    amount = _number_words(figure.value, unit, vocab, figure.qualifier, figure.out_of)
    if unit == "GBP":
        return f"{amount} {metric}" if _said(metric) else None
    if unit == "percent" and figure.denominator:
        return None  # 'People with active hepatitis C: 17.4% of people tested'
    if unit == "percent":
        metric = re.sub(r"^(?:the )?(?:share|proportion|percentage) of ", "", metric)
        split = _SPLIT.split(metric, maxsplit=1)
        if len(split) == 2 and _counts_things(split[0]) and "," not in split[0]:
            return f"{amount} of {split[0]} {split[1]}"
        return f"{amount} of {metric}" if _counts_things(metric) or _said(metric) else None
    if not named or getattr(figure, "direction", None):
        return None
    lead = [w.lower() for w in _lead(metric)]
    if not lead or lead[0] in _MEASURES | _QUESTIONS or lead[-1] in _MEASURES:
        return None  # 'size of the team', "Luton's rank": not a count of things
    if figure.value == 0 and not figure.qualifier and figure.out_of is None:
        return f"No {metric}"
    split = _SPLIT.split(metric, maxsplit=1)
    if len(split) == 2 and " who " in f" {metric} " and "," not in split[0]:
        return f"{amount} {split[0]} {split[1]}"
    return f"{amount} {metric}"


def _fallback(figure: Figure, metric: str, vocab: Vocabularies) -> str:
    """'Fear of falling, as reported by residents: down 15%': for metrics that are no sentence."""
    measure = getattr(figure, "measure", "level")
    direction = getattr(figure, "direction", None)
    target = getattr(figure, "status", "achieved") == "target"
    if measure == "change":
        amount = _amount_words(figure, vocab, change=True)
        if direction == "no-change":
            return f"{_capital(metric)}: no change ({amount})"
        if figure.unit == "ratio":
            return f"{_capital(metric)}: {_ratio_change(figure, direction)}"
        word = "down" if direction == "decrease" else "up"
        return f"{_capital(metric)}: {word}{' by' if figure.qualifier else ''} {amount}"
    amount = _amount_words(figure, vocab)
    if direction and getattr(figure, "comparison", None) is None:  # 'lower' against a comparison
        verbs = _TARGET_LEVEL_VERBS if target else _LEVEL_VERBS
        amount = f"{verbs[direction]} {amount}"
    return f"{_capital(metric)}: {amount}"


def _ratio_change(figure: Figure, direction: str | None) -> str:
    """A change given as a ratio of after to before (an odds or rate ratio): '1.8 times as
    high', or 'a ratio of 1.2 (lower)' when the number and the direction disagree."""
    assert figure.value is not None
    value = figure.value
    numbers = [value] if isinstance(value, float | int) else [value.low, value.high]
    amounts = " to ".join(_number(n) for n in numbers)
    qualifier = _QUALIFIERS.get(figure.qualifier or "", "")
    higher = direction == "increase"
    if all((n > 1) if higher else (0 <= n < 1) for n in numbers):
        return f"{qualifier}{amounts} times as high"
    return f"{qualifier}a ratio of {amounts} ({'higher' if higher else 'lower'})"


_LEVEL_VERBS = {"increase": "rose to", "decrease": "fell to", "no-change": "held at"}
_TARGET_LEVEL_VERBS = {
    "increase": "to rise to",
    "decrease": "to fall to",
    "no-change": "to hold at",
}
_FROM_VERBS = {"increase": "rose", "decrease": "fell", "no-change": "held"}
_TARGET_FROM_VERBS = {"increase": "to rise", "decrease": "to fall", "no-change": "to hold"}


def _numeric(figure: Figure, metric: str, vocab: Vocabularies) -> str:
    """The sentence of a figure with a number, before its timeframe and status."""
    if not isinstance(figure, Outcome):  # a context figure: a level, no direction
        return _level(figure, metric, vocab) or _fallback(figure, metric, vocab)
    if figure.measure == "change":
        return _change(figure, metric, vocab) or _fallback(figure, metric, vocab)
    if figure.baseline is None:
        return _level(figure, metric, vocab) or _fallback(figure, metric, vocab)
    verbs = _TARGET_FROM_VERBS if figure.status == "target" else _FROM_VERBS
    went = verbs[figure.direction] if figure.direction else "changed"
    subject = metric
    if figure.unit == "percent" and _counts_things(metric):
        subject = f"share of {metric}"
    joint = ": " if "," in subject else " "
    return f"{_capital(subject)}{joint}{went} {_from_to(figure, vocab)}"


def figure_sentence(
    figure: Figure, vocab: Vocabularies, *, status: bool = True, timeframe: bool = True
) -> str:
    """A figure as a plain sentence a leader reads at a glance (plain text).

    '141 fewer strokes, if the blood pressure aim is met, over three years (estimate)';
    '71% of people said the support they received was beneficial'; 'Share of women smoking at
    the time of giving birth fell from 7.3% to 5.6%'. A metric that does not lend itself to a
    sentence reads 'Fear of falling, as reported by residents: down 15%'. With `status`,
    estimates and targets say so at the end; with `timeframe`, the period the figure covers ends
    the sentence. Outcomes and context figures alike; no internal unit id is ever written.
    Indexes store these sentences: a change to their wording changes
    kb.index.passages.FIGURE_WORDING.
    """
    metric = _metric(figure)
    state = figure.status if isinstance(figure, Outcome) else "achieved"
    marks = []
    if figure.value is None or figure.unit is None:
        direction = figure.direction if isinstance(figure, Outcome) else None
        text = _qualitative(metric, direction or "no-change", state == "target")
        marks.append("no figure given")
    else:
        text = _numeric(figure, metric, vocab) + _also(figure, vocab)
    if timeframe:
        when = _timeframe(figure.timeframe, metric, has_from=" from " in text)
        if "," in metric and when.startswith(" ") and not when.startswith(" ("):
            when = "," + when  # '141 fewer strokes, if the aim is met, over three years'
        text += when
    if status and state in _STATUS_MARKS:
        marks.insert(0, _STATUS_MARKS[state])
    if marks:
        text += f" ({'; '.join(marks)})"
    return _capital(text)
