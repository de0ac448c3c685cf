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
from collections.abc import Mapping
from pathlib import Path

from ..atomic_files import write_json_atomic
from .records import VideoRecord

STATE_DIR = "state"


class CurationSettingsError(ValueError):
    """The output folder holds a curation made with other settings."""


class StateStore:
    """One complete JSON record per processed video under `<output>/state/`."""

    def __init__(self, output_dir: str | Path):
        self.root = Path(output_dir) / STATE_DIR

    def path_for(self, video_id: str) -> Path:
        return self.root / hashlib.sha1(video_id.encode()).hexdigest()[:2] / f"{video_id}.json"

    def load(self, video_id: str) -> VideoRecord | None:
        """The record of `video_id`, or None when it has not been processed (or its record is unreadable)."""
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
