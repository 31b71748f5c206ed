"""Whole-site builds with mkdocs: strict mode, links, search text, sanitising, `kb build`."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from click.testing import CliRunner
from conftest import DATA, MKDOCS_YML, ROOT, load_unvalidated

from kb.check.library import load_library
from kb.cli import main
from kb.errors import ContentError, SiteError
from kb.index.embed import HashingEmbedder
from kb.publish.plugin import build_site, render_site
from kb.settings import Settings


def settings_for(tmp: Path, content: Path) -> Settings:
    return Settings(content_dir=content, cache_dir=tmp / "cache", site_dir=tmp / "site", model=None)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture library built once, strictly, with the fake embedder."""
    tmp = tmp_path_factory.mktemp("built")
    settings = settings_for(tmp, DATA / "content")
    report = build_site(settings, strict=True, embedder=HashingEmbedder(), config_file=MKDOCS_YML)
    assert report.cases == 4
    assert report.warnings == []
    assert set(report.seconds) == {"validate", "index", "site"}
    from kb.publish import plugin as mkdocs_plugin

    mkdocs_plugin._shared.clear()
    return settings.site_dir


class Page(HTMLParser):
    """Every tag with its attributes, and the text of scripts and of the title."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.title = ""
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "title"):
            self._in = tag
            if tag == "script":
                self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "script":
            self.scripts[-1] += data
        elif self._in == "title":
            self.title += data


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text("utf-8"))
    return page


def internal_links(site_dir: Path) -> list[tuple[Path, str]]:
    """(page, target) for every relative href/src in the built site whose target is missing."""
    broken = []
    for html in site_dir.rglob("*.html"):
        for _tag, attrs in parse(html).tags:
            for name in ("href", "src"):
                value = attrs.get(name)
                if not value:
                    continue
                parts = urlsplit(value)
                if parts.scheme or parts.netloc or not parts.path:
                    continue
                base = site_dir if parts.path.startswith("/") else html.parent
                target = (base / unquote(parts.path).lstrip("/")).resolve()
                if parts.path.endswith("/"):
                    target = target / "index.html"
                if not target.exists():
                    broken.append((html.relative_to(site_dir), value))
    return broken


def test_every_page_exists(built: Path) -> None:
    for path in (
        "index.html",
        "catalogue/index.html",
        "coverage/index.html",
        "frameworks/index.html",
        "contributing/index.html",
        "using/index.html",
        "browse/index.html",
        "browse/region/index.html",
        "browse/region/east-of-england/index.html",
        "browse/ics/greater-manchester/index.html",
        "browse/tier/secondary/index.html",
        "browse/meps/public/index.html",
        "browse/three-cs/clarity/index.html",
        "browse/topic/falls/index.html",
        "cases/alpha-falls-east/index.html",
        "search/search_index.json",
    ):
        assert (built / path).is_file(), path


def test_no_internal_link_is_broken(built: Path) -> None:
    assert internal_links(built) == []


def test_case_page_has_facts_figures_and_comparables(built: Path) -> None:
    html = (built / "cases/alpha-falls-east/index.html").read_text("utf-8")
    assert '<a href="../../browse/region/east-of-england/"' in html
    assert '<a href="../../catalogue/?status=pilot"' in html
    # the headline results, as sentences, with estimates and targets marked in words
    headline = html[html.index('<ul class="kb-results">') :]
    headline = headline[: headline.index("</ul>")]
    assert "12% fewer falls-related admissions in the first year" in headline
    assert "£100,000 to £150,000 yearly saving to the system per year (estimate)" in html
    assert "At least 5,000 people reached by 2026 (target)" in html
    # every figure as a card with its numbered source, no table
    assert 'class="kb-figure kb-figure-estimated"' in html
    assert re.search(r'source <a href="#source-1"[^>]*>1</a>, p\. 4', html)
    assert "<table>" not in html[html.index('id="outcome-figures"') : html.index('id="context"')]
    # the repository links made from repo_url and edit_uri in mkdocs.yml
    assert "/edit/main/tests/site/data/content/alpha-falls-east.md" in html  # the file itself
    assert ">Edit this case study</a>" in html and ">Suggest a case study</a>" in html
    comparables = html[html.index('id="comparable-initiatives"') :]
    assert comparables.count("<li>") == 3  # the other three case studies of the fixture library
    assert "similarity" in comparables and "Shares:" in comparables
    assert '<li id="source-1"><a href="https://example.org/alpha"' in html
    assert "content/alpha-falls-east.md" in html  # the theme override's source note


def test_search_index_holds_metadata_labels(built: Path) -> None:
    index = json.loads((built / "search/search_index.json").read_text("utf-8"))
    alpha = " ".join(
        d["text"] for d in index["docs"] if d["location"].startswith("cases/alpha-falls-east/")
    )
    for label in (
        "East of England",
        "Norfolk and Waveney",
        "Secondary prevention",
        "Tertiary prevention",
        "Medical",
        "Capacity",
        "Falls",
        "Pilot",
        "Level 2",
    ):
        assert label in alpha, label


def test_frameworks_page_lists_every_value(built: Path) -> None:
    from kb.format.vocab import load_vocabularies

    vocab = load_vocabularies()
    text = (built / "frameworks/index.html").read_text("utf-8")
    listed = (vocab.tiers, vocab.meps, vocab.three_cs, vocab.kaiser, vocab.evidence_levels)
    for vocabulary in listed:
        for term in vocabulary.terms:
            assert term.label.replace("'", "&#39;") in text or term.label in text, term.label
    assert "kb:terms" not in text


def test_catalogue_page_has_filters_and_every_case(built: Path) -> None:
    page = parse(built / "catalogue/index.html")
    cards = [a for tag, a in page.tags if tag == "div" and "kb-card" in (a.get("class") or "")]
    assert len(cards) == 4
    selects = [a.get("data-facet") for tag, a in page.tags if tag == "select"]
    assert selects == ["region", "ics", "tier", "meps", "three-cs", "topic", "status", "level",
                       "evidence"]  # fmt: skip
    scripts = [a.get("src") or "" for tag, a in page.tags if tag == "script"]
    assert any(s.endswith("assets/javascripts/catalogue.js") for s in scripts)
    assert not any(s.startswith(("http:", "https:", "//")) for s in scripts)


def test_site_loads_nothing_from_elsewhere(built: Path) -> None:
    for html in built.rglob("*.html"):
        for tag, attrs in parse(html).tags:
            if tag in ("script", "link", "img", "iframe"):
                for name in ("src", "href"):
                    value = attrs.get(name) or ""
                    assert not value.startswith(("http:", "https:", "//")), (html, value)


def test_shipped_content_builds_strict(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, ROOT / "content")
    entries = load_library(settings.content_dir)
    warnings = render_site(
        entries, settings, strict=True, embedder=HashingEmbedder(), config_file=MKDOCS_YML
    )
    assert warnings == []
    assert (settings.site_dir / "cases/norfolk-falls-prevention/index.html").is_file()
    assert internal_links(settings.site_dir) == []


def test_a_placeholder_repository_gives_no_repository_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mkdocs.yml ships a placeholder repo_url: until it (or KB_REPO_URL) names the repository,
    the site has no source link and no 'Edit this case study', rather than links to nowhere."""
    from kb.publish.plugin import PLACEHOLDER_REPOSITORY

    assert PLACEHOLDER_REPOSITORY in MKDOCS_YML.read_text("utf-8")
    monkeypatch.delenv("KB_REPO_URL", raising=False)
    settings = settings_for(tmp_path, DATA / "content")
    build_site(settings, strict=True, embedder=HashingEmbedder(), config_file=MKDOCS_YML)
    pages = [p.read_text("utf-8") for p in settings.site_dir.rglob("*.html")]
    case = (settings.site_dir / "cases/alpha-falls-east/index.html").read_text("utf-8")
    assert len(pages) > 10 and not any(PLACEHOLDER_REPOSITORY in page for page in pages)
    assert ">Edit this case study</a>" not in case and 'class="md-source"' not in case
    assert ">Suggest a case study</a>" in case  # the contributing page, on the site itself
    from kb.publish import plugin as mkdocs_plugin

    mkdocs_plugin._shared.clear()
    monkeypatch.setenv("KB_REPO_URL", "https://git.example.org/ics/library")
    build_site(settings, strict=True, embedder=HashingEmbedder(), config_file=MKDOCS_YML)
    case = (settings.site_dir / "cases/alpha-falls-east/index.html").read_text("utf-8")
    edit = "https://git.example.org/ics/library/edit/main/tests/site/data/content/alpha-falls-east.md"
    assert f'href="{edit}"' in case and 'class="md-source"' in case


def test_link_to_unknown_case_in_content_fails_strict(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, DATA / "broken")
    with pytest.raises(SiteError) as failure:
        build_site(settings, strict=True, embedder=HashingEmbedder(), config_file=MKDOCS_YML)
    assert "links to an unknown case study 'no-such-case'" in str(failure.value)
    # without --strict the site is built and the problem is reported
    report = build_site(settings, embedder=HashingEmbedder(), config_file=MKDOCS_YML)
    assert any("unknown case study 'no-such-case'" in w for w in report.warnings)


def test_link_to_unknown_case_in_hand_written_page_fails_strict(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(MKDOCS_YML, project / "mkdocs.yml")
    shutil.copytree(ROOT / "site", project / "site")
    home = project / "site" / "index.md"
    home.write_text(home.read_text("utf-8") + "\nSee [a case](cases/no-such-study.md).\n", "utf-8")
    settings = settings_for(tmp_path, DATA / "content")
    with pytest.raises(SiteError) as failure:
        build_site(
            settings, strict=True, embedder=HashingEmbedder(), config_file=project / "mkdocs.yml"
        )
    assert "index.md links to an unknown case study 'no-such-study'" in str(failure.value)


def test_malicious_case_study_puts_no_script_in_the_site(tmp_path: Path) -> None:
    malicious = DATA / "malicious" / "zeta-malicious.md"
    # the validator refuses it ...
    with pytest.raises(ContentError):
        load_library(DATA / "malicious")
    # ... and if it got past, the site still escapes and sanitises it
    entries = [*load_library(DATA / "content"), load_unvalidated(malicious)]
    settings = settings_for(tmp_path, DATA / "content")
    render_site(entries, settings, embedder=HashingEmbedder(), config_file=MKDOCS_YML)
    zeta = settings.site_dir / "cases/zeta-malicious/index.html"
    assert "Zeta" in zeta.read_text("utf-8")
    checked = 0
    for html in settings.site_dir.rglob("*.html"):
        page = parse(html)
        checked += 1
        assert "<" not in page.title and "alert" not in "".join(page.scripts), html
        for tag, attrs in page.tags:
            assert tag not in ("iframe", "object", "embed", "frame", "math"), (html, tag)
            assert tag != "script" or not attrs.get("src") or "alert" not in attrs["src"]
            for name, value in attrs.items():
                assert not name.startswith("on"), (html, tag, name)
                if name in ("href", "src", "action", "formaction", "data", "srcdoc"):
                    lowered = (value or "").strip().lower()
                    assert not lowered.startswith(("javascript:", "data:", "vbscript:")), html
                    assert name != "srcdoc", html
    assert checked > 50
    # the text is still there, as text
    text = zeta.read_text("utf-8")
    assert "&lt;script&gt;alert(&#x27;org&#x27;)&lt;/script&gt;Zeta Trust" in text or (
        "&lt;script&gt;alert('org')&lt;/script&gt;Zeta Trust" in text
    )


def test_kb_build_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr("kb.index.embed.embedder_for", lambda model: HashingEmbedder())
    result = CliRunner().invoke(main, ["build", "--strict"])
    assert result.exit_code == 0, result.output
    assert "Validating" in result.output and "Updating the search index" in result.output
    assert "Building the site" in result.output
    assert "Built 4 case studies into" in result.output
    assert (tmp_path / "site" / "cases" / "alpha-falls-east" / "index.html").is_file()


def test_kb_build_reports_invalid_content(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("KB_CONTENT_DIR", str(DATA / "malicious"))
    result = CliRunner().invoke(main, ["build"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "zeta-malicious.md:" in result.output
    assert "raw HTML <script> is not allowed" in result.output


def test_search_index_skips_lists_and_comparables(built: Path) -> None:
    index = json.loads((built / "search/search_index.json").read_text("utf-8"))
    locations = [d["location"] for d in index["docs"]]
    assert "browse/" in locations  # the overview stays searchable; the long lists do not
    assert not any(
        loc.startswith(("catalogue/", "browse/region/", "browse/topic/")) for loc in locations
    )
    comparables = [d for d in index["docs"] if d["location"].endswith("#comparable-initiatives")]
    assert comparables and all(d["text"] == "" for d in comparables if "cases/" in d["location"])
    assert not any("similarity" in d["text"] for d in index["docs"])


def run_mkdocs(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    mkdocs = Path(sys.executable).parent / "mkdocs"
    return subprocess.run(
        [str(mkdocs), *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_plain_mkdocs_build_reports_invalid_content(tmp_path: Path) -> None:
    result = run_mkdocs(
        "build", "--strict", "-d", str(tmp_path / "out"),
        env={"KB_CONTENT_DIR": str(DATA / "malicious")},
    )  # fmt: skip
    assert result.returncode == 1
    assert "kb: " in result.stderr and "zeta-malicious.md" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.model
def test_plain_mkdocs_build_strict_with_the_real_model(tmp_path: Path) -> None:
    """`mkdocs build --strict` alone builds the index it needs (real model) and the site."""
    result = run_mkdocs(
        "build", "--strict", "-d", str(tmp_path / "out"),
        env={"KB_CONTENT_DIR": str(ROOT / "content"), "KB_CACHE_DIR": str(tmp_path / "cache")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out/cases/norfolk-falls-prevention/index.html").is_file()
    assert (tmp_path / "cache").is_dir()


def test_plugin_watches_the_content_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    from mkdocs.config import load_config

    from kb.publish.plugin import KbPlugin

    monkeypatch.setenv("KB_CONTENT_DIR", str(DATA / "content"))
    config = load_config(str(MKDOCS_YML))
    plugin = config.plugins["kb"]
    assert isinstance(plugin, KbPlugin)
    plugin.on_config(config)

    class Server:
        watched: list[str] = []

        def watch(self, path: str) -> None:
            self.watched.append(path)

    server = Server()
    plugin.on_serve(server, config=config, builder=lambda: None)  # type: ignore[arg-type]
    assert server.watched == [str(DATA / "content")]


def test_kb_serve_reports_a_busy_port(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    monkeypatch.chdir(ROOT)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(main, ["serve", "--port", str(port)])
    assert result.exit_code == 1
    assert f"cannot serve on 127.0.0.1:{port}" in result.output
    assert "Traceback" not in result.output
