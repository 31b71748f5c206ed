"""A query's token ids without the `tokenizers` library: BERT's WordPiece (uncased), as
`tokenizers` runs a tokenizer.json with a BertNormalizer, a BertPreTokenizer, a WordPiece model
and [CLS] ... [SEP] around the text.

Loading `tokenizers` and its tokenizer.json costs about 50 ms, a tenth of a cold `kb search`;
this reads the same file's vocabulary with `json` in a quarter of that. The ids are the same
(tests/search/test_wordpiece.py checks them against `tokenizers`); the site's search does the
same in site/assets/javascripts/kb-search/wordpiece.js. `WordPiece.load` returns None for a
tokenizer.json of any other shape, and the caller then uses `tokenizers`.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Any

_CJK = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
)  # fmt: skip
# Unicode's White_Space property (what Rust's char::is_whitespace tests; str.isspace differs)
_SPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


# what `tokenizers` drops as control characters: Cc, Cf, Co and Cs (unassigned Cn stays)
_CONTROL = frozenset({"Cc", "Cf", "Co", "Cs"})


def _settled(code: int) -> bool:
    """Latin letters, general punctuation and the older currency signs: assigned long ago."""
    return code < 0x250 or 0x2000 <= code <= 0x2064 or 0x20A0 <= code <= 0x20B9


def _is_cjk(code: int) -> bool:
    return any(low <= code <= high for low, high in _CJK)


def _is_punctuation(ch: str) -> bool:
    code = ord(ch)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


class WordPiece:
    """Token ids of a text: [CLS] pieces [SEP], cut to `max_tokens` (special tokens in)."""

    def __init__(self, config: dict[str, Any], max_tokens: int) -> None:
        model = config["model"]
        norm = config.get("normalizer") or {}
        self.vocab: dict[str, int] = model["vocab"]
        self.unk = self.vocab[model["unk_token"]]
        self.prefix: str = model["continuing_subword_prefix"]
        self.max_chars: int = model["max_input_chars_per_word"]
        self.lowercase = norm.get("lowercase") is not False
        strip = norm.get("strip_accents")
        self.strip_accents = self.lowercase if strip is None else bool(strip)
        self.clean_text = norm.get("clean_text") is not False
        self.chinese = norm.get("handle_chinese_chars") is not False
        self.max_tokens = max_tokens
        self.special = [t["content"] for t in config.get("added_tokens") or () if t.get("special")]
        self.cls = self.vocab["[CLS]"]
        self.sep = self.vocab["[SEP]"]

    @classmethod
    def load(cls, path: Path, max_tokens: int) -> WordPiece | None:
        """The tokenizer in a tokenizer.json, or None if it is not BERT's uncased WordPiece with
        [CLS] and [SEP] around one text (OSError or ValueError if it cannot be read)."""
        config = json.loads(path.read_bytes())
        if not _is_bert_wordpiece(config):
            return None
        return cls(config, max_tokens)

    def normalize(self, text: str) -> str:
        out = []
        for ch in text:
            code = ord(ch)
            if self.clean_text:  # control characters go first, then spaces become ' '
                if code == 0 or code == 0xFFFD:
                    continue
                if ch not in "\t\n\r" and unicodedata.category(ch) in _CONTROL:
                    continue
                if ch in _SPACE:
                    out.append(" ")
                    continue
            out.append(f" {ch} " if self.chinese and _is_cjk(code) else ch)
        normalized = "".join(out)
        if self.strip_accents:
            normalized = "".join(
                c for c in unicodedata.normalize("NFD", normalized)
                if unicodedata.category(c) != "Mn"
            )
        if self.lowercase:  # character by character, as `tokenizers` does (no final sigma)
            normalized = "".join(c.lower() for c in normalized)
        return normalized

    @staticmethod
    def words(normalized: str) -> list[str]:
        out: list[str] = []
        word: list[str] = []
        for ch in normalized:
            if ch in _SPACE:
                if word:
                    out.append("".join(word))
                word = []
            elif _is_punctuation(ch):
                if word:
                    out.append("".join(word))
                out.append(ch)
                word = []
            else:
                word.append(ch)
        if word:
            out.append("".join(word))
        return out

    def word_ids(self, word: str, out: list[int]) -> None:
        if len(word) > self.max_chars:
            out.append(self.unk)
            return
        pieces = []
        start = 0
        while start < len(word):
            end = len(word)
            found = None
            while start < end:
                piece = word[start:end] if start == 0 else self.prefix + word[start:end]
                found = self.vocab.get(piece)
                if found is not None:
                    break
                end -= 1
            if found is None:
                out.append(self.unk)
                return
            pieces.append(found)
            start = end
        out.extend(pieces)

    def encode(self, text: str) -> list[int] | None:
        """The ids, or None for a text with a character outside the scripts whose Unicode
        properties every version agrees on (`tokenizers` then reads it: its Unicode tables are
        older than Python's, and a character assigned since reads differently)."""
        if not all(_settled(ord(ch)) for ch in text):
            return None
        ids: list[int] = []
        for part, special in self._split_special(text):
            if special:
                ids.append(self.vocab[part])
                continue
            for word in self.words(self.normalize(part)):
                self.word_ids(word, ids)
        room = max(0, self.max_tokens - 2)
        return [self.cls, *ids[:room], self.sep]

    def _split_special(self, text: str) -> list[tuple[str, bool]]:
        """Special tokens typed in the text ([CLS], [MASK] ...) are kept whole."""
        parts: list[tuple[str, bool]] = []
        rest = text
        while rest:
            at, which = -1, ""
            for token in self.special:
                i = rest.find(token)
                if i >= 0 and (at < 0 or i < at or (i == at and len(token) > len(which))):
                    at, which = i, token
            if at < 0:
                parts.append((rest, False))
                break
            if at > 0:
                parts.append((rest[:at], False))
            parts.append((which, True))
            rest = rest[at + len(which) :]
        return parts


def _is_bert_wordpiece(config: Any) -> bool:
    if not isinstance(config, dict):
        return False
    model = config.get("model") or {}
    normalizer = config.get("normalizer") or {}
    pre = config.get("pre_tokenizer") or {}
    post = config.get("post_processor") or {}
    single = post.get("single") or []
    template = [
        item.get("SpecialToken", {}).get("id") or item.get("Sequence", {}).get("id")
        for item in single
        if isinstance(item, dict)
    ]
    vocab = model.get("vocab")
    return (
        model.get("type") == "WordPiece"
        and isinstance(vocab, dict)
        and all(t in vocab for t in ("[CLS]", "[SEP]", model.get("unk_token")))
        and isinstance(model.get("continuing_subword_prefix"), str)
        and isinstance(model.get("max_input_chars_per_word"), int)
        and normalizer.get("type") == "BertNormalizer"
        and pre.get("type") == "BertPreTokenizer"
        and post.get("type") == "TemplateProcessing"
        and template == ["[CLS]", "A", "[SEP]"]
        and all(_plain_special(t) for t in config.get("added_tokens") or ())
    )


def _plain_special(token: Any) -> bool:
    """An added token matched as typed: special, not normalised, no stripping or word rule."""
    return (
        isinstance(token, dict)
        and token.get("special") is True
        and token.get("normalized") is False
        and not (token.get("lstrip") or token.get("rstrip") or token.get("single_word"))
    )
