"""The GitHub set-up: workflows pass actionlint and zizmor, and the pull-request check annotates
the changed case studies only, with the full report in the job summary."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is missing: pip install -e '.[dev]'")
    return str(path)


def test_actionlint_passes() -> None:
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    done = subprocess.run([_tool("actionlint"), *files], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_zizmor_passes() -> None:
    done = subprocess.run(
        [_tool("zizmor"), "--offline", "--no-progress", str(WORKFLOWS)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_actions_are_pinned_and_permissions_are_least() -> None:
    for path in WORKFLOWS.glob("*.yml"):
        text = path.read_text()
        for ref in re.findall(r"uses:\s*(\S+)", text):
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", ref), (path.name, ref)
        data = yaml.safe_load(text)
        assert data["permissions"] == {"contents": "read"}, path.name
    publish = yaml.safe_load((WORKFLOWS / "publish.yml").read_text())
    assert publish["jobs"]["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}
    assert "pages" not in str(publish["jobs"]["build"].get("permissions", ""))


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_pull_request_check_on_a_branch(tmp_path: Path) -> None:
    if not shutil.which("git"):
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    content = repo / "content"
    content.mkdir(parents=True)
    for name in ("dorset-blood-pressure.md", "norfolk-falls-prevention.md"):
        shutil.copy(ROOT / "content" / name, content / name)
    # a file already on main with a warning: it must not be reported
    warned = (ROOT / "content" / "west-yorkshire-trauma-informed-system.md").read_text()
    (content / "west-yorkshire-trauma-informed-system.md").write_text(warned)
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
    }
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True, env=env)
    subprocess.run(["git", "add", "."], cwd=repo, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", "library"], cwd=repo, check=True, env=env)
    subprocess.run(["git", "checkout", "-qb", "new-cases"], cwd=repo, check=True, env=env)
    good = (ROOT / "content" / "dorset-blood-pressure.md").read_text()
    good = good.replace("id: dorset-blood-pressure", "id: dorset-blood-pressure-second-wave")
    good = re.sub(r"(\n    url: [^\n]*)", r"\1\n    accessed: 2026-11-23", good)  # no warning
    (content / "dorset-blood-pressure-second-wave.md").write_text(good)
    bad = (ROOT / "content" / "norfolk-falls-prevention.md").read_text()
    bad = bad.replace("id: norfolk-falls-prevention", "id: norfolk-falls-copy")
    bad = re.sub(r"\n    timeframe: [^\n]*", "", bad, count=1)
    bad = bad.replace("status: pilot", "status:", 1)
    (content / "norfolk-falls-copy.md").write_text(bad)
    subprocess.run(["git", "add", "."], cwd=repo, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", "two cases"], cwd=repo, check=True, env=env)

    summary = tmp_path / "summary.md"
    done = subprocess.run(
        [sys.executable, str(ROOT / ".github" / "scripts" / "pr_report.py"), "main"],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**env, "GITHUB_STEP_SUMMARY": str(summary), "KB_CONTENT_DIR": str(content)},
    )
    assert done.returncode == 1, done.stdout + done.stderr
    annotations = [line for line in done.stdout.splitlines() if line.startswith("::error ")]
    assert annotations
    assert all("file=content/norfolk-falls-copy.md" in a for a in annotations), annotations
    assert any("'timeframe' is required" in a for a in annotations)
    assert any("'status' is blank" in a for a in annotations)
    report = summary.read_text()
    assert "2 changed case study file(s) checked" in report
    assert "content/norfolk-falls-copy.md" in report
    assert "dorset-blood-pressure-second-wave" not in report  # valid: nothing to say
    assert "west-yorkshire" not in report  # unchanged files' warnings are left out


def _makefile_target(name: str) -> tuple[str, str]:
    """A Makefile target's prerequisites and recipe."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    match = re.search(rf"^{re.escape(name)}:([^\n]*)\n((?:\t[^\n]*\n)*)", text, re.M)
    assert match, name
    return match.group(1), match.group(2)


def test_the_published_site_is_built_as_make_build_builds_it() -> None:
    """The publish workflow runs `make build`, which installs the package with the model and
    onnxruntime-web (npm ci) as on a contributor's machine, and gives the build the repository's
    address for the 'Edit this case study' links."""
    publish = yaml.safe_load((ROOT / ".github/workflows/publish.yml").read_text(encoding="utf-8"))
    steps = publish["jobs"]["build"]["steps"]
    build = next(s for s in steps if "make build" in s.get("run", ""))
    assert "TORCH_INDEX=https://download.pytorch.org/whl/cpu" in build["run"]
    assert "--strict" in build["run"] and "--site-dir build/site" in build["run"]
    assert build["env"]["KB_REPO_URL"] == "${{ github.server_url }}/${{ github.repository }}"
    assert not any("pip install" in s.get("run", "") for s in steps)  # no second recipe
    prerequisites, recipe = _makefile_target("build")
    assert "$(STAMP)" in prerequisites and "site-deps" in prerequisites
    assert "$(BUILD_ARGS)" in recipe
    _, site_deps = _makefile_target("site-deps")
    assert "npm ci" in site_deps
    _, install = _makefile_target("$(STAMP)")
    assert "torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))" in install
    assert "-e '.[dev]'" in install
    pull = yaml.safe_load((ROOT / ".github/workflows/pull-request.yml").read_text("utf-8"))
    site_job = "\n".join(s.get("run", "") for s in pull["jobs"]["site"]["steps"])
    assert "make build" in site_job and "pip install" not in site_job
