"""The query tokenizer (kb.index.wordpiece) gives the ids `tokenizers` gives for the same file."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml

from kb.index.embed import default_model_path
from kb.index.layout import TOKENIZER_FILE
from kb.index.wordpiece import WordPiece

ROOT = Path(__file__).resolve().parents[2]
TRICKY = [
    "A&E", "", "   ", "café crème brûlée résumé naïve", "ÉCOLE Straße İstanbul ΣΊΣΥΦΟΣ",
    "emoji 😀 and 👩🏽‍⚕️ nurses", "[CLS] typed [MASK] tokens [SEP]", "[cls] lower [SEP][SEP]",
    "tab\tnew\nline\u00a0nbsp\u200bzero-width\u0007bell\x1c\x1dfile-separators\ufffd\x00",
    "中文 字符 and 日本語 한국어", "don't won't it's (brackets) {braces} <angle> $100 £5 50% #tag",
    "x" * 150, "hyper-tension, blood-pressure; over-65s... 'quotes' \"double\" — dash – en",
    " ".join(["blood pressure checks in the community"] * 60), "Ⅻ ½ ² ﬁ ﬃ ℃ ㎏ Ａｂｃ",
]  # fmt: skip


@pytest.fixture(scope="module")
def pair():  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer

    path = default_model_path() / TOKENIZER_FILE
    reference = Tokenizer.from_file(str(path))
    reference.no_padding()
    reference.enable_truncation(max_length=256)
    ours = WordPiece.load(path, 256)
    assert ours is not None
    return reference, ours


def _texts() -> list[str]:
    queries = yaml.safe_load((ROOT / "tests" / "eval" / "queries.yml").read_text("utf-8"))
    texts = [str(q["q"]) for q in queries["queries"]] + TRICKY
    for path in sorted((ROOT / "content").glob("*.md"))[:20]:
        text = path.read_text("utf-8")
        texts += [text[i : i + 400] for i in range(0, len(text), 400)]
    rng = random.Random(20261202)  # characters from every plane and category, seeded
    for _ in range(400):
        codes = [rng.choice([rng.randint(0, 0x2FF), rng.randint(0, 0x3000),
                             rng.randint(0, 0x2FFFF)]) for _ in range(30)]
        texts.append("".join(chr(c) for c in codes if not 0xD800 <= c <= 0xDFFF))  # no surrogates
    return texts


def _settled_texts() -> list[str]:
    """Seeded strings of the characters the quick path reads itself, spaces and controls in."""
    rng = random.Random(2026)
    pool = [chr(c) for c in (*range(0x250), *range(0x2000, 0x2065), *range(0x20A0, 0x20BA))]
    return ["".join(rng.choice(pool) for _ in range(rng.randint(1, 60))) for _ in range(2000)]


def test_the_ids_are_those_of_tokenizers(pair) -> None:  # type: ignore[no-untyped-def]
    reference, ours = pair
    texts = _texts() + _settled_texts()
    read = [(t, reference.encode(t).ids, ours.encode(t)) for t in texts]
    wrong = [(t, e, g) for t, e, g in read if g is not None and e != g]
    assert not wrong, f"{len(wrong)} of {len(texts)} texts differ, first: {wrong[0]!r}"
    quick = [t for t, _, g in read if g is not None]
    assert len(quick) > 2500  # the queries, the content and the settled strings
    left = {t for t, _, g in read if g is None}
    assert "中文 字符 and 日本語 한국어" in left and "emoji 😀 and 👩🏽‍⚕️ nurses" in left
    assert len(ours.encode(TRICKY[13]) or ()) == 256  # cut to the model's 256 tokens


def test_another_kind_of_tokenizer_is_left_to_tokenizers(tmp_path: Path) -> None:
    config = json.loads((default_model_path() / TOKENIZER_FILE).read_text("utf-8"))
    for change in ({"normalizer": {"type": "NFC"}}, {"pre_tokenizer": {"type": "Whitespace"}},
                   {"model": {**config["model"], "type": "BPE"}}):
        path = tmp_path / "tokenizer.json"
        path.write_text(json.dumps({**config, **change}), "utf-8")
        assert WordPiece.load(path, 256) is None
