"""Contributed text is untrusted: script, remote images and likely personal data are problems.

Text is checked as a browser or a reader would take it (character references decoded, URL
escapes undone, compatibility forms folded), in time linear in its length."""

from __future__ import annotations

import bisect
import html
import re
import typing
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from kb.check.problems import FieldPath, Problem, Severity, format_field
from kb.format.content import (
    Located,
    SourceFile,
)
from kb.format.html import is_remote_url


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


_DANGEROUS_TAG = re.compile(
    r"<\s*+/?\s*+(script|iframe|frame|frameset|object|embed|applet|base|meta|link|style|form|svg"
    r"|math|template|noscript)\b",
    re.IGNORECASE,
)


# a tag runs to its '>' or to the next tag's '<' (a browser reads 'x<1' as an attribute name)
_EVENT_ATTR = re.compile(r"<[a-z](?:[^<>]|<(?![a-z/!?]))*?[\s/\"'`]on[a-z]++\s*+=", re.IGNORECASE)


_ATTR_LIST = re.compile(r"\{:?[^{}\n]*?(?<![\w-])on[a-z]++\s*+=", re.IGNORECASE)


# a quote that ends an attribute value, then an event handler: '" autofocus onfocus="...'
_BREAKOUT = re.compile(r"[\"'`][^\"'`<>\n]*?(?<=[\s/\"'`])on[a-z]++\s*+=", re.IGNORECASE)


_SCRIPT_URL = re.compile(r"(?:java|vb|live)script\s*+:|data\s*+:\s*+text/html", re.IGNORECASE)


_ANY_TAG = re.compile(r"<\s*+/?\s*+([a-z][a-z0-9]*+)(?=[\s/>])", re.IGNORECASE)


_REMOTE_SRC = re.compile(r"(?<![\w-])src\s*+=\s*+[\"']?\s*+([^\"'<>{} \f]++)", re.IGNORECASE)


_MD_IMAGE = re.compile(r"!\[([^\[\]]*+)\](?:\(\s*+<?([^\s)>]++)|\[([^\[\]]*+)\])?")


_MD_REFERENCE = re.compile(r"^ {0,3}\[([^\[\]]++)\]:[ \t]*+\n?[ \t]*+<?([^\s>]++)", re.MULTILINE)


_EMAIL = re.compile(r"(?<![\w.%+'-])([\w.%+'-]++)@([\w-]++(?:\.[\w-]++)++)")


_SEPARATOR = r"[\s.\-/\\()_\u2010-\u2015\u2212]"


_NUMBER = re.compile(rf"\+?\d(?:{_SEPARATOR}{{0,3}}\d)*+")


_DIGITS = re.compile(r"\d++")


_URL_PATH = re.compile(r"(?:https?://|(?<![\w.])www\.)([^\s?#<>\"')\]]++)", re.IGNORECASE)


_PUBLIC_LINE = re.compile(r"\b(?:help ?line|switchboard|freephone)\b", re.IGNORECASE)


_ROLE_WORDS = frozenset(
    {
        "info", "enquiries", "enquiry", "contact", "contactus", "us", "admin", "hello", "team",
        "office", "press", "media", "communications", "comms", "support", "help", "helpdesk",
        "feedback", "general", "mail", "reception", "england", "engagement", "partnerships",
        "partnership", "prevention", "publichealth", "public", "health", "nhs", "icb", "ics", "ccg",
        "noreply", "no", "reply", "webmaster", "service", "services", "programme", "programmes",
        "project", "projects", "data", "digital", "events", "bookings", "booking", "referrals",
        "referral", "hr", "jobs", "careers", "recruitment", "safeguarding", "accessibility", "foi",
        "pals", "complaints", "patient", "patients", "experience", "queries", "query", "research",
        "evaluation", "innovation", "improvement", "population", "wellbeing", "network", "alliance",
        "board", "council", "uk", "gov", "org", "business", "finance", "commissioning",
        "transformation", "care", "integrated", "system", "systems", "inclusion", "equality", "hub",
        "desk", "unit",
    }
)  # fmt: skip


# addresses anyone can open: an address there is an individual's, whatever its local part says
_FREE_MAIL_NAMES = frozenset(
    {
        "gmail", "googlemail", "hotmail", "outlook", "yahoo", "ymail", "icloud", "aol",
        "protonmail", "btinternet", "gmx", "yandex", "tutanota", "virginmedia", "talktalk",
    }
)  # fmt: skip


_FREE_MAIL_DOMAINS = frozenset(
    {
        "live.com", "live.co.uk", "msn.com", "me.com", "mac.com", "mail.com", "sky.com", "pm.me",
        "proton.me", "fastmail.com", "hey.com", "zoho.com",
    }
)  # fmt: skip


def nhs_number_valid(digits: str) -> bool:
    """True if ten digits pass the NHS number modulus-11 check."""
    if len(digits) != 10 or not digits.isdigit() or len(set(digits)) == 1:
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


def _uk_phone(digits: str, international: bool) -> bool:
    """True for a UK number starting 01, 02, 03 or 07, written nationally or as +44 / 0044."""
    if digits.startswith("0044"):
        rest = digits[4:]
    elif digits.startswith("44") and (international or len(digits) in (12, 13)):
        rest = digits[2:]
    else:
        return len(digits) == 11 and digits[0] == "0" and digits[1] in "1237"
    rest = rest[1:] if rest.startswith("0") else rest  # +44 (0)20 ...
    return len(rest) == 10 and rest[0] in "1237"


def _role_word(token: str) -> bool:
    """'team', or role words run together ('contactus', 'publichealthteam')."""
    if token in _ROLE_WORDS or token.isdigit():
        return True
    if len(token) > 40:
        return False
    ends = {0}
    for end in range(1, len(token) + 1):
        if any(token[start:end] in _ROLE_WORDS for start in ends if start < end):
            ends.add(end)
    return len(token) in ends


def _personal_email(match: re.Match[str]) -> bool:
    """An address at a free-mail domain, or with a local part not all role words, is a person's."""
    domain = match.group(2).lower()
    labels = domain.split(".")
    if _FREE_MAIL_NAMES & set(labels) or domain in _FREE_MAIL_DOMAINS:
        return True
    tokens = [t for t in re.split(r"[._%+'-]+", match.group(1).lower()) if t]
    return not tokens or not all(_role_word(t) for t in tokens)


def _not_dangerous(match: re.Match[str]) -> bool:
    return match.group(1).lower() != "img" and not _DANGEROUS_TAG.match(match.group(0) + " ")


def _remote_src(match: re.Match[str]) -> bool:
    return is_remote_url(match.group(1))


def _remote_inline_image(match: re.Match[str]) -> bool:
    return match.group(2) is not None and is_remote_url(match.group(2))


Finding = tuple[int, int, str, str, Severity, str]  # source start, end, message, hint, ...


_ViewName = Literal["html", "url", "plain"]


@dataclass(frozen=True)
class _Rule:
    """A pattern in untrusted text, the view of the text it looks at, and what to say."""

    pattern: re.Pattern[str]
    view: _ViewName
    message: str  # {text}: the text found; {tag}: the first group, lower case
    hint: str
    severity: Severity
    code: str
    keep: Callable[[re.Match[str]], bool] = lambda match: True
    body_only: bool = False  # images are rendered only from the Markdown body


_SCRIPT_HINT = (
    "remove it; link only to https:// addresses. Character references (&#106;), tabs and line "
    "breaks do not hide it: browsers read them as the plain word"
)


_IMAGE_MESSAGE = (
    "the image '{text}' comes from another server: it is dropped when the site is published "
    "(it would let that server see who reads the page)"
)


_IMAGE_HINT = "remove the image, or link to the page that shows it: [chart](https://...)"


_RULES: tuple[_Rule, ...] = (
    _Rule(
        _DANGEROUS_TAG,
        "html",
        "raw HTML <{tag}> is not allowed: it could run script",
        "remove the tag; use Markdown for formatting and links",
        "error",
        "unsafe-html",
    ),
    _Rule(
        _EVENT_ATTR,
        "html",
        "an HTML event-handler attribute (on...=) is not allowed: it runs script",
        "remove the HTML; use Markdown",
        "error",
        "unsafe-html",
    ),
    _Rule(
        _ATTR_LIST,
        "html",
        "an attribute list '{text}' sets an event handler (on...=): it could run script",
        "remove the {: ...} attribute list; use Markdown",
        "error",
        "unsafe-html",
    ),
    _Rule(
        _BREAKOUT,
        "html",
        "'{text}' looks like an attempt to add an event handler to an HTML attribute",
        "remove the quote and the on...= text",
        "error",
        "unsafe-html",
    ),
    _Rule(
        _SCRIPT_URL,
        "url",
        "a '{text}' link is not allowed: it runs script",
        _SCRIPT_HINT,
        "error",
        "unsafe-html",
    ),
    _Rule(
        _ANY_TAG,
        "html",
        "raw HTML <{tag}> is removed when the site is published",
        "use Markdown instead of HTML",
        "warning",
        "raw-html",
        _not_dangerous,
    ),
    _Rule(
        _REMOTE_SRC,
        "html",
        _IMAGE_MESSAGE,
        _IMAGE_HINT,
        "warning",
        "remote-image",
        _remote_src,
        body_only=True,
    ),
    _Rule(
        _MD_IMAGE,
        "html",
        _IMAGE_MESSAGE,
        _IMAGE_HINT,
        "warning",
        "remote-image",
        _remote_inline_image,
        body_only=True,
    ),
    _Rule(
        _EMAIL,
        "plain",
        "'{text}' looks like an individual's e-mail address",
        "remove personal data; give a team or organisation address (such as enquiries@...) at "
        "the organisation's own domain",
        "error",
        "personal-data",
        _personal_email,
    ),
)


_PHONE_MESSAGE = "'{text}' looks like a UK phone number; a person's number must not be published"


_PHONE_HINT = (
    "remove it; a public service line may stay when the same line (or field) says it is a "
    "helpline, switchboard or freephone number"
)


_NHS_MESSAGE = "'{text}' looks like an NHS number (its check digit is valid)"


_NHS_HINT = "remove it: a case study must never identify a patient"


def _shown(text: str, start: int, end: int) -> str:
    shown = text[start:end].strip()
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _context(text: str, offset: int, whole: bool) -> str:
    """The line holding `offset` (or all of a front-matter value), as a reader sees it."""
    if whole:
        return text
    start = text.rfind("\n", 0, offset) + 1
    end = text.find("\n", offset)
    return text[start : end if end >= 0 else len(text)]


def _public_line(context: str) -> bool:
    """True if the text around a phone number marks it as a public service line."""
    return bool(_PUBLIC_LINE.search(_plain_view(_View(context, None)).text))


def _number_windows(groups: list[str], international: bool) -> Iterator[tuple[int, int, str]]:
    """(first, last, kind) of the runs of digit groups that form an NHS or a UK phone number.

    A run must start and end at a group's edge; each group is looked at a bounded number of times.
    """
    digits = "".join(groups)
    edges = [0]
    for group in groups:
        edges.append(edges[-1] + len(group))
    group_ending_at = {edge: index - 1 for index, edge in enumerate(edges)}
    first = 0
    while first < len(groups):
        begin = edges[first]
        found: tuple[int, str] | None = None
        last = group_ending_at.get(begin + 10)
        if last is not None and nhs_number_valid(digits[begin : begin + 10]):
            found = (last, "nhs")
        elif digits[begin] in "04":  # a phone number starts 0, 44 or 0044
            for length in (11, 12, 13, 14):
                last = group_ending_at.get(begin + length)
                number = digits[begin : begin + length]
                if last is not None and _uk_phone(number, international and first == 0):
                    found = (last, "phone")
                    break
        if found:
            yield first, found[0], found[1]
            first = found[0] + 1
        else:
            first += 1


def _url_paths(text: str) -> list[tuple[int, int]]:
    """Spans of the paths of web addresses in a text (a query string is not part of one)."""
    if "://" not in text and "www." not in text:
        return []
    return [m.span(1) for m in _URL_PATH.finditer(text)]


def _scan_numbers(text: str, view: _View, whole: bool) -> Iterator[Finding]:
    """NHS numbers and UK phone numbers, however their digits are spaced or split; in the path of
    a web address, only ten digits in one run (split digits there are a journal's ISSN and
    volume, '2072-6643/14', or a page's date)."""
    paths = _url_paths(view.text)
    starts = [start for start, _ in paths]
    for chain in _NUMBER.finditer(view.text):
        found = chain.group()
        if len(found) < 10:
            continue
        at = bisect.bisect_right(starts, chain.start()) - 1
        in_path = at >= 0 and chain.end() <= paths[at][1]
        spans = [m.span() for m in _DIGITS.finditer(found)]
        groups = [found[s:e] for s, e in spans]
        for first, last, kind in _number_windows(groups, found.startswith("+")):
            if in_path and last > first:
                continue  # digits split by '-' or '/' in a web address: an ISSN and a volume
            begin = view.source(chain.start() + (spans[first][0] if first else 0))
            end = view.source(chain.start() + spans[last][1] - 1) + 1
            shown = _shown(text, begin, end)
            if kind == "nhs":
                message = _NHS_MESSAGE.format(text=shown)
                yield begin, end, message, _NHS_HINT, "error", "personal-data"
            elif not _public_line(_context(text, begin, whole)):
                message = _PHONE_MESSAGE.format(text=shown)
                yield begin, end, message, _PHONE_HINT, "error", "personal-data"


_MAX_SAME = 20  # findings of one kind reported per text; the rest are counted


def _capped(findings: Iterable[Finding]) -> list[Finding]:
    """At most _MAX_SAME findings, then one that says how many more there are."""
    kept: list[Finding] = []
    more = 0
    for finding in findings:
        if len(kept) < _MAX_SAME:
            kept.append(finding)
        else:
            more += 1
    if more:
        start, end, _message, hint, severity, code = kept[-1]
        kept.append((start, end, f"... and {more} more like the one above", hint, severity, code))
    return kept


def _rule_findings(
    rule: _Rule, view: _View, text: str, handlers: list[tuple[int, int]]
) -> Iterator[Finding]:
    starts = [s for s, _ in handlers]
    for match in rule.pattern.finditer(view.text):
        if not rule.keep(match):
            continue
        if rule.pattern is _BREAKOUT:
            at = bisect.bisect_right(starts, match.start()) - 1
            if at >= 0 and match.start() < handlers[at][1]:
                continue  # part of an event handler already reported
        if rule.pattern in (_EVENT_ATTR, _ATTR_LIST):
            handlers.append(match.span())
        start, end = view.source(match.start()), view.source(match.end() - 1) + 1
        tag = (match.group(1) or "") if rule.pattern.groups else ""
        message = rule.message.format(text=_shown(text, start, end), tag=tag.lower())
        yield start, end, message, rule.hint, rule.severity, rule.code


def _scan_text(text: str, *, body: bool = True) -> list[Finding]:
    """Findings in a piece of untrusted text: (start, end, message, hint, severity, code)."""
    html_view = _html_view(text)
    views = {"html": html_view, "url": _url_view(html_view), "plain": _plain_view(html_view)}
    found: list[Finding] = []
    handlers: list[tuple[int, int]] = []  # spans of event handlers, in the html view
    for rule in _RULES:
        if rule.body_only and not body:
            continue
        if rule.pattern is _BREAKOUT:
            handlers.sort()
        found += _capped(_rule_findings(rule, views[rule.view], text, handlers))
    if body:
        found += _capped(_scan_reference_images(text, html_view))
    found += _capped(_scan_numbers(text, views["plain"], whole=not body))
    return found


def _scan_reference_images(text: str, view: _View) -> list[Finding]:
    """Images written as '![alt][name]' whose '[name]: URL' line names another server."""
    if "]:" not in view.text:
        return []
    remote = {
        " ".join(m.group(1).split()).casefold()
        for m in _MD_REFERENCE.finditer(view.text)
        if is_remote_url(m.group(2))
    }
    found: list[Finding] = []
    for match in _MD_IMAGE.finditer(view.text):
        if match.group(2) is not None:
            continue
        label = match.group(3) or match.group(1)
        if " ".join(label.split()).casefold() in remote:
            start, end = view.source(match.start()), view.source(match.end() - 1) + 1
            message = _IMAGE_MESSAGE.format(text=_shown(text, start, end))
            found.append((start, end, message, _IMAGE_HINT, "warning", "remote-image"))
    return found


def _front_matter_values(data: Any, path: FieldPath = ()) -> Iterable[tuple[FieldPath, Any]]:
    """Every text and number of nested front-matter (a number may be an NHS number too)."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _front_matter_values(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _front_matter_values(value, (*path, index))
    elif isinstance(data, str | int | float) and not isinstance(data, bool):
        yield path, data


def _check_unsafe(name: str, source: SourceFile, located: Located) -> list[Problem]:
    problems: list[Problem] = []
    body = source.body
    for offset, _end, message, hint, severity, code in _scan_text(body):
        line = source.body_line + body.count("\n", 0, offset)
        column = offset - (body.rfind("\n", 0, offset) + 1) + 1
        problems.append(Problem(name, line, column, "body", message, hint, severity, code))
    for path, value in _front_matter_values(located.data):
        if isinstance(value, str):
            findings = _scan_text(value, body=False)
        else:
            number = str(value)
            findings = list(_scan_numbers(number, _View(number, None), whole=True))
        for _offset, _end, message, hint, severity, code in findings:
            line, column = located.position(path)
            problems.append(
                Problem(name, line, column, format_field(path), message, hint, severity, code)
            )
    return problems
