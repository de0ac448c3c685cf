"""The clip store: the folder that curation writes and `vito_hf.data` reads, defined once.

Layout of a store (format version 1)::

    <store>/clip_store.json           {"format_version": 1}
    <store>/metadata.jsonl            one row per clip, the columns of COLUMNS
    <store>/clips/<class id>/<video id>.mp4
    <store>/README.md, report/, state/, shards/   (curation's card, report and bookkeeping)

A plain folder of videos (any of VIDEO_EXTENSIONS, labelled by their parent folder) is also read.
Stores written before the format was versioned have no `clip_store.json`: they share version 1's
layout and columns and are read as version 0. A store of a newer version is refused, since its
columns may mean something this version does not know.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import datasets

FORMAT_VERSION = 1
STORE_FILE = "clip_store.json"
METADATA_FILE = "metadata.jsonl"
CLIPS_DIR = "clips"
CLIP_SUFFIX = ".mp4"
DATA_FILES = [METADATA_FILE, f"{CLIPS_DIR}/**/*{CLIP_SUFFIX}"]
"""What the Hub's `configs` entry of a store's card lists as the train split."""

VIDEO_EXTENSIONS = (
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp", ".ogv", ".ts",
)
"""File suffixes taken as videos, both by curation's folder mode and by the reader's plain-folder mode."""

COLUMNS: dict[str, str] = {
    "file_name": "string",
    "video_id": "string",
    "label": "string",
    "class_index": "int64",
    "class_id": "string",
    "title": "string",
    "source": "string",
    "duration": "float64",
    "fps": "float64",
    "num_frames": "int64",
    "width": "int32",
    "height": "int32",
    "classifier_hits": "int64",
    "classifier_best_score": "float64",
}
"""The metadata columns, in order, with their Arrow types; `file_name` is the clip's POSIX path in the store."""

FEATURES = datasets.Features(
    {"video": datasets.Video(decode=False), **{name: datasets.Value(dtype) for name, dtype in COLUMNS.items()}}
)
"""The rows `vito_hf.data.build_clip_dataset` yields: the video (kept encoded) and the metadata columns."""


class ClipStoreVersionError(ValueError):
    """The store was written in a format this version of vito_hf cannot read."""


def is_video_file(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def clip_file_name(class_id: str, video_id: str) -> str:
    """Where a kept clip of class `class_id` lives, relative to the store (its `file_name`)."""
    return f"{CLIPS_DIR}/{class_id}/{video_id}{CLIP_SUFFIX}"


def store_info() -> dict[str, int]:
    """The content of `clip_store.json` for a store written now."""
    return {"format_version": FORMAT_VERSION}


def store_format_version(root: str | os.PathLike) -> int | None:
    """The store's format version: 0 for a store written before versioning, None for a plain video folder.

    Raises `ClipStoreVersionError` for a newer or unreadable version file.
    """
    root = Path(root)
    info_path = root / STORE_FILE
    if not info_path.is_file():
        return 0 if (root / METADATA_FILE).is_file() else None
    try:
        version = json.loads(info_path.read_text(encoding="utf-8"))["format_version"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise ClipStoreVersionError(
            f"{info_path} is unreadable ({type(err).__name__}: {err}); it should be {json.dumps(store_info())}. "
            "Restore it, or delete it to read the store as an unversioned one."
        ) from err
    if not isinstance(version, int) or version < 0:
        raise ClipStoreVersionError(f"{info_path}: format_version must be a non-negative integer, got {version!r}.")
    if version > FORMAT_VERSION:
        raise ClipStoreVersionError(
            f"{root} is a clip store of format version {version}, written by a newer vito_hf; this one reads "
            f"versions up to {FORMAT_VERSION}. Upgrade vito_hf to read it."
        )
    return version
