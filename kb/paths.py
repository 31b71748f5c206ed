"""Where kb may write: output files and the site folder, never what a user made.

Every command that writes a file the user named (`-o`) goes through `write_output`: the path is
resolved, a symbolic link at it is refused (never written through), a missing folder gets a message,
an existing file is replaced only when the command is told to (or the file is its own earlier
output), and the text lands atomically (a temporary file renamed into place). The site folder
is emptied by every build, so `check_site_dir` allows only a missing or empty folder or an
earlier site build (it carries `SITE_MARKER`), and never the content folder, a folder inside it
or one holding it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from kb.errors import OutputError

__all__ = [
    "SITE_MARKER",
    "check_output",
    "check_site_dir",
    "mark_site_dir",
    "write_output",
]

SITE_MARKER = ".kb-site"
_MARKER_TEXT = (
    "This folder is a site built by kb. `kb build` replaces everything in it (except hidden\n"
    "files); keep nothing else here.\n"
)
_PEEK_BYTES = 4 * 1024 * 1024  # how much of an existing output is read to recognise it

Replaceable = Callable[[bytes], bool]


def _resolved(path: Path) -> Path:
    """`path` made absolute with every link in it followed (it need not exist)."""
    return Path(os.path.realpath(path))


def _overlaps(one: Path, other: Path) -> bool:
    """Whether one folder is the other, inside it, or holds it (both resolved)."""
    return one == other or one.is_relative_to(other) or other.is_relative_to(one)


def check_output(
    path: Path,
    *,
    overwrite: bool = False,
    replaceable: Replaceable | None = None,
    protect: Iterable[Path] = (),
) -> Path:
    """The resolved file `write_output` would write for `path`; raise OutputError if it must not.

    `overwrite` allows replacing an existing regular file; `replaceable(head)` may allow it too,
    given the file's first bytes (a command's own earlier output). Nothing is written inside a
    `protect` folder (the content folder).
    """
    return _check(path, overwrite, replaceable, protect)[0]


def _check(
    path: Path, overwrite: bool, replaceable: Replaceable | None, protect: Iterable[Path]
) -> tuple[Path, bool]:
    """`check_output`'s target, and whether it is an existing file that may be replaced."""
    name = path.name
    if name in ("", ".", ".."):
        raise OutputError(f"{path} is not a file name; hint: give a file such as out.md")
    parent = path.parent
    try:
        folder = parent.resolve(strict=True)
    except FileNotFoundError:
        raise OutputError(
            f"cannot write {path}: the folder {parent} does not exist; "
            f"hint: create it first (mkdir -p {parent}) or choose another file"
        ) from None
    except (OSError, RuntimeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise OutputError(f"cannot write {path}: the folder {parent}: {reason}") from None
    if not folder.is_dir():
        raise OutputError(f"cannot write {path}: {parent} is not a folder")
    target = folder / name
    for guarded in protect:
        if target.is_relative_to(_resolved(guarded)):
            raise OutputError(
                f"cannot write {path}: it is inside the content folder {guarded}; "
                "hint: write outputs elsewhere, case studies are only added with `kb new`"
            )
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        return target, False
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    if stat.S_ISLNK(info.st_mode):
        raise OutputError(
            f"{path} is a symbolic link (to {os.readlink(target)}); kb never writes through a "
            "link; hint: remove the link or choose another file"
        )
    if not stat.S_ISREG(info.st_mode):
        raise OutputError(f"{path} exists and is not a regular file; hint: choose another file")
    if overwrite or (replaceable is not None and replaceable(_peek(target))):
        return target, True
    raise OutputError(f"{path} exists; hint: choose another file or add --force")


def _peek(path: Path) -> bytes:
    """The first bytes of a regular file, without following a link or blocking."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return b""
    with os.fdopen(fd, "rb") as handle:
        return handle.read(_PEEK_BYTES)


def _umask_mode() -> int:
    """The mode a new file gets from open(): 0o666 less the process's umask."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def write_output(
    path: Path,
    text: str,
    *,
    overwrite: bool = False,
    replaceable: Replaceable | None = None,
    protect: Iterable[Path] = (),
) -> Path:
    """Write `text` (UTF-8) to `path` atomically, after `check_output`; return the file written.

    The text goes to a temporary file beside the target, then is renamed onto it, so a reader never
    sees half a file and a failure leaves the old file as it was. The rename replaces a link rather
    than following it; when the file must not be replaced, a hard link creates it only if it is
    still absent.
    """
    target, replace = _check(path, overwrite, replaceable, protect)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, _umask_mode())
        if replace:
            os.replace(temporary, target)
        else:
            _create(Path(temporary), target, path)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    return target


def _create(temporary: Path, target: Path, shown: Path) -> None:
    """Move `temporary` to `target` only if nothing is there yet (no check-then-write race)."""
    try:
        os.link(temporary, target)
    except FileExistsError:
        raise OutputError(
            f"{shown} appeared while writing; it was left untouched; hint: run the command again"
        ) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        # a file system without hard links: check once more, then rename
        if os.path.lexists(target):
            raise OutputError(f"{shown} appeared while writing; it was left untouched") from None
        os.replace(temporary, target)


def check_site_dir(site_dir: Path, *, content_dir: Path, protect: Iterable[Path] = ()) -> Path:
    """The resolved site folder if a build may empty it; raise OutputError if it may not.

    A build may use a missing or empty folder, or one an earlier build marked with `SITE_MARKER`;
    never the content folder, a folder inside it or holding it, nor any `protect` folder or a
    folder holding one (the search cache).
    """
    folder = _resolved(site_dir)
    content = _resolved(content_dir)
    if _overlaps(folder, content):
        raise OutputError(
            f"the site folder {site_dir} overlaps the content folder {content_dir}; a build "
            "empties the site folder; hint: choose another --site-dir, such as build/site"
        )
    for guarded in protect:
        if _resolved(guarded).is_relative_to(folder):
            raise OutputError(
                f"the site folder {site_dir} holds {guarded}, which a build would delete; "
                "hint: choose another --site-dir, such as build/site"
            )
    if not os.path.lexists(folder):
        return folder
    if not folder.is_dir():
        raise OutputError(
            f"the site folder {site_dir} exists and is not a folder; "
            "hint: choose another --site-dir"
        )
    try:
        with os.scandir(folder) as entries:
            empty = next(entries, None) is None
    except OSError as exc:
        raise OutputError(f"cannot use the site folder {site_dir}: {exc.strerror or exc}") from None
    if empty:
        return folder
    if _is_marked(folder):
        _refuse_links(folder, site_dir)
        return folder
    raise OutputError(
        f"the site folder {site_dir} holds files that no kb build wrote (it has no {SITE_MARKER} "
        "file), and a build empties it; hint: choose an empty or new --site-dir, or move those "
        "files away first"
    )


def _refuse_links(folder: Path, site_dir: Path) -> None:
    """Raise OutputError if an earlier build's folder holds a symbolic link: emptying the folder
    leaves a link in place, and the build would write through it into the folder it points to."""
    for root, dirs, files in os.walk(folder, followlinks=False):
        for name in (*dirs, *files):
            path = Path(root) / name
            if path.is_symlink():
                shown = Path(site_dir) / path.relative_to(folder)
                raise OutputError(
                    f"the site folder {site_dir} holds a symbolic link, {shown} (to "
                    f"{os.readlink(path)}), which no kb build writes; a build would write through "
                    "it; hint: delete the link (what it points to stays), or choose a new "
                    "--site-dir"
                )


def _is_marked(folder: Path) -> bool:
    """Whether an earlier build left its marker (a regular file, not a link) in `folder`."""
    try:
        return stat.S_ISREG(os.lstat(folder / SITE_MARKER).st_mode)
    except OSError:
        return False


def mark_site_dir(site_dir: Path) -> None:
    """Create the site folder if need be and mark it as a kb site build (see `check_site_dir`)."""
    try:
        site_dir.mkdir(parents=True, exist_ok=True)
        if not _is_marked(site_dir):
            write_output(site_dir / SITE_MARKER, _MARKER_TEXT)
    except OSError as exc:
        raise OutputError(f"cannot use the site folder {site_dir}: {exc.strerror or exc}") from None
