"""How a contributed text is read before it is checked: as a browser would show it (character
references decoded, markup and comments left out), with URL escapes undone, and with
compatibility forms folded; each view keeps the offsets of the text as written, so a problem
points at the right line."""

from __future__ import annotations

import bisect
import html
import re
import typing
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any, Literal

from kb.check.problems import Severity


class _View(typing.NamedTuple):
    """A transformed copy of some text, and for each of its characters the source offset."""

    text: str
    origin: list[int] | None  # None: the same offsets as the source

    def source(self, offset: int) -> int:
        """The source offset of the view's character at `offset`."""
        if self.origin is None:
            return offset
        if not self.origin:
            return 0
        return self.origin[min(offset, len(self.origin) - 1)]


def _edit(view: _View, edits: Iterable[tuple[int, int, str]]) -> _View:
    """`view` with the ordered, non-overlapping (start, end, replacement) edits applied."""
    text, old = view.text, view.origin
    parts: list[str] = []
    index: list[int] = []
    pos = 0
    for start, end, replacement in edits:
        if text[start:end] == replacement:
            continue
        parts.append(text[pos:start])
        index.extend(old[pos:start] if old is not None else range(pos, start))
        parts.append(replacement)
        if len(replacement) == end - start:  # character for character
            index.extend(old[start:end] if old is not None else range(start, end))
        else:
            index.extend([view.source(start)] * len(replacement))
        pos = end
    if not parts:
        return view
    parts.append(text[pos:])
    index.extend(old[pos:] if old is not None else range(pos, len(text)))
    return _View("".join(parts), index)


_CHARREF = re.compile(r"&(?:#[0-9]++;?|#[xX][0-9a-fA-F]++;?|[^\t\n\f <&#;]{1,32};?)")


_URL_DROPPED = re.compile(
    "[\t\n\r\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u00ad\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064"
    "\u2066-\u2069\ufeff]++"
)


_NON_ASCII = re.compile(r"[\x00-\x7f]?[^\x00-\x7f]++")


_PERCENT = re.compile("%[0-7][0-9A-Fa-f]")  # a URL-encoded ASCII character: '%20', '%40'


def _unescape_ref(ref: str) -> str:
    """One character reference decoded as a browser would (out-of-range numbers: U+FFFD)."""
    if ref.startswith("&#"):
        digits = ref[2:].rstrip(";")
        hexadecimal = digits[:1] in ("x", "X")
        digits = (digits[1:] if hexadecimal else digits).lstrip("0") or "0"
        if len(digits) > 8:
            return "\ufffd"
        return html.unescape(f"&#{'x' if hexadecimal else ''}{digits};")
    return html.unescape(ref)


def _html_view(text: str) -> _View:
    """Text with character references decoded, up to three times (for '&amp;#106;')."""
    view = _View(text, None)
    for _ in range(3):
        if "&" not in view.text:
            break
        refs = _CHARREF.finditer(view.text)
        decoded = _edit(view, ((m.start(), m.end(), _unescape_ref(m.group())) for m in refs))
        if decoded.text == view.text:
            break
        view = decoded
    return view


def _url_view(view: _View) -> _View:
    """Without tabs, line breaks, control and invisible characters: 'java<TAB>script:'."""
    return _edit(view, ((m.start(), m.end(), "") for m in _URL_DROPPED.finditer(view.text)))


def _nfkc(run: str) -> str:
    normal = unicodedata.normalize("NFKC", run)
    if normal.isascii():  # no invisible (Cf) character to remove
        return normal
    return "".join(c for c in normal if unicodedata.category(c) != "Cf")


def _plain_view(view: _View) -> _View:
    """As a reader sees it: URL-encoding ('%20', '%40') decoded, NFKC-normalised, invisible
    characters removed."""
    if "%" in view.text:
        escapes = _PERCENT.finditer(view.text)
        view = _edit(view, ((m.start(), m.end(), chr(int(m.group()[1:], 16))) for m in escapes))
    if not view.text.isascii():
        runs = _NON_ASCII.finditer(view.text)
        view = _edit(view, ((m.start(), m.end(), _nfkc(m.group())) for m in runs))
    return view


Finding = tuple[int, int, str, str, Severity, str]  # source start, end, message, hint, ...


_ViewName = Literal["html", "url", "plain"]


def _shown(text: str, start: int, end: int) -> str:
    shown = text[start:end].strip()
    return shown if len(shown) <= 60 else shown[:57] + "..."


# inline HTML tags: the text on either side runs on; any other tag (<td>, <br>, <p>) divides
# the text as a table's bar does
_INLINE_TAGS = (
    "a|abbr|b|bdi|bdo|cite|code|data|del|dfn|em|font|i|ins|kbd|mark|q|s|samp|small|span|strong"
    "|sub|sup|time|tt|u|var|wbr"
)


_MARKUP = re.compile(
    rf"</?(?i:{_INLINE_TAGS})(?:[\s/][^<>]*+)?>"  # an inline HTML tag
    r"|(?P<block></?[A-Za-z][A-Za-z0-9-]*+(?:[\s/][^<>]*+)?>)"  # any other
    r"|[*`]++|~~++"  # emphasis, code, strike-through
    r"|(?<![^\W_])_++|_++(?![^\W_])"  # underscores at a word's edge: emphasis
    r"|\[(?=[^\[\]\n]*+\][(\[])|\]\([^()\s<>]*+\)|\]\[[^\[\]\n]*+\]"  # a link's brackets, address
)


def _markup_edits(text: str, comments: str | None) -> Iterator[tuple[int, int, str]]:
    """Edits that remove markup: each HTML comment whole (`comments` None), or only its
    delimiters, replaced by `comments`. Linear: comments are found with str.find."""
    pos = 0
    closes = True  # whether a '-->' may follow: once none does, none is looked for again
    while True:
        start = text.find("<!--", pos)
        stop = len(text) if start < 0 else start
        for match in _MARKUP.finditer(text, pos, stop):
            yield match.start(), match.end(), "|" if match.lastgroup else ""
        if start < 0:
            return
        end = text.find("-->", start + 4) if closes else -1
        closes = end >= 0
        if comments is None:  # the comment is hidden: one never closed runs to the end
            yield start, len(text) if end < 0 else end + 3, ""
            if end < 0:
                return
            pos = end + 3
        else:
            yield start, start + 4, comments
            if end < 0:
                pos = start + 4
                continue
            for match in _MARKUP.finditer(text, start + 4, end):
                yield match.start(), match.end(), "|" if match.lastgroup else ""
            yield end, end + 3, comments
            pos = end + 3


def _markup_view(view: _View, comments: str | None) -> _View:
    """`view` without tags, emphasis and link destinations, and without HTML comments
    (`comments` None: as the page shows it) or with their text kept (to read what they say)."""
    if not any(c in view.text for c in "<*_~`[]"):
        return view
    return _edit(view, _markup_edits(view.text, comments))


_Span = typing.TypeVar("_Span", bound=tuple[Any, ...])


def _apart(spans: Iterable[_Span]) -> list[_Span]:
    """Spans (start, end, ...) in order of start, less each that overlaps one kept before it."""
    kept: list[_Span] = []
    reach = -1
    for span in spans:
        if span[0] >= reach:
            kept.append(span)
            reach = span[1]
        else:
            reach = max(reach, span[1])
    return kept


def _outside(spans: list[_Span], taken: list[tuple[int, int]]) -> list[_Span]:
    """`spans` less those overlapping one of `taken` (sorted by start)."""
    if not taken:
        return spans
    starts = [start for start, _ in taken]
    reach: list[int] = []  # the furthest end of the taken spans up to each
    for _, end in taken:
        reach.append(max(end, reach[-1]) if reach else end)
    kept = []
    for span in spans:
        before = bisect.bisect_left(starts, span[1])  # taken spans starting before it ends
        if before == 0 or reach[before - 1] <= span[0]:
            kept.append(span)
    return kept
