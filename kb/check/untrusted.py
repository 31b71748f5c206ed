"""Contributed text is untrusted: script and remote images are problems, and so is personal data.

Each text is scanned in the views `kb.check.views` makes of it (as a browser shows it, with URL
escapes undone, with compatibility forms folded); the rules for script, event handlers and remote
images are here, the rules for personal data in `kb.check.personal_data`. Every scan takes time
linear in the text."""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from kb.check.personal_data import (
    _EMAIL,
    _EMAIL_HINT,
    _EMAIL_MESSAGE,
    _personal_email,
    _scan_birth_dates,
    _scan_numbers,
    _scan_patients,
    _scan_written_mail,
)
from kb.check.problems import FieldPath, Problem, Severity, format_field
from kb.check.views import (
    Finding,
    _apart,
    _html_view,
    _markup_view,
    _outside,
    _plain_view,
    _shown,
    _url_view,
    _View,
    _ViewName,
)
from kb.format.content import (
    Located,
    SourceFile,
)
from kb.format.html import is_remote_url

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


def _not_dangerous(match: re.Match[str]) -> bool:
    return match.group(1).lower() != "img" and not _DANGEROUS_TAG.match(match.group(0) + " ")


def _remote_src(match: re.Match[str]) -> bool:
    return is_remote_url(match.group(1))


def _remote_inline_image(match: re.Match[str]) -> bool:
    return match.group(2) is not None and is_remote_url(match.group(2))


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
        _EMAIL_MESSAGE,
        _EMAIL_HINT,
        "error",
        "personal-data",
        _personal_email,
    ),
)


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
    plain = views["plain"]
    shown = _markup_view(plain, None)  # as the page shows it: comments hidden
    read = _markup_view(plain, " ") if "<!--" in plain.text else shown  # comments' text too
    scans: tuple[list[Finding], ...] = (
        _scan_numbers(text, _distinct(plain, shown), plain),
        _each_view(_scan_written_mail, text, plain, read),
        _each_view(_scan_birth_dates, text, plain, read),
        _each_view(_scan_patients, text, plain, read),
    )
    reported = [(f[0], f[1]) for f in found if f[5] == "personal-data"]
    for findings in scans:  # one finding for each piece of personal data
        new = _outside(findings, reported)
        found += _capped(new)
        reported = sorted(reported + [(f[0], f[1]) for f in new])
    return found


def _distinct(*views: _View) -> list[_View]:
    """The views that differ (a markup view with nothing to remove is the view it was made of)."""
    return [view for index, view in enumerate(views) if view not in views[:index]]


def _each_view(
    scan: Callable[[str, _View], Iterable[Finding]], text: str, *views: _View
) -> list[Finding]:
    """What `scan` finds in each distinct view, in order, each piece of text once."""
    found = [finding for view in _distinct(*views) for finding in scan(text, view)]
    return _apart(sorted(found, key=lambda f: (f[0], -f[1])))


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


# the front-matter fields that hold a figure (an outcome's or context figure's value, a range's
# ends, a baseline, a comparison group's level, a whole, an amount of money): written as a YAML
# number there, it is read as a number, never as the digits of an NHS or a phone number
FIGURE_FIELDS = frozenset(
    {"value", "low", "high", "baseline", "comparison", "out_of", "amount_gbp"}
)


def _figure_field(path: FieldPath) -> bool:
    """Whether `path` names a figure field by its last key ('outcomes[0].value.low')."""
    return bool(path) and isinstance(path[-1], str) and path[-1] in FIGURE_FIELDS


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
        elif _figure_field(path):
            continue  # a figure is a number, not text: 1500000000 is £1.5 billion
        else:
            number = str(value)
            findings = _scan_numbers(number, [_View(number, None)], None)
        for _offset, _end, message, hint, severity, code in findings:
            line, column = located.position(path)
            problems.append(
                Problem(name, line, column, format_field(path), message, hint, severity, code)
            )
    return problems
