"""The clip store: the folder that curation writes and `vito_hf.data` reads, defined once.

Layout of a store (format version 1)::

    <store>/clip_store.json           {"format_version": 1}, and "hub_repo_id" once pushed to the Hub
    <store>/metadata.jsonl            one row per clip, the columns of COLUMNS
    <store>/clips/<class id>/<video id>.mp4
    <store>/README.md, report/, state/, shards/   (curation's card, report and bookkeeping)

The same clips may also be packed as WebDataset shards (the shard form, for stores too large to serve as
one file per clip: a Hub repository holds about 100 k files)::

    <store>/webdataset/index.json          {"format_version": 1, "clips", "bytes", "classes", "shards": [...],
                                            and how it was packed: "seed", "shard_bytes", "shard_clips"}
    <store>/webdataset/clips-000000.tar    per clip <key>.mp4 (the clip's bytes) and <key>.json (its row)

The key is the clip's position in the packing order (`sample_key`), free of dots, which split a WebDataset
key from its field; the row holds COLUMNS, `file_name` included. The index lists every shard with its clip
count, bytes and clips per class id; it is written last, so a store with an index is complete. A store with
an index is read from its shards, as a stream (the loose clips, if kept, are curation's working copy).

Without vito_hf, `datasets.load_dataset(<store folder or Hub repo>)` reads either form through the card's
`configs` and `dataset_info`: a folder store as `hub_features`, a shard store as WebDataset
samples (`hub_shard_features`: `__key__`, `mp4`, and the row under `json`), which the card's snippet turns into
the same row. `label` is a `ClassLabel` of the classes' `label_names`. No published file holds an absolute path
of the machine that wrote it (`vito_hf.published_paths`): `source` is relative to the candidates' root or a URL.

A plain folder of videos (any of VIDEO_EXTENSIONS, labelled by their parent folder) is also read.
Stores written before the format was versioned have no `clip_store.json`: they share version 1's
layout and columns and are read as version 0. A store of a newer version is refused, since its
columns may mean something this version does not know.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import datasets

from .atomic_files import write_json_atomic

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


HUB_REPO_FIELD = "hub_repo_id"
"""The key of `clip_store.json` that records the dataset repo a store was pushed to (model cards cite it)."""


def label_names(names: list[str], ids: list[str]) -> list[str]:
    """The `label` of each class (by index): its name, or `name (id)` where several classes share the name
    (ImageNet-1k has two `crane`s), since a `ClassLabel` needs distinct names."""
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return [name if counts[name] == 1 else f"{name} ({class_id})" for name, class_id in zip(names, ids, strict=True)]


def _row_columns(class_names: list[str]) -> dict[str, datasets.features.features.FeatureType]:
    columns = {name: datasets.Value(dtype) for name, dtype in COLUMNS.items() if name != "file_name"}
    columns["label"] = datasets.ClassLabel(names=list(class_names))
    return columns


def hub_features(class_names: list[str]) -> datasets.Features:
    """The row `load_dataset` gives for a folder store: `video` (from `file_name`, the clip's path) and the other
    columns, `label` a `ClassLabel` over `class_names`. A shard store's row, after the card's snippet, is equal."""
    return datasets.Features({"video": datasets.Video(), **_row_columns(class_names)})


def hub_shard_features(class_names: list[str]) -> datasets.Features:
    """The WebDataset sample `load_dataset` gives for a shard store: its key, the clip (`mp4`) and, under `json`,
    the row's columns as in `hub_features` (the store path `file_name` is left out: there is no such file)."""
    return datasets.Features({
        "__key__": datasets.Value("string"), SHARD_VIDEO_FIELD: datasets.Video(),
        SHARD_METADATA_FIELD: _row_columns(class_names),
    })


SHARD_FORMAT_VERSION = 1
SHARD_DIR = "webdataset"
SHARD_INDEX_FILE = f"{SHARD_DIR}/index.json"
SHARD_VIDEO_FIELD = "mp4"
SHARD_METADATA_FIELD = "json"
SHARD_DATA_FILES = [f"{SHARD_DIR}/*.tar"]
"""What the card's `configs` entry lists as the train split of a sharded store (read by `datasets`' webdataset)."""
DEFAULT_SHARD_BYTES = 10**9
"""Shards of about 1 GB: large enough for sequential reads, small enough to upload and retry one at a time."""


class ClipStoreVersionError(ValueError):
    """The store was written in a format this version of vito_hf cannot read."""


def is_video_file(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def clip_file_name(class_id: str, video_id: str) -> str:
    """Where a kept clip of class `class_id` lives, relative to the store (its `file_name`)."""
    return f"{CLIPS_DIR}/{class_id}/{video_id}{CLIP_SUFFIX}"


def store_info(root: str | os.PathLike | None = None) -> dict[str, int | str]:
    """The content of `clip_store.json` for a store written now (into `root`: keeping the repo it was pushed to)."""
    info: dict[str, int | str] = {"format_version": FORMAT_VERSION}
    recorded = read_store_info(root).get(HUB_REPO_FIELD) if root is not None else None
    if isinstance(recorded, str):
        info[HUB_REPO_FIELD] = recorded
    return info


def read_store_info(root: str | os.PathLike) -> dict:
    """`clip_store.json` of `root` as written ({} when absent or unreadable: `store_format_version` checks it)."""
    try:
        info = json.loads((Path(root) / STORE_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return info if isinstance(info, dict) else {}


def hub_repo_id(root: str | os.PathLike) -> str | None:
    """The dataset repo the store at `root` was pushed to, if it was (what a model card's `datasets:` cites)."""
    recorded = read_store_info(root).get(HUB_REPO_FIELD)
    return recorded if isinstance(recorded, str) else None


def record_hub_repo_id(root: str | os.PathLike, repo_id: str) -> None:
    """Write `repo_id` into the store's `clip_store.json` (before the push, so the published copy carries it)."""
    info = read_store_info(root) or {"format_version": FORMAT_VERSION}
    write_json_atomic(Path(root) / STORE_FILE, {**info, HUB_REPO_FIELD: repo_id})


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


def require_webdataset():
    """The `webdataset` package, which writes and reads the shard form (an optional dependency)."""
    try:
        import webdataset
    except ImportError as err:
        raise ImportError(
            "WebDataset shards need the `webdataset` package: pip install 'vito_hf[webdataset]'."
        ) from err
    return webdataset


def shard_file_name(index: int) -> str:
    """Where shard `index` lives, relative to the store."""
    return f"{SHARD_DIR}/clips-{index:06d}.tar"


def sample_key(position: int) -> str:
    """The WebDataset key of the clip packed at `position`: digits only, since a dot would end the key."""
    return f"{position:09d}"


def is_shard_store(root: str | os.PathLike) -> bool:
    """Whether `root` holds a finished shard form (its index)."""
    return (Path(root) / SHARD_INDEX_FILE).is_file()


def read_shard_index(root: str | os.PathLike) -> dict:
    """The shard index of the local store `root`, checked (`check_shard_index`)."""
    root = Path(root)
    try:
        text = (root / SHARD_INDEX_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise _unreadable_index(root / SHARD_INDEX_FILE, err) from err
    return check_shard_index(text, root, lambda name: (root / name).is_file())


def check_shard_index(text: str, root: str | os.PathLike, is_present: Callable[[str], bool]) -> dict:
    """The shard index in `text` (read from store `root`), checked: version, shard entries, and every listed
    shard present (`is_present` of its store path: a local file, or a file listed at a URL).

    Raises `ClipStoreVersionError` for a newer or unreadable index, `FileNotFoundError` for missing shards.
    """
    path = f"{os.fspath(root)}/{SHARD_INDEX_FILE}"
    try:
        index = json.loads(text)
        version, shards = index["format_version"], index["shards"]
        files = [shard["file"] for shard in shards]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise _unreadable_index(path, err) from err
    if not isinstance(version, int) or version > SHARD_FORMAT_VERSION:
        raise ClipStoreVersionError(
            f"{path}: shard format version {version!r}, written by a newer vito_hf; this one reads versions up to "
            f"{SHARD_FORMAT_VERSION}. Upgrade vito_hf to read it."
        )
    missing = [name for name in files if not is_present(name)]
    if missing:
        raise FileNotFoundError(
            f"{os.fspath(root)}: {len(missing)} of {len(files)} shards listed in {SHARD_INDEX_FILE} are missing "
            f"({', '.join(missing[:5])}); download them again or convert the store again."
        )
    return index


def _unreadable_index(path: str | os.PathLike, err: Exception) -> ClipStoreVersionError:
    return ClipStoreVersionError(
        f"{os.fspath(path)} is unreadable ({type(err).__name__}: {err}); convert the store again "
        "(dataset_scripts/convert_to_webdataset.py)."
    )
