"""What a query asks about: results (and of which kind), strong evidence, or what did not work."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:

    pass
from kb.search.params import EVIDENCE_CUES, NO_EFFECT_CUES, RESULT_CUES

__all__ = ["ResultIntent", "result_intent"]


@dataclass(frozen=True)
class ResultIntent:
    """What a query asks about results: the outcome kinds (() = any) and the words that said so.

    `outcomes`: it asks about outcomes (results, savings, admissions...); `evidence`: it asks for
    strong evidence (a trial, a comparison group); `no_effect`: it asks what did not work.
    """

    kinds: tuple[str, ...]
    cues: tuple[str, ...]
    outcomes: bool = True
    evidence: bool = False
    no_effect: bool = False


def _cue_text(text: str) -> str:
    """Lower-cased words between spaces, as cues are matched ('hasn't' -> 'hasn t')."""
    return " " + " ".join(re.sub(r"[^\w&£%-]+", " ", text.lower()).split()) + " "


_phrase_text = functools.cache(_cue_text)  # for the fixed cue phrases only


def _cues_in(text: str, phrases: Iterable[str]) -> list[str]:
    return [p for p in phrases if _phrase_text(p) in text]


def result_intent(query: str) -> ResultIntent | None:
    """Whether a query asks about results (savings, admissions avoided, quit rates...), for
    strong evidence, or what did not work; None when it asks none of these."""
    text = _cue_text(query)
    kinds: list[str] = []
    cues: list[str] = []
    generic = False
    for cue in RESULT_CUES:
        found = _cues_in(text, cue.words)
        cues.extend(found)
        if found and cue.kinds:
            kinds.extend(k for k in cue.kinds if k not in kinds)
        elif found:
            generic = True
    if "£" in query:
        kinds.append("financial") if "financial" not in kinds else None
        cues.append("£")
    evidence = _cues_in(text, EVIDENCE_CUES)
    no_effect = _cues_in(text, NO_EFFECT_CUES)
    if not kinds and not generic and not evidence and not no_effect:
        return None
    return ResultIntent(
        tuple(kinds),
        tuple(dict.fromkeys(cues + evidence + no_effect)),
        outcomes=bool(kinds or generic),
        evidence=bool(evidence),
        no_effect=bool(no_effect),
    )
