"""What a contributor leaves to fill in, and text that says the sources are silent.

`kb new` writes `PLACEHOLDER` where a value is wanted and marks pre-filled values with
`DEFAULT_MARK`; the validator reports both until they are replaced or confirmed. Sentences that
only say the sources are silent ('Not stated in the sources.') are left out of search and of the
figures shown, as if empty.
"""

from __future__ import annotations

import re

__all__ = [
    "DEFAULT_MARK",
    "PLACEHOLDER",
    "PREFILLED",
    "is_placeholder",
    "without_placeholders",
]


PLACEHOLDER = "TODO"  # what `kb new` leaves for a contributor to replace


# `kb new` pre-fills a few values a contributor must check; each such line carries this comment
# until the contributor confirms the value by deleting it (kb validate flags it meanwhile).
DEFAULT_MARK = "kb-new-default"


PREFILLED: dict[tuple[str | int, ...], object] = {
    ("level",): ["place"],
    ("evidence", "level"): 1,
    ("evidence", "method"): "not-stated",
    ("sources", 0, "year"): 2024,
}


# a sentence (or list item) that says the sources are silent: never indexed, shown or a reason
_SILENT_WORDS = (
    r"not stated|not described|not specified|do(es)? not (say|describe|state|report|give)|"
    r"no (figures|information|details?) (are |is |were |was )?(given|reported|stated|published)"
)


_SILENT = re.compile(r"\b(" + _SILENT_WORDS + r")\b", re.IGNORECASE)


# a whole value that is only a placeholder ('Not stated in the sources.', 'none', 'TODO')
_PLACEHOLDER = re.compile(
    r"^\W*(none|n/?a|unknown|tbc|todo|not (stated|known|given|described|reported|specified)"
    r"( in (the|its|either|any) (sources?|report|papers?))?[^.]*)\W*$",
    re.IGNORECASE,
)


def is_placeholder(text: str | None) -> bool:
    """Whether a value says nothing: empty, 'none', 'TODO', 'Not stated in the sources.'."""
    return text is None or not text.strip() or bool(_PLACEHOLDER.match(text.strip()))


def _without_silent_sentences(line: str) -> str:
    """One line less each sentence holding a 'sources are silent' phrase (linear in the line)."""
    kept: list[str] = []
    done = 0  # the end of the last sentence taken out
    for match in _SILENT.finditer(line):
        if match.start() < done:
            continue  # the same sentence
        start = max(line.rfind(mark, done, match.start()) for mark in ".!?") + 1
        start = max(start, done)
        ends = [i for i in (line.find(mark, match.end()) for mark in ".!?") if i != -1]
        end = min(ends) + 1 if ends else len(line)
        kept.append(line[done:start])
        done = end
    kept.append(line[done:])
    return "".join(kept)


def without_placeholders(text: str) -> str:
    """The text with every sentence that says the sources are silent taken out."""
    if not _SILENT.search(text):
        return text
    lines = []
    for line in text.split("\n"):
        kept = _without_silent_sentences(line)
        if kept.strip(" -*>:;,") or not line.strip():
            lines.append(kept.rstrip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
