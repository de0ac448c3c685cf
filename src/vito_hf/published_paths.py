"""Absolute local paths in files meant for publication: finding them, and replacing them before they are written.

A published store (metadata, WebDataset members, report, card) must not carry the curator's folders: home
folders and temporary folders name people and machines, and mean nothing to anyone else. Curation writes
sources relative to the candidates' root; this module is the net under that: `redact_paths` rewrites what
slipped into free text (an error message naming the file it could not read), and `files_with_absolute_paths`
is what a push checks before anything leaves the machine.

What counts as an absolute local path: a POSIX path of two or more components whose first component is a folder
at this machine's root or one of the usual roots of other machines (`/home/...`, `/Users/...`, `/tmp/...`;
`AC/DC` or ` /r/videos` are not paths), a `~/...` path, a Windows drive path (`C:\\...`), a `file://` URL.
Only where a path can start: at the start of the text, or after a space, quote, bracket, `=` or comma (so the
path part of an `https://` URL is not one).
"""

from __future__ import annotations

import functools
import os
import posixpath
import re
import tarfile
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

_USUAL_ROOTS = frozenset({
    "home", "Users", "tmp", "var", "private", "root", "mnt", "media", "data", "scratch", "opt", "srv", "work",
    "nfs", "net", "run", "Volumes", "gpfs", "lustre", "cluster", "export", "storage", "content", "workspace",
})
_START = r"""(?:^|(?<=[\s"'(\[{=,]))"""
_CANDIDATE = re.compile(
    _START + r"""(?P<path>(?:file://)?(?:/[^\s/"'<>|,;)\]}]+/[^\s"'<>|,;)\]}]*|~/[^\s"'<>|,;)\]}]+"""
    r"""|[A-Za-z]:(?:\\\\|\\|/)[^\s"'<>|,;)\]}]+))""",
    re.MULTILINE,
)
TEXT_SUFFIXES = (".json", ".jsonl", ".md", ".txt", ".csv", ".tsv", ".yaml", ".yml")
"""Files (and WebDataset members) scanned for paths; media, images and models are not text."""


@functools.lru_cache(maxsize=1)
def _local_roots() -> frozenset[str]:
    try:
        return frozenset(entry.name for entry in os.scandir("/") if entry.is_dir())
    except OSError:
        return frozenset()


def _is_local_path(candidate: str) -> bool:
    if candidate.startswith(("file://", "~/")) or re.match(r"[A-Za-z]:", candidate):
        return True
    first = candidate.split("/", 2)[1]
    return first in _USUAL_ROOTS or first in _local_roots()


def absolute_paths_in(text: str) -> list[str]:
    """The absolute local paths (as written) in `text`, in order of appearance."""
    return [match.group("path") for match in _CANDIDATE.finditer(text) if _is_local_path(match.group("path"))]


def has_absolute_path(text: str) -> bool:
    return bool(absolute_paths_in(text))


def local_path_of(location: str) -> str | None:
    """`location` as a local POSIX path when it is an absolute one (a `file://` URL unwrapped), else None."""
    from urllib.parse import unquote, urlparse

    if location.startswith("file://"):
        return unquote(urlparse(location).path)
    return location if location.startswith("/") and _is_local_path(location) else None


def relative_to(path: str, root: str | os.PathLike) -> str:
    """`path` relative to `root` as a POSIX path (`..` where it lies outside; the file name when no relative
    path exists, e.g. another drive)."""
    try:
        return PurePosixPath(posixpath.relpath(path, os.fspath(root))).as_posix()
    except ValueError:
        return PurePosixPath(path).name


def redact_paths(text: str, known: Mapping[str, str] | None = None, root: str | os.PathLike | None = None) -> str:
    """`text` with every absolute local path replaced: first the `known` ones (path -> its public name, longest
    first), then each remaining one by its path relative to `root` (when given and the path lies under it) or
    its last component."""
    for path in sorted(known or {}, key=len, reverse=True):
        if path:
            text = text.replace(path, known[path])

    def public(match: re.Match) -> str:
        path = match.group("path")
        if not _is_local_path(path):
            return path
        local = local_path_of(path) or path
        if root is not None and local.startswith("/") and _under(local, os.fspath(root)):
            return relative_to(local, root)
        return re.split(r"[\\/]", local.rstrip("/\\"))[-1] or local

    return _CANDIDATE.sub(public, text)


def _under(path: str, root: str) -> bool:
    return posixpath.commonpath([path, root]) == posixpath.normpath(root)


def _scan_lines(lines: Iterable[str]) -> list[str]:
    for line in lines:
        found = absolute_paths_in(line)
        if found:
            return found
    return []


def files_with_absolute_paths(folder: str | os.PathLike, names: Iterable[str]) -> dict[str, list[str]]:
    """{file (or `tar:member`): the paths found} for the files `names` under `folder` that hold absolute local
    paths; text files are read line by line, tars member by member (their text members only)."""
    folder = Path(folder)
    found: dict[str, list[str]] = {}
    for name in names:
        path = folder / name
        if name.endswith(".tar"):
            with tarfile.open(path, mode="r:") as tar:
                for member in tar:
                    if member.isreg() and member.name.lower().endswith(TEXT_SUFFIXES):
                        text = tar.extractfile(member).read().decode("utf-8", "replace")
                        paths = absolute_paths_in(text)
                        if paths:
                            found[f"{name}:{member.name}"] = paths
        elif name.lower().endswith(TEXT_SUFFIXES):
            with open(path, encoding="utf-8", errors="replace") as handle:
                paths = _scan_lines(handle)
            if paths:
                found[name] = paths
    return found
