"""Search by meaning on the published site, in headless Chromium, against `kb search`.

The site is built from the shipped content with the real embedding model (slow: it embeds the
library once), served on loopback, and searched as a leader would. The parity test prints the
mean top-5 overlap with `kb search --limit 5` and the smallest query-vector cosine.

The tokenizer and stemmer checks run the site's JavaScript in Node against Python's `tokenizers`
and PyStemmer, on every evaluation query and on tricky strings.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from tests.browser.chromium import chromium, serve

ROOT = Path(__file__).resolve().parents[2]
JS = ROOT / "site" / "assets" / "javascripts" / "kb-search"
ARTIFACTS = ROOT / "test-artifacts"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ORT = ROOT / "node_modules" / "onnxruntime-web" / "dist"
QUERIES = ROOT / "tests" / "eval" / "queries.yml"
CHILD_POVERTY = "north-of-tyne-child-poverty-prevention"
BLOOD_PRESSURE = "dorset-blood-pressure"
TRICKY = [
    "A&E",
    "café crème brûlée résumé naïve",
    "ÉCOLE Straße İstanbul ΣΊΣΥΦΟΣ",
    "emoji 😀 and 👩🏽‍⚕️ nurses",
    "[CLS] typed [MASK] tokens [SEP]",
    "tab\tnew\nline\u00a0nbsp\u200bzero-width\u0007bell",
    "中文 字符 and 日本語",
    "don't won't it's (brackets) {braces} <angle> $100 £5 50% #tag @user ~tilde",
    "x" * 150,
    "hyper-tension, blood-pressure; over-65s... 'quotes' \"double\"",
    " ".join(["blood pressure checks in the community"] * 60),
]


def _fail_or_skip(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason + " (CI is set, so this fails instead of skipping)")
    pytest.skip(reason)


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        _fail_or_skip("needs Node.js (apt-get install nodejs)")
    assert node is not None
    return node


def _queries() -> list[str]:
    return [str(q["q"]) for q in yaml.safe_load(QUERIES.read_text("utf-8"))["queries"]]


def _run_node(script: str, payload: Any) -> Any:
    result = subprocess.run(
        [_node(), "--input-type=module", "-e", script],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def test_wordpiece_matches_python_tokenizers() -> None:
    from tokenizers import Tokenizer

    from kb.index.embed import default_model_path
    from kb.index.layout import TOKENIZER_FILE

    path = default_model_path() / TOKENIZER_FILE
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=256)
    texts = _queries() + TRICKY
    expected = [tokenizer.encode(t).ids for t in texts]
    script = (
        "import fs from 'fs';"
        f"import {{ WordPiece }} from '{(JS / 'wordpiece.js').as_uri()}';"
        "const input = JSON.parse(fs.readFileSync(0, 'utf8'));"
        "const tok = new WordPiece(JSON.parse(fs.readFileSync(input.path, 'utf8')), 256);"
        "console.log(JSON.stringify(input.texts.map((t) => tok.encode(t))));"
    )
    got = _run_node(script, {"path": str(path), "texts": texts})
    wrong = [(t, e, g) for t, e, g in zip(texts, expected, got, strict=True) if e != g]
    assert not wrong, f"{len(wrong)} texts differ, first: {wrong[0]}"
    assert len(expected[-1]) == 256  # the long text is cut to the model's 256 tokens


def test_stemmer_matches_pystemmer() -> None:
    import re

    import Stemmer

    from kb.index.embed import default_model_path
    from kb.index.layout import TOKENIZER_FILE

    vocab = json.loads((default_model_path() / TOKENIZER_FILE).read_text("utf-8"))["model"]["vocab"]
    words = {w for w in vocab if re.fullmatch(r"[a-z]{2,}", w)}
    for path in (ROOT / "content").glob("*.md"):
        words |= set(re.findall(r"(?u)\b\w\w+\b", path.read_text("utf-8").lower()))
    for query in _queries():
        words |= set(re.findall(r"(?u)\b\w\w+\b", query.lower()))
    ordered = sorted(words)
    stemmer = Stemmer.Stemmer("english")
    expected = stemmer.stemWords(ordered)
    script = (
        "import fs from 'fs';"
        f"import {{ stem }} from '{(JS / 'stemmer.js').as_uri()}';"
        "const words = JSON.parse(fs.readFileSync(0, 'utf8'));"
        "console.log(JSON.stringify(words.map(stem)));"
    )
    got = _run_node(script, ordered)
    wrong = [(w, e, g) for w, e, g in zip(ordered, expected, got, strict=True) if e != g]
    assert len(ordered) > 20000
    assert not wrong, f"{len(wrong)} of {len(ordered)} words differ, first: {wrong[:5]}"


def _bare_ranker(body: str) -> str:
    """A node script: `input` from stdin, and `ranker`, a Ranker with only its word helpers
    (no library data), then `body`."""
    return (
        "import fs from 'fs';"
        f"import {{ Ranker }} from '{(JS / 'rank.js').as_uri()}';"
        "const input = JSON.parse(fs.readFileSync(0, 'utf8'));"
        "const ranker = Object.create(Ranker.prototype);"
        "ranker.stems = new Map();" + body
    )


def test_bm25_words_match_python() -> None:
    """The site reads a text's BM25 words as kb.index.passages.bm25_tokens does ('A&E' is one
    word)."""
    import Stemmer

    from kb.index.passages import bm25_tokens

    texts = _queries() + TRICKY + [
        "A&E, a&e and R&D; AT&T, Q&A, x&y&z, A & E, é&ü, 5&6, a_&b, 'A&E'",
        "Ünïcödé café naïve façade İstanbul ǅemal straße ﬁnance",
        "x_y 42 a1 — it's a b c; e.g. i.e. NHS's £175 15% 3.5",
    ]
    stopwords = frozenset(["and", "the", "of", "it"])
    expected = [bm25_tokens(t, Stemmer.Stemmer("english"), stopwords) for t in texts]
    script = _bare_ranker(
        "const stop = new Set(input.stopwords);"
        "console.log(JSON.stringify(input.texts.map((t) => ranker.tokens(t, stop))));"
    )
    got = _run_node(script, {"texts": texts, "stopwords": sorted(stopwords)})
    wrong = [(t, e, g) for t, e, g in zip(texts, expected, got, strict=True) if e != g]
    assert not wrong, f"{len(wrong)} texts differ, first: {wrong[0]}"
    assert expected[-3][:8] == ["ae", "ae", "rd", "at", "qa", "xy", "éü", "a_"]


def test_snippets_match_python() -> None:
    """The site cuts a passage's snippet as kb search does, '...' for text left out included."""
    import Stemmer

    from kb.format.content import split_sections
    from kb.index.passages import bm25_tokens
    from kb.search.explain import snippet
    from kb.search.params import SNIPPET_CHARS

    stemmer = Stemmer.Stemmer("english")
    stopwords = frozenset(["and", "the", "of", "it", "a", "to", "in", "for"])

    def stem_set(text: str) -> set[str]:
        return set(bm25_tokens(text, stemmer, stopwords))

    texts = []
    for path in sorted((ROOT / "content").glob("*.md"))[:12]:
        texts += [s.text for s in split_sections(path.read_text("utf-8").split("---", 2)[2], 1)]
    texts += ["Short text.", "", "One. Two! Three? " * 40]
    queries = ["falls at home", "A&E attendances", "smoking in pregnancy", "three", "nothing"]
    cases = []
    for i, text in enumerate(texts):
        query = queries[i % len(queries)]
        tokens = stem_set(query)
        before, after = bool(i % 2), bool(i % 3 == 0)
        cases.append({"text": text, "query": query, "before": before, "after": after,
                      "expected": snippet(text, tokens, stem_set, before, after)})
    script = _bare_ranker(
        "ranker.stopwords = new Set(input.stopwords);"
        "ranker.params = { snippetChars: input.limit };"
        "console.log(JSON.stringify(input.cases.map((c) => ranker.snippet(c.text,"
        " new Set(ranker.tokens(c.query)), c.before, c.after))));"
    )
    payload = {"cases": cases, "stopwords": sorted(stopwords), "limit": SNIPPET_CHARS}
    got = _run_node(script, payload)
    wrong = [(c["text"][:60], c["expected"], g) for c, g in zip(cases, got, strict=True)
             if c["expected"] != g]
    assert len(cases) > 50
    assert not wrong, f"{len(wrong)} of {len(cases)} snippets differ, first: {wrong[0]}"
    assert any(c["expected"].startswith("... ") for c in cases)
    assert any(c["expected"].endswith(" ...") for c in cases)


def test_relevance_floor_matches_python() -> None:
    """The site calls the same hits weak as kb search (tests/search/floor_cases.py)."""
    import dataclasses

    from kb.search.params import DEFAULT_FUSION
    from tests.search.floor_cases import scenarios

    script = _bare_ranker(
        "ranker.fusion = input.fusion;"
        "ranker.queryTokens = () => []; ranker.queryFacets = () => ({});"
        "ranker.bestPassage = () => ['', '']; ranker.shared = () => ({});"
        "ranker.results = () => [];"
        "console.log(JSON.stringify(input.scenarios.map((s) => {"
        "  ranker.cases = s.score.map((_, i) => ({ id: String(i) }));"
        "  ranker.score = () => ({ cases: Float64Array.from(s.score),"
        "    passageScores: new Float32Array(0), dense: Float32Array.from(s.dense),"
        "    coverage: Float64Array.from(s.coverage) });"
        "  return ranker.search('anything', {}, null, 3).filter((h) => h.weak)"
        "    .map((h) => Number(h.id)).sort();"
        "})));"
    )
    cases = scenarios()
    got = _run_node(script, {"fusion": dataclasses.asdict(DEFAULT_FUSION), "scenarios": cases})
    assert got == [c["weak"] for c in cases]


# ---------------------------------------------------------------------------------------------
# the site in Chromium


def _missing() -> list[str]:
    missing = []
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        missing.append("chromium (apt-get install chromium)")
    if not shutil.which("chromedriver"):
        missing.append("chromedriver (apt-get install chromium-driver)")
    if not AXE.is_file():
        missing.append("axe-core (npm ci)")
    if not (ORT / "ort.wasm.min.mjs").is_file():
        missing.append("onnxruntime-web (npm ci)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip install -e '.[dev]')")
    return missing


@dataclass
class Site:
    url: str
    searcher: Any


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, shipped_real_index: Path) -> Iterator[Site]:
    """The shipped content built with the real model, served on a free loopback port."""
    missing = _missing()
    if missing:
        _fail_or_skip("browser test needs: " + ", ".join(missing))
    os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")
    from kb.publish import plugin as mkdocs_plugin
    from kb.search.searcher import Searcher
    from kb.settings import Settings

    tmp = tmp_path_factory.mktemp("semantic")
    # the index the other real-model tests share (this build adds its site-search export)
    cache = Path(os.environ.get("KB_TEST_SEMANTIC_CACHE", shipped_real_index))
    settings = Settings(
        content_dir=ROOT / "content", cache_dir=cache, site_dir=tmp / "site", model=None
    )
    mkdocs_plugin.build_site(settings, strict=True, config_file=ROOT / "mkdocs.yml")
    mkdocs_plugin._shared.clear()
    searcher = Searcher.open(cache)
    with serve(settings.site_dir) as url:
        yield Site(url, searcher)


@pytest.fixture(scope="module")
def browser(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    profile = tmp_path_factory.mktemp("chromium-profile")
    driver = chromium(profile, "--window-size=1280,1000")
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver: Any, condition: Any, timeout: float = 60) -> Any:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    ignored = (NoSuchElementException, StaleElementReferenceException)
    return WebDriverWait(driver, timeout, ignored_exceptions=ignored).until(condition)


def site_search(driver: Any, query: str) -> dict[str, Any]:
    """Run a search on the open search page; its hits, vector and mode."""
    result: dict[str, Any] = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "const api = window.kbSemanticSearch;"
        "api.search(arguments[0]).then(() => done({hits: api.lastHits, ranked: api.lastRanked,"
        " mode: api.mode,"
        " vector: api.lastVector, error: api.error}))"
        ".catch((e) => done({error: String(e)}));",
        query,
    )
    return result


def open_search(driver: Any, site: Site, query: str = "") -> None:
    from urllib.parse import quote

    driver.get(site.url + "search/" + (f"?q={quote(query)}" if query else ""))
    wait_for(driver, lambda d: d.execute_script("return window.kbSemanticSearch?.ready"))


def load_model(driver: Any) -> None:
    site_search(driver, "warm up")
    wait_for(driver, lambda d: d.execute_script("return window.kbSemanticSearch.modelReady"), 120)


def test_parity_with_kb_search(site: Site, browser: Any) -> None:
    open_search(browser, site)
    load_model(browser)
    overlaps, cosines = [], []
    for query in _queries():
        got = site_search(browser, query)
        assert got.get("mode") == "meaning", got
        expected = [h.case_id for h in site.searcher.search(query, limit=5)]
        # the first five of one ranking of the library, as `kb search --limit 5` lists them
        shown = got["hits"][:5]  # the ids of the hits as the page lists them
        overlaps.append(len(set(shown) & set(expected)) / max(1, len(expected)))
        python = site.searcher.embedder.embed_query(site.searcher.reader.corrected(query))
        browser_vector = np.asarray(got["vector"], dtype=np.float64)
        cosines.append(float(browser_vector @ python / np.linalg.norm(browser_vector)))
    mean = float(np.mean(overlaps))
    print(
        f"\nsite vs kb search over {len(overlaps)} evaluation queries: mean top-5 overlap "
        f"{mean:.3f}; query vectors: min cosine {min(cosines):.4f}"
    )
    assert min(cosines) >= 0.99
    assert mean >= 0.8


def test_a_filter_that_leaves_out_every_good_match_says_so(site: Site, browser: Any) -> None:
    from kb.search.filters import Filters

    query, region = "suicide prevention", "london"
    within = site.searcher.search(query, filters=Filters.parse({"region": [region]}))
    assert within and all(h.weak for h in within)  # the premise, as kb search sees it
    good = sum(not h.weak for h in site.searcher.search(query))
    assert good > 0
    browser.get(site.url + f"search/?region={region}")
    wait_for(browser, lambda d: d.execute_script("return window.kbSemanticSearch?.ready"))
    load_model(browser)
    assert site_search(browser, query).get("mode") == "meaning"
    text = browser.execute_script("return document.getElementById('kb-search-count').textContent")
    assert text.startswith(f"Nothing within your filters is clearly about '{query}', but "), text
    assert f"{good} case studies outside them are" in text or "1 case study outside" in text


def test_leaders_queries_axe_and_offline(site: Site, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    open_search(browser, site, "kids going hungry")
    mode = "return window.kbSemanticSearch.mode"
    wait_for(browser, lambda d: d.execute_script(mode) == "meaning")
    shown = wait_for(
        browser,
        lambda d: [
            (a.get_attribute("href") or "").rstrip("/").rsplit("/", 1)[-1]
            for a in d.find_elements(By.CSS_SELECTOR, ".kb-search-results li h2 a")
        ],
    )  # strong matches, then weaker ones, as kb search lists them (read again if redrawn)
    assert CHILD_POVERTY in shown[:5], shown
    passage = browser.find_element(By.CSS_SELECTOR, "#kb-search-results li .kb-search-passage")
    assert passage.text.startswith("Matched in ")
    # once the model runs, the loading progress and its notice are gone from view
    assert not browser.find_element(By.ID, "kb-search-progress").is_displayed()
    assert not browser.find_element(By.ID, "kb-search-notice").is_displayed()
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "semantic-search.png"))
    browser.execute_script(AXE.read_text("utf-8"))
    raw = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']})"
        "  .then(r => done(JSON.stringify(r.violations)))"
        "  .catch(e => done(JSON.stringify({error: String(e)})));"
    )
    violations = json.loads(raw)
    (ARTIFACTS / "axe-semantic-search.json").write_text(json.dumps(violations, indent=2), "utf-8")
    serious = [v for v in violations if v.get("impact") in ("serious", "critical")]
    assert not serious, [(v["id"], v["help"]) for v in serious]
    python_first = site.searcher.search("kids going hungry", limit=5)[0].case_id
    assert shown[0] == python_first  # the site ranks as kb search does

    # the network cut after the first search: later searches still rank by meaning
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    try:
        got = site_search(browser, "hypertension")
        assert got["mode"] == "meaning", got
        # the library holds several blood pressure programmes: they lead, Dorset's among them
        from kb.check.library import load_library

        topics = {e.id: e.case.topics for e in load_library(ROOT / "content")}
        assert all("hypertension" in topics[h] for h in got["hits"][:3]), got["hits"]
        assert BLOOD_PRESSURE in got["hits"][:10], got["hits"]
        first = got["hits"][0]

        def rendered(d: Any) -> bool:
            links = [
                a.get_attribute("href") or ""
                for a in d.find_elements(By.CSS_SELECTOR, ".kb-search-results li h2 a")
            ]
            return bool(links) and f"/cases/{first}/" in links[0]

        assert wait_for(browser, rendered)  # the cards follow the ranking once drawn
    finally:
        browser.execute_cdp_cmd(
            "Network.emulateNetworkConditions",
            {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )


def test_keyword_results_with_a_notice_when_the_model_cannot_run(site: Site, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
    browser.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*model.onnx*"]})
    try:
        browser.execute_script("return caches.delete('kb-semantic-search')")
        open_search(browser, site, "blood pressure")

        def notice(d: Any) -> str:
            found = d.find_element(By.ID, "kb-search-notice")
            return str(found.text) if found.is_displayed() else ""

        wait_for(browser, lambda d: "keyword" in notice(d))
        hits = wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".kb-search-hit"))
        assert hits, "no keyword results while the model is missing"
        wait_for(browser, lambda d: "could not start" in notice(d))
        assert browser.execute_script("return window.kbSemanticSearch.mode") == "keywords"
    finally:
        browser.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
        browser.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": False})


def test_header_box_leads_to_the_search_page(site: Site, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get(site.url + "using/")
    wait_for(browser, lambda d: d.find_element(By.TAG_NAME, "h1").text)
    box = browser.find_element(By.CSS_SELECTOR, "form.kb-header-search input[name=q]")

    def focused_by_slash(d: Any) -> bool:
        # '/' works once the page's script is running: press it until the box has the focus
        if d.switch_to.active_element == box:
            return True
        d.find_element(By.TAG_NAME, "body").send_keys("/")
        return bool(d.switch_to.active_element == box)

    wait_for(browser, focused_by_slash)
    panel = browser.find_element(By.CSS_SELECTOR, ".md-search__output").get_attribute("textContent")
    assert "Press Enter" in panel and "Initializing" not in panel  # nothing to wait for here
    fetched = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert any("bundle" in u for u in fetched)  # Material's script ran, and its keyword
    assert not [u for u in fetched if "search_index" in u]  # search (unused) loaded no index
    box.clear()
    box.send_keys("falls at home", Keys.ENTER)
    wait_for(browser, lambda d: "/search/?q=falls" in d.current_url)
    def result_links(d: Any) -> list[str]:
        # results are drawn twice (words first, then meaning): a redrawn card is read again
        return [
            a.get_attribute("href") or ""
            for a in d.find_elements(By.CSS_SELECTOR, ".kb-search-results li h2 a")
        ]

    hrefs = wait_for(browser, result_links)
    assert hrefs and all("/cases/" in h for h in hrefs)  # case studies only, no help pages


def test_kids_going_hungry_puts_child_poverty_first(site: Site, browser: Any) -> None:
    from kb.check.library import load_library

    open_search(browser, site)
    load_model(browser)
    got = site_search(browser, "kids going hungry")
    # a case study about child poverty comes first, and the child poverty programme is near the top
    topics = {e.id: e.case.topics for e in load_library(ROOT / "content")}
    assert "child-poverty" in topics[got["hits"][0]], got["hits"]
    assert CHILD_POVERTY in got["hits"][:3], got["hits"]


def test_misspelt_words_are_read_as_kb_search_reads_them(site: Site, browser: Any) -> None:
    """A word no case study has is read as the library word it is a slip for, in the site as in
    kb search (kb.search.spelling), once the model can tell a slip from a word; the page says so."""
    from selenium.webdriver.common.by import By

    open_search(browser, site)
    load_model(browser)
    queries = [
        "hypertention in the community", "lonelyness in older people", "alchohol harm",
        "sucide prevention", "vacination uptake", "antimicrobial resistance",
        "homelesness and hepatitis", "blood pressure",
    ]
    got = browser.execute_script(
        "const r = window.kbSemanticSearch.ranker;"
        "return arguments[0].map((q) => [r.queryTokens(q), r.corrections(q)]);",
        queries,
    )
    reader = site.searcher.reader
    expected = [[reader.query_tokens(q), reader.corrections(q)] for q in queries]
    assert got == expected
    assert expected[0][1] == {"hypertention": "hypertension"}
    assert expected[5][1] == {} and expected[-1][1] == {}  # real words are left as they are
    hits = site_search(browser, "hypertention")["hits"]
    assert "dudley-hypertension-practice-pharmacists" in hits[:3], hits
    note = browser.find_element(By.ID, "kb-search-corrected")
    assert note.is_displayed()
    assert note.text == "Read 'hypertention' as 'hypertension': no case study has 'hypertention'."
    site_search(browser, "high blood pressure")
    assert not note.is_displayed()


def test_search_form_fits_a_phone_screen(site: Site, browser: Any) -> None:
    size = browser.get_window_size()
    browser.set_window_size(390, 844)
    try:
        open_search(browser, site, "which schemes cut A&E attendances for frequent callers")
        overflow = browser.execute_script(
            "const width = document.documentElement.clientWidth;"
            "return [...document.querySelectorAll('.kb-search-row > *')]"
            "  .map(e => e.getBoundingClientRect().right - width);"
        )
        assert len(overflow) == 2 and max(overflow) <= 0, overflow  # box and button inside
    finally:
        browser.set_window_size(size["width"], size["height"])


def test_filters_fold_away_on_a_phone_unless_one_is_in_use(site: Site, browser: Any) -> None:
    """On a phone the filters take one line, so the first result shows without scrolling."""
    from selenium.webdriver.common.by import By

    def first_result_top() -> float:
        wait_for(browser, lambda d: d.execute_script("return window.kbSemanticSearch.renders > 0"))
        # found and measured in one step: results by meaning may replace the list meanwhile
        top = wait_for(
            browser,
            lambda d: d.execute_script(
                "const first = document.querySelector('#kb-search-results > li');"
                "return first ? first.getBoundingClientRect().top : null"
            ),
        )
        return float(top)

    size = browser.get_window_size()
    browser.set_window_size(390, 844)
    try:
        open_search(browser, site, "falls at home")
        box = browser.find_element(By.ID, "kb-search-filter-box")
        assert box.get_attribute("open") is None
        assert not browser.find_element(By.ID, "kb-search-region").is_displayed()
        assert first_result_top() < browser.execute_script("return window.innerHeight")
        browser.find_element(By.ID, "kb-search-filter-summary").click()
        assert browser.find_element(By.ID, "kb-search-region").is_displayed()
        browser.get(site.url + "search/?q=falls+at+home&region=east-of-england")
        wait_for(browser, lambda d: d.execute_script("return window.kbSemanticSearch?.ready"))
        first_result_top()
        box = browser.find_element(By.ID, "kb-search-filter-box")
        assert box.get_attribute("open") is not None
        summary = browser.find_element(By.ID, "kb-search-filter-summary").text
        assert summary == "Filters (1 in use)"
    finally:
        browser.set_window_size(size["width"], size["height"])
    open_search(browser, site, "falls at home")  # a wide screen shows them open
    assert browser.find_element(By.ID, "kb-search-filter-box").get_attribute("open") is not None


# ---------------------------------------------------------------------------------------------
# the golden table: Python's ranking, surface by surface, reproduced exactly by the site's ranker

# cue phrasings at the edges of what reads as a question about results, evidence or no effect
CUE_EDGES = [
    "which ones saved money",
    "£ saved per person",
    "return on investment",
    "what didn't work",
    "programmes that hasn't reduced admissions",
    "strongest evidence randomised",
    "cost-effective falls prevention",
    "reduced A&E attendances by how much",
    "quit rates at four weeks",
    "no effect found",
    "evidence",
    "",
]


def _golden_table(searcher: Any) -> list[dict[str, Any]]:
    """For each query: the inputs of the fusion and Python's output on every surface the site's
    ranker copies (result intent, boost, fusion by both methods with and without the coverage
    term, and the result sentences of the best hits)."""
    from dataclasses import asdict, replace

    from kb.search.intent import result_intent
    from kb.search.params import DEFAULT_FUSION, Fusion
    from kb.search.searcher import fuse

    fusions = [
        DEFAULT_FUSION,
        replace(DEFAULT_FUSION, coverage_power=0.5),
        Fusion(method="rrf", coverage_power=0.5),
        Fusion(method="rrf", k=10, dense_weight=0.7, lexical_weight=1.3),
    ]
    position = {case["id"]: i for i, case in enumerate(searcher.cases)}
    table = []
    for query in _queries() + CUE_EDGES:
        intent = result_intent(query)
        row: dict[str, Any] = {
            "query": query,
            "intent": None if intent is None else {
                "kinds": list(intent.kinds), "outcomes": intent.outcomes,
                "evidence": intent.evidence, "noEffect": intent.no_effect,
            },
        }
        if not query.strip():  # a search refuses an empty query; its intent still reads
            table.append(row)
            continue
        signals = searcher.signals(query)
        # some case studies left out, as a filter would
        allowed = signals.allowed & (np.arange(len(signals.allowed)) % 7 != 3)
        boost = searcher.boost(query)
        kinds = list(intent.kinds) if intent and intent.outcomes else None
        no_effect = bool(intent and intent.no_effect)
        row.update(
            dense=signals.dense.tolist(),
            lexical=signals.lexical.tolist(),
            coverage=signals.coverage.tolist(),
            allowed=allowed.tolist(),
            fusions=[asdict(f) for f in fusions],
            fused=[fuse(f, signals.dense, signals.lexical, allowed, signals.coverage).tolist()
                   for f in fusions],
            boost=None if boost is None else boost.tolist(),
            results=[
                {"position": position[h.case_id], "kinds": kinds, "noEffect": no_effect,
                 "expected": list(h.results)}
                for h in searcher.search(query, limit=5)
            ],
        )
        table.append(row)
    return table


GOLDEN_SCRIPT = """
const [table, done] = [arguments[0], arguments[arguments.length - 1]];
const ranker = window.kbSemanticSearch.ranker;
const page = document.querySelector("script[src*='semantic-search']").src;
(async () => {
const { expandIcs } = await import(new URL("kb-search/rank.js", page).href);
const out = table.map((row) => {
  const got = { intent: ranker.resultIntent(row.query) };
  if (got.intent) {
    got.intent = { kinds: got.intent.kinds, outcomes: got.intent.outcomes,
      evidence: got.intent.evidence, noEffect: got.intent.noEffect };
  }
  if (row.dense === undefined) return got;
  const saved = ranker.fusion;
  got.fused = row.fusions.map((f) => {
    ranker.fusion = f;
    return Array.from(ranker.fuse(Float32Array.from(row.dense), Float64Array.from(row.lexical),
      row.allowed, Float64Array.from(row.coverage)));
  });
  ranker.fusion = saved;
  const boost = ranker.boost(row.query);
  got.boost = boost ? Array.from(boost) : null;
  got.results = row.results.map((r) => ranker.results(ranker.cases[r.position], r.kinds,
    r.noEffect));
  return got;
});
const ics = ranker.data.icsPredecessors || {};
done({ rows: out, ics: Object.keys(ics).map((id) => expandIcs([id], ics)) });
})().catch((error) => done({ error: String(error) }));
"""


def _close(a: list[float] | None, b: list[float] | None) -> bool:
    if a is None or b is None:
        return a is b
    return len(a) == len(b) and bool(np.allclose(a, b, rtol=1e-6, atol=1e-9))


def test_golden_table_python_and_the_site_agree_on_every_surface(
    site: Site, browser: Any
) -> None:
    """Python's ranking, surface by surface, is a table the site's ranker (the rank.js the page
    searches with, in Chromium) must reproduce: intent read from each of the 125 evaluation
    queries and the cue edge cases exactly; the fusion, by both methods, with and without the
    coverage term, and the boosts to within float rounding; the result sentences of the best hits
    exactly; an ICS and its predecessors as Python expands them. A drift on any surface fails
    here, not only when it moves a top 5."""
    from kb.search.filters import _expand_ics

    table = _golden_table(site.searcher)
    assert sum(1 for row in table if row["intent"]) >= 20  # the table exercises the cues
    assert any(row.get("boost") for row in table)
    open_search(browser, site)
    load_model(browser)
    browser.set_script_timeout(120)
    got = browser.execute_async_script(GOLDEN_SCRIPT, table)
    assert "error" not in got, got
    wrong: list[str] = []
    for row, js in zip(table, got["rows"], strict=True):
        if js["intent"] != row["intent"]:
            wrong.append(f"intent {row['query']!r}: {js['intent']} != {row['intent']}")
        if "dense" not in row:
            continue
        for i, (a, b) in enumerate(zip(row["fused"], js["fused"], strict=True)):
            if not _close(a, b):
                wrong.append(f"fusion {i} {row['query']!r}")
        if not _close(row["boost"], js["boost"]):
            wrong.append(f"boost {row['query']!r}")
        expected = [r["expected"] for r in row["results"]]
        if js["results"] != expected:
            wrong.append(f"results {row['query']!r}: {js['results']} != {expected}")
    assert not wrong, f"{len(wrong)} differences, first: {wrong[:5]}"
    predecessors = site.searcher.data.store.get("ics_predecessors", {})
    expected_ics = [_expand_ics([i], predecessors) for i in predecessors]
    assert got["ics"] == expected_ics


TYPO_PAIRS = [
    ("hypertention", "hypertension"),
    ("alchohol liaison nurses", "alcohol liaison nurses"),
    ("sucide prevention", "suicide prevention"),
    ("vacination uptake", "vaccination uptake"),
    ("homelesness", "homelessness"),
    ("social prescibing", "social prescribing"),
    ("diabetis prevention", "diabetes prevention"),
    ("lonelyness in older people", "loneliness in older people"),
    ("smoking in pregancy", "smoking in pregnancy"),
    ("dementia diagnossis", "dementia diagnosis"),
]


def test_a_slip_of_spelling_ranks_as_its_right_spelling_in_kb_search_and_the_site(
    site: Site, browser: Any
) -> None:
    """The corrected word is what the model embeds too, so each of 10 slips gives the same top 5
    as its right spelling, in kb search and on the site."""
    searcher = site.searcher
    for typo, right in TYPO_PAIRS:
        assert searcher.corrections(typo), typo
        cli = [h.case_id for h in searcher.search(typo, limit=5)]
        assert cli == [h.case_id for h in searcher.search(right, limit=5)], typo
    open_search(browser, site)
    load_model(browser)
    for typo, right in TYPO_PAIRS:
        shown = site_search(browser, typo)
        assert shown.get("mode") == "meaning", shown
        assert shown["hits"][:5] == site_search(browser, right)["hits"][:5], typo


def test_results_by_meaning_wait_for_a_tap_once_the_reader_has_touched_the_list(
    site: Site, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Keyword results show at once; when results by meaning are ready they replace the list
    only if the reader has not scrolled or tapped it; otherwise a line offers them."""
    driver = chromium(tmp_path_factory.mktemp("fresh-profile"), "--window-size=1280,1000")
    driver.set_script_timeout(120)
    try:  # a slow connection, so the model is still loading while the reader reads
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd(
            "Network.emulateNetworkConditions",
            {"offline": False, "latency": 20, "downloadThroughput": 1_500_000,
             "uploadThroughput": 500_000},
        )  # fmt: skip
        open_search(driver, site, "falls at home")
        api = "return window.kbSemanticSearch"
        wait_for(driver, lambda d: d.execute_script(f"{api}.renders") >= 1)
        assert driver.execute_script(f"{api}.mode") == "keywords"
        assert not driver.execute_script(f"{api}.modelReady")  # the premise: still loading
        shown = driver.execute_script(f"{api}.lastHits")
        driver.execute_script(
            "document.getElementById('kb-search-results')"
            ".dispatchEvent(new PointerEvent('pointerdown', {bubbles: true}))"
        )
        wait_for(driver, lambda d: d.execute_script(f"{api}.modelReady"), 120)
        better = wait_for(
            driver,
            lambda d: d.execute_script(
                "const b = document.getElementById('kb-search-better');"
                "return b && !b.hidden ? b : null"
            ),
        )
        assert driver.execute_script(f"{api}.mode") == "keywords"  # the list did not move
        assert driver.execute_script(f"{api}.lastHits") == shown
        assert "Better matches are ready" in better.text
        better.click()
        wait_for(driver, lambda d: d.execute_script(f"{api}.mode") == "meaning")
        assert driver.execute_script("return document.getElementById('kb-search-better').hidden")
        # untouched, the results by meaning replace the keyword results by themselves
        open_search(driver, site, "kids going hungry")
        wait_for(driver, lambda d: d.execute_script(f"{api}.mode") == "meaning", 120)
        assert driver.execute_script("return document.getElementById('kb-search-better').hidden")
    finally:
        driver.quit()
