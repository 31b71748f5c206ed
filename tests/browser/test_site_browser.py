"""The published site in headless Chromium: search, a case study, comparables, catalogue filters,
and axe-core accessibility checks, on the site built from the shipped content.

Needs Debian's `chromium` and `chromium-driver`, and `npm ci` (axe-core). Without them the tests
skip with the reason, except under CI (env CI set), where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.browser.chromium import chromium, serve
from tests.conftest import shared_once

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
NORFOLK = "norfolk-falls-prevention"

pytestmark = pytest.mark.browser


def _missing() -> list[str]:
    missing = []
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        missing.append("chromium (apt-get install chromium)")
    if not shutil.which("chromedriver"):
        missing.append("chromedriver (apt-get install chromium-driver)")
    if not AXE.is_file():
        missing.append("axe-core (npm ci)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip install -e '.[dev]')")
    return missing


def _require_browser() -> None:
    missing = _missing()
    if missing:
        reason = "browser test needs: " + ", ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(reason + " (CI is set, so this fails instead of skipping)")
        pytest.skip(reason)


@dataclass
class Site:
    url: str
    entries: list[Any]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The shipped content built with the fake embedder, served on a free loopback port."""
    _require_browser()
    os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")
    from kb.check.library import load_library
    from kb.index.embed import HashingEmbedder
    from kb.publish import plugin as mkdocs_plugin
    from kb.settings import Settings

    entries = load_library(ROOT / "content")

    def build(folder: Path) -> None:  # once for every browser module and worker
        settings = Settings(ROOT / "content", folder / "cache", folder / "site", None)
        mkdocs_plugin.render_site(
            entries, settings, strict=True, embedder=HashingEmbedder(),
            config_file=ROOT / "mkdocs.yml",
        )  # fmt: skip
        mkdocs_plugin._shared.clear()

    folder = shared_once(tmp_path_factory, "browser-site", build)
    with serve(folder / "site") as url:
        yield Site(url, entries)


@pytest.fixture(scope="module")
def browser(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    profile = tmp_path_factory.mktemp("chromium-profile")
    driver = chromium(profile, "--disable-quic", "--window-size=1280,1000")
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver: Any, condition: Any, timeout: float = 15) -> Any:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    ignored = (NoSuchElementException, StaleElementReferenceException)
    return WebDriverWait(driver, timeout, ignored_exceptions=ignored).until(condition)


def click(driver: Any, locate: Any) -> None:
    """Click what `locate(driver)` finds, finding it again if the page re-rendered meanwhile."""
    from selenium.common.exceptions import (
        ElementClickInterceptedException,
        StaleElementReferenceException,
    )

    for attempt in range(5):
        element = wait_for(driver, locate)
        try:
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
            element.click()
            return
        except (StaleElementReferenceException, ElementClickInterceptedException):
            if attempt == 4:
                raise


def axe_violations(driver: Any, name: str) -> list[dict[str, Any]]:
    """Run axe-core on the open page; save the results; return serious and critical violations."""
    driver.execute_script(AXE.read_text("utf-8"))
    raw = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']})"
        "  .then(r => done(JSON.stringify(r.violations)))"
        "  .catch(e => done(JSON.stringify({error: String(e)})));"
    )
    violations = json.loads(raw)
    assert not isinstance(violations, dict), violations
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"axe-{name}.json").write_text(json.dumps(violations, indent=2), "utf-8")
    return [v for v in violations if v.get("impact") in ("serious", "critical")]


def describe(violations: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{v['impact']}: {v['id']}: {v['help']} at "
        + "; ".join(", ".join(node["target"]) for node in v["nodes"][:5])
        for v in violations
    )


def screenshot(driver: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def test_home_search_case_study_and_comparable(site: Site, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    assert any(e.id == NORFOLK for e in site.entries), "the worked example is missing"
    driver = browser
    driver.get(site.url)
    wait_for(driver, lambda d: d.find_element(By.TAG_NAME, "h1").text)
    assert "Prevention case studies" in driver.find_element(By.TAG_NAME, "h1").text
    screenshot(driver, "home")
    serious = axe_violations(driver, "home")
    assert not serious, describe(serious)

    # the header's search box leads to the search page, which lists case studies only
    box = driver.find_element(By.CSS_SELECTOR, "input.md-search__input")
    if not box.is_displayed():  # narrow windows show a search button instead of the box
        driver.find_element(By.CSS_SELECTOR, "label.md-header__button[for='__search']").click()
        wait_for(driver, lambda d: box.is_displayed())
    box.click()
    box.send_keys("falls")
    box.submit()
    wait_for(driver, lambda d: "/search/" in d.current_url)

    def norfolk_result(d: Any) -> Any:
        for link in d.find_elements(By.CSS_SELECTOR, ".kb-search-results li h2 a"):
            if f"cases/{NORFOLK}/" in (link.get_attribute("href") or ""):
                return link
        return False

    click(driver, norfolk_result)
    wait_for(driver, lambda d: f"/cases/{NORFOLK}/" in d.current_url)
    norfolk = next(e for e in site.entries if e.id == NORFOLK)
    heading = wait_for(driver, lambda d: d.find_element(By.TAG_NAME, "h1").text)
    assert heading.startswith(norfolk.case.title[:40])
    facts = driver.find_element(By.CSS_SELECTOR, ".kb-facts").text
    assert "East of England" in facts and "Norfolk and Waveney" in facts
    driver.get(site.url + f"cases/{NORFOLK}/")  # the page itself, without search highlights
    wait_for(driver, lambda d: d.find_element(By.TAG_NAME, "h1").text)
    screenshot(driver, "case-study")
    serious = axe_violations(driver, "case-study")
    assert not serious, describe(serious)

    # follow the first comparable initiative
    links = driver.find_elements(
        By.XPATH, "//h2[@id='comparable-initiatives']/following-sibling::ul[1]/li//a"
    )
    assert links, "no comparable initiatives listed"
    expected = links[0].text
    href = links[0].get_attribute("href")
    assert "/cases/" in href and NORFOLK not in href
    click(driver, lambda d: d.find_element(By.LINK_TEXT, expected))
    wait_for(driver, lambda d: d.current_url.rstrip("/").endswith(href.rstrip("/").rsplit("/")[-1]))
    assert wait_for(driver, lambda d: d.find_element(By.TAG_NAME, "h1").text) == expected


def test_catalogue_filters_by_region_and_tier(site: Site, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    norfolk = next(e for e in site.entries if e.id == NORFOLK)
    region = norfolk.case.region[0]
    tier = norfolk.case.tiers[0]
    expected = sum(1 for e in site.entries if region in e.case.region and tier in e.case.tiers)
    total = len(site.entries)

    driver = browser
    driver.get(site.url + "catalogue/")
    form = wait_for(driver, lambda d: d.find_element(By.ID, "kb-filters"))
    wait_for(driver, lambda d: form.is_displayed())
    count = driver.find_element(By.ID, "kb-count")
    assert count.get_attribute("data-shown") == str(total)
    Select(driver.find_element(By.ID, "kb-filter-region")).select_by_value(region)
    Select(driver.find_element(By.ID, "kb-filter-tier")).select_by_value(tier)
    wait_for(driver, lambda d: count.get_attribute("data-shown") == str(expected))
    assert count.text == f"Showing {expected} of {total} case studies." or expected == total
    visible = [c for c in driver.find_elements(By.CSS_SELECTOR, ".kb-card") if c.is_displayed()]
    assert len(visible) == expected
    assert any(NORFOLK in c.find_element(By.TAG_NAME, "a").get_attribute("href") for c in visible)
    assert f"region={region}" in driver.current_url and f"tier={tier}" in driver.current_url

    # the filtered address can be shared: opening it applies the same filters
    driver.get(driver.current_url)
    count = wait_for(driver, lambda d: d.find_element(By.ID, "kb-count"))
    wait_for(driver, lambda d: count.get_attribute("data-shown") == str(expected))
    screenshot(driver, "catalogue")
    serious = axe_violations(driver, "catalogue")
    assert not serious, describe(serious)


def test_missing_browser_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        _require_browser()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="chromium"):
        _require_browser()
