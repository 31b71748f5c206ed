"""Pull-request check: validate the changed case studies, annotate, and write the job summary.

Runs `kb validate --changed --base BASE --format json`, prints GitHub annotations for the errors
(GitHub shows at most 10 a step, so the first 10, then a notice), and writes every problem of the
changed files to the job summary ($GITHUB_STEP_SUMMARY). Exit 1 when a changed file is invalid.
Usage: python .github/scripts/pr_report.py BASE
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

MAX_ANNOTATIONS = 10


def _escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def main(base: str) -> int:
    kb = Path(sys.executable).with_name("kb")
    done = subprocess.run(
        [str(kb), "validate", "--changed", "--base", base, "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode not in (0, 1):
        print(done.stderr, file=sys.stderr)
        return done.returncode
    report = json.loads(done.stdout)
    problems = report["problems"]
    errors = [p for p in problems if p["severity"] == "error"]
    root = Path.cwd().resolve()

    def rel(path: str) -> str:
        try:
            return str(Path(path).resolve().relative_to(root))
        except ValueError:
            return path

    for p in errors[:MAX_ANNOTATIONS]:
        message = p["message"] + (f". Hint: {p['hint']}" if p["hint"] else "")
        title = f"kb validate: {p['field']}" if p["field"] else "kb validate"
        print(
            f"::error file={_escape(rel(p['path']), True)},line={p['line']},col={p['column']},"
            f"title={_escape(title, True)}::{_escape(message)}"
        )
    if len(errors) > MAX_ANNOTATIONS:
        print(f"::notice::{len(errors) - MAX_ANNOTATIONS} more errors: see the job summary")
    lines = [
        "## Case-study check",
        "",
        f"{report['files_checked']} changed case study file(s) checked: "
        f"{len(errors)} error(s), {len(problems) - len(errors)} warning(s).",
        "",
    ]
    if problems:
        lines += [
            "| File | Line | Severity | Field | Problem | How to fix |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {_cell(rel(p['path']))} | {p['line']} | {p['severity']} | {_cell(p['field'])} | "
            f"{_cell(p['message'])} | {_cell(p['hint'])} |"
            for p in problems
        ]
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
    else:
        print("\n".join(lines))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "origin/main"))
