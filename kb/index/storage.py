"""Files the index writes and reads: atomic writes, sealed records, verified reads, aligned npz.

Every file is written to a temporary name and moved into place; every file is verified against
its record as it is read (size and mtime first, its sha256 only when the mtime differs, so a warm
search hashes nothing). The search file is an npz whose members are aligned so that a search can
map them instead of reading them."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kb.errors import IndexDamaged, IndexFileMissing

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from kb.index.records import (
        FileRecord,
        _Sealed,
    )

__all__ = ["no_cycle_collection"]


@contextlib.contextmanager
def no_cycle_collection() -> Iterator[None]:
    """The cycle collector paused while records and rows are read (and for a whole one-off
    search): JSON and the libraries a search loads make many objects and few reference cycles,
    and collecting as they allocate (ever larger generations) only costs time."""
    import gc

    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _record(path: Path, sha256: str | None = None) -> FileRecord:
    """The record of a file just written (`sha256` if already known)."""
    from kb.index.records import FileRecord

    info = path.stat()
    return FileRecord(
        name=path.name,
        size=info.st_size,
        mtime_ns=info.st_mtime_ns,
        sha256=sha256 or _file_sha256(path),
    )


def _verify_file(directory: Path, record: FileRecord) -> int:
    """Check a cached file against its record; IndexDamaged names the file and what is wrong.

    Size and mtime first: when both match, the file is taken as written (no hashing, so warm
    searches stay fast). When only the mtime differs (a copy, a touch), the full sha256 decides;
    the file's mtime is returned, for `kb index` to store (see `_fresh`).
    """
    path = directory / record.name
    try:
        info = path.stat()
    except OSError:
        raise IndexFileMissing(f"{path} is missing") from None
    if not stat.S_ISREG(info.st_mode):
        raise IndexDamaged(f"{path} is not a file")
    if info.st_size != record.size:
        raise IndexDamaged(
            f"{path} is corrupt or partial ({info.st_size} bytes, expected {record.size})"
        )
    if info.st_mtime_ns == record.mtime_ns:
        return record.mtime_ns
    try:
        actual = _file_sha256(path)
    except OSError as exc:
        raise IndexDamaged(f"{path} is unreadable ({exc.strerror})") from None
    if actual != record.sha256:
        raise IndexDamaged(f"{path} is corrupt or was changed (checksum mismatch)")
    return info.st_mtime_ns


def _fresh(record: FileRecord, mtime_ns: int) -> FileRecord:
    """A file's record with the mtime it has now (see `_verify_file`)."""
    if mtime_ns == record.mtime_ns:
        return record
    return record.model_copy(update={"mtime_ns": mtime_ns})


def _read_verified(directory: Path, record: FileRecord) -> tuple[bytes, FileRecord]:
    """A cached file's bytes once verified, and its record to keep (see `_verify_file`)."""
    kept = _fresh(record, _verify_file(directory, record))
    path = directory / record.name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IndexFileMissing(f"{path} is missing ({exc.strerror})") from None
    if len(data) != record.size:
        raise IndexDamaged(f"{path} is corrupt or partial (it changed while being read)")
    return data, kept


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def _atomic_file(path: Path) -> Iterator[Any]:
    """A new binary file (read and write) that replaces `path` only once it is written and
    synced; on any error the temporary file goes and `path` is untouched."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.chmod(tmp, 0o644)
        with os.fdopen(fd, "w+b") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _write_atomic(path: Path, data: bytes) -> FileRecord:
    """Write bytes via a temporary file and os.replace; return the file's record."""
    with _atomic_file(path) as handle:
        handle.write(data)
    return _record(path, hashlib.sha256(data).hexdigest())


def _write_sealed(path: Path, record: _Sealed) -> None:
    sealed = record.model_copy(update={"checksum": record.digest()})
    _write_atomic(path, sealed.model_dump_json().encode())


def _parse_json(data: bytes) -> Any:
    """JSON (see `no_cycle_collection`); ValueError if it is not JSON."""
    with no_cycle_collection():
        return json.loads(data)


def _offsets_fit(starts: NDArray[np.int64], count: int, length: int) -> bool:
    """Whether `count` + 1 ascending offsets lie within a blob of `length` bytes."""
    return (
        starts.shape == (count + 1,)
        and int(starts[0]) >= 0
        and bool(np.all(np.diff(starts) >= 0))
        and int(starts[-1]) <= length
    )


def _bytes_array(data: bytes) -> NDArray[np.uint8]:
    return np.frombuffer(data, dtype=np.uint8)


_ALIGN = 64  # the .npy format aligns array data to 64 bytes within each member


_PADDING_ID = 0x6B62  # a zip extra-field id for the padding that aligns each member


def _write_npz(path: Path, arrays: dict[str, Any]) -> FileRecord:
    """Write an uncompressed .npz (np.load reads it) whose arrays start on 64-byte boundaries of
    the file, so that `_map_npz` can map them without copying; streamed from the arrays, via a
    temporary file and os.replace. Its bytes depend only on the arrays. Returns its record."""
    import zipfile

    with (
        _atomic_file(path) as handle,
        zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED) as archive,
    ):
        for name, array in arrays.items():
            _write_member(archive, handle.tell(), name, np.ascontiguousarray(array))
    return _record(path)


def _write_member(archive: Any, offset: int, name: str, array: NDArray[Any]) -> None:
    """One array as `name`.npy at `offset` of the archive, its data aligned (see `_write_npz`)."""
    import io
    import struct
    import zipfile

    header = io.BytesIO()
    fields = np.lib.format.header_data_from_array_1_0(array)
    try:
        np.lib.format.write_array_header_1_0(header, fields)
    except ValueError:  # a header too long for format 1.0
        header = io.BytesIO()
        np.lib.format.write_array_header_2_0(header, fields)
    info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    info.file_size = header.tell() + array.nbytes
    # the local header (30 bytes), the name and an extra field that pads, then the .npy member,
    # whose own header is a multiple of 64 bytes long
    start = offset + 30 + len(info.filename.encode("utf-8")) + 4
    pad = -start % _ALIGN
    info.extra = struct.pack("<HH", _PADDING_ID, pad) + bytes(pad)
    with archive.open(info, "w") as member:
        member.write(header.getvalue())
        member.write(array.reshape(-1).view(np.uint8).data)


def _map_npz(path: Path, size: int) -> dict[str, Any]:
    """The arrays of a search file, mapped from the page cache without copying where they are
    stored aligned (see `_write_npz`), else read; ValueError etc. if it is malformed."""
    import io
    import mmap
    import struct
    import zipfile

    with path.open("rb") as handle:
        if os.name == "posix" and size > 0:
            data: Any = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        else:  # pragma: no cover - elsewhere a mapped file could not be replaced or deleted
            data = handle.read()
    if len(data) != size:
        raise ValueError(f"{len(data)} bytes, expected {size}")
    arrays: dict[str, Any] = {}
    with zipfile.ZipFile(io.BytesIO(data) if isinstance(data, bytes) else data) as archive:
        for info in archive.infolist():
            name = info.filename.removesuffix(".npy")
            header = data[info.header_offset : info.header_offset + 30]
            if len(header) != 30 or header[:4] != b"PK\x03\x04":
                raise ValueError(f"member {name} has no local header")
            name_len, extra_len = struct.unpack("<HH", header[26:30])
            start = info.header_offset + 30 + name_len + extra_len
            end = start + info.file_size
            if info.compress_type != zipfile.ZIP_STORED or end > len(data):
                arrays[name] = np.lib.format.read_array(archive.open(info), allow_pickle=False)
                continue
            member = io.BytesIO(data[start : min(end, start + 4096)])
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
            if dtype.hasobject:
                raise ValueError(f"member {name} holds objects")
            offset = start + member.tell()
            count = int(np.prod(shape, dtype=np.int64))
            if offset + count * dtype.itemsize != end:
                raise ValueError(f"member {name} has the wrong size")
            if count == 0 or offset % max(1, dtype.alignment):
                array = np.frombuffer(bytes(data[offset:end]), dtype=dtype, count=count)
            else:
                array = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
            arrays[name] = array.reshape(shape, order="F" if fortran else "C")
    return arrays


@contextlib.contextmanager
def _writer_lock(directory: Path) -> Iterator[None]:
    """One writer at a time (e.g. `kb index` while `kb build` updates the same cache)."""
    directory.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX: no lock, writes stay atomic
        yield
        return
    with (directory / ".lock").open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
