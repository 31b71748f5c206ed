"""The facilitator's pack as HTML: it renders in headless Chromium and prints to an A4 PDF.

Both files are kept in test-artifacts/ for a person to look at.
"""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import pytest

from kb.check.library import load_library
from kb.index.build import update_index
from kb.index.embed import HashingEmbedder
from kb.search.searcher import Searcher
from kb.tools.pack import PackRequest
from kb.tools.pack_text import make_pack
from tests.browser.chromium import chromium
from tests.conftest import ROOT

pytestmark = pytest.mark.browser
ARTIFACTS = ROOT / "test-artifacts"


def _require_browser() -> None:
    missing = [name for name in ("chromium", "chromedriver") if not shutil.which(name)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium")
    if missing:
        reason = "browser test needs: " + ", ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(reason + " (CI is set, so this fails instead of skipping)")
        pytest.skip(reason)


def test_pack_html_renders_and_prints_to_pdf(tmp_path: Path) -> None:
    _require_browser()
    from selenium.webdriver.common.by import By

    entries = load_library(ROOT / "content")
    embedder = HashingEmbedder()
    update_index(entries, tmp_path / "cache", embedder=embedder)
    searcher = Searcher.open(tmp_path / "cache", entries, embedder=embedder)
    request = PackRequest("falls and frailty", ("norfolk-and-waveney",), limit=4, minutes=90)
    html = make_pack(searcher, entries, request, "html")
    ARTIFACTS.mkdir(exist_ok=True)
    page = ARTIFACTS / "pack-falls-and-frailty.html"
    page.write_text(html, encoding="utf-8")

    driver = chromium(tmp_path / "profile")
    try:
        driver.get(page.as_uri())
        assert driver.title == "Peer-review pack: falls and frailty"
        cases = driver.find_elements(By.CSS_SELECTOR, "section.case")
        assert len(cases) == 4
        assert driver.find_element(By.ID, "total").text == "90"
        rows = driver.find_elements(By.CSS_SELECTOR, "table.agenda tbody tr")
        assert sum(int(r.find_elements(By.TAG_NAME, "td")[1].text) for r in rows) == 90
        assert "Norfolk: predicting" not in " ".join(c.text for c in cases)
        # each case study starts a printed page
        breaks = driver.execute_script(
            "return [...document.querySelectorAll('section.case')]"
            ".map(s => getComputedStyle(s).breakBefore)"
        )
        assert breaks == ["auto"] * 4  # screen media: no break
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
        breaks = driver.execute_script(
            "return [...document.querySelectorAll('section.case')]"
            ".map(s => getComputedStyle(s).breakBefore)"
        )
        assert breaks == ["page"] * 4
        printed = driver.execute_cdp_cmd(
            "Page.printToPDF",
            {
                "paperWidth": 8.27,
                "paperHeight": 11.69,
                "printBackground": True,
                "preferCSSPageSize": True,
            },
        )
    finally:
        driver.quit()
    pdf = base64.b64decode(printed["data"])
    assert pdf.startswith(b"%PDF-")
    pages = pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages")
    assert pages >= 7, pages  # agenda, starting point, comparison, four cases, prompts, notes
    (ARTIFACTS / "pack-falls-and-frailty.pdf").write_bytes(pdf)
