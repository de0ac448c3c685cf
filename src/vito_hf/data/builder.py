"""A ``datasets`` builder for curated clip folders: map-style or streaming, sharded, videos kept encoded.

``load_dataset`` no longer runs loading scripts (datasets 5), so the builder is instantiated
through :func:`build_clip_dataset`. It reads the curated layout (``metadata.jsonl`` beside
``clips/<class>/<video_id>.mp4``, see the curation package) or a plain folder of videos, where
each video is probed and its label is its parent folder's name. Rows hold the video as
``datasets.Video(decode=False)`` (a path, or the bytes with ``embed_videos=True``); frames are
decoded on access by :class:`vito_hf.data.transforms.VitoViewTransform`. The layout, the columns
and the video extensions are those of :mod:`vito_hf.clip_store`; a store of a newer format is refused.

Clips are grouped into shards (one ``gen_kwargs`` list), so ``datasets.distributed.split_dataset_by_node``
hands each process whole shards of its own when the shard count divides the world size.

A store packed as WebDataset shards (``webdataset/index.json``, see :mod:`vito_hf.clip_store`) is read as a
stream of its tar files (:func:`build_shard_stream`): one ``datasets`` shard per tar; a local tar's clips are
decoded in place (:func:`~vito_hf.data.decoding.tar_member_source`), a remote one's from the bytes streamed.
How tars are split over processes and workers: :func:`check_shard_split`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import datasets
from datasets.builder import Key

from ..clip_store import (
    FEATURES,
    METADATA_FILE,
    VIDEO_EXTENSIONS,
    is_shard_store,
    is_video_file,
    read_shard_index,
    store_format_version,
)
from .decoding import probe_video
from .shard_reading import shard_examples
from .store_location import is_url, locate_store, read_remote_shard_index

logger = logging.getLogger(__name__)


class NoUsableClipsError(ValueError):
    """A folder without a single clip that can be read; the message lists why each candidate failed."""


class VitoClipFolderConfig(datasets.BuilderConfig):
    """``num_shards``: shard count (default one per clip, at most 256).

    ``embed_videos``: store each clip's bytes in the rows (self-contained Arrow files or streams);
    the row's path is then the clip's path relative to the folder.
    """

    def __init__(self, num_shards: int | None = None, embed_videos: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.num_shards = num_shards
        self.embed_videos = embed_videos


def _listed_rows(root: Path, problems: list[str]) -> list[dict[str, Any]]:
    """The rows of the store's metadata whose clip exists; what is wrong with the others goes to `problems`."""
    rows = []
    with open(root / METADATA_FILE, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(f"{METADATA_FILE} line {line_number}: not JSON ({exc})")
                continue
            if not isinstance(row, dict) or not isinstance(row.get("file_name"), str):
                problems.append(f"{METADATA_FILE} line {line_number}: no file_name")
                continue
            if not (root / row["file_name"]).is_file():
                problems.append(f"{row['file_name']}: listed in {METADATA_FILE} but missing; re-run curation")
                continue
            rows.append(row)
    return rows


def _folder_rows(root: Path, problems: list[str]) -> list[dict[str, Any]]:
    """Every readable video under ``root``, probed; its label is its parent folder's name (as ``videofolder``
    does). Files that are not readable videos, or whose names are not valid UTF-8, go to `problems`."""
    files = sorted(p for p in root.rglob("*") if is_video_file(p) and p.is_file())
    labels = sorted({p.parent.name for p in files if p.parent != root})
    rows = []
    for path in files:
        relative = path.relative_to(root).as_posix()
        try:
            relative.encode("utf-8")
            info = probe_video(path).to_dict()
        except UnicodeEncodeError:
            shown = relative.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            problems.append(f"{shown}: the file name is not valid UTF-8 (datasets stores names as text); rename it")
            continue
        except Exception as exc:  # noqa: BLE001 - one unreadable file is that file's problem
            problems.append(f"{relative}: {type(exc).__name__}: {exc}")
            continue
        label = path.parent.name if path.parent != root else ""
        rows.append(
            {
                **{k: info[k] for k in ("duration", "fps", "num_frames", "width", "height")},
                "file_name": relative,
                "video_id": path.stem,
                "label": label,
                "class_index": labels.index(label) if label else -1,
                "class_id": label,
                "title": path.stem,
                "source": relative,
            }
        )
    return rows


def clip_rows(data_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The usable clips a store lists (``metadata.jsonl``) or a plain folder holds (probed), in order.

    Unusable entries are skipped with a warning each; a folder without a single usable clip raises
    `NoUsableClipsError` naming why, on every call (nothing about a failure is cached).
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder; pass a curated dataset folder or a folder of videos.")
    store_format_version(root)
    problems: list[str] = []
    listed = (root / METADATA_FILE).is_file()
    rows = _listed_rows(root, problems) if listed else _folder_rows(root, problems)
    for problem in problems:
        logger.warning("Skipping %s", problem)
    if not rows:
        if not problems:
            found = f"{METADATA_FILE} lists no clip" if listed else f"no file with a video extension {VIDEO_EXTENSIONS}"
            raise NoUsableClipsError(f"{root}: no usable clip: {found}. Curate clips into it, or pass a folder of videos.")
        shown = "\n  ".join(problems[:20]) + ("\n  ..." if len(problems) > 20 else "")
        raise NoUsableClipsError(
            f"{root}: no usable clip; every candidate failed ({len(problems)}):\n  {shown}\n"
            "Pass a folder of readable videos or a curated clip store."
        )
    return rows


def _fingerprint(root: Path, rows: list[dict[str, Any]], config: VitoClipFolderConfig) -> str:
    """Changes whenever the listed files or their metadata change, so a stale cache is never served."""
    digest = hashlib.sha256()
    digest.update(str(root.resolve()).encode())
    digest.update(f"{config.num_shards}:{config.embed_videos}".encode())
    metadata = root / METADATA_FILE
    if metadata.is_file():
        digest.update(metadata.read_bytes())
    for row in rows:
        path = root / row["file_name"]
        stat = path.stat() if path.exists() else None
        digest.update(f"{row['file_name']}:{stat.st_size if stat else -1}:{stat.st_mtime_ns if stat else -1}".encode())
    return digest.hexdigest()[:16]


class VitoClipFolder(datasets.GeneratorBasedBuilder):
    """Builder for a curated VITO clip folder (or a plain folder of videos)."""

    BUILDER_CONFIG_CLASS = VitoClipFolderConfig
    VERSION = datasets.Version("1.0.0")

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(
            description="Video clips for VITO pretraining; videos stay encoded and are decoded on access.",
            features=FEATURES,
        )

    def _split_generators(self, dl_manager: Any) -> list[datasets.SplitGenerator]:
        root = Path(self.config.data_dir)
        rows = getattr(self, "listed_rows", None) or clip_rows(root)
        count = self.config.num_shards or min(len(rows), 256)
        count = max(1, min(count, len(rows)))
        bounds = [round(i * len(rows) / count) for i in range(count + 1)]
        shards = [rows[bounds[i] : bounds[i + 1]] for i in range(count)]
        return [datasets.SplitGenerator(name=datasets.Split.TRAIN, gen_kwargs={"root": str(root), "shards": shards})]

    def _generate_examples(self, root: str, shards: list[list[dict[str, Any]]]):
        base = Path(root)
        for shard_index, rows in enumerate(shards):
            for index, row in enumerate(rows):
                example = self._example(base, row)
                if example is not None:
                    yield Key(shard_index, index), example

    def _example(self, root: Path, row: dict[str, Any]) -> dict[str, Any] | None:
        path = (root / row["file_name"]).resolve()
        try:
            needed = ("duration", "fps", "num_frames", "width", "height")
            info = None if all(row.get(k) is not None for k in needed) else probe_video(path).to_dict()
        except Exception as exc:  # noqa: BLE001 - one unreadable clip is skipped, never the run
            logger.warning("Skipping %s: %s: %s", row["file_name"], type(exc).__name__, exc)
            return None
        values = {**(info or {}), **{k: v for k, v in row.items() if v is not None}}
        if self.config.embed_videos:  # a relative path: datasets drops the bytes of paths that exist
            video = {"path": row["file_name"], "bytes": path.read_bytes()}
        else:
            video = {"path": str(path), "bytes": None}
        example = {name: values.get(name) for name in FEATURES if name != "video"}
        example["video"] = video
        example["video_id"] = str(values.get("video_id") or path.stem)
        example["class_index"] = int(values["class_index"]) if values.get("class_index") is not None else -1
        for text in ("label", "title", "source"):
            example[text] = "" if values.get(text) is None else str(values[text])
        return example


class ShardSplitError(ValueError):
    """Fewer shards than readers (processes x DataLoader workers): some readers would get no clip."""


def check_shard_split(num_shards: int, world_size: int = 1, num_workers: int = 0) -> None:
    """The rule for splitting a shard stream: each process takes a fixed contiguous block of the tars in index
    order (Accelerate's ``IterableDataset.shard``, as Trainer prepares its loader), whose order each epoch
    shuffles, and each of its DataLoader workers every ``num_workers``-th tar of that block (``datasets``).
    Every tar is read by exactly one reader per epoch, so there must be at least ``world_size x
    max(num_workers, 1)`` tars: fewer raise `ShardSplitError`. When the tar count is not a multiple of the
    readers, a warning says so: processes with one tar more end their epochs later, which training tolerates
    (each process starts its own next epoch; the step count is set by ``max_steps``), but the clips of the
    smaller blocks are then seen a little more often.
    """
    readers = world_size * max(num_workers, 1)
    if num_shards < readers:
        raise ShardSplitError(
            f"the shard store has {num_shards} shards for {world_size} processes x {max(num_workers, 1)} DataLoader "
            f"workers = {readers} readers, and each reader streams whole shards: pack more, smaller shards "
            "(convert_to_webdataset.py --shard_mb, --shard_clips) or use fewer DataLoader workers."
        )
    if num_shards % readers:
        logger.warning(
            "%d shards do not split evenly over %d readers (%d processes x %d workers): some readers stream one "
            "shard more per epoch. Pack a multiple of %d shards for equal shares.",
            num_shards, readers, world_size, max(num_workers, 1), readers,
        )


def build_shard_stream(data_dir: str | os.PathLike) -> datasets.IterableDataset:
    """The clips of a shard store (a local folder or an fsspec URL) as a ``datasets.IterableDataset`` with one
    shard per tar file, in index order.

    Rows have the columns of a folder store (`FEATURES`). The video of a local tar is
    ``{"path": tar_member_source(...), "bytes": None}``, read in place; a store at an fsspec URL (``hf://``,
    ``s3://``, ``memory://`` ...) is streamed tar by tar, each video kept as ``{"path": file_name, "bytes": ...}``.
    """
    root = os.fspath(data_dir)
    if is_url(root):
        index = read_remote_shard_index(root)
        shards = [f"{root.rstrip('/')}/{shard['file']}" for shard in index["shards"]]
    else:
        index = read_shard_index(root)
        shards = [str((Path(root) / shard["file"]).resolve()) for shard in index["shards"]]
    if not shards:
        raise NoUsableClipsError(f"{root}: the shard index lists no shard; convert a store with clips.")
    return datasets.IterableDataset.from_generator(shard_examples, features=FEATURES, gen_kwargs={"shards": shards})


def build_clip_dataset(
    data_dir: str | os.PathLike,
    split: str = "train",
    streaming: bool = False,
    cache_dir: str | os.PathLike | None = None,
    num_shards: int | None = None,
    embed_videos: bool = False,
) -> datasets.Dataset | datasets.IterableDataset:
    """Load a curated clip folder (or a plain folder of videos) as a ``datasets`` dataset.

    Map-style (default) writes an Arrow cache of the rows (paths and metadata, not frames) under
    ``cache_dir``, keyed by a fingerprint of the folder so edits are picked up; ``streaming=True``
    reads the folder lazily. Both give the same rows in the same order. Unreadable or missing
    clips are skipped with a logged warning. Only the ``"train"`` split exists. A shard store is
    streamed from its tars (`build_shard_stream`). `data_dir` may also name a Hub dataset (``hf://datasets/<repo>``
    or a repo id) or a shard store at an fsspec URL: see `vito_hf.data.store_location`.
    """
    if split != "train":
        raise ValueError(f"split={split!r}: a clip folder has a single 'train' split.")
    root = locate_store(data_dir)
    if is_url(root) or is_shard_store(root):
        if not streaming:
            raise ValueError(f"{data_dir} is a shard store (WebDataset tars): read it with streaming=True.")
        return build_shard_stream(root)
    rows = clip_rows(root)
    config = VitoClipFolderConfig(name="default", data_dir=str(root.resolve()), num_shards=num_shards, embed_videos=embed_videos)
    builder = VitoClipFolder(
        cache_dir=None if cache_dir is None else os.fspath(cache_dir),
        config_name="default",
        data_dir=str(root.resolve()),
        hash=_fingerprint(root, rows, config),
        num_shards=num_shards,
        embed_videos=embed_videos,
    )
    builder.listed_rows = rows
    if streaming:
        return builder.as_streaming_dataset(split=split)
    builder.download_and_prepare()
    return builder.as_dataset(split=split)
