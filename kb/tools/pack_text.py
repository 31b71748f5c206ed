"""A peer-review pack as text: Markdown, or HTML that prints cleanly on A4, section by section.

One walk over the pack's sections serves both formats. Figures are phrased through
`kb.format.figures`; contributed text is escaped (HTML) or quoted as validated Markdown."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kb.format.content import Entry
from kb.format.figures import format_outcome, format_source
from kb.format.vocab import load_vocabularies
from kb.search.searcher import Searcher
from kb.tools.pack import _STATUS, Format, Pack, PackCase, PackRequest, Prompt, build_pack

__all__ = ["make_pack", "render_pack"]


def _section(entry: Entry, heading: str) -> str:
    text = next((s.text for s in entry.sections if s.heading == heading), "")
    return text.strip() or "Not stated in the sources."


def _where(entry: Entry) -> str:
    vocab = load_vocabularies()
    case = entry.case
    system = ", ".join(vocab.ics.label(i) for i in case.ics) or "national"
    region = ", ".join(vocab.regions.label(r) for r in case.region) or "England"
    return f"{system} ({region})"


def _outcome_rows(entry: Entry) -> list[tuple[str, str, str, str, str]]:
    vocab = load_vocabularies()
    return [
        (
            o.metric,
            format_outcome(o, vocab, status=False),
            _STATUS[o.status],
            o.timeframe,
            o.comparator,
        )
        for o in entry.case.outcomes
    ]


def _cell(text: str) -> str:
    """Text for a Markdown table cell: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def _tie(prompt: Prompt, pack: Pack) -> str:
    """' (raised by case studies 1 and 3, Gloucestershire and Essex: 3Cs capacity)'."""
    if not prompt.cases:
        return ""
    numbers = [str(n) for n, c in enumerate(pack.cases, 1) if c.entry.case.title in prompt.cases]
    places = [t.split(":")[0] for t in prompt.cases]
    many = len(numbers) > 1
    which = ", ".join(numbers[:-1]) + " and " + numbers[-1] if many else numbers[0]
    names = ", ".join(places[:-1]) + " and " + places[-1] if len(places) > 1 else places[0]
    noun = "case studies" if many else "case study"
    return f" (raised by {noun} {which}, {names}: {prompt.basis})"


def _prepared(pack: Pack) -> str:
    if pack.participants:
        who = "for " + ", ".join(pack.participants)
    else:
        who = "for an open session (no participating systems named)"
    return f"Prepared {pack.day.isoformat()} {who}. Session: {pack.minutes} minutes."


_CSS = """
@page { size: A4; margin: 18mm 16mm; }
body { font: 11pt/1.45 system-ui, sans-serif; color: #111; max-width: 48rem; margin: 2rem auto; }
h1 { font-size: 20pt; } h2 { font-size: 15pt; margin-top: 1.6em; } h3 { font-size: 12pt; }
table { border-collapse: collapse; width: 100%; margin: .5em 0 1em; font-size: 10pt; }
th, td { border: 1px solid #999; padding: 4px 6px; text-align: left; vertical-align: top; }
th { background: #eee; }
.meta { color: #444; font-style: italic; }
.notes td { height: 2.2em; }
@media print {
  body { margin: 0; max-width: none; }
  .page { break-before: page; }
  tr, li, .keep { break-inside: avoid; }
  h2, h3 { break-after: avoid; }
}
"""


def _h(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _md_html(text: str) -> str:
    """A section's Markdown as safe HTML (contributed text: only plain formatting tags)."""
    import markdown
    import nh3

    rendered = markdown.markdown(text)
    return nh3.clean(
        rendered,
        tags={"p", "ul", "ol", "li", "strong", "em", "code", "a", "br"},
        attributes={"a": {"href"}},
        url_schemes={"https"},
    )


_NO_FIGURES = "The sources give no figures."


_CASE_SECTIONS = ("What made it work", "Challenges", "Lessons for peers")  # quoted in each case


def _facts(entry: Entry) -> tuple[str, str, str]:
    """A case study's tiers, evidence level and sources, in words."""
    vocab = load_vocabularies()
    case = entry.case
    tiers = ", ".join(vocab.tiers.label(t) for t in case.tiers)
    evidence = vocab.evidence_levels.label(str(case.evidence.level))
    sources = "; ".join(format_source(s.title, s.publisher, s.year) for s in case.sources)
    return tiers, evidence, sources


def _clock(minutes: int) -> str:
    """Minutes from the start of the session as 'h:mm'."""
    return f"{minutes // 60}:{minutes % 60:02d}"


def _md_title(pack: Pack) -> list[str]:
    return [f"# Peer-review pack: {_cell(pack.theme)}", "", _prepared(pack), ""]


def _md_selection(pack: Pack) -> list[str]:
    return ["## How the case studies were chosen", "", *[f"- {x}" for x in pack.selection], ""]


def _md_agenda(pack: Pack) -> list[str]:
    rows = [
        f"| {_clock(item.start)} | {item.minutes} | {_cell(item.title)} | {item.lead} |"
        for item in pack.agenda
    ]
    total = sum(i.minutes for i in pack.agenda)
    head = ["## Agenda", "", "| Time | Minutes | Item | Led by |", "|---|---|---|---|"]
    return [*head, *rows, "", f"Total: {total} minutes.", ""]


def _md_roles(pack: Pack) -> list[str]:
    return ["## Roles", "", *[f"- **{role}**: {duty}" for role, duty in pack.roles], ""]


def _md_own(pack: Pack) -> list[str]:
    out = ["## Where we start: the participating systems", ""]
    if not pack.participants:
        out += ["No participating systems were named.", ""]
    for label, mine in pack.own.items():
        out += [f"### {label}", ""]
        if not mine:
            out += [
                f"{label} has no case study in the library yet: ask them to bring a "
                "one-page summary of their work on this theme.",
                "",
            ]
        for entry in mine:
            out += [f"**{entry.case.title}** (`{entry.case.id}`)", "", entry.case.summary, ""]
            out += [f"- {m}: {f} ({s.lower()}, {t})" for m, f, s, t, _ in _outcome_rows(entry)]
            out.append("")
    return out


def _md_side_by_side(pack: Pack) -> list[str]:
    out = [
        "## Outcomes side by side",
        "",
        "Grouped by case study. Estimates and targets are marked as such: they are not results.",
        "",
    ]
    for n, case in enumerate(pack.cases, 1):
        out += [f"### {n}. {case.entry.case.title}", ""]
        rows = _outcome_rows(case.entry)
        if not rows:
            out += [case.entry.case.outcomes_note or _NO_FIGURES, ""]
            continue
        out += [
            "| Outcome | Figure | Achieved, estimate or target | Timeframe | Versus |",
            "|---|---|---|---|---|",
        ]
        out += [f"| {' | '.join(_cell(c) for c in row)} |" for row in rows] + [""]
    return out


def _md_case(n: int, case: PackCase) -> list[str]:
    entry, c = case.entry, case.entry.case
    tiers, evidence, sources = _facts(entry)
    out = [
        f"## Case study {n}: {c.title}",
        "",
        f"*{_where(entry)}. Tiers: {tiers}. Evidence: {evidence}.*",
        "",
        f"*Why it is here:* {'; '.join(case.reasons)}.",
        "",
        "### Summary",
        "",
        c.summary,
        "",
        "### Outcomes",
        "",
    ]
    rows = _outcome_rows(entry)
    out += [f"- {m}: {f} ({s.lower()}; {t}; versus {v})" for m, f, s, t, v in rows] or [
        c.outcomes_note or _NO_FIGURES
    ]
    out.append("")
    for heading in _CASE_SECTIONS:
        out += [f"### {heading}", "", _section(entry, heading), ""]
    return out + [f"*Sources:* {sources}. Case study id: `{c.id}`.", ""]


def _md_cases(pack: Pack) -> list[str]:
    return [line for n, case in enumerate(pack.cases, 1) for line in _md_case(n, case)]


def _md_prompts(pack: Pack) -> list[str]:
    prompts = [f"{n}. {p.text}{_tie(p, pack)}" for n, p in enumerate(pack.prompts, 1)]
    return ["## Discussion prompts", "", *prompts, ""]


def _md_notes(pack: Pack) -> list[str]:
    rows = ["|   |   |   |"] * 12
    return ["## Notes", "", "| Point | Who | Action and date |", "|---|---|---|", *rows, ""]


def _html_title(pack: Pack) -> list[str]:
    return [
        "<!DOCTYPE html>",
        '<html lang="en-GB"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Peer-review pack: {_h(pack.theme)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Peer-review pack: {_h(pack.theme)}</h1>",
        f'<p class="meta">{_h(_prepared(pack))}</p>',
    ]


def _html_selection(pack: Pack) -> list[str]:
    items = [f"<li>{_h(line)}</li>" for line in pack.selection]
    return ["<h2>How the case studies were chosen</h2><ul>", *items, "</ul>"]


def _html_agenda(pack: Pack) -> list[str]:
    rows = [
        f"<tr><td>{_clock(item.start)}</td><td>{item.minutes}</td>"
        f"<td>{_h(item.title)}</td><td>{_h(item.lead)}</td></tr>"
        for item in pack.agenda
    ]
    total = sum(i.minutes for i in pack.agenda)
    return [
        '<h2>Agenda</h2><table class="agenda"><thead><tr><th>Time</th><th>Minutes</th>'
        "<th>Item</th><th>Led by</th></tr></thead><tbody>",
        *rows,
        f'</tbody></table><p>Total: <span id="total">{total}</span> minutes.</p>',
    ]


def _html_roles(pack: Pack) -> list[str]:
    items = [f"<li><strong>{_h(r)}</strong>: {_h(d)}</li>" for r, d in pack.roles]
    return ["<h2>Roles</h2><ul>", *items, "</ul>"]


def _html_own(pack: Pack) -> list[str]:
    parts = ['<section class="page"><h2>Where we start: the participating systems</h2>']
    if not pack.participants:
        parts.append("<p>No participating systems were named.</p>")
    for label, mine in pack.own.items():
        parts.append(f"<h3>{_h(label)}</h3>")
        if not mine:
            parts.append(
                f"<p>{_h(label)} has no case study in the library yet: ask them to bring "
                "a one-page summary of their work on this theme.</p>"
            )
        for entry in mine:
            parts.append(
                f"<p><strong>{_h(entry.case.title)}</strong></p><p>{_h(entry.case.summary)}</p><ul>"
            )
            parts += [
                f"<li>{_h(m)}: {_h(f)} ({_h(s.lower())}, {_h(t)})</li>"
                for m, f, s, t, _ in _outcome_rows(entry)
            ]
            parts.append("</ul>")
    return [*parts, "</section>"]


def _html_side_by_side(pack: Pack) -> list[str]:
    parts = [
        '<section class="page"><h2>Outcomes side by side</h2>',
        "<p>Grouped by case study. Estimates and targets are marked as such: they are not "
        "results.</p>",
    ]
    for n, case in enumerate(pack.cases, 1):
        parts.append(f'<h3 class="keep">{n}. {_h(case.entry.case.title)}</h3>')
        rows = _outcome_rows(case.entry)
        if not rows:
            parts.append(f"<p>{_h(case.entry.case.outcomes_note or _NO_FIGURES)}</p>")
            continue
        parts.append(
            "<table><thead><tr><th>Outcome</th><th>Figure</th><th>Achieved, estimate or "
            "target</th><th>Timeframe</th><th>Versus</th></tr></thead><tbody>"
        )
        parts += ["<tr>" + "".join(f"<td>{_h(c)}</td>" for c in row) + "</tr>" for row in rows]
        parts.append("</tbody></table>")
    return [*parts, "</section>"]


def _html_case(n: int, case: PackCase) -> list[str]:
    entry, c = case.entry, case.entry.case
    tiers, evidence, sources = _facts(entry)
    parts = [
        f'<section class="page case" id="case-{n}">',
        f"<h2>Case study {n}: {_h(c.title)}</h2>",
        f'<p class="meta">{_h(_where(entry))}. Tiers: {_h(tiers)}. Evidence: '
        f"{_h(evidence)}.</p>",
        f"<p><em>Why it is here:</em> {_h('; '.join(case.reasons))}.</p>",
        f"<h3>Summary</h3><p>{_h(c.summary)}</p><h3>Outcomes</h3><ul>",
    ]
    parts += [
        f"<li>{_h(m)}: {_h(f)} ({_h(s.lower())}; {_h(t)}; versus {_h(v)})</li>"
        for m, f, s, t, v in _outcome_rows(entry)
    ] or [f"<li>{_h(c.outcomes_note or _NO_FIGURES)}</li>"]
    parts.append("</ul>")
    for heading in _CASE_SECTIONS:
        parts.append(f"<h3>{heading}</h3>{_md_html(_section(entry, heading))}")
    return [
        *parts,
        f'<p class="meta">Sources: {_h(sources)}. Case study id: {_h(c.id)}.</p>',
        "</section>",
    ]


def _html_cases(pack: Pack) -> list[str]:
    return [line for n, case in enumerate(pack.cases, 1) for line in _html_case(n, case)]


def _html_prompts(pack: Pack) -> list[str]:
    items = [f"<li>{_h(p.text)}<em>{_h(_tie(p, pack))}</em></li>" for p in pack.prompts]
    return ['<section class="page"><h2>Discussion prompts</h2><ol>', *items, "</ol></section>"]


def _html_notes(pack: Pack) -> list[str]:
    return [
        '<section class="page"><h2>Notes</h2>',
        '<table class="notes"><thead><tr><th>Point</th><th>Who</th><th>Action and date</th>'
        "</tr></thead><tbody>",
        *["<tr><td></td><td></td><td></td></tr>"] * 16,
        "</tbody></table></section>",
    ]


_Lines = Callable[[Pack], list[str]]


@dataclass(frozen=True)
class _PackSection:
    """One section of a pack, as Markdown lines and as HTML lines."""

    markdown: _Lines
    html: _Lines


_SECTIONS: tuple[_PackSection, ...] = (
    _PackSection(_md_title, _html_title),
    _PackSection(_md_selection, _html_selection),
    _PackSection(_md_agenda, _html_agenda),
    _PackSection(_md_roles, _html_roles),
    _PackSection(_md_own, _html_own),
    _PackSection(_md_side_by_side, _html_side_by_side),
    _PackSection(_md_cases, _html_cases),
    _PackSection(_md_prompts, _html_prompts),
    _PackSection(_md_notes, _html_notes),
)


def _markdown(pack: Pack) -> str:
    return "\n".join(line for section in _SECTIONS for line in section.markdown(pack))


def _html(pack: Pack) -> str:
    body = [line for section in _SECTIONS for line in section.html(pack)]
    return "\n".join([*body, "</body></html>", ""])


def render_pack(pack: Pack, fmt: Format = "md") -> str:
    """The pack as Markdown or as printable HTML."""
    if fmt == "html":
        return _html(pack)
    return _markdown(pack)


def make_pack(
    searcher: Searcher, entries: Sequence[Entry], request: PackRequest, fmt: Format = "md"
) -> str:
    """Build the pack and render it."""
    return render_pack(build_pack(searcher, entries, request), fmt)
