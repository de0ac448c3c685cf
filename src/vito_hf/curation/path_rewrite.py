"""Rewrite a store written before sources were published relative: no absolute local path left in what a push sends.

Stores of earlier versions kept each manifest entry as written (often an absolute path) in `metadata.jsonl`, the
WebDataset members and `report/rejected.jsonl`, and the classifier's and taxonomy's folders in `report.json`.
A curation rerun fixes a store from its candidates, bookkeeping included; `make_store_paths_relative` fixes what
a push sends without them: every absolute local path in the store's text files and WebDataset `.json` members
becomes its path relative to `root` (default: the folder that holds every recorded source) or, outside `root`,
its last component. The bookkeeping (`state/`, `shards/`) is never published and keeps the paths a rerun
matches its candidates by; a later `merge` writes the store from it again (run the command again after it).
Each file is rewritten under a temporary name and renamed; files without such a path are left as they are.
`dataset_scripts/curate_videonet.py relativize` is the command.
"""

from __future__ import annotations

import json
import os
import posixpath
import tarfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .. import clip_store
from ..atomic_files import write_bytes_atomic, write_json_atomic, write_jsonl_atomic
from ..published_paths import TEXT_SUFFIXES, absolute_paths_in, local_path_of, redact_paths
from .report import REPORT_DIR
from .sharding import SHARDS_DIR
from .state import STATE_DIR
from .webdataset_export import write_shard_tar


def _walk(value: Any, change: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        return {key: _walk(item, change) for key, item in value.items()}
    if isinstance(value, list):
        return [_walk(item, change) for item in value]
    return value


def _jsonl_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _recorded_sources(store: Path) -> Iterable[str]:
    for name in (clip_store.METADATA_FILE, f"{REPORT_DIR}/rejected.jsonl"):
        if (store / name).is_file():
            yield from (str(row.get("source") or "") for row in _jsonl_rows(store / name))


def default_root(store: str | os.PathLike) -> str | None:
    """The deepest folder holding every absolute source the store records (None when it records none)."""
    folders = [posixpath.dirname(local) for source in _recorded_sources(Path(store))
               if (local := local_path_of(source)) is not None]
    return posixpath.commonpath(folders) if folders else None


def _rewrite_tar(path: Path, change: Callable[[str], str]) -> bool:
    """Rewrite the text members of one shard (the clips' bytes unchanged); whether anything changed."""
    samples: dict[str, dict[str, bytes]] = {}
    changed = False
    with tarfile.open(path, mode="r:") as tar:
        for member in tar:
            if not member.isreg():
                continue
            key, _, field = member.name.partition(".")
            data = tar.extractfile(member).read()
            if member.name.lower().endswith(TEXT_SUFFIXES) and absolute_paths_in(data.decode("utf-8", "replace")):
                row = _walk(json.loads(data), change)
                data = json.dumps(row, ensure_ascii=False, sort_keys=True).encode("utf-8")
                changed = True
            samples.setdefault(key, {})[field] = data
    if changed:
        write_shard_tar(path, [
            (key, fields[clip_store.SHARD_VIDEO_FIELD], fields[clip_store.SHARD_METADATA_FIELD])
            for key, fields in samples.items()
        ])
    return changed


def make_store_paths_relative(store: str | os.PathLike, root: str | os.PathLike | None = None) -> dict[str, Any]:
    """Rewrite every absolute local path in the store at `store` (see the module docstring); returns
    `{"root": the root used, "rewritten": [the files changed]}`."""
    store = Path(store)
    root = os.fspath(root) if root is not None else default_root(store)
    known = {str(store.resolve()): "."}

    def change(text: str) -> str:
        return redact_paths(text, known, root=root)

    rewritten: list[str] = []
    for path in sorted(p for p in store.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES):
        name = path.relative_to(store).as_posix()
        if name.startswith((f"{STATE_DIR}/", f"{SHARDS_DIR}/")) or any(part.startswith(".") for part in name.split("/")):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if not absolute_paths_in(text):
            continue
        if path.suffix == ".jsonl":
            write_jsonl_atomic(path, [_walk(row, change) for row in _jsonl_rows(path)])
        elif path.suffix == ".json":
            write_json_atomic(path, _walk(json.loads(text), change))
        else:
            write_bytes_atomic(path, change(text).encode("utf-8"))
        rewritten.append(name)
    if clip_store.is_shard_store(store):
        index = clip_store.read_shard_index(store)
        for shard in index["shards"]:
            if _rewrite_tar(store / shard["file"], change):
                shard["bytes"] = (store / shard["file"]).stat().st_size
                rewritten.append(shard["file"])
        index["bytes"] = sum(shard["bytes"] for shard in index["shards"])
        write_json_atomic(store / clip_store.SHARD_INDEX_FILE, index)
    return {"root": root, "rewritten": rewritten}
