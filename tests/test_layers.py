"""The package's stages import downward only, and no module imports one that imports it back."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _imports(package: Path) -> dict[str, set[str]]:
    """Every kb module and the kb modules it imports, at the top or inside functions."""
    graph: dict[str, set[str]] = {}
    for path in sorted(package.rglob("*.py")):
        module = ".".join(path.relative_to(package.parent).with_suffix("").parts)
        module = module.removesuffix(".__init__")
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    is_module = (package.parent / (sub.replace(".", "/") + ".py")).exists()
                    found.add(sub if is_module else node.module)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
        graph[module] = {m for m in found if m.startswith("kb.") and m != module}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles: each a path that leads from a module back to itself."""
    circles: list[list[str]] = []
    for start in sorted(graph):
        stack = [(start, [start])]
        seen: set[str] = set()
        while stack:
            module, path = stack.pop()
            for target in sorted(graph.get(module, ())):
                if target == start:
                    circles.append([*path, start])
                elif target not in seen:
                    seen.add(target)
                    stack.append((target, [*path, target]))
    return circles


def test_no_module_imports_one_that_imports_it_back() -> None:
    assert _cycles(_imports(ROOT / "kb")) == []


def test_the_cycle_finder_finds_a_circle() -> None:
    graph = {"kb.a": {"kb.b"}, "kb.b": {"kb.c"}, "kb.c": {"kb.a"}, "kb.d": {"kb.a"}}
    assert ["kb.a", "kb.b", "kb.c", "kb.a"] in _cycles(graph)
    assert not any(c[0] == "kb.d" for c in _cycles(graph))


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root, env=env, capture_output=True, text=True, check=False,
    )


@pytest.fixture(scope="module")
def lint_imports() -> Path:
    if not LINT_IMPORTS.exists():
        pytest.fail("lint-imports is not installed: run `make install`")
    return LINT_IMPORTS


def test_the_layers_contract_holds(lint_imports: Path) -> None:
    done = _lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 kept, 0 broken" in done.stdout


def test_an_upward_import_breaks_the_contract(lint_imports: Path, tmp_path: Path) -> None:
    shutil.copytree(ROOT / "kb", tmp_path / "kb", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    vocab = tmp_path / "kb" / "format" / "vocab.py"
    vocab.write_text(
        vocab.read_text(encoding="utf-8")
        + "\n\ndef _upward() -> None:\n    from kb.cli import main  # noqa: F401\n",
        encoding="utf-8",
    )
    done = _lint(tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "kb.format.vocab -> kb.cli" in done.stdout
    assert "0 kept, 1 broken" in done.stdout
