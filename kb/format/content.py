"""Finding and reading case-study files: front-matter split, safe YAML with locations, sections.

Nothing here trusts the file. YAML is read with the safe loader, aliases are refused (no bombs),
nesting depth and file size are capped, and every key keeps the line and column it was written on so
that a problem can point at it.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from kb.errors import FileError

if TYPE_CHECKING:
    from kb.format.model import CaseStudy

__all__ = [
    "Entry",
    "Located",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "REQUIRED_SECTIONS",
    "Section",
    "SourceFile",
    "find_case_files",
    "parse_front_matter",
    "read_source",
    "split_sections",
    "strip_comments",
]

MAX_FILE_BYTES = 256 * 1024
MAX_DEPTH = 12
REQUIRED_SECTIONS: tuple[str, ...] = (
    "Context",
    "What they did",
    "Outcomes",
    "What made it work",
    "Challenges",
    "Lessons for peers",
)

_Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_PLAIN_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}
_FENCE = re.compile(r"^(```|~~~)")


@dataclass(frozen=True)
class Section:
    """A level-2 section of the body: its heading, its Markdown text and the line of the heading."""

    heading: str
    text: str
    line: int


@dataclass(frozen=True)
class SourceFile:
    """A case-study file split into front-matter and body, with line offsets."""

    path: Path
    text: str
    front_matter: str
    front_matter_line: int  # line of the first front-matter line
    body: str
    body_line: int  # line of the first body line
    content_hash: str


@dataclass(frozen=True)
class Located:
    """Front-matter data with the (line, column) of every key and list item, by field path."""

    data: dict[str, Any]
    positions: dict[tuple[str | int, ...], tuple[int, int]]  # of keys and list items
    scalars: dict[tuple[str | int, ...], tuple[int, int]] = field(default_factory=dict)

    def position(self, path: Iterable[str | int]) -> tuple[int, int]:
        """The position of the deepest part of `path` that exists in the file.

        A problem with a plain value ('region: Nort East') points at the value, not its key.
        """
        parts = tuple(path)
        while parts:
            if parts in self.scalars:
                return self.scalars[parts]
            if parts in self.positions:
                return self.positions[parts]
            parts = parts[:-1]
        return self.positions.get((), (1, 1))

    def key_position(self, path: Iterable[str | int]) -> tuple[int, int]:
        """The position of the key (or list item) at `path`, for problems with the key itself."""
        parts = tuple(path)
        return self.positions.get(parts) or self.position(parts)


@dataclass(frozen=True)
class Entry:
    """A valid case study: its front-matter as a CaseStudy, and its body split into sections."""

    path: Path
    case: CaseStudy
    body: str
    sections: tuple[Section, ...]
    content_hash: str

    @property
    def id(self) -> str:
        """The case study's id."""
        return self.case.id


def find_case_files(paths: Iterable[Path]) -> list[Path]:
    """Markdown files under the given files or folders, sorted; names starting with _ or . skipped.

    Folders are walked without following links: a linked `.md` file or a linked folder is listed
    (so that `read_source` refuses it with a message) but never entered, and anything that is not a
    regular file (a FIFO, a device) is listed for `read_source` to report, never opened here. A
    folder that cannot be listed is itself listed, for the same reason.
    """
    found: set[Path] = set()
    for path in paths:
        if path.is_dir():  # a folder named by the user may itself be a link
            _walk(path, found)
        elif os.path.lexists(path):
            found.add(path)
    return sorted(found)


def _walk(folder: Path, found: set[Path]) -> None:
    """Add the case-study candidates under `folder` to `found` (iteratively, links not followed)."""
    pending = [folder]
    while pending:
        current = pending.pop()
        try:
            with os.scandir(current) as listing:
                entries = list(listing)
        except OSError:
            found.add(current)
            continue
        for entry in entries:
            if entry.name.startswith(("_", ".")):
                continue
            path = Path(entry.path)
            try:
                if entry.is_symlink():
                    if entry.name.endswith(".md") or entry.is_dir():
                        found.add(path)
                elif entry.is_dir(follow_symlinks=False):
                    pending.append(path)
                elif entry.name.endswith(".md"):
                    found.add(path)
            except OSError:
                found.add(path)


def _not_regular(mode: int) -> str:
    """What a file that is not a regular file is, in words."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _link_problem(path: Path) -> FileError:
    """The error for a symbolic link found where a case study should be."""
    try:
        target = os.readlink(path)
    except OSError:
        target = "?"
    try:
        mode = os.stat(path).st_mode
        what = "a file" if stat.S_ISREG(mode) else _not_regular(mode)
        detail = f"a symbolic link to {what} ({target})"
    except FileNotFoundError:
        detail = f"a symbolic link to {target}, which does not exist"
    except OSError as exc:
        detail = f"a symbolic link to {target} that cannot be followed ({exc.strerror or exc})"
    return FileError(
        f"this is {detail}; case studies are read only from regular files in the content folder",
        hint="put the case study itself in the content folder instead of a link to it",
        code="path",
    )


def _too_big(size: str) -> FileError:
    return FileError(
        f"the file is {size}; the limit is {MAX_FILE_BYTES // 1024} KB",
        hint="a case study is a few pages of text; move long annexes to a linked source",
    )


def _read_bounded(path: Path) -> bytes:
    """The bytes of a regular file, at most MAX_FILE_BYTES; raise FileError for anything else.

    The file's type is checked before it is opened (a link, a FIFO or a device is refused, never
    read) and again on the open file, which is opened without following a link or blocking.
    """
    try:
        info = os.lstat(path)
    except OSError as exc:
        raise FileError(f"cannot read the file: {exc.strerror or exc}") from None
    if stat.S_ISLNK(info.st_mode):
        raise _link_problem(path)
    if stat.S_ISDIR(info.st_mode):
        raise FileError("this folder cannot be opened", hint="check its permissions", code="path")
    if not stat.S_ISREG(info.st_mode):
        raise FileError(
            f"this is {_not_regular(info.st_mode)}, not a regular file",
            hint="case studies are plain text files; remove it from the content folder",
            code="path",
        )
    if info.st_size > MAX_FILE_BYTES:
        raise _too_big(f"{info.st_size // 1024} KB")
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # it became a link since lstat
            raise _link_problem(path) from None
        raise FileError(f"cannot read the file: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as handle:
        opened = os.fstat(handle.fileno())
        if not stat.S_ISREG(opened.st_mode):
            raise FileError(
                f"this is {_not_regular(opened.st_mode)}, not a regular file",
                hint="case studies are plain text files; remove it from the content folder",
                code="path",
            )
        try:
            raw = handle.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise FileError(f"cannot read the file: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise _too_big(f"more than {MAX_FILE_BYTES // 1024} KB")
    return raw


def read_source(path: Path) -> SourceFile:
    """Read a file and split it at its front-matter fences; raise FileError if it cannot be.

    Only a regular file is read, and at most MAX_FILE_BYTES of it (see `_read_bounded`).
    """
    raw = _read_bounded(path)
    if b"\x00" in raw:
        line = raw[: raw.index(b"\x00")].count(b"\n") + 1
        raise FileError("the file contains NUL bytes: it is not a text file", line=line)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise FileError(
            f"the file is not UTF-8 text (bad byte at offset {exc.start})",
            line=line,
            hint="save the file as UTF-8",
        ) from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        raise FileError(
            "the file does not start with YAML front-matter",
            hint="the first line must be '---', followed by the fields, then a closing '---'",
        )
    for index in range(1, len(lines)):
        if lines[index].strip() in ("---", "..."):
            front = "\n".join(lines[1:index])
            body = "\n".join(lines[index + 1 :])
            return SourceFile(
                path=path,
                text=text,
                front_matter=front,
                front_matter_line=2,
                body=body,
                body_line=index + 2,
                content_hash=hashlib.sha256(raw).hexdigest(),
            )
    raise FileError(
        "the front-matter is never closed",
        hint="add a line '---' after the last field, before the Markdown text",
    )


def _check_events(text: str, first_line: int) -> None:
    """Refuse tags, aliases and deep nesting before any object is built (cheap, non-recursive).

    Every explicit tag (`!!bool`, `!!binary`, `!x` ...) is refused: values are read only as the
    plain text, numbers, dates, lists and fields YAML gives them without a tag.
    """
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        tag = getattr(event, "tag", None)
        if tag is not None and isinstance(event, yaml.ScalarEvent | yaml.CollectionStartEvent):
            mark = event.start_mark
            assert mark is not None
            binary = tag == "tag:yaml.org,2002:binary"
            shown = tag.replace("tag:yaml.org,2002:", "!!")
            raise FileError(
                f"YAML tag '{shown[:40]}' is not allowed in case studies"
                + (": encoded data cannot be checked for personal data" if binary else ""),
                line=mark.line + first_line,
                column=mark.column + 1,
                hint="remove the tag (the word starting with '!'); write plain text, numbers, "
                "lists or fields, and put text that starts with '!' in quotes",
                code="yaml",
            )
        if isinstance(event, yaml.AliasEvent):
            mark = event.start_mark
            assert mark is not None
            raise FileError(
                f"YAML alias '*{event.anchor}' is not allowed in case studies",
                line=mark.line + first_line,
                column=mark.column + 1,
                hint="write the value out in full instead of using anchors (&) and aliases (*)",
                code="yaml",
            )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                mark = event.start_mark
                assert mark is not None
                raise FileError(
                    f"the YAML is nested more than {MAX_DEPTH} levels deep",
                    line=mark.line + first_line,
                    column=mark.column + 1,
                    hint="case-study fields are at most three levels deep; check the indentation",
                    code="yaml",
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def parse_front_matter(text: str, first_line: int = 1) -> Located:
    """Parse front-matter YAML safely, keeping the position of every key; raise FileError."""
    if not text.strip():
        raise FileError("the front-matter is empty", line=first_line, hint="see `kb new --help`")
    try:
        _check_events(text, first_line)
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = (mark.line + first_line) if mark is not None else first_line
        column = (mark.column + 1) if mark is not None else 1
        problem = exc.problem or "malformed YAML"
        raise FileError(
            f"invalid YAML: {problem}",
            line=line,
            column=column,
            hint="check indentation, colons after keys, and quote text containing ': ' or '#'",
            code="yaml",
        ) from None
    except yaml.YAMLError as exc:
        raise FileError(f"invalid YAML: {exc}", line=first_line, code="yaml") from None
    if not isinstance(node, yaml.MappingNode):
        line = node.start_mark.line + first_line if node is not None else first_line
        raise FileError(
            "the front-matter must be a set of 'key: value' fields",
            line=line,
            hint="start each field on its own line, like 'title: My case study'",
        )
    positions: dict[tuple[str | int, ...], tuple[int, int]] = {}
    constructor = _Loader("")
    scalars: dict[tuple[str | int, ...], tuple[int, int]] = {}
    data = _build(node, (), positions, scalars, constructor, first_line)
    return Located(data=data, positions=positions, scalars=scalars)


def _build(
    node: yaml.Node,
    path: tuple[str | int, ...],
    positions: dict[tuple[str | int, ...], tuple[int, int]],
    scalars: dict[tuple[str | int, ...], tuple[int, int]],
    constructor: Any,
    first_line: int,
) -> Any:
    """Turn a composed node into plain data, recording positions; refuse unsafe or odd YAML."""
    mark = node.start_mark
    positions.setdefault(path, (mark.line + first_line, mark.column + 1))
    if not isinstance(node, yaml.ScalarNode) and node.tag not in _PLAIN_TAGS:
        raise FileError(
            f"unsupported YAML tag '{node.tag}'",
            mark.line + first_line,
            mark.column + 1,
            hint="write plain text, numbers, lists or fields; YAML tags like !!python are refused",
            code="yaml",
        )
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            kmark = key_node.start_mark
            where = (kmark.line + first_line, kmark.column + 1)
            if (
                not isinstance(key_node, yaml.ScalarNode)
                or key_node.tag == "tag:yaml.org,2002:merge"
            ):
                raise FileError(
                    "a key must be a plain word such as 'title'",
                    *where,
                    hint="check the line",
                    code="yaml",
                )
            key = str(key_node.value)
            if key in result:
                raise FileError(
                    f"the key '{key}' appears twice",
                    *where,
                    hint="YAML keeps only the last one; merge the two into one",
                    code="yaml",
                )
            positions[(*path, key)] = where
            result[key] = _build(
                value_node, (*path, key), positions, scalars, constructor, first_line
            )
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            imark = item.start_mark
            positions[(*path, index)] = (imark.line + first_line, imark.column + 1)
            items.append(_build(item, (*path, index), positions, scalars, constructor, first_line))
        return items
    scalars[path] = (mark.line + first_line, mark.column + 1)
    try:
        return constructor.construct_object(node, deep=True)
    except (
        yaml.YAMLError,
        ValueError,
        TypeError,
        OverflowError,
        IndexError,
        KeyError,
        AttributeError,
    ) as exc:
        problem = getattr(exc, "problem", None) or str(exc)
        raise FileError(
            f"unsupported YAML value: {problem}",
            mark.line + first_line,
            mark.column + 1,
            hint="write plain text, numbers, lists or fields; YAML tags like !!python are refused",
            code="yaml",
        ) from None


def _h2_title(line: str) -> str | None:
    """The title of a '## Title ##' heading line, or None (string methods: linear time)."""
    if not line.startswith("##") or line.startswith("###"):
        return None
    return line[2:].strip().rstrip("#").rstrip()


def strip_comments(text: str) -> str:
    """Markdown `text` without its HTML comments, which are notes for editors, never for readers.

    Each comment gives way to the line breaks it held, so that every other line keeps its number.
    A comment inside a code fence is code and stays; one never closed runs to the end (as a
    browser reads it). Linear in the text.
    """
    lines: list[str] = []
    in_fence = in_comment = False
    for line in text.split("\n"):
        if not in_comment and _FENCE.match(line.strip()):
            in_fence = not in_fence
        if in_fence:
            lines.append(line)
            continue
        kept: list[str] = []
        pos = 0
        while pos <= len(line):
            if in_comment:
                end = line.find("-->", pos)
                if end < 0:
                    break
                pos, in_comment = end + 3, False
            start = line.find("<!--", pos)
            if start < 0:
                kept.append(line[pos:])
                break
            kept.append(line[pos:start])
            pos, in_comment = start + 4, True
        lines.append("".join(kept))
    return "\n".join(lines)


def split_sections(body: str, body_line: int) -> tuple[Section, ...]:
    """Split the Markdown body at level-2 headings (outside code fences)."""
    sections: list[Section] = []
    heading: str | None = None
    start = 0
    buffer: list[str] = []
    in_fence = False
    for offset, line in enumerate(body.split("\n")):
        if _FENCE.match(line.strip()):
            in_fence = not in_fence
        title = None if in_fence else _h2_title(line)
        if title is not None:
            if heading is not None:
                sections.append(Section(heading, "\n".join(buffer).strip(), start))
            heading, start, buffer = title, body_line + offset, []
        elif heading is not None:
            buffer.append(line)
    if heading is not None:
        sections.append(Section(heading, "\n".join(buffer).strip(), start))
    return tuple(sections)



def iter_strings(
    data: Any, path: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every string value in nested data, with its field path."""
    if isinstance(data, str):
        yield path, data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from iter_strings(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from iter_strings(value, (*path, index))
