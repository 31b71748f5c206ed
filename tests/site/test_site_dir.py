"""The site folder: a build empties it, so it must be new, empty or an earlier site build."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import MKDOCS_YML, ROOT

from kb.check.library import load_library
from kb.cli import main
from kb.errors import SiteError
from kb.index.embed import HashingEmbedder
from kb.paths import SITE_MARKER
from kb.publish.plugin import render_site
from kb.settings import Settings


@pytest.fixture
def content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Three shipped case studies copied into tmp_path/content, which KB_CONTENT_DIR names."""
    folder = tmp_path / "content"
    folder.mkdir()
    for path in sorted((ROOT / "content").glob("*.md"))[:3]:
        shutil.copy(path, folder / path.name)
    monkeypatch.setenv("KB_CONTENT_DIR", str(folder))
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr("kb.index.embed.embedder_for", lambda model: HashingEmbedder())
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (hidden ones too), by relative path, with its bytes."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def build(*args: str) -> Result:
    return CliRunner().invoke(main, ["build", *args])


def test_site_dir_content_leaves_the_content_untouched(content: Path) -> None:
    before = snapshot(content)
    result = build("--site-dir", str(content))
    assert result.exit_code == 1, result.output
    assert "overlaps the content folder" in result.output
    assert "Traceback" not in result.output
    assert snapshot(content) == before


def test_relative_site_dir_content_is_refused(
    content: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(content.parent)
    monkeypatch.setenv("KB_CONTENT_DIR", "content")
    before = snapshot(content)
    result = CliRunner().invoke(main, ["build", "--site-dir", "./content/../content"])
    assert result.exit_code == 1, result.output
    assert "overlaps the content folder" in result.output
    assert snapshot(content) == before


def test_site_dir_inside_or_holding_the_content_is_refused(content: Path) -> None:
    before = snapshot(content)
    for site_dir in (content / "site", content.parent):
        result = build("--site-dir", str(site_dir))
        assert result.exit_code == 1, result.output
        assert "overlaps the content folder" in result.output
    assert not (content / "site").exists()
    assert snapshot(content) == before


def test_site_dir_reached_through_a_link_to_the_content_is_refused(content: Path) -> None:
    link = content.parent / "link"
    link.symlink_to(content, target_is_directory=True)
    before = snapshot(content)
    result = build("--site-dir", str(link))
    assert result.exit_code == 1, result.output
    assert "overlaps the content folder" in result.output
    assert snapshot(content) == before


def test_a_folder_of_other_files_is_refused_and_kept(content: Path, tmp_path: Path) -> None:
    other = tmp_path / "mine"
    (other / "notes").mkdir(parents=True)
    (other / "report.docx").write_bytes(b"precious")
    (other / "notes" / "a.txt").write_text("keep me")
    before = snapshot(other)
    result = build("--site-dir", str(other))
    assert result.exit_code == 1, result.output
    assert f"no {SITE_MARKER} file" in result.output
    assert "choose an empty or new --site-dir" in result.output
    assert snapshot(other) == before


def test_a_site_folder_holding_the_cache_is_refused_even_if_empty(content: Path) -> None:
    site_dir = content.parent / "out"
    site_dir.mkdir()
    cache = site_dir / "cache"
    result = CliRunner().invoke(
        main, ["build", "--site-dir", str(site_dir)], env={"KB_CACHE_DIR": str(cache)}
    )
    assert result.exit_code == 1, result.output
    assert "which a build would delete" in result.output


def test_new_then_earlier_build_folder_is_built_and_marked(content: Path, tmp_path: Path) -> None:
    site_dir = tmp_path / "new" / "site"
    first = build("--site-dir", str(site_dir))
    assert first.exit_code == 0, first.output
    assert (site_dir / SITE_MARKER).is_file()
    assert (site_dir / "index.html").is_file()
    (site_dir / "stale.html").write_text("from an older build")
    again = build("--site-dir", str(site_dir))  # an earlier build: emptied and built again
    assert again.exit_code == 0, again.output
    assert not (site_dir / "stale.html").exists()
    assert (site_dir / SITE_MARKER).is_file() and (site_dir / "index.html").is_file()


@pytest.mark.parametrize("inside", ["search", "assets", "assets/javascripts", "index.html"])
def test_a_link_inside_an_earlier_build_is_refused_and_its_target_kept(
    content: Path, tmp_path: Path, inside: str
) -> None:
    site_dir = tmp_path / "site"
    assert build("--site-dir", str(site_dir)).exit_code == 0
    other = tmp_path / "other"
    other.mkdir()
    (other / "index.html").write_text("someone else's page")
    (other / "keep.txt").write_text("keep")
    link = site_dir / inside
    if link.is_dir():
        shutil.rmtree(link)
    else:
        link.unlink()
    link.symlink_to(other if inside != "index.html" else other / "index.html")
    result = build("--site-dir", str(site_dir))
    assert result.exit_code == 1, result.output
    assert "holds a symbolic link" in result.output and inside in result.output
    assert "Traceback" not in result.output
    assert snapshot(other) == {"index.html": b"someone else's page", "keep.txt": b"keep"}


def test_an_empty_folder_is_used(content: Path, tmp_path: Path) -> None:
    site_dir = tmp_path / "empty"
    site_dir.mkdir()
    result = build("--site-dir", str(site_dir))
    assert result.exit_code == 0, result.output
    assert (site_dir / SITE_MARKER).is_file()


def test_a_linked_marker_does_not_count(content: Path, tmp_path: Path) -> None:
    other = tmp_path / "mine"
    other.mkdir()
    (other / "keep.txt").write_text("keep")
    (tmp_path / "elsewhere").write_text("")
    (other / SITE_MARKER).symlink_to(tmp_path / "elsewhere")
    result = build("--site-dir", str(other))
    assert result.exit_code == 1, result.output
    assert (other / "keep.txt").read_text() == "keep"


def test_plain_mkdocs_builds_are_guarded_by_the_plugin(content: Path, tmp_path: Path) -> None:
    """render_site (what `mkdocs build` runs) refuses too, before mkdocs empties the folder."""
    other = tmp_path / "mine"
    other.mkdir()
    (other / "keep.txt").write_text("keep")
    settings = Settings(content, tmp_path / "cache", other, None)
    with pytest.raises(SiteError, match="no .kb-site file"):
        render_site(
            load_library(content), settings, embedder=HashingEmbedder(), config_file=MKDOCS_YML
        )
    assert snapshot(other) == {"keep.txt": b"keep"}
    with pytest.raises(SiteError, match="overlaps the content folder"):
        render_site(
            load_library(content),
            Settings(content, tmp_path / "cache", content, None),
            embedder=HashingEmbedder(),
            config_file=MKDOCS_YML,
        )


def test_a_file_as_site_dir_is_refused(content: Path, tmp_path: Path) -> None:
    file = tmp_path / "site.txt"
    file.write_text("mine")
    result = CliRunner().invoke(main, ["build"], env={"KB_SITE_DIR": str(file)})
    assert result.exit_code == 1, result.output
    assert "is not a folder" in result.output
    assert file.read_text() == "mine"


@pytest.mark.parametrize("port", ["70000", "-1", "0", "65536"])
def test_serve_refuses_a_port_out_of_range(port: str) -> None:
    result = CliRunner().invoke(main, ["serve", "--port", port])
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--port'" in result.output
    assert "1<=x<=65535" in result.output
    assert "Traceback" not in result.output and "OverflowError" not in result.output


def test_a_linked_case_study_is_not_published(content: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.md"
    shutil.copy(next(content.glob("*.md")), outside)
    (content / "leak.md").symlink_to(outside)
    site_dir = tmp_path / "out"
    result = build("--site-dir", str(site_dir))
    assert result.exit_code == 1, result.output
    assert "leak.md:1:1: error: this is a symbolic link to a file" in result.output
    assert not (site_dir / "cases" / "leak").exists()
