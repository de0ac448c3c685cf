"""Pack a clip store into WebDataset shards (the shard form of `vito_hf.clip_store`), with an index and the card.

A million loose MP4 files overwhelm a Hub repository (about 100 k files) and a shared filesystem; tar shards of
about 1 GB are read sequentially and uploaded one at a time. Clips are packed in a seeded random order, so every
shard mixes classes (a stream shuffles within a buffer, and clip order by class would give one-class batches).
Each shard is written under a temporary name and renamed; the index comes last and marks the form complete;
shards left from an earlier packing that the new index does not list are removed. The same store packed with
the same settings gives byte-identical shards (fixed member times and owners).
"""

from __future__ import annotations

import json
import logging
import os
import random
from collections import Counter
from pathlib import Path
from typing import Any

from .. import clip_store
from ..atomic_files import atomic_path, write_bytes_atomic, write_json_atomic
from .report import REPORT_DIR, rewrite_card

logger = logging.getLogger(__name__)

_TAR_BLOCK = 512


def _tar_size(payload: int) -> int:
    """Bytes a member of `payload` bytes takes in a tar: a header block plus the data padded to blocks."""
    return _TAR_BLOCK + -(-payload // _TAR_BLOCK) * _TAR_BLOCK


def plan_shards(sizes: list[int], shard_bytes: int, shard_clips: int | None = None) -> list[list[int]]:
    """Consecutive runs of clip positions, each shard closed before it would pass `shard_bytes` (a clip larger
    than that gets a shard of its own) or hold more than `shard_clips` clips."""
    shards: list[list[int]] = []
    current: list[int] = []
    used = 0
    for position, size in enumerate(sizes):
        if current and (used + size > shard_bytes or (shard_clips is not None and len(current) >= shard_clips)):
            shards.append(current)
            current, used = [], 0
        current.append(position)
        used += size
    if current:
        shards.append(current)
    return shards


def _metadata(row: dict[str, Any]) -> bytes:
    return json.dumps({c: row.get(c) for c in clip_store.COLUMNS}, ensure_ascii=False, sort_keys=True).encode("utf-8")


def _class_id(row: dict[str, Any]) -> str:
    return str(row.get("class_id") or "")


def write_shard_tar(path: Path, samples: list[tuple[str, bytes, bytes]]) -> None:
    """One tar of (key, mp4 bytes, json bytes) samples, under a temporary name, fsynced, then renamed."""
    TarWriter = clip_store.require_webdataset().TarWriter
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        # an integer mtime: a float one gives every member a pax header, two more headers per clip to read
        writer = TarWriter(handle, encoder=False, mtime=0, user="vito", group="vito", mode=0o444)
        for key, video, metadata in samples:
            writer.write({"__key__": key, clip_store.SHARD_VIDEO_FIELD: video, clip_store.SHARD_METADATA_FIELD: metadata})
        writer.close()
        handle.flush()
        os.fsync(handle.fileno())


def _copy_store_files(source: Path, output: Path) -> None:
    """The card, report, version file and metadata table of a store converted into another folder."""
    names = [clip_store.STORE_FILE, clip_store.METADATA_FILE, "README.md"]
    names += [p.relative_to(source).as_posix() for p in sorted((source / REPORT_DIR).rglob("*")) if p.is_file()]
    for name in names:
        if (source / name).is_file():
            write_bytes_atomic(output / name, (source / name).read_bytes())


def write_shard_store(
    store: str | os.PathLike,
    output_dir: str | os.PathLike | None = None,
    *,
    shard_bytes: int = clip_store.DEFAULT_SHARD_BYTES,
    shard_clips: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Pack the clips of `store` (a clip store or a folder of videos) into shards under `output_dir` (default: the
    store itself); returns the index. Unreadable or missing clips are skipped with a warning each."""
    from ..data.builder import clip_rows

    if shard_bytes < 1 or (shard_clips is not None and shard_clips < 1):
        raise ValueError(f"shard_bytes={shard_bytes} and shard_clips={shard_clips} must be positive.")
    store = Path(store)
    output = Path(output_dir) if output_dir is not None else store
    rows = clip_rows(store)
    random.Random(seed).shuffle(rows)
    sizes = [_tar_size((store / row["file_name"]).stat().st_size) + _tar_size(len(_metadata(row))) for row in rows]
    plan = plan_shards(sizes, shard_bytes, shard_clips)
    output.mkdir(parents=True, exist_ok=True)
    (output / clip_store.SHARD_DIR).mkdir(exist_ok=True)
    if output.resolve() != store.resolve():
        _copy_store_files(store, output)
    entries = []
    for shard, positions in enumerate(plan):
        samples = []
        for position in positions:
            row = rows[position]
            samples.append((clip_store.sample_key(position), (store / row["file_name"]).read_bytes(), _metadata(row)))
        name = clip_store.shard_file_name(shard)
        write_shard_tar(output / name, samples)
        classes = Counter(_class_id(rows[p]) for p in positions)
        entries.append({"file": name, "clips": len(positions), "bytes": (output / name).stat().st_size,
                        "classes": dict(sorted(classes.items()))})
        logger.info("wrote %s (%d clips)", name, len(positions))
    index = {
        "format_version": clip_store.SHARD_FORMAT_VERSION,
        "clips": len(rows),
        "bytes": sum(entry["bytes"] for entry in entries),
        "seed": seed,
        "shard_bytes": shard_bytes,
        "shard_clips": shard_clips,
        "classes": dict(sorted(Counter(_class_id(row) for row in rows).items())),
        "shards": entries,
    }
    write_json_atomic(output / clip_store.SHARD_INDEX_FILE, index)
    listed = {entry["file"] for entry in entries}
    for stale in (output / clip_store.SHARD_DIR).glob("clips-*.tar"):
        if f"{clip_store.SHARD_DIR}/{stale.name}" not in listed:
            stale.unlink()
    rewrite_card(output)
    return index


def refresh_shard_store(store: str | os.PathLike, shard_bytes: int | None = None) -> dict[str, Any] | None:
    """After curation wrote `store`: pack it in shards of `shard_bytes`, or, if it was packed before, repack it
    with the sizes its index records, so its shards never fall behind its clips. Returns the index, if any."""
    store = Path(store)
    if shard_bytes is not None:
        return write_shard_store(store, shard_bytes=shard_bytes)
    if not clip_store.is_shard_store(store):
        return None
    index = json.loads((store / clip_store.SHARD_INDEX_FILE).read_text(encoding="utf-8"))
    return write_shard_store(
        store, shard_bytes=int(index.get("shard_bytes") or clip_store.DEFAULT_SHARD_BYTES),
        shard_clips=index.get("shard_clips"), seed=int(index.get("seed", 0)),
    )
