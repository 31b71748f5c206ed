"""The site as a reader sees it at 1280 px and on a 390 px phone: no sideways scrolling, the first
screen of a case study, the catalogue's filters, print, axe-core; and `kb serve` showing
validation problems in the page.

Screenshots and axe results go to test-artifacts/. Needs what tests/browser/test_site_browser.py
needs (Debian's chromium and chromedriver, `npm ci`), and skips or fails the same way.
"""

from __future__ import annotations

import base64
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_site_browser import (  # noqa: F401 - fixtures used by name
    ARTIFACTS,
    NORFOLK,
    ROOT,
    Site,
    _require_browser,
    axe_violations,
    browser,
    describe,
    screenshot,
    site,
    wait_for,
)

from tests.serving import kb_serve

pytestmark = pytest.mark.browser

PHONE = (390, 844)
DESKTOP = (1280, 900)
# internal unit ids, and the database-row shapes figures used to have ('141 count', '0.33 ratio')
RAW_UNIT = re.compile(
    r"rate-per-\d+|scale-points|percentage-points|mmol-mol|micrograms-per-m3|\bGBP\b"
    r"|\d (?:count|ratio|score|rank)\b|\((?:increase|decrease|no-change)\)"
)
OVERFLOW = """
const root = document.documentElement;
const wide = root.scrollWidth > root.clientWidth + 1;
const boxes = Array.from(
    document.querySelectorAll('.md-content .md-typeset__scrollwrap, .md-content pre'))
  .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.className || e.tagName);
return {page: wide ? root.scrollWidth : 0, boxes: boxes};
"""


def viewport(driver: Any, size: tuple[int, int]) -> None:
    width, height = size
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:  # noqa: F811 - the imported fixture
    viewport(browser, PHONE)
    try:
        yield browser
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def open_page(driver: Any, url: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(url)
    wait_for(driver, lambda d: d.find_element(By.TAG_NAME, "h1").text)


def no_overflow(driver: Any, name: str) -> None:
    result = driver.execute_script(OVERFLOW)
    assert result == {"page": 0, "boxes": []}, f"{name} scrolls sideways: {result}"


def raw_units(driver: Any) -> list[str]:
    text = driver.execute_script("return document.querySelector('.md-content').innerText")
    return sorted({m.group(0) for m in RAW_UNIT.finditer(text)})


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["1280", "390"])
def test_no_page_scrolls_sideways_or_shows_a_unit_id(
    site: Site,  # noqa: F811
    browser: Any,  # noqa: F811
    size: tuple[int, int],
) -> None:
    driver = browser
    viewport(driver, size)
    try:
        for path in ("", "catalogue/", *(f"cases/{e.id}/" for e in site.entries)):
            open_page(driver, site.url + path)
            no_overflow(driver, f"/{path} at {size[0]} px")
            assert raw_units(driver) == [], f"/{path} shows internal unit ids"
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_a_phone_sees_the_summary_and_the_first_result_first(site: Site, phone: Any) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By

    checked = 0
    for entry in site.entries:
        open_page(phone, site.url + f"cases/{entry.id}/")
        fold = phone.execute_script("return window.innerHeight")
        summary = phone.find_element(By.CSS_SELECTOR, ".kb-summary")
        bottom = phone.execute_script("return arguments[0].getBoundingClientRect().bottom", summary)
        assert bottom <= fold, f"{entry.id}: the summary ends at {bottom} px, below {fold}"
        achieved = phone.find_elements(By.CSS_SELECTOR, ".kb-results .kb-result-achieved")
        if any(o.status == "achieved" for o in entry.case.outcomes):
            assert achieved, f"{entry.id}: no achieved result in 'What changed'"
            bottom = phone.execute_script(
                "return arguments[0].getBoundingClientRect().bottom", achieved[0]
            )
            assert bottom <= fold, f"{entry.id}: the first result ends at {bottom} px"
            checked += 1
    assert checked >= len(site.entries) // 2
    open_page(phone, site.url + f"cases/{NORFOLK}/")
    screenshot(phone, "case-study-390")
    text = phone.find_element(By.CSS_SELECTOR, ".kb-results").text
    assert "Fear of falling, as reported by residents: down 15%" in text
    glance = phone.find_element(By.CSS_SELECTOR, ".kb-glance").text
    for label in ("Where:", "When:", "Prevention tier:", "Evidence:"):
        assert label in glance
    edit = phone.find_element(By.LINK_TEXT, "Edit this case study").get_attribute("href")
    assert edit.endswith(f"/content/{NORFOLK}.md") and edit.startswith("https://")
    suggest = phone.find_element(By.LINK_TEXT, "Suggest a case study").get_attribute("href")
    assert suggest.endswith("/contributing/")


@pytest.mark.parametrize(
    ("path", "name"), [("", "home"), ("catalogue/", "catalogue"), (f"cases/{NORFOLK}/", "case")]
)
def test_axe_finds_nothing_serious_on_a_phone(
    site: Site,  # noqa: F811
    phone: Any,
    path: str,
    name: str,
) -> None:
    open_page(phone, site.url + path)
    time.sleep(0.3)  # the catalogue's script has run
    if name != "case":
        screenshot(phone, f"{name}-390")
    serious = axe_violations(phone, f"{name}-390")
    assert not serious, describe(serious)


def test_home_page_search_box_opens_the_search(site: Site, phone: Any) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By

    open_page(phone, site.url)
    box = phone.find_element(By.ID, "kb-home-query")
    top = phone.execute_script("return arguments[0].getBoundingClientRect().top", box)
    assert top < PHONE[1], "the search box is below the first screen"
    box.send_keys("falls")
    box.submit()

    def result(d: Any) -> Any:
        if "/search/" not in d.current_url:
            return []
        links = d.find_elements(By.CSS_SELECTOR, ".kb-search-results li h2 a")
        return [a for a in links if "/cases/" in (a.get_attribute("href") or "")]

    assert wait_for(phone, result)
    assert "q=falls" in phone.current_url
    open_page(phone, site.url)
    text = phone.find_element(By.CSS_SELECTOR, ".md-content").text
    assert "Recent initiatives" in text and "Strongest evidence" in text
    assert "Coverage at a glance" in text


def test_catalogue_counts_follow_the_filters(site: Site, phone: Any) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    open_page(phone, site.url + "catalogue/")
    panel = wait_for(phone, lambda d: d.find_element(By.ID, "kb-filter-panel"))
    wait_for(phone, lambda d: panel.is_displayed())
    # on a phone the filters fold away: the list starts on the first screen
    assert panel.get_attribute("open") is None
    region = phone.find_element(By.ID, "kb-filter-region")
    assert not region.is_displayed()
    first = phone.find_element(By.CSS_SELECTOR, ".kb-card")
    assert phone.execute_script("return arguments[0].getBoundingClientRect().top", first) < 844
    phone.find_element(By.CSS_SELECTOR, "#kb-filter-panel > summary").click()
    wait_for(phone, lambda d: region.is_displayed())

    # alphabetical ICS and topic lists
    for key in ("ics", "topic"):
        labels = [
            o.get_attribute("data-label")
            for o in phone.find_elements(By.CSS_SELECTOR, f"#kb-filter-{key} option[value]")
            if o.get_attribute("value")
        ]
        assert labels == sorted(labels, key=str.casefold)

    entries = site.entries
    norfolk = next(e for e in entries if e.id == NORFOLK)
    chosen = norfolk.case.region[0]
    Select(region).select_by_value(chosen)
    in_region = [e for e in entries if chosen in e.case.region]
    count = phone.find_element(By.ID, "kb-count")
    wait_for(phone, lambda d: count.get_attribute("data-shown") == str(len(in_region)))
    # every topic option counts the case studies it would leave; none leaves nothing enabled
    for option in phone.find_elements(By.CSS_SELECTOR, "#kb-filter-topic option"):
        value = option.get_attribute("value")
        if not value:
            continue
        n = sum(1 for e in in_region if value in e.case.topics)
        assert option.text.endswith(f"({n})"), (value, option.text, n)
        assert (option.get_attribute("disabled") is not None) == (n == 0), value

    # a topic with no case study in the region: choose it through the address, then undo it
    near = {t for e in in_region for t in e.case.topics}
    absent = next(t for t in sorted({t for e in entries for t in e.case.topics}) if t not in near)
    phone.get(site.url + f"catalogue/?region={chosen}&topic={absent}")
    count = wait_for(phone, lambda d: d.find_element(By.ID, "kb-count"))
    wait_for(phone, lambda d: count.get_attribute("data-shown") == "0")
    empty = phone.find_element(By.ID, "kb-empty")
    assert empty.is_displayed() and "No case study matches" in empty.text
    undo = phone.find_element(By.ID, "kb-undo")
    assert "Topic" in undo.text
    screenshot(phone, "catalogue-empty-390")
    phone.execute_script("arguments[0].scrollIntoView({block: 'center'})", undo)
    undo.click()
    wait_for(phone, lambda d: count.get_attribute("data-shown") == str(len(in_region)))
    assert not empty.is_displayed()
    assert f"region={chosen}" in phone.current_url and "topic=" not in phone.current_url
    no_overflow(phone, "the catalogue with its filters open")


def test_a_case_page_prints_on_a4(site: Site, browser: Any) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By

    linked = next(e for e in site.entries if any(s.url for s in e.case.sources))
    open_page(browser, site.url + f"cases/{linked.id}/")
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        hidden = browser.execute_script(
            "return ['.md-header', '.md-sidebar--primary', '.md-footer', '.kb-comparables',"
            " '.kb-source-actions'].map(s => getComputedStyle(document.querySelector(s)).display)"
        )
        assert hidden == ["none"] * 5
        source = browser.find_element(By.CSS_SELECTOR, ".kb-sources a[href^='http']")
        after = browser.execute_script(
            "return getComputedStyle(arguments[0], '::after').content", source
        )
        assert source.get_attribute("href") in after  # printed sources keep their addresses
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    pdf = browser.execute_cdp_cmd(
        "Page.printToPDF", {"paperWidth": 8.27, "paperHeight": 11.69, "preferCSSPageSize": True}
    )
    data = base64.b64decode(pdf["data"])
    assert data.startswith(b"%PDF")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "case-study-a4.pdf").write_bytes(data)
    pages = data.count(b"/Type /Page") - data.count(b"/Type /Pages")
    assert 1 <= pages <= 8, f"{pages} A4 pages"


def test_kb_serve_shows_problems_in_the_page_and_recovers(
    browser: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    from selenium.webdriver.common.by import By

    _require_browser()
    content = tmp_path / "content"
    shutil.copytree(ROOT / "tests" / "site" / "data" / "content", content)
    with kb_serve(content, tmp_path) as base:
        url = f"{base}/cases/alpha-falls-east/"
        open_page(browser, url)
        assert not browser.find_elements(By.ID, "kb-problems")

        # break a file: the open page reloads by itself and names the file and the line
        broken = content / "beta-hypertension-london.md"
        good = broken.read_text("utf-8")
        broken.write_text(good.replace("tiers:", "tiers: [no-such-tier]\nold_tiers:", 1), "utf-8")
        banner = wait_for(browser, lambda d: d.find_element(By.ID, "kb-problems"), timeout=60)
        text = banner.text
        assert "beta-hypertension-london.md" in text and "line " in text
        assert "no-such-tier" in text or "old_tiers" in text
        screenshot(browser, "serve-problems")
        assert "Alpha falls" in browser.find_element(By.TAG_NAME, "h1").text  # still served

        # fix it: the page reloads again without the banner
        broken.write_text(good, "utf-8")
        wait_for(browser, lambda d: not d.find_elements(By.ID, "kb-problems"), timeout=60)
