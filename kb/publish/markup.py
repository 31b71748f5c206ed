"""What every page needs: escaping for Markdown and attributes, page paths and links, the facets
the site browses by, and the banner of validation problems."""

from __future__ import annotations

import html
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlencode

from kb.format.vocab import Vocabularies, Vocabulary

if TYPE_CHECKING:
    from kb.format.model import CaseStudy, Figure

__all__ = [
    "BROWSE_FACETS",
    "CATALOGUE_FACETS",
    "CATALOGUE_PATH",
    "COVERAGE_PATH",
    "Facet",
    "SimilarHit",
    "SitePage",
    "case_path",
    "facet_values",
    "md_text",
    "plain_title",
    "problems_html",
    "repository_file_url",
]


# front-matter for generated list pages: their text repeats the case studies', so search skips them
NOT_SEARCHED = "---\nsearch:\n  exclude: true\n---\n\n"


CASES_DIR = "cases"


BROWSE_DIR = "browse"


CATALOGUE_PATH = "catalogue.md"


COVERAGE_PATH = "coverage.md"


FRAMEWORKS_PATH = "frameworks.md"


class SimilarHit(Protocol):
    """What a page needs from a 'similar' search hit (`kb.search.searcher.SearchHit` fits)."""

    @property
    def case_id(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def score(self) -> float: ...

    @property
    def shared_facets(self) -> Mapping[str, Sequence[str]]: ...


@dataclass(frozen=True)
class SitePage:
    """One generated page: where it goes (docs-relative .md path) and its Markdown."""

    path: str
    markdown: str
    kind: str  # "case", "browse", "catalogue" or "coverage"
    case_id: str | None = None
    title: str | None = None  # set where the title is contributed text


@dataclass(frozen=True)
class Facet:
    """A way to group case studies: a field of the case study and its vocabulary."""

    key: str  # URL slug, query parameter and data attribute
    field: str  # CaseStudy field name, or "evidence" for the evidence level
    vocab: str  # attribute of Vocabularies
    title: str  # singular heading, e.g. "Prevention tier"
    plural: str  # e.g. "prevention tiers"


REGION = Facet("region", "region", "regions", "Region", "regions")


ICS = Facet("ics", "ics", "ics", "Integrated care system", "integrated care systems")


TIER = Facet("tier", "tiers", "tiers", "Prevention tier", "prevention tiers")


MEPS = Facet("meps", "meps", "meps", "MEPS category", "MEPS categories")


THREE_CS = Facet("three-cs", "three_cs", "three_cs", "3Cs theme", "3Cs themes")


TOPIC = Facet("topic", "topics", "topics", "Topic", "topics")


STATUS = Facet("status", "status", "statuses", "Status", "statuses")


LEVEL = Facet("level", "level", "levels", "Level of the system", "levels of the system")


EVIDENCE = Facet("evidence", "evidence", "evidence_levels", "Evidence level", "evidence levels")


BROWSE_FACETS: tuple[Facet, ...] = (REGION, ICS, TIER, MEPS, THREE_CS, TOPIC)


CATALOGUE_FACETS: tuple[Facet, ...] = (*BROWSE_FACETS, STATUS, LEVEL, EVIDENCE)


_STATUS_GROUPS = (
    ("achieved", "Achieved results", "Measured after the initiative ran."),
    ("estimated", "Estimates", "Modelled or projected figures: not measured results."),
    ("target", "Targets", "What the initiative aims for: not results."),
)


# Characters that could start Markdown or HTML syntax, as character references. Python-Markdown
# passes references through untouched, so the text reads the same and cannot become markup.
_MD_ESCAPES = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    '"': "&quot;",
    "*": "&#42;",
    "_": "&#95;",
    "[": "&#91;",
    "]": "&#93;",
    "`": "&#96;",
    "|": "&#124;",
    "\\": "&#92;",
    "{": "&#123;",
    "}": "&#125;",
    "#": "&#35;",
    "!": "&#33;",
}


_MD_ESCAPE_TABLE = str.maketrans(_MD_ESCAPES)


def md_text(value: object) -> str:
    """Escape contributed text for a Markdown page: it reads the same and cannot become markup."""
    text = " ".join(str(value).split()).translate(_MD_ESCAPE_TABLE)
    # a leading '-', '+' or '1.' would start a list
    if text[:1] in ("-", "+"):
        return f"&#{ord(text[0])};{text[1:]}"
    return re.sub(r"^(\d+)\.", r"\1&#46;", text)


def plain_title(value: str) -> str:
    """A page title safe in templates that print it raw or unescape it (no markup can form)."""
    text = " ".join(value.split()).replace("<", "\u2039").replace(">", "\u203a")
    return re.sub(r"&(?=[#A-Za-z0-9])", "&amp;", text)


def attr(value: object) -> str:
    """Escape a value for an HTML attribute."""
    return html.escape(" ".join(str(value).split()), quote=True)


def case_path(case_id: str) -> str:
    """The docs-relative path of a case study's page."""
    return f"{CASES_DIR}/{case_id}.md"


def browse_path(facet: Facet, value: str | None = None) -> str:
    """The docs-relative path of a facet's index page, or of one value's page."""
    if value is None:
        return f"{BROWSE_DIR}/{facet.key}/index.md"
    return f"{BROWSE_DIR}/{facet.key}/{value}.md"


def link(from_path: str, to_path: str, query: Mapping[str, str] | None = None) -> str:
    """A relative Markdown link target from one docs page to another (mkdocs resolves `.md`)."""
    base = posixpath.dirname(from_path)
    target = posixpath.relpath(to_path, base or ".")
    if query:
        target += "?" + urlencode(query)
    return target


def _md_link(
    label: str, from_path: str, to_path: str, query: Mapping[str, str] | None = None
) -> str:
    return f"[{md_text(label)}]({link(from_path, to_path, query)})"


def facet_values(case: CaseStudy, facet: Facet) -> tuple[str, ...]:
    """The vocabulary ids a case study has for a facet."""
    if facet.field == "evidence":
        return (str(case.evidence.level),)
    value = getattr(case, facet.field)
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def _vocab(vocab: Vocabularies, facet: Facet) -> Vocabulary:
    result: Vocabulary = getattr(vocab, facet.vocab)
    return result


def _labels(vocabulary: Vocabulary, ids: Iterable[str]) -> list[str]:
    return [vocabulary.label(i) for i in ids]


def _source_ref(figure: Figure, case: CaseStudy) -> str:
    """'source 1, p. 9' as HTML, the number linking to the numbered reference."""
    if figure.source > len(case.sources):
        return "source not stated"
    ref = f'source <a href="#source-{figure.source}">{figure.source}</a>'
    if isinstance(figure.page, int) or (isinstance(figure.page, str) and figure.page.isdigit()):
        ref += f", p. {figure.page}"
    elif figure.page:
        ref += f", {html.escape(str(figure.page))}"
    return ref


def repository_file_url(
    repo_url: str | None, edit_uri: str | None, docs_dir: str, path: str
) -> str | None:
    """The address to edit a file of the repository, made from mkdocs.yml's repo_url and edit_uri.

    `edit_uri` points at the docs folder (`edit/main/site/`); a case study lives elsewhere in the
    repository (`content/x.md`), so the docs folder is taken off the end and `path` (relative to
    the repository root) put in its place. None when mkdocs.yml names no repository.
    """
    if not repo_url or edit_uri is None:
        return None
    base = edit_uri.strip("/")
    docs = docs_dir.strip("/")
    if docs and (base == docs or base.endswith("/" + docs)):
        base = base[: -len(docs)].rstrip("/")
    parts = [repo_url.rstrip("/"), base, path.lstrip("/")]
    return "/".join(p for p in parts if p)


class ProblemLike(Protocol):
    """What the problems banner needs from a validation problem (`kb.check.problems.Problem`
    fits)."""

    @property
    def path(self) -> str: ...

    @property
    def line(self) -> int: ...

    @property
    def field(self) -> str: ...

    @property
    def message(self) -> str: ...

    @property
    def hint(self) -> str: ...


def problems_html(problems: Sequence[ProblemLike], root: str | None = None) -> str:
    """A banner listing validation problems with file and line (HTML, every value escaped).

    `kb serve` shows it on every page while a file is invalid; the site keeps the valid case
    studies meanwhile, and the page reloads once the file is fixed.
    """
    if not problems:
        return ""
    files = len({p.path for p in problems})
    noun = "problem" if len(problems) == 1 else "problems"
    where = "file" if files == 1 else "files"
    items = []
    for p in problems:
        path = p.path
        if root and path.startswith(root.rstrip("/") + "/"):
            path = path[len(root.rstrip("/")) + 1 :]
        text = f"<code>{html.escape(path)}</code>, line {p.line}"
        if p.field:
            text += f", <code>{html.escape(p.field)}</code>"
        text += f": {html.escape(p.message)}"
        if p.hint:
            text += f' <span class="kb-problem-hint">(hint: {html.escape(p.hint)})</span>'
        items.append(f"<li>{text}</li>")
    return (
        '<div class="kb-problems" id="kb-problems" role="alert">'
        f"<p><strong>{len(problems)} {noun} in {files} {where}</strong>: the site shows the "
        "case studies that are valid. Fix the file and save it; this page reloads by itself.</p>"
        f'<ul>{"".join(items)}</ul></div>'
    )
