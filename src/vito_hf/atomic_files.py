"""Write-to-a-temporary-then-rename, for every file and folder the package writes.

Readers (a resumed run, a loader, a Hub upload) see the old file or the whole new one, never a part,
whatever kills the writer. Temporaries are hidden siblings named after the host and process that
writes them (`.<name>.<host>.<pid>.tmp[<suffix>]`), so a later run can tell which ones are stale.
This is the only module that renames into place.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

_TMP_SUFFIX = ".tmp"


def temporary_path(path: str | os.PathLike, suffix: str = "") -> Path:
    """A hidden sibling of `path` named after this host and process; `suffix` keeps a format-by-extension writer happy."""
    path = Path(path)
    return path.with_name(f".{path.name}.{socket.gethostname()}.{os.getpid()}{_TMP_SUFFIX}{suffix}")


@contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path to write `path` through; renamed into place on success, removed on failure.

    Works for a file or a folder: an existing folder at `path` is replaced only once the new one is whole.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_path(path, suffix)
    _remove(temporary)
    try:
        yield temporary
        if temporary.is_dir() and path.is_dir():
            previous = temporary_path(path, ".previous")
            os.replace(path, previous)
            os.replace(temporary, path)
            _remove(previous)
        else:
            os.replace(temporary, path)
    finally:
        _remove(temporary)


def write_atomic(path: str | os.PathLike, write: Callable[[Path], object], *, suffix: str = "") -> Path:
    """`write(temporary)` then rename to `path` (a file or a folder); returns `path`."""
    with atomic_path(path, suffix=suffix) as temporary:
        write(temporary)
    return Path(path)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path`, fsynced before the rename."""
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(path, _utf8(text))


def write_json_atomic(path: str | os.PathLike, data: object, *, indent: int | None = 1, sort_keys: bool = True) -> None:
    write_text_atomic(path, json.dumps(data, indent=indent, ensure_ascii=False, sort_keys=sort_keys) + "\n")


def write_jsonl_atomic(path: str | os.PathLike, rows: list[Mapping[str, object]]) -> None:
    write_text_atomic(path, "".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in rows))


def remove_stale_temporaries(folder: str | os.PathLike) -> int:
    """Delete temporaries that dead processes of this host left under `folder`; returns how many.

    Temporaries of live processes and of other hosts (a shared output folder) are left alone.
    """
    pattern = re.compile(rf"\.{re.escape(socket.gethostname())}\.(\d+){re.escape(_TMP_SUFFIX)}(\.|$)")
    removed = 0
    for path in list(Path(folder).rglob(".*")):
        found = pattern.search(path.name)
        if not found or not path.exists():
            continue
        pid = int(found.group(1))
        if pid == os.getpid() or process_alive(pid):
            continue
        _remove(path)
        removed += 1
    return removed


def _utf8(text: str) -> bytes:
    """UTF-8, with lone surrogates (from undecodable file names) kept as escapes instead of failing."""
    return text.encode("utf-8", "backslashreplace")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def process_alive(pid: int) -> bool:
    """Whether a process of this host with id `pid` is running (one owned by another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
