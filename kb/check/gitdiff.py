"""Which case-study files a branch changed, from git: the one module that runs git.

`changed_files` lists Markdown files under the given folders that differ between the merge base of
BASE and HEAD and the working tree (committed, staged, unstaged and new untracked files alike),
leaving out deleted files.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from kb.errors import GitError

__all__ = [
    "changed_files",
    "default_base",
]


def _git(args: Sequence[str], cwd: Path) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=60
        )
    except FileNotFoundError:
        raise GitError("git is not installed; hint: install git, or name the files") from None
    if done.returncode != 0:
        message = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"
        raise GitError(f"git {' '.join(args[:2])}: {message}")
    return done.stdout


def default_base(cwd: Path) -> str:
    """origin/main if it exists, else main."""
    for ref in ("origin/main", "main"):
        try:
            _git(["rev-parse", "--verify", "--quiet", ref + "^{commit}"], cwd)
            return ref
        except GitError:
            continue
    raise GitError("no 'main' or 'origin/main' branch to compare with; hint: give --base REF")


def changed_files(base: str | None, folders: Sequence[Path], cwd: Path) -> list[Path]:
    """Markdown files under `folders` added or changed since BASE (and not yet committed)."""
    root = Path(_git(["rev-parse", "--show-toplevel"], cwd).strip())
    ref = base or default_base(cwd)
    try:
        merge_base = _git(["merge-base", ref, "HEAD"], cwd).strip()
    except GitError:
        raise GitError(f"cannot compare with '{ref}'; hint: fetch it, or give --base REF") from None
    specs = [str(Path(f).resolve()) for f in folders]
    names = _git(["diff", "--name-only", "--diff-filter=d", "-z", merge_base, "--", *specs], root)
    names += _git(["ls-files", "--others", "--exclude-standard", "-z", "--", *specs], root)
    found = {root / n for n in names.split("\0") if n.endswith(".md")}
    return sorted(p for p in found if p.is_file() and not p.name.startswith("_"))
