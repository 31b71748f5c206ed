// The Snowball English (Porter2) stemmer, as PyStemmer's Stemmer("english") runs it, so that the
// site's keyword scores use the same word stems as the search index (checked against PyStemmer in
// tests/browser/test_semantic_search.py).

const EXCEPTIONS = {
  skies: "sky", idly: "idl", gently: "gentl", ugly: "ugli", early: "earli", only: "onli",
  singly: "singl", sky: "sky", news: "news", howe: "howe", atlas: "atlas", cosmos: "cosmos",
  bias: "bias", andes: "andes",
};
// words kept whole by step 1b: 'ing' after these, 'eed' after those
const KEEP_ING = new Set(["even", "cann", "inn", "earr", "herr", "out"]);
const KEEP_EED = new Set(["succ", "proc", "exc"]);
const R1_PREFIXES = ["arsen", "commun", "emerg", "gener", "inter", "later", "organ", "past",
  "univers"];
const VOWELS = "aeiouy";
const DOUBLES = ["bb", "dd", "ff", "gg", "mm", "nn", "pp", "rr", "tt"];
const LI_ENDING = "cdeghkmnrt";

const STEP2 = [
  ["ization", "ize"], ["ational", "ate"], ["fulness", "ful"], ["ousness", "ous"],
  ["iveness", "ive"], ["tional", "tion"], ["ogist", "og"], ["biliti", "ble"], ["lessli", "less"],
  ["entli", "ent"], ["ation", "ate"], ["alism", "al"], ["aliti", "al"], ["ousli", "ous"],
  ["iviti", "ive"], ["fulli", "ful"], ["enci", "ence"], ["anci", "ance"], ["abli", "able"],
  ["izer", "ize"], ["ator", "ate"], ["alli", "al"], ["bli", "ble"], ["ogi", "og"], ["li", ""],
];
const STEP3 = [
  ["ational", "ate"], ["tional", "tion"], ["alize", "al"], ["icate", "ic"], ["iciti", "ic"],
  ["ative", ""], ["ical", "ic"], ["ness", ""], ["ful", ""],
];
const STEP4 = ["ement", "ance", "ence", "able", "ible", "ment", "ant", "ent", "ism", "ate", "iti",
  "ous", "ive", "ize", "ion", "al", "er", "ic"];

const isVowel = (c) => VOWELS.includes(c);

function regions(w) {
  let r1 = w.length;
  const prefix = R1_PREFIXES.find((p) => w.startsWith(p));
  if (prefix) {
    r1 = prefix.length;
  } else {
    for (let i = 1; i < w.length; i += 1) {
      if (!isVowel(w[i]) && isVowel(w[i - 1])) { r1 = i + 1; break; }
    }
  }
  let r2 = w.length;
  for (let i = r1 + 1; i < w.length; i += 1) {
    if (!isVowel(w[i]) && isVowel(w[i - 1])) { r2 = i + 1; break; }
  }
  return [r1, r2];
}

// the word ends in a short syllable
function shortSyllable(w) {
  const n = w.length;
  if (n === 2) return isVowel(w[0]) && !isVowel(w[1]);
  if (n < 3) return false;
  const [a, b, c] = [w[n - 3], w[n - 2], w[n - 1]];
  return (!isVowel(a) && isVowel(b) && !isVowel(c) && !"wxY".includes(c)) || w.endsWith("past");
}

const endsWithAny = (w, list) => list.find((s) => w.endsWith(s));
const hasVowel = (s) => [...s].some(isVowel);

export function stem(word) {
  if (word.length <= 2) return word;
  if (Object.hasOwn(EXCEPTIONS, word)) return EXCEPTIONS[word];
  let w = word.startsWith("'") ? word.slice(1) : word;
  // y at the start or after a vowel is a consonant: Y
  let marked = "";
  for (let i = 0; i < w.length; i += 1) {
    marked += w[i] === "y" && (i === 0 || isVowel(w[i - 1])) ? "Y" : w[i];
  }
  w = marked;
  const [r1, r2] = regions(w);
  const inR1 = (suffix) => w.length - suffix.length >= r1;
  const inR2 = (suffix) => w.length - suffix.length >= r2;

  // step 0
  const s0 = endsWithAny(w, ["'s'", "'s", "'"]);
  if (s0) w = w.slice(0, -s0.length);

  // step 1a
  if (w.endsWith("sses")) {
    w = w.slice(0, -2);
  } else if (w.endsWith("ied") || w.endsWith("ies")) {
    w = w.length > 4 ? w.slice(0, -2) : w.slice(0, -1);
  } else if (w.endsWith("us") || w.endsWith("ss")) {
    // unchanged
  } else if (w.endsWith("s")) {
    if (hasVowel(w.slice(0, -2))) w = w.slice(0, -1);
  }

  // step 1b
  const s1b = endsWithAny(w, ["eedly", "ingly", "edly", "eed", "ing", "ed"]);
  const before = s1b ? w.slice(0, -s1b.length) : "";
  if (s1b === "eed" || s1b === "eedly") {
    if (!KEEP_EED.has(before) && inR1(s1b)) w = before + "ee";
  } else if (s1b === "ing" && before.length === 2 && before[1] === "y" && !isVowel(before[0])) {
    w = before[0] + "ie";
  } else if (s1b === "ing" && KEEP_ING.has(before)) {
    // kept whole
  } else if (s1b) {
    if (hasVowel(before)) {
      w = before;
      if (w.endsWith("at") || w.endsWith("bl") || w.endsWith("iz")) {
        w += "e";
      } else if (endsWithAny(w, DOUBLES)) {
        if (!(w.length === 3 && "aeo".includes(w[0]))) w = w.slice(0, -1);
      } else if (r1 === w.length && shortSyllable(w)) {
        w += "e";
      }
    }
  }

  // step 1c
  const last = w[w.length - 1];
  if ((last === "y" || last === "Y") && w.length > 2 && !isVowel(w[w.length - 2])) {
    w = w.slice(0, -1) + "i";
  }

  // step 2
  const s2 = STEP2.find(([s]) => w.endsWith(s));
  if (s2 && inR1(s2[0])) {
    const [suffix, to] = s2;
    if (suffix === "ogi") {
      if (w[w.length - 4] === "l") w = w.slice(0, -3) + to;
    } else if (suffix === "li") {
      if (LI_ENDING.includes(w[w.length - 3])) w = w.slice(0, -2);
    } else {
      w = w.slice(0, -suffix.length) + to;
    }
  }

  // step 3
  const s3 = STEP3.find(([s]) => w.endsWith(s));
  if (s3 && inR1(s3[0])) {
    const [suffix, to] = s3;
    if (suffix !== "ative" || inR2(suffix)) w = w.slice(0, -suffix.length) + to;
  }

  // step 4
  const s4 = STEP4.find((s) => w.endsWith(s));
  if (s4 && inR2(s4)) {
    if (s4 !== "ion" || "st".includes(w[w.length - 4] || "_")) w = w.slice(0, -s4.length);
  }

  // step 5
  if (w.endsWith("e")) {
    if (inR2("e") || (inR1("e") && !shortSyllable(w.slice(0, -1)))) w = w.slice(0, -1);
  } else if (w.endsWith("ll") && inR2("l")) {
    w = w.slice(0, -1);
  }
  return w.replace(/Y/g, "y");
}
