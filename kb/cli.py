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

    Contributors: `kb new` starts a case study, `kb validate` checks it. Leaders and facilitators:
    `kb search`, `kb similar`, and the site built by `kb build` / `kb serve`.
    """


def _settings() -> Any:
    from kb.settings import Settings

    return Settings.from_env()


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="text for people, json for scripts, github for pull-request annotations.",
)
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
def validate(paths: tuple[Path, ...], fmt: str, strict: bool) -> None:
    """Check case-study files (default: the content folder) and report every problem.

    Exit 0 when valid (warnings allowed), 1 when any file is invalid, 2 on a usage error.
    """
    from kb.report import render
    from kb.validate import validate_paths

    targets = list(paths) or [_settings().content_dir]
    report = validate_paths(targets)
    output = render(report, fmt)
    if output:
        click.echo(output)
    failed = bool(report.errors) or (strict and bool(report.warnings))
    sys.exit(1 if failed else 0)


@main.command()
@click.option("--title", help="Title of the initiative (at most 120 characters).")
@click.option("--id", "case_id", default="", help="File id (default: made from the title).")
@click.option("--summary", default="", help="One or two sentences.")
@click.option("--ics", default="", help="The ICS, as named when the work ran.")
@click.option("--region", default="", help="NHS England region (default: the ICS's region).")
@click.option("--tier", "tiers", multiple=True, help="Prevention tier (repeatable).")
@click.option("--organisation", "organisations", multiple=True, help="Lead organisation (repeatable).")
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
    ics: str,
    region: str,
    tiers: tuple[str, ...],
    organisations: tuple[str, ...],
    content_dir: Path | None,
    interactive: bool | None,
) -> None:
    """Start a new case study with the required fields and sections. Never overwrites a file."""
    from kb.scaffold import NewCase, write_new_case

    ask = sys.stdin.isatty() if interactive is None else interactive
    if ask:
        title = title or click.prompt("Title")
        summary = summary or click.prompt("One-sentence summary", default="", show_default=False)
        ics = ics or click.prompt("ICS (blank if national)", default="", show_default=False)
        if not tiers:
            answer = click.prompt(
                "Prevention tiers (wider-determinants, primary, secondary, tertiary; comma-separated)",
                default="",
                show_default=False,
            )
            tiers = tuple(t.strip() for t in answer.split(",") if t.strip())
        if not organisations:
            answer = click.prompt("Lead organisation", default="", show_default=False)
            organisations = (answer,) if answer else ()
    if not title:
        raise click.UsageError("--title is required (or run in a terminal to be asked)")
    case = NewCase(
        title=title,
        id=case_id,
        summary=summary,
        ics=ics,
        region=region,
        tiers=list(tiers),
        organisations=list(organisations),
    )
    path = write_new_case(case, content_dir or _settings().content_dir)
    click.echo(f"Created {path}")
    click.echo(f"Fill in every TODO, then run: kb validate {path}")


@main.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file instead of standard output.",
)
def schema(output: Path | None) -> None:
    """Print the JSON Schema of the front-matter, for editors with a YAML language server."""
    from kb.schema import case_study_schema

    text = json.dumps(case_study_schema(), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"Wrote {output}", err=True)


@main.command()
@click.argument("field", required=False)
def vocab(field: str | None) -> None:
    """List the allowed values of a controlled field (or the fields, with no argument)."""
    from dataclasses import fields

    from kb.vocab import Vocabularies, load_vocabularies

    vocabularies = load_vocabularies()
    names = [f.name for f in fields(Vocabularies)]
    if field is None:
        click.echo("Controlled fields: " + ", ".join(names))
        return
    key = field.replace("-", "_")
    aliases = {"region": "regions", "tier": "tiers", "kaiser_level": "kaiser", "topic": "topics",
               "status": "statuses", "level": "levels", "unit": "units"}
    key = aliases.get(key, key)
    if key not in names:
        raise click.UsageError(f"unknown field '{field}'; choose from: {', '.join(names)}")
    for term in getattr(vocabularies, key).terms:
        extra = f"  (region: {term.region})" if term.region else ""
        click.echo(f"{term.id:<45} {term.label}{extra}")
