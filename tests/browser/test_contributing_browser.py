"""The contributing page on a 390 px phone and a 1280 px screen: its long reference parts fold,
its tables turn into cards of labelled lines on the phone and stay tables on the wide screen,
and nothing is wider than the viewport.

Needs what tests/browser/test_site_browser.py needs, and skips or fails the same way.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from test_layout_browser import DESKTOP, PHONE, open_page, viewport
from test_site_browser import (  # noqa: F401 - fixtures used by name
    Site,
    axe_violations,
    browser,
    describe,
    screenshot,
    site,
)

pytestmark = pytest.mark.browser

# Before the folds, the page was 22,064 px tall at 390 px, with five tables scrolling sideways
# (the widest 478 px). With every fold open it is about that tall again, so the open page is the
# baseline the closed one is held to.
AT_MOST = 0.34  # about a third

FOLDS = "document.querySelectorAll('.md-content details.kb-fold')"
OPEN_ALL = FOLDS + ".forEach(d => { d.open = true; })"
MEASURE = """
const vw = window.innerWidth;
const wider = Array.from(document.querySelectorAll('.md-content *')).filter(e => {
  const r = e.getBoundingClientRect();
  return r.width > 0 && (r.left < -1 || r.right > vw + 1);
}).map(e => e.tagName + '.' + e.className + ' ' + (e.textContent || '').trim().slice(0, 40));
const scrolling = Array.from(document.querySelectorAll(
    '.md-content .md-typeset__scrollwrap, .md-content table, .md-content pre'))
  .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.tagName + '.' + e.className);
return {height: document.documentElement.scrollHeight,
        scrollWidth: document.documentElement.scrollWidth, innerWidth: vw,
        wider: wider, scrolling: scrolling};
"""
# every cell: its text as the reader sees it (innerText leaves out what is not shown), its
# text in the page, its phone label, its column heading, and where it is
CELLS = """
return Array.from(document.querySelectorAll('.md-content table')).map(t => {
  const heads = Array.from(t.querySelectorAll('thead th')).map(th => th.textContent.trim());
  return Array.from(t.querySelectorAll('tbody tr')).map(tr =>
    Array.from(tr.children).map((td, i) => {
      const r = td.getBoundingClientRect();
      return {shown: td.innerText.replace(/\\s+/g, ' ').trim(),
              text: td.textContent.replace(/\\s+/g, ' ').trim(),
              label: getComputedStyle(td, '::before').content, heading: heads[i],
              display: getComputedStyle(td).display,
              left: r.left, right: r.right, top: r.top};
    }));
});
"""


def measure(driver: Any) -> dict[str, Any]:
    result: dict[str, Any] = driver.execute_script(MEASURE)
    return result


def fits(result: dict[str, Any], name: str) -> None:
    assert result["scrollWidth"] <= result["innerWidth"], f"{name} scrolls sideways: {result}"
    assert result["wider"] == [], f"{name}: wider than the viewport: {result['wider'][:10]}"
    assert result["scrolling"] == [], f"{name}: boxes scroll sideways: {result['scrolling']}"


def test_the_contributing_page_folds_and_fits_a_phone(site: Site, browser: Any) -> None:  # noqa: F811
    driver = browser
    viewport(driver, PHONE)
    try:
        open_page(driver, site.url + "contributing/")
        time.sleep(0.3)  # the theme has wrapped the tables
        assert driver.execute_script(f"return {FOLDS}.length") >= 8
        assert driver.execute_script(f"return Array.from({FOLDS}).every(d => !d.open)")
        closed = measure(driver)
        fits(closed, "/contributing/ at 390 px, folded")
        screenshot(driver, "contributing-390")
        serious = axe_violations(driver, "contributing-390")
        assert not serious, describe(serious)

        driver.execute_script(OPEN_ALL)
        time.sleep(0.2)
        opened = measure(driver)
        fits(opened, "/contributing/ at 390 px, unfolded")
        assert closed["height"] <= AT_MOST * opened["height"], (closed, opened)
        assert opened["height"] >= 15_000  # the folds hold the reference, not nothing

        tables = driver.execute_script(CELLS)
        assert len(tables) == 7 and all(tables)
        text = driver.execute_script("return document.querySelector('.md-content').innerText")
        flat = " ".join(text.split())
        for rows in tables:
            for cells in rows:
                for cell in cells:
                    # every cell is shown, whole, inside the screen, under its column's label
                    assert cell["text"] and cell["shown"] == cell["text"], cell
                    assert cell["shown"] in flat, cell
                    assert cell["display"] == "block", cell
                    assert cell["left"] >= 0 and cell["right"] <= PHONE[0], cell
                    assert cell["label"] == f'"{cell["heading"]}: "', cell
                # a row's cells stack, one under another
                tops = [c["top"] for c in cells]
                assert tops == sorted(tops) and len(set(tops)) == len(tops), cells
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_the_contributing_page_keeps_its_tables_on_a_wide_screen(
    site: Site,  # noqa: F811
    browser: Any,  # noqa: F811
) -> None:
    driver = browser
    viewport(driver, DESKTOP)
    try:
        open_page(driver, site.url + "contributing/")
        time.sleep(0.3)
        driver.execute_script(OPEN_ALL)
        time.sleep(0.2)
        fits(measure(driver), "/contributing/ at 1280 px, unfolded")
        tables = driver.execute_script(CELLS)
        fields = driver.execute_script(
            "return Array.from(document.querySelectorAll('.md-content .kb-fields table'))"
            ".map(t => [getComputedStyle(t).display,"
            " Array.from(t.querySelectorAll('thead th')).map(th => th.offsetHeight > 0),"
            " Array.from(t.querySelectorAll('tbody td:first-child code'))"
            ".map(c => c.getClientRects().length)])"
        )
        assert len(fields) == 5
        for display, headings_shown, names in fields:
            assert display in ("table", "inline-block")  # the theme's table, in its box
            assert headings_shown == [True] * 4
            assert names and all(lines == 1 for lines in names)  # a field's name, unbroken
        for rows in tables:
            for cells in rows:
                # cells side by side in one row, unlabelled: a table
                assert [c["display"] for c in cells] == ["table-cell"] * len(cells)
                assert all(c["label"] in ("none", "normal") for c in cells), cells
                lefts = [c["left"] for c in cells]
                assert lefts == sorted(lefts) and len({round(c["top"]) for c in cells}) == 1
        driver.execute_script("window.scrollTo(0, document.querySelector('.kb-fields').offsetTop)")
        screenshot(driver, "contributing-1280")
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
