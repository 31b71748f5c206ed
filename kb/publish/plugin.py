"""The mkdocs adapter: hands the pages `kb.publish.pages` makes to mkdocs-material, and runs builds.

This is the only module that knows mkdocs. It loads the library (`kb.format.content.load_library`),
asks
the search index for each case study's comparable initiatives, and adds the pages
`kb.publish.pages` makes as
generated files, so no generated page is ever committed and `content/` stays the one source. It
also checks links to case studies, sanitises case-study HTML, and has `build_site` and
`serve_site` for `kb build` and `kb serve`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mkdocs.config import config_options as c
from mkdocs.config.base import Config
from mkdocs.exceptions import Abort, ConfigurationError, PluginError
from mkdocs.plugins import BasePlugin, get_plugin_logger
from mkdocs.structure.files import File, Files

from kb.errors import ContentError, KbError, SearchIndexError, SiteError
from kb.format.html import sanitise_html
from kb.format.vocab import load_vocabularies
from kb.publish.markup import SimilarHit, problems_html, repository_file_url
from kb.publish.pages import expand_markers, make_pages, unknown_case_links
from kb.settings import Settings

if TYPE_CHECKING:
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.livereload import LiveReloadServer
    from mkdocs.structure.pages import Page

    from kb.format.content import Entry

__all__ = ["BuildReport", "KbPlugin", "build_site", "find_config", "render_site", "serve_site"]

log = get_plugin_logger(__name__)

Progress = Callable[[str], None]

# Set by build_site/serve_site so that every build in one process (live reloads included) reuses
# one loaded embedding model instead of loading it again.
_shared: dict[str, Any] = {}


PLACEHOLDER_REPOSITORY = "REPLACE-WITH-YOUR-ORGANISATION"


def _repository(config: MkDocsConfig) -> None:
    """The repository the site links to: `KB_REPO_URL` if set, else mkdocs.yml's repo_url. While
    that is still the shipped placeholder, the site has no repository links (no 'Edit this case
    study', no source link), rather than links that lead nowhere."""
    import os

    given = os.environ.get("KB_REPO_URL", "").strip()
    if given:
        config.repo_url = given
    if config.repo_url and PLACEHOLDER_REPOSITORY in config.repo_url:
        log.info(
            "repo_url in mkdocs.yml is still a placeholder: the site has no repository links "
            "until it names the repository (or KB_REPO_URL does)"
        )
        config.repo_url = None
        config.repo_name = None
        config.edit_uri = None


class KbPluginConfig(Config):
    """Options of the `kb` plugin in mkdocs.yml (paths default to `kb.settings.Settings`)."""

    content_dir = c.Optional(c.Type(str))
    cache_dir = c.Optional(c.Type(str))
    comparable = c.Type(int, default=5)
    build_index = c.Type(bool, default=True)


class KbPlugin(BasePlugin[KbPluginConfig]):
    """Adds case-study, browse, catalogue and coverage pages made from `content/`."""

    supports_multiple_instances = False

    def __init__(self) -> None:
        self.settings: Settings | None = None
        self.entries: list[Entry] = []
        self.case_pages: set[str] = set()
        self.generated: set[str] = set()
        self.titles: dict[str, str] = {}
        self.serving = False
        self.problems: list[Any] = []  # validation errors shown in the page while serving
        self.searcher: Any = None  # the index's searcher, for the site's search files

    def on_config(self, config: MkDocsConfig) -> MkDocsConfig | None:
        root = Path(config.config_file_path).resolve().parent if config.config_file_path else None
        settings = _shared.get("settings") or Settings.from_env(root)
        if self.config.content_dir:
            settings = _replace(settings, content_dir=Path(self.config.content_dir))
        if self.config.cache_dir:
            settings = _replace(settings, cache_dir=Path(self.config.cache_dir))
        self.settings = settings
        _repository(config)
        return config

    def on_pre_build(self, *, config: MkDocsConfig) -> None:
        # mkdocs empties the site folder next: allow only a new, empty or earlier site folder
        assert self.settings is not None
        from kb.paths import check_site_dir, mark_site_dir

        site_dir = Path(config.site_dir)
        try:
            check_site_dir(
                site_dir,
                content_dir=self.settings.content_dir,
                protect=(self.settings.cache_dir, Path(config.docs_dir)),
            )
            mark_site_dir(site_dir)
        except KbError as exc:
            raise PluginError(f"kb: {exc}") from None

    def on_startup(self, *, command: str, dirty: bool) -> None:
        self.serving = command == "serve"

    def _load_for_serve(self) -> list[Entry]:
        """The valid case studies; the errors are kept to show in every page, not raised."""
        assert self.settings is not None
        from kb.check.validate import validate_paths

        if not self.settings.content_dir.is_dir():
            raise PluginError(f"kb: no content folder at {self.settings.content_dir}")
        report = validate_paths([self.settings.content_dir])
        self.problems = list(report.errors)
        for problem in self.problems:
            log.warning("%s: %s", problem.location(), problem.message)
        return list(report.entries)

    def on_files(self, files: Files, /, *, config: MkDocsConfig) -> Files | None:
        assert self.settings is not None
        entries = _shared.get("entries")
        self.problems = []
        if entries is None and self.serving:
            entries = self._load_for_serve()
        elif entries is None:
            try:
                from kb.check.library import load_library

                entries = load_library(self.settings.content_dir)
            except ContentError as exc:
                raise PluginError(f"kb: {exc}") from None
        # entries handed over by build_site are used once; a live reload reads the files again
        _shared.pop("entries", None)
        self.entries = list(entries)
        similar = self._comparables(self.entries)
        pages = make_pages(self.entries, similar, load_vocabularies())
        self.case_pages = {p.path for p in pages if p.kind == "case"}
        self.generated = {p.path for p in pages}
        self.titles = {p.path: p.title for p in pages if p.title is not None}
        for page in pages:
            if files.get_file_from_path(page.path) is not None:
                raise PluginError(
                    f"kb: site/{page.path} clashes with a generated page; rename or remove it"
                )
            files.append(File.generated(config, page.path, content=page.markdown))
        return files

    def _comparables(
        self, entries: Sequence[Entry]
    ) -> Mapping[str, Sequence[SimilarHit]] | None:
        """The nearest case studies of each, from the search index (built here if need be)."""
        assert self.settings is not None
        if self.config.comparable <= 0:
            return None
        if not entries:
            return {}
        from kb.search.searcher import Searcher

        embedder = _shared.get("embedder")
        cache_dir = self.settings.cache_dir
        try:
            try:
                searcher = Searcher.open(cache_dir, entries, embedder=embedder)
            except SearchIndexError:
                if not self.config.build_index:
                    raise
                from kb.index.build import update_index

                log.info("Updating the search index in %s", cache_dir)
                update_index(entries, cache_dir, model=self.settings.model, embedder=embedder)
                searcher = Searcher.open(cache_dir, entries, embedder=embedder)
            self.searcher = searcher
            limit = self.config.comparable
            return {e.id: searcher.similar(e.id, limit=limit) for e in entries}
        except KbError as exc:
            raise PluginError(f"kb: cannot list comparable initiatives: {exc}") from None

    def on_page_markdown(
        self, markdown: str, /, *, page: Page, config: MkDocsConfig, files: Files
    ) -> str | None:
        path = page.file.src_uri
        if path not in self.generated:
            markdown = expand_markers(markdown, path, self.entries, load_vocabularies())
        known = (e.id for e in self.entries)
        for case_id in unknown_case_links(markdown, path, known):
            log.error("%s links to an unknown case study '%s'", path, case_id)
        if path in self.titles:
            # templates print the title raw or unescape it: give them one that cannot form markup
            page.meta["title"] = self.titles[path]
        if path in self.case_pages:
            case_id = path.rsplit("/", 1)[-1].removesuffix(".md")
            page.meta["kb_case"] = case_id
            page.edit_url = self._edit_url(config, case_id)
        return markdown

    def _edit_url(self, config: MkDocsConfig, case_id: str) -> str | None:
        """Where to edit a case study's file, from repo_url and edit_uri in mkdocs.yml."""
        assert self.settings is not None
        root = Path(config.config_file_path or ".").resolve().parent
        try:
            content = self.settings.content_dir.resolve().relative_to(root).as_posix()
            docs = Path(config.docs_dir).resolve().relative_to(root).as_posix()
        except ValueError:  # content outside the repository: nothing to link to
            return None
        return repository_file_url(
            config.repo_url, config.edit_uri, docs, f"{content}/{case_id}.md"
        )

    def on_env(self, env: Any, /, *, config: MkDocsConfig, files: Files) -> Any:
        # templates print this as it is: every value in it is escaped by
        # kb.publish.markup.problems_html
        root = str(Path(config.config_file_path or ".").resolve().parent)
        env.globals["kb_problems"] = problems_html(self.problems, root)
        return env

    def on_page_content(
        self, html: str, /, *, page: Page, config: MkDocsConfig, files: Files
    ) -> str | None:
        if page.file.src_uri in self.case_pages:
            _plain_toc(page.toc)
            return sanitise_html(html)
        return html

    def on_post_build(self, *, config: MkDocsConfig) -> None:
        """Write the site's search files (kb.publish.search_data): data, vectors, model and
        runtime."""
        assert self.settings is not None
        if self.searcher is None:
            log.info("kb: no search index, so the site's search shows keyword results only")
            return
        from kb.publish.search_data import export_site_search

        root = Path(config.config_file_path or ".").resolve().parent
        try:
            report = export_site_search(
                self.searcher,
                Path(config.site_dir),
                cache_dir=self.settings.cache_dir,
                project_dir=root,
            )
        except (KbError, OSError) as exc:
            raise PluginError(f"kb: cannot write the site's search files: {exc}") from None
        if not report.model:
            log.info("kb: the site's search shows keyword results only: %s", report.reason)

    def on_serve(
        self, server: LiveReloadServer, /, *, config: MkDocsConfig, builder: Callable[..., Any]
    ) -> LiveReloadServer | None:
        if self.settings is not None and self.settings.content_dir.is_dir():
            server.watch(str(self.settings.content_dir))
        return server


def _plain_toc(items: Any) -> None:
    """Keep the table of contents' titles (HTML that templates print raw) free of markup."""
    for item in items:
        item.title = sanitise_html(item.title, markup=False)
        _plain_toc(item.children)


def _replace(settings: Settings, **changes: Any) -> Settings:
    from dataclasses import replace

    return replace(settings, **changes)


@dataclass
class BuildReport:
    """What a build did: how many case studies, where the site is, the stages' times, warnings."""

    cases: int
    site_dir: Path
    seconds: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def find_config(root: Path | None = None) -> Path:
    """The mkdocs.yml of the project (in the current folder or `root`)."""
    config = (root or Path.cwd()) / "mkdocs.yml"
    if not config.is_file():
        raise SiteError(f"no mkdocs.yml in {config.parent}; run kb build from the project root")
    return config


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.levelname}: {record.getMessage()}")


@contextmanager
def _collect_warnings() -> Iterator[list[str]]:
    handler = _Collect()
    logger = logging.getLogger("mkdocs")
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


def _prepare(
    settings: Settings,
    progress: Progress,
    embedder: Any,
    report: BuildReport,
    *,
    keep_invalid: bool = False,
) -> list[Entry]:
    """Validate the content and bring the search index up to date.

    With `keep_invalid` (serving), invalid files are left out instead of failing: the served
    pages list their problems until they are fixed.
    """
    from kb.check.validate import validate_paths

    started = time.perf_counter()
    progress(f"Validating {settings.content_dir}")
    if not settings.content_dir.is_dir():
        raise ContentError(f"no content folder at {settings.content_dir}")
    result = validate_paths([settings.content_dir])
    if result.errors and keep_invalid:
        progress(
            f"{len(result.errors)} problem(s) in the content: the pages list them, and reload "
            "once the files are fixed"
        )
    elif result.errors:
        from kb.check.report import render

        raise ContentError("the content is invalid:\n" + render(result, "text"))
    entries = list(result.entries)
    report.cases = len(entries)
    report.seconds["validate"] = time.perf_counter() - started

    started = time.perf_counter()
    progress(f"Updating the search index of {len(entries)} case studies in {settings.cache_dir}")
    from kb.index.build import update_index

    shown = [-1]  # the last tenth reported

    def embedded(done: int, total: int) -> None:
        tenth = done * 10 // max(total, 1)
        if tenth > shown[0]:
            shown[0] = tenth
            progress(f"  embedded {done} of {total} passages")

    if embedder is None:
        from kb.index.embed import embedder_for

        embedder = embedder_for(settings.model)
    result_index = update_index(
        entries, settings.cache_dir, model=settings.model, embedder=embedder, progress=embedded
    )
    for message in result_index.messages:
        progress(f"  {message}")
    _shared["embedder"] = embedder
    report.seconds["index"] = time.perf_counter() - started
    return entries


def render_site(
    entries: Sequence[Entry],
    settings: Settings,
    *,
    strict: bool = False,
    embedder: Any = None,
    config_file: Path | None = None,
) -> list[str]:
    """Build the site of these (already validated) entries into `settings.site_dir`.

    Returns mkdocs' warnings; raises SiteError if the build fails (in strict mode, on any warning).
    """
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    config_path = config_file or find_config()
    _shared["entries"] = list(entries)
    _shared["settings"] = settings
    if embedder is not None:
        _shared["embedder"] = embedder
    warnings: list[str] = []
    try:
        with _collect_warnings() as warnings:
            config = load_config(str(config_path), site_dir=str(settings.site_dir), strict=strict)
            build(config)
    except (Abort, ConfigurationError, PluginError) as exc:
        detail = "\n".join(warnings[-20:])
        message = f"the site build failed: {exc}".rstrip(". ")
        raise SiteError(message + (f"\n{detail}" if detail else "")) from None
    finally:
        _shared.pop("entries", None)
    return list(warnings)


def build_site(
    settings: Settings,
    *,
    strict: bool = False,
    progress: Progress | None = None,
    embedder: Any = None,
    config_file: Path | None = None,
) -> BuildReport:
    """Validate, index and build the site into `settings.site_dir`; raise KbError on failure."""
    from kb.paths import check_site_dir

    say = progress or (lambda _message: None)
    # refuse a folder the build must not empty before the slow steps (the plugin checks again)
    check_site_dir(
        settings.site_dir, content_dir=settings.content_dir, protect=(settings.cache_dir,)
    )
    report = BuildReport(cases=0, site_dir=settings.site_dir)
    entries = _prepare(settings, say, embedder, report)
    started = time.perf_counter()
    say(f"Building the site into {settings.site_dir}")
    report.warnings = render_site(
        entries, settings, strict=strict, embedder=embedder, config_file=config_file
    )
    report.seconds["site"] = time.perf_counter() - started
    return report


def serve_site(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    strict: bool = False,
    progress: Progress | None = None,
    embedder: Any = None,
    config_file: Path | None = None,
) -> None:
    """Validate and index, then serve the site with live reload of `content/` until stopped."""
    from mkdocs.commands.serve import serve

    say = progress or (lambda _message: None)
    _check_port(host, port)
    report = BuildReport(cases=0, site_dir=settings.site_dir)
    _prepare(settings, say, embedder, report, keep_invalid=True)
    _shared["settings"] = settings
    say(f"Serving on http://{host}:{port}/ (content/ is watched; Ctrl+C stops)")
    try:
        _refuse_bad_paths()
        serve(
            config_file=str(config_file or find_config()),
            livereload=True,
            watch=[str(settings.content_dir)],
            dev_addr=f"{host}:{port}",
            strict=strict,
        )
    except (Abort, ConfigurationError, PluginError) as exc:
        raise SiteError(f"the site cannot be served: {exc}") from None
    except OSError as exc:
        raise SiteError(
            f"cannot serve on {host}:{port}: {exc.strerror or exc}; hint: choose another --port"
        ) from None


def _refuse_bad_paths() -> None:
    """Make the development server answer a request for a path it cannot name on disk (a NUL
    byte: `GET /%00`) with 400 Bad Request, where it answered 500 and logged a traceback."""
    from mkdocs.livereload import LiveReloadServer

    serve_request = LiveReloadServer._serve_request
    if getattr(serve_request, "kb_guarded", False):
        return

    def guarded(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        if "\x00" in environ.get("PATH_INFO", ""):
            start_response("400 Bad Request", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"Bad request: no page has a NUL character in its address.\n"]
        return serve_request(self, environ, start_response)

    guarded.kb_guarded = True  # type: ignore[attr-defined]
    LiveReloadServer._serve_request = guarded  # type: ignore[method-assign]


def _check_port(host: str, port: int) -> None:
    """Fail before the slow steps if the address is taken."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise SiteError(
                f"cannot serve on {host}:{port}: {exc.strerror or exc}; hint: choose another --port"
            ) from None
