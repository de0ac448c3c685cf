"""Durable per-video state that makes curation resumable and idempotent.

Each processed video gets one JSON record, written to a temporary name, fsynced
and renamed into place, so a record is either absent or complete whatever kills
the run. A rerun reads the records and processes only the videos without one.
The records live in `<output>/state/<2 hex>/<video_id>.json` (spread over 256
folders so a million videos stay listable). `settings.json` there pins the
settings that decide the outcome of a video, so a rerun with other settings
cannot silently mix two curations in one folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # records -> clip_export -> state: imported where used
    from .records import VideoRecord

STATE_DIR = "state"
_TMP_SUFFIX = ".tmp"


class CurationSettingsError(ValueError):
    """The output folder holds a curation made with other settings."""


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the whole new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _utf8(text: str) -> bytes:
    """UTF-8, with lone surrogates (from undecodable file names) kept as JSON escapes instead of failing."""
    return text.encode("utf-8", "backslashreplace")


def write_json_atomic(path: Path, data: object) -> None:
    write_bytes_atomic(path, _utf8(json.dumps(data, indent=1, ensure_ascii=False, sort_keys=True) + "\n"))


def write_jsonl_atomic(path: Path, rows: list[Mapping[str, object]]) -> None:
    write_bytes_atomic(path, _utf8("".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in rows)))


def temporary_path(path: Path, suffix: str = "") -> Path:
    """A hidden sibling of `path` named after this host and process, so a later run can tell it is stale."""
    return path.with_name(f".{path.name}.{socket.gethostname()}.{os.getpid()}{_TMP_SUFFIX}{suffix}")


def remove_stale_temporaries(folder: Path) -> int:
    """Delete temporary files that dead processes of this host left under `folder`; returns how many.

    Files of live processes and of other hosts (a shared output folder) are left alone.
    """
    pattern = re.compile(rf"\.{re.escape(socket.gethostname())}\.(\d+){re.escape(_TMP_SUFFIX)}(\.|$)")
    removed = 0
    for path in folder.rglob(".*"):
        found = pattern.search(path.name)
        if not found or not path.is_file():
            continue
        pid = int(found.group(1))
        if pid == os.getpid() or _alive(pid):
            continue
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class StateStore:
    """One complete JSON record per processed video under `<output>/state/`."""

    def __init__(self, output_dir: str | Path):
        self.root = Path(output_dir) / STATE_DIR

    def path_for(self, video_id: str) -> Path:
        return self.root / hashlib.sha1(video_id.encode()).hexdigest()[:2] / f"{video_id}.json"

    def load(self, video_id: str) -> VideoRecord | None:
        """The record of `video_id`, or None when it has not been processed (or its record is unreadable)."""
        from .records import VideoRecord

        try:
            return VideoRecord.from_dict(json.loads(self.path_for(video_id).read_text(encoding="utf-8")))
        except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError, TypeError, AttributeError):
            return None

    def save(self, record: VideoRecord) -> None:
        write_json_atomic(self.path_for(record.video_id), record.to_dict())

    def check_settings(self, settings: Mapping[str, object]) -> None:
        """Pin `settings` on first use; raise if the folder was curated with different ones."""
        path = self.root / "settings.json"
        try:
            pinned = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            write_json_atomic(path, dict(settings))
            return
        differing = sorted(k for k in set(pinned) | set(settings) if pinned.get(k) != settings.get(k))
        if differing:
            details = ", ".join(f"{k}: {pinned.get(k)!r} -> {settings.get(k)!r}" for k in differing)
            raise CurationSettingsError(
                f"{self.root.parent} was curated with other settings ({details}); "
                "use a new output folder, or delete its state/ folder to redo every video"
            )
