// BERT WordPiece tokenizer (uncased), as the `tokenizers` library runs a tokenizer.json with a
// BertNormalizer, a BertPreTokenizer, a WordPiece model and [CLS] ... [SEP] around the text.
// Token ids agree with Python's `tokenizers` (tests/browser/test_semantic_search.py checks them).

const CJK = [
  [0x4e00, 0x9fff], [0x3400, 0x4dbf], [0x20000, 0x2a6df], [0x2a700, 0x2b73f],
  [0x2b740, 0x2b81f], [0x2b920, 0x2ceaf], [0xf900, 0xfaff], [0x2f800, 0x2fa1f],
];
const CONTROL = /[\p{Cc}\p{Cf}\p{Co}\p{Cs}]/u; // unassigned (Cn) stays, as in `tokenizers`
const SPACE = /[\t\n\r\p{White_Space}]/u;
const PUNCT = /[!-/:-@[-`{-~\p{P}]/u;
const MARK = /\p{Mn}/gu;

function isCjk(code) {
  return CJK.some(([low, high]) => code >= low && code <= high);
}

export class WordPiece {
  // config: the parsed tokenizer.json; maxTokens: the most tokens the model reads, specials in
  constructor(config, maxTokens) {
    const model = config.model;
    if (!model || model.type !== "WordPiece") throw new Error("not a WordPiece tokenizer");
    const norm = config.normalizer || {};
    this.vocab = new Map(Object.entries(model.vocab));
    this.unk = model.unk_token;
    this.prefix = model.continuing_subword_prefix;
    this.maxChars = model.max_input_chars_per_word;
    this.lowercase = norm.lowercase !== false;
    this.stripAccents = norm.strip_accents === null || norm.strip_accents === undefined
      ? this.lowercase : Boolean(norm.strip_accents);
    this.cleanText = norm.clean_text !== false;
    this.chinese = norm.handle_chinese_chars !== false;
    this.maxTokens = maxTokens;
    this.special = (config.added_tokens || []).filter((t) => t.special).map((t) => t.content);
    this.cls = this.vocab.get("[CLS]");
    this.sep = this.vocab.get("[SEP]");
  }

  normalize(text) {
    let out = "";
    for (const ch of text) {
      const code = ch.codePointAt(0);
      if (this.cleanText) {
        if (code === 0 || code === 0xfffd) continue;
        if (ch !== "\t" && ch !== "\n" && ch !== "\r" && CONTROL.test(ch)) continue;
        if (SPACE.test(ch)) { out += " "; continue; }
      }
      out += this.chinese && isCjk(code) ? ` ${ch} ` : ch;
    }
    if (this.stripAccents) out = out.normalize("NFD").replace(MARK, "");
    if (this.lowercase) out = Array.from(out, (c) => c.toLowerCase()).join("");
    return out;
  }

  words(normalized) {
    const out = [];
    let word = "";
    for (const ch of normalized) {
      if (SPACE.test(ch)) {
        if (word) out.push(word);
        word = "";
      } else if (PUNCT.test(ch)) {
        if (word) out.push(word);
        out.push(ch);
        word = "";
      } else {
        word += ch;
      }
    }
    if (word) out.push(word);
    return out;
  }

  wordIds(word, out) {
    const chars = Array.from(word);
    if (chars.length > this.maxChars) { out.push(this.vocab.get(this.unk)); return; }
    const pieces = [];
    let start = 0;
    while (start < chars.length) {
      let end = chars.length;
      let found;
      while (start < end) {
        let piece = chars.slice(start, end).join("");
        if (start > 0) piece = this.prefix + piece;
        if (this.vocab.has(piece)) { found = this.vocab.get(piece); break; }
        end -= 1;
      }
      if (found === undefined) { out.push(this.vocab.get(this.unk)); return; }
      pieces.push(found);
      start = end;
    }
    out.push(...pieces);
  }

  // the ids of a text: [CLS] tokens [SEP], cut to maxTokens
  encode(text) {
    const ids = [];
    for (const [part, isSpecial] of this.splitSpecial(text)) {
      if (isSpecial) { ids.push(this.vocab.get(part)); continue; }
      for (const word of this.words(this.normalize(part))) this.wordIds(word, ids);
    }
    const room = Math.max(0, this.maxTokens - 2);
    return [this.cls, ...ids.slice(0, room), this.sep];
  }

  // special tokens typed in the text ([CLS], [MASK] ...) are kept whole, as `tokenizers` does
  splitSpecial(text) {
    const parts = [];
    let rest = text;
    while (rest) {
      let at = -1;
      let which = "";
      for (const token of this.special) {
        const i = rest.indexOf(token);
        if (i >= 0 && (at < 0 || i < at || (i === at && token.length > which.length))) {
          at = i;
          which = token;
        }
      }
      if (at < 0) { parts.push([rest, false]); break; }
      if (at > 0) parts.push([rest.slice(0, at), false]);
      parts.push([which, true]);
      rest = rest.slice(at + which.length);
    }
    return parts;
  }
}
