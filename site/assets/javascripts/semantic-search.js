// Search by meaning on the published site, with no server. On every page: the header's search
// box leads to the search page, and '/' focuses it. On the search page: keyword results at once,
// then, once the embedding model has loaded (with visible progress), results ranked as
// `kb search` ranks them (kb-search/rank.js), from files the site build wrote
// (kb/site_search.py). Everything shown is set as text, never as HTML.

const HERE = new URL(".", import.meta.url);
const DATA = new URL("../../semantic-search/", HERE);
const NARROW = "(max-width: 44.9375em)"; // a phone: Material's small-screen breakpoint
const CACHE = "kb-semantic-search";
const FILTERS = [
  ["region", "Region"], ["tiers", "Prevention tier"], ["topics", "Topic"], ["meps", "MEPS"],
];

function typing(target) {
  return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
}

// '/' focuses the search box: the page's own on the search page, else the header's
document.addEventListener("keydown", (event) => {
  if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) {
    return;
  }
  const box = document.getElementById("kb-search-query")
    || document.querySelector("form.kb-header-search input[name=q]");
  if (!box) return;
  event.preventDefault();
  const toggle = document.getElementById("__search");
  if (toggle && !document.getElementById("kb-search-query")) toggle.checked = true;
  box.focus();
});

const root = document.getElementById("kb-semantic-search");
if (root) start(root);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "text") node.textContent = value;
    else if (value !== null && value !== undefined && value !== false) node.setAttribute(key, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

// a file from the site, kept in the Cache API so that later searches work offline
async function fetchCached(url, { fresh = false, onProgress = null } = {}) {
  let cache = null;
  try { cache = await caches.open(CACHE); } catch { cache = null; }
  if (cache && !fresh) {
    const hit = await cache.match(url);
    if (hit) return hit.arrayBuffer();
  }
  let response;
  try {
    response = await fetch(url);
  } catch (error) {
    const hit = cache && await cache.match(url);
    if (hit) return hit.arrayBuffer();
    throw error;
  }
  if (!response.ok) throw new Error(`${url.pathname}: HTTP ${response.status}`);
  const total = Number(response.headers.get("content-length")) || 0;
  let body;
  if (onProgress && response.body && total) {
    const reader = response.body.getReader();
    const parts = [];
    let done = 0;
    for (;;) {
      const { value, done: finished } = await reader.read();
      if (finished) break;
      parts.push(value);
      done += value.length;
      onProgress(done, total);
    }
    const all = new Uint8Array(done);
    let at = 0;
    for (const part of parts) { all.set(part, at); at += part.length; }
    body = all.buffer;
  } else {
    body = await response.arrayBuffer();
  }
  if (cache) {
    try { await cache.put(url, new Response(body.slice(0))); } catch { /* storage full */ }
  }
  return body;
}

const json = (buffer) => JSON.parse(new TextDecoder().decode(buffer));

function readState() {
  const params = new URLSearchParams(window.location.search);
  const facets = {};
  for (const [name] of FILTERS) {
    const values = params.getAll(name).filter(Boolean);
    if (values.length) facets[name] = values;
  }
  const evidence = Number(params.get("evidence")) || 0;
  return { query: params.get("q") || "", facets, evidenceMin: evidence };
}

function writeState(state) {
  const params = new URLSearchParams();
  if (state.query) params.set("q", state.query);
  for (const [name, values] of Object.entries(state.facets)) for (const v of values) params.append(name, v);
  if (state.evidenceMin) params.set("evidence", String(state.evidenceMin));
  const search = params.toString();
  window.history.replaceState(null, "", search ? `?${search}` : window.location.pathname);
}

async function start(node) {
  const api = {
    ready: false, modelReady: false, lastVector: null, lastHits: [], mode: "none",
    error: null, renders: 0, timings: [],
  };
  window.kbSemanticSearch = api;
  const state = readState();
  const ui = buildUi(node, state);
  let data;
  let ranker;
  try {
    const [dataBuffer, { Ranker }] = await Promise.all([
      fetchCached(new URL("data.json", DATA), { fresh: true }),
      import("./kb-search/rank.js"),
    ]);
    data = json(dataBuffer);
    const version = data.model ? data.model.version : "none";
    const [bm25, texts] = await Promise.all([
      fetchCached(new URL(`${data.bm25.file}?v=${version}`, DATA), { fresh: !data.model }),
      fetchCached(new URL(`${data.texts}?v=${version}`, DATA), { fresh: !data.model }),
    ]);
    ranker = new Ranker(data, json(texts));
    ranker.setBm25(bm25);
  } catch (error) {
    api.error = String(error);
    ui.status.textContent = "The search index could not be loaded. Browse the catalogue instead.";
    return;
  }
  fillFilters(ui, data, state);
  api.ready = true;
  api.ranker = ranker;
  let model = null;
  let loading = null;
  // whether the reader has scrolled or tapped since the results were drawn: results by meaning
  // then wait behind a 'Better matches are ready' line instead of reordering the list in place
  let touched = false;
  const touch = () => { touched = true; };
  window.addEventListener("scroll", touch, { passive: true });
  for (const list of [ui.list, ui.weak]) {
    list.addEventListener("pointerdown", touch);
    list.addEventListener("focusin", touch);
  }

  const run = async () => {
    const began = performance.now();
    state.query = ui.box.value.trim();
    state.facets = {};
    for (const [name] of FILTERS) {
      const value = ui.selects[name].value;
      if (value) state.facets[name] = [value];
    }
    state.evidenceMin = Number(ui.evidence.value) || 0;
    writeState(state);
    const inUse = Object.keys(state.facets).length + (state.evidenceMin ? 1 : 0);
    ui.filterSummary.textContent = inUse ? `Filters (${inUse} in use)` : "Filters";
    if (!state.query) {
      ui.list.replaceChildren();
      ui.weak.replaceChildren();
      ui.count.textContent = "Type a few words to search the case studies.";
      return;
    }
    if (!model && data.model && !loading) loading = loadModel(data, ui, api, ranker).then((m) => { model = m; });
    let vector = null;
    if (model) {
      vector = await model.embed(ranker.corrected(state.query)); // a slip embedded as its word
      api.lastVector = Array.from(vector);
    }
    const filters = { facets: state.facets, evidenceMin: state.evidenceMin };
    const hits = ranker.search(state.query, filters, vector, 10);
    const ranked = ranker.ranked;
    let elsewhere = 0; // good matches the filters left out, when none is left in
    const filtered = Object.keys(state.facets).length > 0 || state.evidenceMin > 0;
    if (filtered && hits.length && hits.every((h) => h.weak)) {
      const all = ranker.search(state.query, { facets: {}, evidenceMin: 0 }, vector, 10);
      elsewhere = all.filter((h) => !h.weak).length;
      ranker.ranked = ranked;
    }
    render(ui, data, ranker, hits, state, vector !== null, elsewhere);
    api.mode = vector ? "meaning" : "keywords";
    api.lastHits = hits.map((h) => h.id);
    api.lastRanked = ranker.ranked;
    api.renders += 1;
    api.timings.push(performance.now() - began);
    ui.better.hidden = true;
    touched = false;
    if (!model && loading) {
      loading.then(() => {
        if (!model || ui.box.value.trim() !== state.query) return;
        if (touched) ui.better.hidden = false; // the reader is reading: offer, do not reorder
        else run();
      });
    }
  };
  ui.better.addEventListener("click", () => run());
  api.search = (query) => { ui.box.value = query; return run(); };
  ui.form.addEventListener("submit", (event) => { event.preventDefault(); run(); });
  for (const select of [...Object.values(ui.selects), ui.evidence]) select.addEventListener("change", run);
  if (!data.model) {
    ui.notice.hidden = false;
    ui.notice.textContent = `Search by meaning is not available here (${data.noModel}): these are keyword matches.`;
  }
  if (state.query) await run();
  else ui.count.textContent = "Type a few words to search the case studies.";
}

function buildUi(node, state) {
  const box = el("input", {
    id: "kb-search-query", type: "search", name: "q", autocomplete: "off",
    "aria-describedby": "kb-search-hint",
  });
  box.value = state.query;
  const selects = {};
  const filters = el("div", { class: "kb-search-filters" });
  for (const [name, label] of FILTERS) {
    const id = `kb-search-${name}`;
    selects[name] = el("select", { id, name }, el("option", { value: "", text: "Any" }));
    filters.append(el("div", { class: "kb-search-filter" }, el("label", { for: id, text: label }), selects[name]));
  }
  const evidence = el("select", { id: "kb-search-evidence", name: "evidence" },
    el("option", { value: "", text: "Any" }));
  for (let level = 1; level <= 5; level += 1) {
    evidence.append(el("option", { value: String(level), text: `Level ${level} or higher` }));
  }
  filters.append(el("div", { class: "kb-search-filter" },
    el("label", { for: "kb-search-evidence", text: "Evidence (Nesta)" }), evidence));
  // on a phone the filters fold away under one line, so the first result shows without scrolling;
  // they stay open on a wide screen, and whenever one is in use
  const filterSummary = el("summary", { id: "kb-search-filter-summary", class: "kb-search-filter-summary", text: "Filters" });
  const filterBox = el("details", { id: "kb-search-filter-box", class: "kb-search-filter-box" }, filterSummary, filters);
  const active = Object.keys(state.facets).length + (state.evidenceMin ? 1 : 0);
  filterBox.open = active > 0 || !window.matchMedia(NARROW).matches;
  const form = el("form", { class: "kb-search-form", role: "search", "aria-label": "Case studies" },
    el("label", { for: "kb-search-query", text: "Search the case studies in your own words" }),
    el("div", { class: "kb-search-row" }, box, el("button", { type: "submit", class: "md-button md-button--primary", text: "Search" })),
    el("p", { id: "kb-search-hint", class: "kb-search-hint", text: "For example: kids going hungry, blood pressure checks in the community, A&E admissions avoided." }),
    filterBox);
  const progress = el("progress", { id: "kb-search-progress", max: "100", value: "0", "aria-label": "Loading the search model" });
  const progressRow = el("div", { class: "kb-search-progress", hidden: true }, progress, el("span", { id: "kb-search-progress-text" }));
  const notice = el("p", { id: "kb-search-notice", class: "kb-search-notice", role: "status", hidden: true });
  const status = el("p", { id: "kb-search-status", class: "kb-search-status" });
  const corrected = el("p", { id: "kb-search-corrected", class: "kb-search-corrected", hidden: true });
  const count = el("p", { id: "kb-search-count", class: "kb-search-count", "aria-live": "polite" });
  const better = el("button", {
    id: "kb-search-better", type: "button", class: "md-button kb-search-better", hidden: true,
    text: "Better matches are ready: show them",
  });
  const list = el("ol", { id: "kb-search-results", class: "kb-search-results" });
  const weakHeading = el("h2", { id: "kb-search-weak-heading", hidden: true, text: "Weaker matches" });
  const weak = el("ol", { id: "kb-search-weak", class: "kb-search-results kb-search-weak", "aria-labelledby": "kb-search-weak-heading" });
  node.replaceChildren(form, progressRow, notice, status, corrected, count, better, list, weakHeading, weak);
  return { form, box, selects, evidence, filterSummary, progress, progressRow, notice, status, corrected, count, better, list, weak, weakHeading };
}

function fillFilters(ui, data, state) {
  for (const [name] of FILTERS) {
    const present = new Set(data.cases.flatMap((c) => c.facets[name] || []));
    const labels = data.labels[name] || {};
    const ids = [...present].sort((a, b) => (labels[a] || a).localeCompare(labels[b] || b));
    for (const id of ids) ui.selects[name].append(el("option", { value: id, text: labels[id] || id }));
    const wanted = (state.facets[name] || [])[0];
    if (wanted) ui.selects[name].value = wanted;
  }
  if (state.evidenceMin) ui.evidence.value = String(state.evidenceMin);
}

async function loadModel(data, ui, api, ranker) {
  const spec = data.model;
  const show = (fraction, text) => {
    ui.progressRow.hidden = false;
    ui.progress.value = Math.round(fraction * 100);
    ui.progress.setAttribute("aria-valuetext", text);
    ui.progressRow.lastChild.textContent = text;
  };
  ui.notice.hidden = false;
  ui.notice.textContent = "Showing keyword matches while search by meaning loads.";
  try {
    if (typeof WebAssembly !== "object") throw new Error("this browser cannot run WebAssembly");
    const version = spec.version;
    let modelDone = 0;
    let wasmDone = 0;
    const wasmName = "ort-wasm-simd-threaded.wasm";
    const totals = { model: spec.bytes, wasm: 0 };
    const report = () => {
      const all = totals.model + (totals.wasm || 1.5e7);
      const fraction = (modelDone + wasmDone) / all;
      show(fraction, `Loading search by meaning: ${Math.round(fraction * 100)}%`);
    };
    report();
    const [ort, modelBytes, wasmBinary, tokenizerBuffer, vectors] = await Promise.all([
      import(new URL(spec.runtime, DATA).href),
      fetchCached(new URL(`${spec.file}?v=${version}`, DATA), {
        onProgress: (d) => { modelDone = d; report(); },
      }),
      fetchCached(new URL(`${spec.runtimeDir}${wasmName}?v=${version}`, DATA), {
        onProgress: (d, t) => { wasmDone = d; totals.wasm = t; report(); },
      }),
      fetchCached(new URL(`${spec.tokenizer}?v=${version}`, DATA)),
      fetchCached(new URL(`${data.vectors.file}?v=${version}`, DATA)),
    ]);
    ranker.setVectors(vectors);
    const { WordPiece } = await import("./kb-search/wordpiece.js");
    const tokenizer = new WordPiece(json(tokenizerBuffer), spec.maxTokens);
    ranker.setKnownWords((word) => tokenizer.vocab.has(tokenizer.normalize(word).trim()));
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.proxy = false;
    ort.env.wasm.wasmPaths = new URL(spec.runtimeDir, DATA).href;
    ort.env.wasm.wasmBinary = wasmBinary;
    show(1, "Starting search by meaning");
    const session = await ort.InferenceSession.create(new Uint8Array(modelBytes), {
      executionProviders: ["wasm"], graphOptimizationLevel: "all",
    });
    const model = {
      tokenizer,
      async embed(text) {
        const ids = tokenizer.encode(text);
        const shape = [1, ids.length];
        const feeds = {
          input_ids: new ort.Tensor("int64", BigInt64Array.from(ids, BigInt), shape),
          attention_mask: new ort.Tensor("int64", new BigInt64Array(ids.length).fill(1n), shape),
          token_type_ids: new ort.Tensor("int64", new BigInt64Array(ids.length), shape),
        };
        const feedNames = session.inputNames;
        const used = Object.fromEntries(Object.entries(feeds).filter(([k]) => feedNames.includes(k)));
        const output = await session.run(used, ["sentence_embedding"]);
        const vector = Float32Array.from(output.sentence_embedding.data);
        let norm = 0;
        for (const v of vector) norm += v * v;
        norm = Math.sqrt(norm) || 1;
        return vector.map((v) => v / norm);
      },
    };
    api.modelReady = true;
    api.model = model;
    ui.progressRow.hidden = true;
    ui.notice.hidden = true;
    return model;
  } catch (error) {
    api.error = String(error);
    ui.progressRow.hidden = true;
    ui.notice.hidden = false;
    ui.notice.textContent = "Search by meaning could not start in this browser, so these are keyword matches.";
    return null;
  }
}

function render(ui, data, ranker, hits, state, byMeaning, elsewhere = 0) {
  const corrected = Object.entries(ranker.corrections(state.query));
  ui.corrected.hidden = corrected.length === 0;
  ui.corrected.textContent = corrected.length
    ? `Read ${corrected.map(([typed, read]) => `'${typed}' as '${read}'`).join(", ")}: no case study has ${corrected.map(([typed]) => `'${typed}'`).join(" or ")}.`
    : "";
  const strong = hits.filter((h) => !h.weak);
  const weak = hits.filter((h) => h.weak);
  ui.list.replaceChildren(...strong.map((h) => card(data, h)));
  ui.weak.replaceChildren(...weak.map((h) => card(data, h)));
  ui.weakHeading.hidden = weak.length === 0;
  const how = byMeaning ? "by meaning and keywords" : "by keywords";
  if (!hits.length) {
    ui.count.textContent = `No case studies match '${state.query}'. Try other words or fewer filters.`;
  } else if (!strong.length && elsewhere) {
    const these = elsewhere === 1 ? "1 case study outside them is" : `${elsewhere} case studies outside them are`;
    ui.count.textContent = `Nothing within your filters is clearly about '${state.query}', but ${these}: clear a filter to see ${elsewhere === 1 ? "it" : "them"}. The closest within your filters are listed as weaker matches.`;
  } else if (!strong.length) {
    ui.count.textContent = `Nothing in the library is clearly about '${state.query}'; the closest case studies are listed as weaker matches.`;
  } else {
    ui.count.textContent = `${strong.length} case ${strong.length === 1 ? "study" : "studies"} for '${state.query}', ranked ${how}.`;
  }
}

function card(data, hit) {
  const c = data.cases[hit.position];
  const base = new URL("../../", HERE);
  const where = [...(c.labels.ics || []), ...(c.labels.region || [])].join(" · ") || "National";
  const headingId = `kb-hit-${c.id}`;
  const item = el("li", { class: "kb-search-hit" });
  const article = el("article", { "aria-labelledby": headingId });
  article.append(el("h2", { id: headingId, class: "kb-search-title" },
    el("a", { href: new URL(c.url, base).href, text: c.title })));
  article.append(el("p", { class: "kb-search-meta" },
    el("span", { class: "kb-search-place", text: where }),
    el("span", { class: "kb-search-tiers", text: ` · Tier: ${(c.labels.tiers || []).join(", ") || "not stated"}` })));
  if (hit.passage) {
    const why = el("p", { class: "kb-search-passage" },
      el("span", { class: "kb-search-section", text: `Matched in ${hit.section || "the case study"}: ` }));
    why.append(document.createTextNode(hit.passage));
    article.append(why);
  }
  const shared = Object.entries(hit.shared).map(([name, ids]) => {
    const label = data.params.fieldLabels[name] || name;
    return `${label}: ${ids.map((id) => (data.labels[name] || {})[id] || id).join(", ")}`;
  });
  if (shared.length) article.append(el("p", { class: "kb-search-shared", text: `Shares ${shared.join("; ")}` }));
  if (hit.results.length) {
    const list = el("ul", { class: "kb-search-outcomes", "aria-label": "Results" });
    for (const sentence of hit.results) list.append(el("li", { text: sentence }));
    article.append(list);
  }
  item.append(article);
  return item;
}
