"""The `kb` command line: thin commands over the library. Exit codes: 0 ok, 1 failed, 2 usage.

Heavy modules (embeddings, faiss, mkdocs) are imported inside the commands that need them, so
`kb --help`, `kb validate` and `kb new` start fast.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from kb import __version__
from kb.errors import KbError

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


class KbGroup(click.Group):
    """Turns library errors into one clean line and exit 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KbError as exc:
            click.secho(f"Error: {exc}", fg="red", err=True)
            sys.exit(1)


@click.group(cls=KbGroup)
@click.version_option(__version__, prog_name="kb")
def main() -> None:
    """A peer-learning library of prevention case studies for integrated care systems.

    Contributors: `kb new` starts a case study, `kb validate` checks it. Leaders: the site built by
    `kb build` / `kb serve`, and `kb search` / `kb similar`. Facilitators: `kb pack`.
    """


def _output_options(
    help_output: str, help_force: str = "Replace the output file if it exists."
) -> Any:
    """`-o/--output FILE` and `--force`, as every command that writes a file takes them."""

    def decorate(func: Any) -> Any:
        func = click.option("--force", is_flag=True, help=help_force)(func)
        return click.option(
            "-o",
            "--output",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help=help_output,
        )(func)

    return decorate


def _settings() -> Any:
    from kb.settings import Settings

    return Settings.from_env()


def _check_output(path: Path, **rules: Any) -> None:
    """Refuse an -o path before any slow work: a usage error (exit 2) with the reason."""
    from kb.errors import OutputError
    from kb.paths import check_output

    try:
        check_output(path, **rules)
    except OutputError as exc:
        raise click.BadParameter(str(exc), param_hint="'-o' / '--output'") from None


_report_format = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="text for people, json for scripts, github for pull-request annotations.",
)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@_report_format
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option(
    "--changed",
    is_flag=True,
    help="Only case studies changed since --base (git), plus the rules across files.",
)
@click.option("--base", default=None, metavar="REF", help="With --changed: compare with REF "
              "(default: origin/main, else main).")
def validate(
    paths: tuple[Path, ...], fmt: str, strict: bool, changed: bool, base: str | None
) -> None:
    """Check case-study files (default: the content folder) and report every problem.

    Exit 0 when valid (warnings allowed), 1 when any file is invalid, 2 on a usage error.
    """
    from kb.check.report import render
    from kb.check.validate import validate_paths

    if changed:
        report = _validate_changed(paths, base)
    else:
        targets = list(paths) or [_settings().content_dir]
        report = validate_paths(targets)
    output = render(report, fmt)
    if output:
        click.echo(output)
    failed = bool(report.errors) or (strict and bool(report.warnings))
    sys.exit(1 if failed else 0)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@_report_format
@click.option("--changed", is_flag=True, help="Only case studies changed since --base (git).")
@click.option("--base", default=None, metavar="REF", help="With --changed: compare with REF.")
def duplicates(paths: tuple[Path, ...], fmt: str, changed: bool, base: str | None) -> None:
    """Warn when a case study looks like the same initiative as another in the library.

    Compares PATHS (default: every case study) with every case study in the content folder that
    is valid, with the embedding model; invalid ones are left out, each with a warning. The JSON
    form adds `near_duplicates` (empty when none), `compared`, `compared_with`, `left_out` and
    `not_compared`. Exit 0 (warnings only), 1 when a given file is invalid (it is still compared
    if it reads as a case study).
    """
    from kb.check.report import render
    from kb.index.embed import embedder_for
    from kb.tools.duplicates import check_files

    settings = _settings()
    targets = _changed_files(paths, base) if changed else list(paths)
    result = check_files(
        targets if changed or targets else None,
        Path(settings.content_dir),
        embedder_for(settings.model),
    )
    output = render(
        result.report,
        fmt,
        summary=result.summary(),
        extra=result.to_json(),
        command="kb duplicates",
    )
    if output:
        click.echo(output)
    sys.exit(0 if result.report.ok else 1)


def _changed_files(paths: tuple[Path, ...], base: str | None) -> list[Path]:
    """Case-study files changed since BASE under PATHS (default: the content folder)."""
    from kb.check.gitdiff import changed_files

    files = changed_files(base, list(paths) or [_settings().content_dir], Path.cwd())
    if not files:
        click.echo("No case study changed.", err=True)
    return files


def _validate_changed(paths: tuple[Path, ...], base: str | None) -> Any:
    from kb.check.changed import validate_changed

    return validate_changed(_changed_files(paths, base), Path(_settings().content_dir))


@main.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json"]),
    default="csv",
    show_default=True,
    help="csv opens in Excel; json for scripts.",
)
@_output_options("Write to this file instead of standard output.")
def export(fmt: str, output: Path | None, force: bool) -> None:
    """Every case study and every outcome, one row each, for analysts (CSV or JSON)."""
    from kb.check.library import load_library
    from kb.paths import write_output
    from kb.tools.export import render_export

    rules: dict[str, Any] = {"overwrite": force, "protect": [_content_dir()]}
    if output is not None:
        _check_output(output, **rules)
    text = render_export(load_library(_settings().content_dir), fmt)
    if output is None:
        click.echo(text, nl=False)
    else:
        write_output(output, text, **rules)
        click.echo(f"Wrote {output}", err=True)


@main.command()
@click.option("--title", help="Title of the initiative (at most 120 characters).")
@click.option(
    "--id",
    "case_id",
    default="",
    help="File id (default: made from the title; a title too long for an 80-character id "
    "gives its first main words).",
)
@click.option(
    "--summary", default="", help="One or two sentences (optional: the file says TODO until given)."
)
@click.option(
    "--ics",
    "ics",
    multiple=True,
    help="The ICS, as named when the work ran; for work begun before July 2022, the ICS that "
    "covers the place (repeatable).",
)
@click.option(
    "--region",
    "regions",
    multiple=True,
    help="NHS England region (repeatable; default: the ICSs' regions).",
)
@click.option("--tier", "tiers", multiple=True, help="Prevention tier (repeatable).")
@click.option(
    "--organisation", "organisations", multiple=True, help="Lead organisation (repeatable)."
)
@click.option(
    "--content-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write it (default: content/).",
)
@click.option(
    "--interactive/--no-interactive",
    default=None,
    help="Ask for missing values (default: when run in a terminal).",
)
def new(
    title: str | None,
    case_id: str,
    summary: str,
    ics: tuple[str, ...],
    regions: tuple[str, ...],
    tiers: tuple[str, ...],
    organisations: tuple[str, ...],
    content_dir: Path | None,
    interactive: bool | None,
) -> None:
    """Start a new case study with the required fields and sections. Never overwrites a file."""
    from kb.tools.scaffold import NewCase, title_id, write_new_case

    ask = sys.stdin.isatty() if interactive is None else interactive
    if ask:
        answers = _ask_new_case(
            {
                "title": title or "",
                "id": case_id,
                "summary": summary,
                "ics": "; ".join(ics),
                "region": "; ".join(regions),
                "tiers": ",".join(tiers),
                "organisation": "; ".join(organisations),
            },
            content_dir or _settings().content_dir,
        )
        title, case_id, summary = answers["title"], answers["id"], answers["summary"]
        ics, regions, tiers = (
            tuple(v for v in answers[key].split(",") if v) for key in ("ics", "region", "tiers")
        )
        leads = tuple(o.strip() for o in answers["organisation"].split(";") if o.strip())
        organisations = organisations or leads
    if not title:
        raise click.UsageError("--title is required (or run in a terminal to be asked)")
    case = NewCase(
        title=title,
        id=case_id,
        summary=summary,
        ics=list(ics),
        region=list(regions),
        tiers=list(tiers),
        organisations=list(organisations),
    )
    path = write_new_case(case, content_dir or _settings().content_dir)
    click.echo(f"Created {path}")
    made = title_id(title)
    if not case_id and made.shortened:
        click.secho(
            f"Note: {made.note()}.\n  To use another id, delete {path} (it holds only the "
            "template) and run kb new again with --id: the place, then the topic, e.g. "
            "--id leeds-warm-homes",
            err=True,
        )
    click.echo(f"Fill in every TODO, then run: kb validate {path}")


_NEW_QUESTIONS = (
    # (answer, prompt, kind checked by kb.tools.scaffold.check_answer or None)
    ("title", "Title", "title"),
    ("id", "File id", "id"),
    ("summary", "One-sentence summary", None),
    ("ics", "ICS (several: separate with ';'; blank if national)", "ics"),
    ("region", "NHS England region (several: separate with ';'; blank: the ICS's)", "region"),
    ("tiers", "Prevention tiers (wider-determinants, primary, secondary, tertiary)", "tiers"),
    ("organisation", "Lead organisation (several: separate with ';')", None),
)


def _ask_new_case(given: dict[str, str], content_dir: Path) -> dict[str, str]:
    """Ask `kb new`'s questions one by one; a bad answer is asked again, the others are kept."""
    from kb.errors import ScaffoldError
    from kb.tools.scaffold import check_answer, title_id

    answers: dict[str, str] = {}
    for key, prompt, kind in _NEW_QUESTIONS:
        value = given.get(key, "")

        def check(text: str, kind: str | None = kind) -> str:
            if kind is None:
                return text.strip()
            try:
                return check_answer(kind, text, content_dir)
            except ScaffoldError as exc:
                raise click.BadParameter(str(exc)) from None

        if key == "id" and not value:
            made = title_id(answers["title"])
            value = made.id
            if made.shortened:  # asked, not taken silently: the contributor may want another
                click.secho(f"Note: {made.note()}.", err=True)
                answers[key] = click.prompt(
                    f"{prompt} (Enter keeps it)",
                    default=value,
                    show_default=True,
                    value_proc=check,
                )
                continue
        if key == "region" and answers["ics"] and not value:
            answers[key] = ""  # the ICS's own region
            continue
        if value:
            try:
                answers[key] = check(value)
                continue
            except click.BadParameter as exc:
                click.secho(f"Error: {exc.message}", fg="red", err=True)
                value = value if key == "id" else ""
        answers[key] = click.prompt(
            prompt, default=value, show_default=bool(value), value_proc=check
        )
    if answers["ics"] and answers["region"]:
        from kb.tools.scaffold import match_regions

        regions, note = match_regions(answers["ics"].split(","), answers["region"].split(","))
        if note:
            click.secho(f"Note: {note}", err=True)
            answers["region"] = ",".join(regions)
    return answers


@main.command()
@_output_options(
    "Write to this file instead of standard output (replaces an earlier schema file).",
    "Replace the output file even if it is not a schema.",
)
def schema(output: Path | None, force: bool) -> None:
    """Print the JSON Schema of the front-matter, for editors with a YAML language server."""
    from kb.format.schema import case_study_schema
    from kb.paths import write_output

    text = json.dumps(case_study_schema(), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    rules: dict[str, Any] = {
        "overwrite": force,
        "replaceable": _is_schema,
        "protect": [_content_dir()],
    }
    _check_output(output, **rules)
    write_output(output, text, **rules)
    click.echo(f"Wrote {output}", err=True)


def _is_schema(head: bytes) -> bool:
    """Whether a file's text is an earlier `kb schema` output, which regenerating may replace."""
    from kb.format.schema import SCHEMA_ID

    try:
        data = json.loads(head.decode("utf-8"))
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("$id") == SCHEMA_ID


def _content_dir() -> Path:
    return Path(_settings().content_dir)


# ---- search: kb index, kb search, kb similar -------------------------------------------------

_FILTER_OPTIONS = (
    # (option, Filters field, help)
    ("--region", "region", "NHS England region"),
    ("--ics", "ics", "integrated care system (a merged ICS includes its predecessors)"),
    ("--tier", "tiers", "prevention tier"),
    ("--meps", "meps", "MEPS determinant"),
    ("--three-cs", "three_cs", "3Cs barrier overcome"),
    ("--topic", "topics", "topic"),
    ("--kaiser", "kaiser_level", "Kaiser pyramid level"),
    ("--status", "status", "status"),
    ("--level", "level", "level of the system"),
    ("--enabler", "enablers", "enabler"),
    ("--challenge", "challenges", "challenge"),
    ("--driver", "drivers", "driver of short-term impact"),
)


def _filter_options(func: Any) -> Any:
    """One option per controlled field, and the minimum evidence level."""
    for option, name, text in reversed(_FILTER_OPTIONS):
        func = click.option(
            option,
            name,
            multiple=True,
            metavar="VALUE",
            help=f"Only this {text} (id, label or alias; repeat for any of several).",
        )(func)
    func = click.option(
        "--evidence",
        "evidence_min",
        type=click.IntRange(1, 5),
        default=None,
        help="Only evidence at this Nesta level or above (1-5).",
    )(func)
    return func


def _search_options(func: Any) -> Any:
    """Filter, limit and output options shared by `kb search` and `kb similar`."""
    func = _filter_options(func)
    func = click.option(
        "--outcome",
        "outcome_kinds",
        multiple=True,
        metavar="KIND",
        help="Only case studies with an outcome of this kind (health, service-use, financial, "
        "experience, process, wider-determinants; repeat for any of several).",
    )(func)
    func = click.option(
        "--outcome-status",
        "outcome_status",
        multiple=True,
        type=click.Choice(["achieved", "estimated", "target"]),
        help="Only case studies with an outcome of this status (with --outcome: the same "
        "outcome has both).",
    )(func)
    func = click.option(
        "--achieved",
        is_flag=True,
        help="Only case studies with a measured (achieved) outcome; short for "
        "--outcome-status achieved.",
    )(func)
    func = click.option(
        "--limit",
        type=click.IntRange(1, 1000),
        default=None,
        help="How many results (search: 10, similar: 5).",
    )(func)
    func = click.option("--json", "as_json", is_flag=True, help="JSON output for scripts.")(func)
    return func


def _run_search(query: str | None, similar_to: str | None, options: dict[str, Any]) -> None:
    from kb.search.filters import Filters
    from kb.search.output import correction_note, find, format_rows

    as_json = options.pop("as_json")
    limit = options.pop("limit") or (5 if similar_to else 10)
    evidence_min = options.pop("evidence_min")
    outcome_kinds = options.pop("outcome_kinds")
    outcome_status = tuple(options.pop("outcome_status")) + (
        ("achieved",) if options.pop("achieved") else ()
    )
    filters = Filters.parse(
        {k: v for k, v in options.items() if v},
        evidence_min=evidence_min,
        outcome_kinds=outcome_kinds,
        outcome_status=outcome_status,
    )
    settings = _settings()
    found = find(
        settings.content_dir,
        settings.cache_dir,
        query=query,
        similar_to=similar_to,
        filters=filters,
        limit=limit,
    )
    if as_json:
        if found.corrected:
            click.echo(f"note: {correction_note(found.corrected)}", err=True)
        click.echo(json.dumps(found.rows, indent=2, ensure_ascii=False))
    else:
        click.echo(format_rows(found.rows, query, found.elsewhere, found.corrected))


@main.command()
@click.option(
    "--model",
    default=None,
    help="Folder of a sentence-transformers model "
    "(default: KB_MODEL or the packaged all-MiniLM-L6-v2).",
)
@click.option("--rebuild", is_flag=True, help="Embed every case study again.")
def index(model: str | None, rebuild: bool) -> None:
    """Build or update the search index (only new or changed case studies are embedded)."""
    from kb.index.build import index_library

    settings = _settings()
    bar: Any = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = click.progressbar(length=total, label="Embedding passages", file=sys.stderr)
            bar.__enter__()
        bar.update(done - bar.pos)

    try:
        report = index_library(
            settings.content_dir,
            settings.cache_dir,
            model=model or settings.model,
            progress=progress,
            rebuild=rebuild,
        )
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    for message in report.messages:
        click.echo(message, err=True)
    click.echo(
        f"Indexed {len(report.added)} new, {len(report.updated)} changed, "
        f"{len(report.removed)} removed, {len(report.unchanged)} unchanged "
        f"({report.passages} passages) in {settings.cache_dir}"
    )


@main.command()
@click.argument("query")
@_search_options
def search(query: str, **options: Any) -> None:
    """Find case studies in your own words, e.g. kb search "older people falling at home".

    Results are ranked by meaning and by words (hybrid), after filters. Run `kb index` first.
    """
    from kb.index.storage import no_cycle_collection

    with no_cycle_collection():  # a one-off process: collecting cycles as it loads costs time
        _run_search(query, None, options)


@main.command()
@click.argument("case_id", metavar="ID")
@_search_options
def similar(case_id: str, **options: Any) -> None:
    """Case studies most like the one with this id (more like this)."""
    from kb.index.storage import no_cycle_collection

    with no_cycle_collection():
        _run_search(None, case_id, options)


@main.command()
@click.argument("theme")
@click.option(
    "--participant",
    "participants",
    multiple=True,
    metavar="ICS",
    help="An ICS taking part (repeatable): its own case studies are listed apart.",
)
@click.option(
    "--cases",
    "--limit",
    "limit",
    type=click.IntRange(1, 50),
    default=4,
    show_default=True,
    help="How many comparable case studies (--limit is the same).",
)
@click.option(
    "--minutes",
    type=click.IntRange(30, 480),
    default=90,
    show_default=True,
    help="Length of the session: the agenda adds up to it.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["md", "html"]),
    default="md",
    show_default=True,
    help="md for Markdown; html prints cleanly on A4 from a browser.",
)
@_output_options("Write the pack to this file instead of standard output.")
@_filter_options
def pack(
    theme: str,
    participants: tuple[str, ...],
    limit: int,
    minutes: int,
    fmt: str,
    output: Path | None,
    force: bool,
    evidence_min: int | None,
    **filters: tuple[str, ...],
) -> None:
    """A peer-review pack on THEME: agenda, roles, relevant cases from elsewhere, prompts, notes.

    For facilitators, e.g. kb pack "falls and frailty" --participant "Norfolk and Waveney"
    --cases 4 --minutes 90 --format html -o pack.html
    """
    from kb.check.library import load_library
    from kb.paths import write_output
    from kb.search.filters import Filters
    from kb.search.searcher import Searcher
    from kb.tools.pack import PackRequest
    from kb.tools.pack_text import make_pack

    rules: dict[str, Any] = {"overwrite": force, "protect": [_content_dir()]}
    if output is not None:
        _check_output(output, **rules)
    parsed = Filters.parse({"ics": participants}) if participants else Filters()
    request = PackRequest(
        theme=theme,
        participants=parsed.ics,
        limit=limit,
        filters=Filters.parse({k: v for k, v in filters.items() if v}, evidence_min=evidence_min),
        minutes=minutes,
    )
    settings = _settings()
    entries = load_library(settings.content_dir)
    searcher = Searcher.open(settings.cache_dir, entries)
    text = make_pack(searcher, entries, request, "html" if fmt == "html" else "md")
    if output is None:
        click.echo(text)
    else:
        write_output(output, text, **rules)
        click.echo(f"Wrote {output}", err=True)


@main.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people, json for scripts.",
)
def stats(fmt: str) -> None:
    """How many case studies each region, tier, MEPS category and leaders' topic has.

    Values below the library's target are marked thin. Exit 0 either way.
    """
    from kb.check.library import load_library
    from kb.tools.stats import coverage, render_text

    report = coverage(load_library(_settings().content_dir))
    if fmt == "json":
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        click.echo(render_text(report))


@main.command()
@click.argument("field", required=False)
def vocab(field: str | None) -> None:
    """List the allowed values of a controlled field (or the fields, with no argument).

    FIELD is a vocabulary (tiers, kaiser, ...) or the front-matter key being filled in (tiers,
    kaiser_level, kind, unit, evidence, method, ...).
    """
    from dataclasses import fields

    from kb.format.vocab import (
        Vocabularies,
        field_vocabularies,
        load_vocabularies,
        vocabularies_named,
    )

    names = ", ".join(f.name for f in fields(Vocabularies))
    keys = ", ".join(field_vocabularies())
    if field is None:
        click.echo(f"Vocabularies: {names}\nFront-matter keys: {keys}")
        return
    try:
        attrs = vocabularies_named(field)
    except KeyError:
        import difflib

        near = difflib.get_close_matches(field, [*names.split(", "), *keys.split(", ")], n=1)
        mean = f"did you mean '{near[0]}'? Or " if near else ""
        raise click.UsageError(
            f"unknown field '{field}'; hint: {mean}choose a vocabulary ({names}) or a "
            f"front-matter key ({keys})"
        ) from None
    vocabularies = load_vocabularies()
    for number, attr in enumerate(attrs):
        vocabulary = getattr(vocabularies, attr)
        if len(attrs) > 1:
            click.echo(("\n" if number else "") + f"{attr} ({vocabulary.name}):")
        for term in vocabulary.terms:
            extra = f"  (region: {term.region})" if term.region else ""
            click.echo(f"{term.id:<45} {term.label}{extra}")


@main.command()
@click.option("--strict", is_flag=True, help="Fail on any warning, such as a broken link.")
@click.option(
    "--site-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write the site (default: build/site, or KB_SITE_DIR).",
)
def build(strict: bool, site_dir: Path | None) -> None:
    """Validate the content, update the search index and build the static site.

    Exit 0 when built, 1 when the content is invalid or the build fails.
    """
    from dataclasses import replace

    os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")
    from kb.publish.plugin import build_site

    settings = _settings()
    if site_dir is not None:
        settings = replace(settings, site_dir=site_dir)
    report = build_site(settings, strict=strict, progress=lambda m: click.echo(m, err=True))
    for warning in report.warnings:
        click.secho(warning, fg="yellow", err=True)
    stages = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in report.seconds.items())
    click.echo(f"Built {report.cases} case studies into {report.site_dir} ({stages})")


@main.command()
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=8000,
    show_default=True,
    help="Port on 127.0.0.1 (1-65535).",
)
@click.option("--strict", is_flag=True, help="Fail on any warning, such as a broken link.")
def serve(port: int, strict: bool) -> None:
    """Build the site and serve it on 127.0.0.1, rebuilding when content/ changes."""
    import logging

    os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")
    from kb.publish.plugin import serve_site

    mkdocs_log = logging.getLogger("mkdocs")
    if not any(h.get_name() == "kb-serve" for h in mkdocs_log.handlers):
        handler = logging.StreamHandler()
        handler.set_name("kb-serve")
        handler.setFormatter(logging.Formatter("%(levelname)-7s -  %(message)s"))
        mkdocs_log.addHandler(handler)
    mkdocs_log.setLevel(logging.INFO)
    serve_site(_settings(), port=port, strict=strict, progress=lambda m: click.echo(m, err=True))
