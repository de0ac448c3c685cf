"""Candidate videos for curation: from a folder of files or from a manifest.

A candidate is a video with a title. From a folder, every entry whose name has a
video extension is one (title: the file stem, or the `title` of a yt-dlp style
`<stem>.info.json` sidecar next to it). From a manifest (CSV with a header, or
JSONL), each row gives `path` or `url` (or `source`), optionally `title`,
`tags` and `id`; relative paths are relative to the manifest's folder.

A candidate's `source` is what the store publishes about where its video came from: from a folder, the path
relative to that folder; from a manifest, a URL as given, a local path relative to the manifest's folder
(never the absolute path of this machine: see `vito_hf.published_paths`).

Only local files can be read: a `file://` URL is turned into its path, any
other URL becomes a candidate with a `problem` that the run reports as its
rejection reason, as does a malformed manifest row. Reading a candidate list
never fails on one bad entry.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from ..clip_store import is_video_file
from ..published_paths import relative_to

logger = logging.getLogger(__name__)

_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_TAG_SPLIT = re.compile(r"[|;]")


class CandidateSourceError(ValueError):
    """A candidate list that cannot be read at all (missing, unknown format, no path column)."""


@dataclass(frozen=True)
class Candidate:
    """One video to curate. `path` is the local file to read (None when it cannot be read here)."""

    video_id: str
    source: str
    title: str
    path: str | None
    tags: tuple[str, ...] = ()
    problem: str | None = None
    problem_code: str | None = None


def make_video_id(source: str, explicit: str | None = None) -> str:
    """A stable, folder-safe id: the given one when safe, else '<readable stem>-<8 hex of the source>'."""
    if explicit and _SAFE_ID.match(explicit):
        return explicit
    seed = explicit or source
    stem = Path(urlparse(seed).path if "://" in seed else seed).stem
    readable = re.sub(r"[^A-Za-z0-9]+", "-", stem).strip("-")[:48] or "video"
    return f"{readable}-{hashlib.sha1(seed.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"


def shown(text: str) -> str:
    """`text` as valid Unicode: bytes of a file name that are not UTF-8 (kept by Python as lone surrogates)
    become `\\xNN` escapes, so titles and sources can be written to JSON and Arrow."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that no file name byte makes (e.g. from a JSON escape)
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def _sidecar_title(video: Path) -> tuple[str | None, tuple[str, ...]]:
    sidecar = video.with_name(video.stem + ".info.json")
    if not sidecar.is_file():
        return None, ()
    try:
        info = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        logger.warning("ignoring unreadable sidecar %s (%s); the title falls back to the file stem", sidecar, err)
        return None, ()
    title = info.get("title") if isinstance(info, dict) else None
    tags = info.get("tags") if isinstance(info, dict) else None
    return (str(title) if title else None), tuple(str(t) for t in tags or () if isinstance(tags, list))


def candidates_from_folder(folder: str | Path) -> list[Candidate]:
    """Every entry under `folder` (recursively) with a video extension, in sorted path order."""
    root = Path(folder)
    entries = sorted(p for p in root.rglob("*") if is_video_file(p))
    candidates = []
    for entry in entries:
        relative = entry.relative_to(root).as_posix()
        try:
            title, tags = _sidecar_title(entry)
        except Exception as err:  # noqa: BLE001 - one odd entry must not end the listing
            logger.warning("ignoring the sidecar of %s (%s: %s)", shown(relative), type(err).__name__, err)
            title, tags = None, ()
        candidates.append(
            Candidate(video_id=make_video_id(relative), source=shown(relative), title=shown(title or entry.stem),
                      path=str(entry), tags=tags)
        )
    return candidates


def _resolve(location: str, base: Path) -> tuple[str | None, str | None]:
    """(local path, problem) for a manifest location; the only problem is a remote URL."""
    parsed = urlparse(location)
    if parsed.scheme == "file":
        return unquote(parsed.path), None
    if len(parsed.scheme) > 1:
        return None, (
            f"remote URL ({parsed.scheme}://): curation reads local files only; download the video first "
            "(e.g. with yt-dlp) and list its local path in the manifest"
        )
    path = Path(location).expanduser()
    return str(path if path.is_absolute() else base / path), None


def _split_tags(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(t.strip() for t in _TAG_SPLIT.split(value) if t.strip())
    if isinstance(value, Iterable):
        return tuple(str(t).strip() for t in value if str(t).strip())
    return ()


def _candidate_from_row(row: Mapping[str, object], base: Path, where: str) -> Candidate:
    location = next((str(row[k]).strip() for k in ("path", "url", "source") if row.get(k)), "")
    if not location:
        return Candidate(
            video_id=make_video_id(where), source=where, title="", path=None,
            problem=f"{where}: no 'path', 'url' or 'source' value; every row must name its video",
            problem_code="bad_entry",
        )
    path, problem = _resolve(location, base)
    explicit_id = str(row["id"]).strip() if row.get("id") else None
    title = str(row.get("title") or "").strip() or Path(urlparse(location).path).stem
    source = location if path is None else relative_to(path, base.resolve() if Path(path).is_absolute() else base)
    return Candidate(
        video_id=make_video_id(location, explicit_id), source=shown(source), title=shown(title), path=path,
        tags=tuple(shown(tag) for tag in _split_tags(row.get("tags"))), problem=problem,
        problem_code="remote_url" if problem else None,
    )


def _rows_from_csv(manifest: Path) -> Iterable[tuple[str, Mapping[str, object] | None]]:
    with open(manifest, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        columns = set(reader.fieldnames or ())
        if not columns & {"path", "url", "source"}:
            raise CandidateSourceError(
                f"manifest {manifest}: the header needs a 'path', 'url' or 'source' column (optional: title, tags, id); "
                f"found {sorted(columns)}"
            )
        for row in reader:
            yield f"{manifest.name} line {reader.line_num}", row


def _rows_from_jsonl(manifest: Path) -> Iterable[tuple[str, Mapping[str, object] | None]]:
    with open(manifest, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{manifest.name} line {number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                row = None
            yield where, row if isinstance(row, dict) else None


def candidates_from_manifest(manifest: str | Path) -> list[Candidate]:
    """The rows of a CSV or JSONL manifest, in file order; bad rows become candidates with a problem."""
    manifest = Path(manifest)
    suffix = manifest.suffix.lower()
    if suffix == ".csv":
        rows = _rows_from_csv(manifest)
    elif suffix in (".jsonl", ".ndjson"):
        rows = _rows_from_jsonl(manifest)
    else:
        raise CandidateSourceError(f"manifest {manifest}: unknown format {suffix!r}; use .csv (with a header) or .jsonl")
    candidates = []
    for where, row in rows:
        if row is None:
            candidates.append(
                Candidate(video_id=make_video_id(where), source=where, title="", path=None,
                          problem=f"{where}: not a JSON object; fix or remove the line", problem_code="bad_entry")
            )
        else:
            try:
                candidates.append(_candidate_from_row(row, manifest.parent, where))
            except Exception as err:  # noqa: BLE001 - one bad row is that row's rejection
                candidates.append(
                    Candidate(video_id=make_video_id(where), source=where, title="", path=None,
                              problem=f"{where}: unusable row ({type(err).__name__}: {err})", problem_code="bad_entry")
                )
    return candidates


def load_candidates(source: str | Path | Sequence[Candidate]) -> list[Candidate]:
    """Candidates from a folder, a manifest file, or a ready list; repeated ids are marked as duplicates."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.is_dir():
            candidates = candidates_from_folder(path)
        elif path.is_file():
            candidates = candidates_from_manifest(path)
        else:
            raise CandidateSourceError(f"candidate source {path} does not exist; pass a folder of videos or a .csv/.jsonl manifest")
    else:
        candidates = list(source)
    seen: dict[str, str] = {}
    unique = []
    for candidate in candidates:
        if candidate.video_id in seen:
            candidate = Candidate(
                video_id=f"{candidate.video_id}-dup{len(unique)}", source=candidate.source, title=candidate.title,
                path=candidate.path, tags=candidate.tags,
                problem=candidate.problem or f"duplicate of {seen[candidate.video_id]} (same video id {candidate.video_id})",
                problem_code=candidate.problem_code or "duplicate",
            )
        seen.setdefault(candidate.video_id, candidate.source)
        unique.append(candidate)
    return unique
