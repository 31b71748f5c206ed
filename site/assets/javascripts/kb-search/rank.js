// The ranking of `kb search` (kb/search/), in the browser: BM25 and dense scores fused (a convex
// mix of min-max scaled scores by default, or reciprocal rank; the lexical part optionally scaled
// by the query's coverage), outcome-aware boosts for questions about results, a relevance floor,
// and each hit's best passage, snippet, shared facets and result sentences. Every parameter comes
// from data.json, written from kb.search by kb/publish/search_data.py, so a change to the Python
// ranking reaches the site with the next build. tests/browser/test_semantic_search.py holds this
// file to Python's outputs surface by surface (the golden table).

import { stem } from "./stemmer.js";

const WORD = /[\p{L}\p{N}_]{2,}/gu;
// a letter, '&' and a letter standing alone ('A&E'): one word ('ae'), as kb.passages.words_of
const LETTER_AND_LETTER = /(?<![\p{L}\p{N}_])(\p{L})&(\p{L})(?![\p{L}\p{N}_])/gu;
const MD_LINK = /\[([^[\]]*)\]\((?:[^()]|\([^()]*\))*\)/g; // kb.index.passages._MD_LINK
const MD_MARKS = /[*_`#>|]+/g;
const ASTRAL = /[\uD800-\uDFFF]/;

// text[start:end] counted in code points, as Python slices strings
export function slice(text, start, end) {
  if (!ASTRAL.test(text)) return text.slice(start, end);
  return Array.from(text).slice(start, end).join("");
}

const length = (text) => (ASTRAL.test(text) ? Array.from(text).length : text.length);

export function cleanMarkdown(text) {
  return text.replace(MD_LINK, "$1").replace(MD_MARKS, " ").replace(/\s+/g, " ").trim();
}

const SPELL_MIN = 5; // kb.spelling.MIN_LENGTH
const SPELLING_CASES = 5; // kb.search.reading.SPELLING_CASES

// optimal string alignment distance, or limit + 1 once it must exceed limit (kb.spelling)
export function editDistance(a, b, limit) {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let before = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        value = Math.min(value, before[j - 2] + 1);
      }
      current.push(value);
    }
    if (Math.min(...current) > limit) return limit + 1;
    before = previous;
    previous = current;
  }
  return previous[b.length];
}

export class Ranker {
  constructor(data, texts) {
    this.data = data;
    this.texts = texts;
    this.params = data.params;
    this.fusion = data.params.fusion;
    const bm25 = data.bm25;
    this.stopwords = new Set(bm25.stopwords);
    this.queryStopwords = new Set([...bm25.stopwords, ...data.params.queryStopwords]);
    this.vocab = new Map(bm25.vocab.map((t, i) => [t, i]));
    this.idf = bm25.idf;
    this.maxIdf = this.idf.length ? Math.max(...this.idf) : 1;
    // outcomes come as lists in the order of params.outcomeFields (kb.index.layout.StoredOutcome):
    // read by name from here on
    const fields = data.params.outcomeFields;
    this.cases = data.cases.map((c) => ({
      ...c,
      outcomes: (c.outcomes || []).map((o) => Object.fromEntries(fields.map((f, i) => [f, o[i]]))),
    }));
    this.caseStart = data.caseStart;
    this.passages = data.passages;
    this.stems = new Map();
    this.outcomeCache = new Map();
    this.known = null; // whether the query model knows a word whole (set with the model)
    this.byStart = null;
    this.read = [null, null];
  }

  // query words the library lacks are read as the library word they are a slip for, once the
  // query model's vocabulary can tell a slip from a real word (kb.spelling)
  setKnownWords(known) {
    this.known = known;
    this.read = [null, null];
  }

  setBm25(buffer) {
    const { terms, nonzero, indexBytes } = this.data.bm25;
    this.indptr = new Uint32Array(buffer, 0, terms + 1);
    this.values = new Float32Array(buffer, (terms + 1) * 4, nonzero);
    const at = (terms + 1) * 4 + nonzero * 4;
    this.indices = indexBytes === 2
      ? new Uint16Array(buffer.slice(at, at + nonzero * 2))
      : new Uint32Array(buffer.slice(at, at + nonzero * 4));
  }

  // decode the packed passage vectors (kb.site_search.encode_vectors) into one float matrix
  setVectors(buffer) {
    const spec = this.data.vectors;
    const bytes = new Uint8Array(buffer);
    const { rows, dimension, rowBytes, bits, offset, scale, levels } = spec;
    const matrix = new Float32Array(rows * dimension);
    const tables = bits.map((b, d) => {
      const base = b === 8 ? Array.from({ length: 256 }, (_, c) => c) : levels[String(b)];
      return Float32Array.from(base, (v) => offset[d] + scale[d] * v);
    });
    for (let r = 0; r < rows; r += 1) {
      let bit = r * rowBytes * 8;
      const out = r * dimension;
      for (let d = 0; d < dimension; d += 1) {
        let code = 0;
        for (let k = 0; k < bits[d]; k += 1, bit += 1) {
          code |= ((bytes[bit >> 3] >> (bit & 7)) & 1) << k;
        }
        matrix[out + d] = tables[d][code];
      }
    }
    this.vectors = matrix;
    this.dimension = dimension;
  }

  stemWord(word) {
    let found = this.stems.get(word);
    if (found === undefined) {
      found = stem(word);
      this.stems.set(word, found);
    }
    return found;
  }

  // the lower-cased words of a text, 'A&E' as 'ae' (kb.passages.words_of)
  static words(text) {
    let lower = text.toLowerCase();
    if (lower.includes("&")) lower = lower.replace(LETTER_AND_LETTER, "$1$2");
    return lower.match(WORD) || [];
  }

  tokens(text, stopwords = this.stopwords) {
    return Ranker.words(text).filter((w) => !stopwords.has(w)).map((w) => this.stemWord(w));
  }

  queryTokens(text) {
    return this.reading(text).tokens;
  }

  // a query's BM25 tokens, its words the library lacks with the stem each is read as, and those
  // stems by the stem they replace (kb.search.Searcher._reading)
  reading(text) {
    if (this.read[0] === text) return this.read[1];
    const all = Ranker.words(text);
    let words = all.filter((w) => !this.queryStopwords.has(w));
    if (!words.length) words = all.filter((w) => !this.stopwords.has(w));
    const stems = words.map((w) => this.stemWord(w));
    const fixed = {};
    const byStem = new Map();
    if (this.known) {
      words.forEach((w, i) => {
        const to = this.correct(w, stems[i]);
        if (to !== null) { fixed[w] = to; byStem.set(stems[i], to); }
      });
    }
    const reading = { tokens: stems.map((s) => byStem.get(s) || s), fixed, byStem };
    this.read = [text, reading];
    return reading;
  }

  // the query's words that no case study has, each with the library word it was read as, spelled
  // as the first case study with it spells it (kb.search.Searcher.corrections)
  corrections(text) {
    const out = {};
    for (const [word, to] of Object.entries(this.reading(text).fixed)) {
      out[word] = this.spellingOf(to, word) || to;
    }
    return out;
  }

  // the query with each slip read as its library word, as the model embeds it
  // (kb.search.reading.QueryReader.corrected)
  corrected(text) {
    let out = text;
    for (const [word, read] of Object.entries(this.corrections(text))) {
      const escaped = word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      out = out.replace(new RegExp(`(?<![\\p{L}\\p{N}_])${escaped}(?![\\p{L}\\p{N}_])`, "giu"), read);
    }
    return out;
  }

  // a word of the library with this stem, from the first case study that has it: the first of
  // them closest to `typed` (kb.search.reading.QueryReader.spelling_of)
  spellingOf(stemmed, typed = null) {
    const id = this.vocab.get(stemmed);
    if (id === undefined || this.indptr[id] === this.indptr[id + 1]) return null;
    const docCase = this.data.bm25.docCase;
    const seen = new Set();
    for (let j = this.indptr[id]; j < this.indptr[id + 1]; j += 1) seen.add(docCase[this.indices[j]]);
    const positions = [...seen].sort((a, b) => a - b).slice(0, SPELLING_CASES);
    const texts = [];
    for (const position of positions) {
      const parts = this.texts[position] || {};
      const order = ["-1", "-3", "-2", ...Object.keys(parts).filter((k) => Number(k) >= 0).sort((a, b) => a - b)];
      texts.push(this.cases[position].title, ...order.filter((k) => parts[k]).map((k) => parts[k][1]));
    }
    const found = [];
    for (const text of texts) {
      for (const word of Ranker.words(text)) if (this.stemWord(word) === stemmed) found.push(word);
    }
    if (!found.length || typed === null) return found.length ? found[0] : null;
    const limit = typed.length + Math.max(...found.map((w) => w.length));
    let best = found[0];
    let bestDistance = editDistance(best, typed, limit);
    for (const word of found.slice(1)) {
      const distance = editDistance(word, typed, limit);
      if (distance < bestDistance) [best, bestDistance] = [word, distance];
    }
    return best;
  }

  // the library stem a query stem is a slip for, or null (kb.spelling.Speller.correct)
  correct(word, stem) {
    if (this.vocab.has(stem) || stem.length < SPELL_MIN || /\d/.test(stem)) return null;
    if (this.known(word)) return null;
    if (!this.byStart) { // library stems by first letter and length
      this.byStart = new Map();
      for (const term of this.vocab.keys()) {
        if (!term) continue;
        const key = `${term[0]}${term.length}`;
        if (!this.byStart.has(key)) this.byStart.set(key, []);
        this.byStart.get(key).push(term);
      }
    }
    const limit = stem.length < 8 ? 1 : 2;
    const near = [];
    for (let n = stem.length - limit; n <= stem.length + limit; n += 1) {
      near.push(...(this.byStart.get(`${stem[0]}${n}`) || []));
    }
    let best = null;
    for (const term of near) {
      const d = editDistance(stem, term, limit);
      if (d > limit) continue;
      const idf = this.idf[this.vocab.get(term)];
      if (!best || d < best[0] || (d === best[0] && (idf < best[1] || (idf === best[1] && term < best[2])))) {
        best = [d, idf, term];
      }
    }
    return best ? best[2] : null;
  }

  bm25(tokens) {
    const n = this.cases.length;
    const scores = new Float64Array(n);
    const matched = new Float64Array(n);
    const unique = [...new Set(tokens)];
    let total = 0;
    for (const t of unique) total += this.vocab.has(t) ? this.idf[this.vocab.get(t)] : this.maxIdf;
    const ids = [...new Set(unique.filter((t) => this.vocab.has(t)).map((t) => this.vocab.get(t)))];
    const docCase = this.data.bm25.docCase;
    for (const id of ids) {
      for (let j = this.indptr[id]; j < this.indptr[id + 1]; j += 1) {
        const c = docCase[this.indices[j]];
        scores[c] = Math.fround(scores[c] + this.values[j]);
        matched[c] += this.values[j]; // a word counts as far as BM25 saturates it
      }
    }
    const coverage = total > 0 ? matched.map((m) => m / total) : matched;
    return [scores, coverage];
  }

  passageScores(vector) {
    const rows = this.passages.length;
    const out = new Float32Array(rows);
    const dim = this.dimension;
    const m = this.vectors;
    for (let r = 0; r < rows; r += 1) {
      let sum = 0;
      const base = r * dim;
      for (let d = 0; d < dim; d += 1) sum += m[base + d] * vector[d];
      out[r] = sum;
    }
    return out;
  }

  caseDense(scores) {
    const n = this.cases.length;
    const best = new Float64Array(n);
    const second = this.fusion.second;
    for (let c = 0; c < n; c += 1) {
      const start = this.caseStart[c];
      const end = c + 1 < n ? this.caseStart[c + 1] : scores.length;
      let top = -Infinity;
      let next = -Infinity;
      for (let r = start; r < end; r += 1) {
        if (scores[r] > top) { next = top; top = scores[r]; } else if (scores[r] > next) next = scores[r];
      }
      if (end <= start) top = 0;
      if (second > 0) {
        if (next === -Infinity) next = top;
        best[c] = (top + second * next) / (1 + second);
      } else {
        best[c] = top;
      }
    }
    return best;
  }

  allowed(filters) {
    const pred = this.data.icsPredecessors || {};
    return this.cases.map((c) => {
      for (const [name, wanted] of Object.entries(filters.facets || {})) {
        if (!wanted.length) continue;
        const targets = name === "ics" ? expandIcs(wanted, pred) : wanted;
        const have = c.facets[name] || [];
        if (!have.some((v) => targets.includes(v))) return false;
      }
      if (filters.evidenceMin && (c.evidence || 0) < filters.evidenceMin) return false;
      return true;
    });
  }

  fuse(dense, lexical, allowed, coverage) {
    const f = this.fusion;
    const out = new Float64Array(dense.length).fill(-1);
    const idx = [];
    allowed.forEach((ok, i) => { if (ok) idx.push(i); });
    if (!idx.length) return out;
    const d = idx.map((i) => dense[i]);
    const b = idx.map((i) => lexical[i]);
    if (f.method === "rrf") {
      const rd = ranks(d);
      const rb = ranks(b);
      const best = (f.dense_weight + f.lexical_weight) / (f.k + 1);
      idx.forEach((i, j) => {
        let credit = 1;
        if (coverage && f.coverage_power > 0) {
          credit = Math.min(1, Math.max(0, coverage[i])) ** f.coverage_power;
        }
        const lex = b[j] > 0 ? (f.lexical_weight * credit) / (f.k + rb[j]) : 0;
        out[i] = (f.dense_weight / (f.k + rd[j]) + lex) / best;
      });
    } else {
      const md = minmax(d);
      const mb = minmax(b);
      idx.forEach((i, j) => {
        let lexical = mb[j];
        if (coverage && f.coverage_power > 0) {
          lexical *= Math.min(1, Math.max(0, coverage[i])) ** f.coverage_power;
        }
        out[i] = f.alpha * md[j] + (1 - f.alpha) * lexical;
      });
    }
    return out;
  }

  // what a query asks about results (kb.search.result_intent): outcome kinds, strong evidence,
  // what did not work; null when none of these
  resultIntent(query) {
    const text = cueText(query);
    const kinds = [];
    const cues = [];
    let generic = false;
    const found = (phrases) => (phrases || []).filter((p) => text.includes(cueText(p)));
    for (const cue of this.params.resultCues) {
      const hits = found(cue.words);
      cues.push(...hits);
      if (hits.length && cue.kinds.length) {
        for (const k of cue.kinds) if (!kinds.includes(k)) kinds.push(k);
      } else if (hits.length) {
        generic = true;
      }
    }
    if (query.includes("£")) {
      if (!kinds.includes("financial")) kinds.push("financial");
      cues.push("£");
    }
    const evidence = found(this.params.evidenceCues);
    const noEffect = found(this.params.noEffectCues);
    if (!kinds.length && !generic && !evidence.length && !noEffect.length) return null;
    return {
      kinds,
      cues: [...new Set([...cues, ...evidence, ...noEffect])],
      outcomes: Boolean(kinds.length || generic),
      evidence: evidence.length > 0,
      noEffect: noEffect.length > 0,
    };
  }

  outcomeCredit(kinds) {
    const key = kinds.join(" ");
    if (!this.outcomeCache.has(key)) {
      const credit = this.params.outcomeCredit;
      this.outcomeCache.set(key, this.cases.map((c) => {
        let best = 0;
        for (const o of c.outcomes) {
          if (kinds.length && !kinds.includes(o.kind)) continue;
          best = Math.max(best, (credit[o.status] || 0) * (o.numeric ? 1 : credit.noFigure));
        }
        return best;
      }));
    }
    return this.outcomeCache.get(key);
  }

  // what the query's intent adds to each fused score (kb.search.Searcher._boost); null if nothing
  boost(query) {
    const f = this.fusion;
    const n = this.cases.length;
    const boost = new Float64Array(n);
    const intent = this.resultIntent(query);
    if (intent && intent.outcomes && f.outcome_boost > 0) {
      const credit = this.outcomeCredit(intent.kinds);
      for (let i = 0; i < n; i += 1) boost[i] += f.outcome_boost * credit[i];
    }
    if (intent && intent.evidence && f.evidence_boost > 0) {
      // where each level stands in this library's range (kb.search.Searcher._evidence_rank)
      const levels = this.cases.map((c) => c.evidence || 0);
      const assessed = levels.filter((v) => v > 0);
      const low = assessed.length ? Math.min(...assessed) : 0;
      const high = assessed.length ? Math.max(...assessed) : 0;
      if (high > low) {
        for (let i = 0; i < n; i += 1) {
          const rank = Math.min(Math.max((levels[i] - low) / (high - low), 0), 1);
          boost[i] += f.evidence_boost * rank;
        }
      }
    }
    if (intent && intent.noEffect && f.no_effect_boost > 0) {
      for (let i = 0; i < n; i += 1) {
        if (noEffect(this.cases[i])) boost[i] += f.no_effect_boost;
      }
    }
    const named = this.queryFacets(query).topics || [];
    if (named.length && f.topic_boost > 0) {
      for (let i = 0; i < n; i += 1) {
        const have = this.cases[i].facets.topics || [];
        const share = named.filter((t) => have.includes(t)).length / named.length;
        boost[i] += f.topic_boost * share;
      }
    }
    return boost.some((v) => v !== 0) ? boost : null;
  }

  // case scores (-1 = filtered out) for a query; vector null = keywords only
  score(query, filters, vector) {
    const allowed = this.allowed(filters);
    const [lexical, coverage] = this.bm25(this.queryTokens(query));
    const rows = this.passages.length;
    if (!vector) {
      // keywords only, until the model loads: a case study without a word of the query is left
      // out (-1), where `kb search --mode bm25` (an evaluation mode) keeps it at 0
      let top = 0;
      allowed.forEach((ok, i) => { if (ok && lexical[i] > top) top = lexical[i]; });
      const cases = Float64Array.from(lexical, (v, i) => (allowed[i] && v > 0 ? v / top : -1));
      return { cases, passageScores: new Float32Array(rows), dense: null, coverage };
    }
    const passageScores = this.passageScores(vector);
    const dense = this.caseDense(passageScores);
    let cases = this.fuse(dense, lexical, allowed, coverage);
    const boost = this.boost(query);
    if (boost) {
      // scaled back into [0, 1] rather than clipped, so that boosted hits do not tie
      cases = cases.map((v, i) => (allowed[i] ? v + boost[i] : -1));
      const top = Math.max(...cases);
      if (top > 1) cases = cases.map((v, i) => (allowed[i] ? v / top : -1));
    }
    return { cases, passageScores, dense, coverage };
  }

  search(query, filters, vector, limit = 10) {
    const { cases, passageScores, dense, coverage } = this.score(query, filters, vector);
    const tokens = new Set(this.queryTokens(query));
    const facets = merge(filters.facets || {}, this.queryFacets(query));
    const intent = vector ? this.resultIntent(query) : null;
    const order = [];
    cases.forEach((v, i) => { if (v >= 0) order.push(i); });
    order.sort((a, b) => cases[b] - cases[a] || a - b);
    const f = this.fusion;
    const below = (position) => Boolean(dense && dense[position] < f.floor_dense
      && coverage[position] < f.floor_coverage);
    // one ranking of the whole library, strong matches first, then weak ones, each by score; the
    // list asked for is its first `limit` (kb.search.searcher.Searcher._ranked)
    const strong = order.length > 0 && !below(order[0]);
    const isWeak = (position) => below(position) && !(strong && cases[position] >= f.floor_guard);
    this.ranked = order.slice(0, limit).map((position) => this.cases[position].id); // by score
    const top = [...order.filter((p) => !isWeak(p)), ...order.filter(isWeak)].slice(0, limit);
    const hits = top.map((position) => {
      const weak = isWeak(position);
      const [section, passage] = this.bestPassage(position, passageScores, tokens);
      const c = this.cases[position];
      return {
        id: c.id,
        position,
        score: Math.round(Math.min(1, Math.max(0, cases[position])) * 1e4) / 1e4,
        weak,
        section,
        passage,
        shared: this.shared(c, facets),
        results: this.results(c, intent && intent.outcomes ? intent.kinds : null,
          Boolean(intent && intent.noEffect)),
      };
    });
    return hits;
  }

  passageText(row) {
    const position = this.caseOf(row);
    const [section, start, end] = this.passages[row];
    const part = (this.texts[position] || {})[String(section)];
    if (!part) return ["", ""];
    return [part[0], slice(part[1], start, end)];
  }

  caseOf(row) {
    let low = 0;
    let high = this.caseStart.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if (this.caseStart[mid] <= row) low = mid; else high = mid - 1;
    }
    return low;
  }

  bestPassage(position, scores, tokens) {
    const start = this.caseStart[position];
    const end = position + 1 < this.caseStart.length ? this.caseStart[position + 1] : scores.length;
    if (end <= start) return ["", ""];
    const rows = [];
    for (let r = start; r < end; r += 1) rows.push(r);
    rows.sort((a, b) => scores[b] - scores[a] || a - b);
    let bestRow = rows[0];
    let bestValue = -Infinity;
    for (const row of rows.slice(0, this.params.passageCandidates)) {
      const [, text] = this.passageText(row);
      const words = new Set(this.tokens(text));
      let common = 0;
      for (const t of tokens) if (words.has(t)) common += 1;
      const value = scores[row] + (this.params.passageWordWeight * common) / Math.max(1, tokens.size);
      if (value > bestValue) { bestRow = row; bestValue = value; }
    }
    const [heading, text] = this.passageText(bestRow);
    return [heading, this.snippet(text, tokens, ...this.cut(bestRow))];
  }

  // whether a passage starts after the start of its part, and ends before its end
  cut(row) {
    const [section, start, end] = this.passages[row];
    const part = (this.texts[this.caseOf(row)] || {})[String(section)];
    return part ? [start > 0, end < length(part[1])] : [false, false];
  }

  snippet(text, tokens, before = false, after = false) {
    const limit = this.params.snippetChars;
    const plain = cleanMarkdown(text);
    if (length(plain) <= limit) return (before ? "... " : "") + plain + (after ? " ..." : "");
    const sentences = plain.split(/(?<=[.!?])\s+/);
    const hits = sentences.map((s) => this.tokens(s).filter((t, i, all) => all.indexOf(t) === i
      && tokens.has(t)).length);
    let best = 0;
    hits.forEach((h, i) => { if (h > hits[best]) best = i; });
    let first = best;
    let last = best;
    let out = sentences[best];
    while (length(out) < limit && (first > 0 || last < sentences.length - 1)) {
      if (last < sentences.length - 1) last += 1; else if (first > 0) first -= 1;
      out = sentences.slice(first, last + 1).join(" ");
    }
    if (length(out) > limit) {
      const cut = slice(out, 0, limit);
      const space = cut.lastIndexOf(" ");
      out = `${space >= 0 ? cut.slice(0, space) : cut} ...`;
    } else if (after && last === sentences.length - 1) {
      out += " ...";
    }
    return (first > 0 || before ? "... " : "") + out;
  }

  queryFacets(query) {
    const { byStem } = this.reading(query);
    const words = this.tokens(query).map((w) => byStem.get(w) || w);
    const found = {};
    for (const [name, id, stems] of this.data.queryTerms) {
      const n = stems.length;
      for (let i = 0; i + n <= words.length; i += 1) {
        if (stems.every((s, j) => words[i + j] === s)) {
          found[name] = found[name] || [];
          if (!found[name].includes(id)) found[name].push(id);
          break;
        }
      }
    }
    return found;
  }

  shared(c, wanted) {
    const out = {};
    const pred = this.data.icsPredecessors || {};
    for (const name of this.params.facetFields) {
      if (!wanted[name]) continue;
      const targets = name === "ics" ? expandIcs(wanted[name], pred) : wanted[name];
      const common = (c.facets[name] || []).filter((v) => targets.includes(v));
      if (common.length) out[name] = common;
    }
    return out;
  }

  // the outcomes that answer a results question (kb.search.Searcher._results); for a question
  // about what did not work, the results that did not change come first
  results(c, kinds, noEffectFirst = false) {
    if (kinds === null && !noEffectFirst) return [];
    const order = { achieved: 0, estimated: 1, target: 2 };
    const unchanged = (o) => (noEffectFirst && o.direction === "no-change" ? 0 : 1);
    const outcomes = c.outcomes.map((o, i) => [o, i]);
    outcomes.sort(([a, i], [b, j]) => unchanged(a) - unchanged(b)
      || order[a.status] - order[b.status] || b.numeric - a.numeric || i - j);
    const out = [];
    for (const [o] of outcomes) {
      if (!o.sentence) continue;
      if (kinds === null && o.direction !== "no-change") continue;
      if (kinds && kinds.length && !kinds.includes(o.kind)) continue;
      out.push(o.sentence);
    }
    return out.slice(0, 2);
  }
}

// lower-cased words between spaces, as cues are matched ("hasn't" -> "hasn t")
function cueText(text) {
  const words = text.toLowerCase().replace(/[^\p{L}\p{N}_&£%-]+/gu, " ").split(" ").filter(Boolean);
  return ` ${words.join(" ")} `;
}

// a case study with a result (achieved) that did not change
function noEffect(c) {
  return c.outcomes.some((o) => o.direction === "no-change" && o.status === "achieved");
}

function ranks(values) {
  const order = values.map((_, i) => i).sort((a, b) => values[b] - values[a] || a - b);
  const out = new Array(values.length);
  let first = 0;
  order.forEach((i, k) => {
    if (k === 0 || values[i] !== values[order[k - 1]]) first = k;
    out[i] = first + 1;
  });
  return out;
}

function minmax(values) {
  const low = Math.min(...values);
  const high = Math.max(...values);
  if (high - low < 1e-12) return values.map((v) => (high > 0 && v > 0 ? 1 : 0));
  return values.map((v) => (v - low) / (high - low));
}

export function expandIcs(ids, predecessors) {
  const out = [];
  const todo = [...ids];
  while (todo.length) {
    const current = todo.pop();
    if (out.includes(current)) continue;
    out.push(current);
    todo.push(...(predecessors[current] || []));
  }
  return out;
}

function merge(...maps) {
  const out = {};
  for (const map of maps) {
    for (const [key, values] of Object.entries(map)) {
      out[key] = out[key] || [];
      for (const v of values) if (!out[key].includes(v)) out[key].push(v);
    }
  }
  return out;
}
