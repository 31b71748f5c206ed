"""Mutations of real case studies for fuzzing the validator (used by test_fuzz and the bench).

Each mutation keeps most of a real file and breaks it the way a careless or hostile contributor
might: flipped bytes, a truncated file, a hostile construct inserted, an explicit YAML tag, deep
nesting, or a huge string.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

CONTENT = Path(__file__).resolve().parents[2] / "content"

HOSTILE = [
    "<script>alert(1)</script>",
    "<a on",
    "<" + " " * 3000,
    "<!--",
    '<img src=x onerror="alert(1)">',
    "<img src=https://tracker.example/p.gif>",
    "![](https://tracker.example/p.gif)",
    "[x](java&#x09;script:alert(1))",
    "[x](jav&Tab;ascript:alert(1))",
    "java\nscript:",
    "{: onclick=alert(1) }",
    '" onmouseover="alert(1)',
    "&amp;#106;avascript:",
    "&#" + "9" * 5000 + ";",
    "943\u00a0476\u00a05919",
    "NHS9434765919",
    "sarah.health@gmail.com",
    "sarah\uff20nhs.net",
    "0044 7700 900123",
    "07700.900.123",
    "\uff10\uff17\uff17\uff10\uff10 \uff19\uff10\uff10\uff11\uff12\uff13",
    "\x1b[2J\x1b[1;1H1 file(s) checked: all valid",
    "\u202e\u2066",
    "\r\n\r",
    "\x00",
    "\ufeff",
    "## Context",
    "---",
    "```",
]
TAGS = [
    "!!bool maybe",
    "!!timestamp not-a-date",
    '!!int ""',
    '!!float ""',
    "!!binary OTQzIDQ3NiA1OTE5",
    "!!python/object/apply:os.system [echo]",
    "!local x",
    "!!set {a, b}",
    ".nan",
    ".inf",
    "-.inf",
    "1e+999",
    "{low: -.inf, high: .inf}",
    "*missing",
    "&anchor x",
    "[a, *a]",
    "0x_",
    "2024-13-45",
    "~",
    "''",
    "[]",
    "{}",
    "|-\n  block",
]

Mutation = Callable[[bytes, random.Random], bytes]


def case_files() -> list[Path]:
    """The real case studies, the seeds of every mutation."""
    return sorted(CONTENT.glob("*.md"))


def flip_bytes(raw: bytes, rng: random.Random) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.randint(1, 16)):
        if data:
            data[rng.randrange(len(data))] ^= rng.randint(1, 255)
    return bytes(data)


def truncate(raw: bytes, rng: random.Random) -> bytes:
    return raw[: rng.randrange(len(raw) + 1)]


def insert_hostile(raw: bytes, rng: random.Random) -> bytes:
    text = raw.decode("utf-8", "replace")
    at = rng.randrange(len(text) + 1)
    piece = rng.choice(HOSTILE) * rng.choice((1, 1, 2, 50))
    return (text[:at] + piece + text[at:]).encode("utf-8")


def inject_tag(raw: bytes, rng: random.Random) -> bytes:
    lines = raw.decode("utf-8", "replace").split("\n")
    fields = [i for i, line in enumerate(lines) if ": " in line and not line.startswith("#")]
    if not fields:
        return raw
    index = rng.choice(fields)
    key = lines[index].split(": ", 1)[0]
    lines[index] = f"{key}: {rng.choice(TAGS)}"
    return "\n".join(lines).encode("utf-8")


def deep_nesting(raw: bytes, rng: random.Random) -> bytes:
    depth = rng.choice((5, 13, 50, 2000))
    style = rng.randrange(3)
    if style == 0:
        value = "[" * depth + "]" * depth
    elif style == 1:
        value = "{a: " * depth + "1" + "}" * depth
    else:
        value = "\n" + "\n".join(" " * (i + 2) + f"k{i}:" for i in range(min(depth, 300))) + " 1"
    text = raw.decode("utf-8", "replace")
    return text.replace("\ntitle:", f"\nnested: {value}\ntitle:", 1).encode("utf-8")


def huge_string(raw: bytes, rng: random.Random) -> bytes:
    unit = rng.choice(["x", " ", "1 ", "<a ", "## h\n", "é", *HOSTILE[:8]])
    size = rng.choice((10_000, 200_000, 260_000))
    piece = unit * (size // max(1, len(unit.encode("utf-8"))))
    text = raw.decode("utf-8", "replace")
    if rng.random() < 0.5:
        return text.replace("\ntitle: ", f'\ntitle: "{piece[:size]}" ', 1).encode("utf-8")
    at = rng.randrange(len(text) + 1)
    return (text[:at] + piece + text[at:]).encode("utf-8")[: 300 * 1024]


MUTATIONS: tuple[Mutation, ...] = (
    flip_bytes,
    truncate,
    insert_hostile,
    inject_tag,
    deep_nesting,
    huge_string,
)


def mutate(raw: bytes, rng: random.Random) -> bytes:
    """One to three mutations of `raw`, chosen by `rng`."""
    for _ in range(rng.randint(1, 3)):
        raw = rng.choice(MUTATIONS)(raw, rng)
    return raw
