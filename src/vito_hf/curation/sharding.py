"""Split a curation across machines, merge their outputs, and write the finished clip store.

A video belongs to shard `sha1(video_id) mod num_shards`: stable across runs,
machines and Python versions. Each shard run writes its records under
`<output>/shards/shard-<i>-of-<n>/`; `merge_shards` reads every shard (from one
shared folder or from several machines' folders), copies clips into the target
folder where needed, and writes the metadata, report and card from all records,
in an order that does not depend on the split: the result equals one unsharded
run's. The store gets `clip_store.json` (its format version), `metadata.jsonl` (the kept clips'
rows, in a fixed order: class index, then video id), `report/` and the dataset card `README.md`.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from .. import clip_store
from ..atomic_files import atomic_path, write_json_atomic, write_jsonl_atomic
from .records import VideoRecord, check_license
from .report import build_report, write_card, write_report
from .segmentation import SEGMENTER_DIR
from .taxonomy import Taxonomy, taxonomy_from_records

SHARDS_DIR = "shards"
_SHARD_NAME = re.compile(r"^shard-(\d+)-of-(\d+)$")


class ShardMergeError(ValueError):
    """The shard outputs cannot be merged (missing, duplicated or made with different settings)."""


def shard_of(video_id: str, num_shards: int) -> int:
    return int.from_bytes(hashlib.sha1(video_id.encode()).digest()[:8], "big") % num_shards


def shard_dir(output_dir: str | Path, shard: int, num_shards: int) -> Path:
    return Path(output_dir) / SHARDS_DIR / f"shard-{shard:05d}-of-{num_shards:05d}"


def remove_other_splits(output_dir: str | Path, num_shards: int) -> None:
    """Drop shard outputs of an earlier split into a different number of shards (their records stay in state/)."""
    for folder in (Path(output_dir) / SHARDS_DIR).glob("shard-*-of-*"):
        found = _SHARD_NAME.match(folder.name)
        if found and int(found.group(2)) != num_shards:
            shutil.rmtree(folder, ignore_errors=True)


def write_shard(
    output_dir: str | Path, shard: int, num_shards: int, records: Sequence[VideoRecord],
    run: Mapping[str, object], taxonomy: Taxonomy,
) -> Path:
    """Save one shard's records and run summary (records first: run.json marks the shard complete)."""
    folder = shard_dir(output_dir, shard, num_shards)
    write_jsonl_atomic(folder / "records.jsonl", [record.to_dict() for record in records])
    classes = [{"id": c.id, "name": c.name, "synonyms": list(c.synonyms)} for c in taxonomy]
    write_json_atomic(folder / "run.json", {**run, "taxonomy": {"source": taxonomy.source, "classes": classes}})
    return folder


def _find_shards(inputs: Sequence[Path]) -> tuple[int, dict[int, tuple[Path, Path, dict]]]:
    found: dict[int, tuple[Path, Path, dict]] = {}
    splits: set[int] = set()
    for root in inputs:
        for folder in sorted((root / SHARDS_DIR).glob("shard-*-of-*")):
            match = _SHARD_NAME.match(folder.name)
            if not match or not (folder / "run.json").is_file():
                continue
            shard, num_shards = int(match.group(1)), int(match.group(2))
            splits.add(num_shards)
            if shard in found and found[shard][1] != folder:
                raise ShardMergeError(f"shard {shard} appears in both {found[shard][1]} and {folder}; keep one")
            found[shard] = (root, folder, json.loads((folder / "run.json").read_text(encoding="utf-8")))
    if not splits:
        raise ShardMergeError(f"no finished shard under {[str(p) for p in inputs]}; run curate(..., shard=i, num_shards=n) first")
    if len(splits) > 1:
        raise ShardMergeError(f"shards of different splits ({sorted(splits)} shards) found; merge one split at a time")
    num_shards = splits.pop()
    missing = sorted(set(range(num_shards)) - set(found))
    if missing:
        raise ShardMergeError(
            f"shards {missing} of {num_shards} have not finished; run curate(..., shard=i, num_shards={num_shards}) "
            "for each of them (or pass the folders holding them), then merge"
        )
    return num_shards, found


def _copy_clip(source: Path, target: Path) -> None:
    if target.is_file() and target.stat().st_size == source.stat().st_size:
        return
    with atomic_path(target, suffix=target.suffix) as tmp:
        shutil.copyfile(source, tmp)


def merge_shards(
    output_dir: str | Path,
    inputs: Sequence[str | Path] | None = None,
    *,
    target_distribution: Mapping[str, float] | None = None,
    pretty_name: str | None = None,
    license: str = "unknown",
    license_name: str | None = None,
    license_link: str | None = None,
) -> dict[str, object]:
    """Merge all shards of a split into `output_dir`'s metadata.jsonl, report and card; returns the report.

    `inputs` are the curation folders holding the shards (default: `output_dir` itself, for
    shards that shared one folder). Clips of shards from other folders are copied in.
    """
    output_dir = Path(output_dir)
    roots = [Path(p) for p in inputs] if inputs else [output_dir]
    num_shards, found = _find_shards(roots)
    runs = [found[i][2] for i in range(num_shards)]
    settings = runs[0]["settings"]
    for i, run in enumerate(runs):
        if run["settings"] != settings or run["taxonomy"] != runs[0]["taxonomy"]:
            raise ShardMergeError(f"shard {i} was curated with other settings or classes than shard 0; rerun it with the same ones")
    taxonomy = taxonomy_from_records(runs[0]["taxonomy"]["classes"], source=runs[0]["taxonomy"]["source"])
    records = []
    for i in range(num_shards):
        root, folder, _ = found[i]
        with open(folder / "records.jsonl", encoding="utf-8") as f:
            shard_records = [VideoRecord.from_dict(json.loads(line)) for line in f if line.strip()]
        if root.resolve() != output_dir.resolve():
            for record in shard_records:
                if record.kept:
                    name = record.row["file_name"]
                    _copy_clip(root / name, output_dir / name)
        records.extend(shard_records)
    segmenter = output_dir / SEGMENTER_DIR
    for root in roots:  # the title-segmentation model the report names (every shard trained the same one)
        if not segmenter.is_dir() and (root / SEGMENTER_DIR).is_dir():
            shutil.copytree(root / SEGMENTER_DIR, segmenter)
    summaries = [{k: v for k, v in run.items() if k not in ("settings", "taxonomy")} for run in runs]
    return write_dataset(
        output_dir, records, taxonomy, settings, summaries,
        target_distribution=target_distribution, pretty_name=pretty_name, license=license,
        license_name=license_name, license_link=license_link,
    )


def metadata_rows(records: Sequence[VideoRecord], taxonomy: Taxonomy | None = None) -> list[dict[str, object]]:
    """The kept clips' rows, in a fixed order (class index, then video id) whatever the run layout; with the
    `taxonomy`, `label` is the class's `ClassLabel` name (`clip_store.label_names`)."""
    rows = sorted((record.row for record in records if record.kept), key=lambda row: (row["class_index"], row["video_id"]))
    rows = [{column: row.get(column) for column in clip_store.COLUMNS} for row in rows]
    if taxonomy is not None:
        names = clip_store.label_names([c.name for c in taxonomy], [c.id for c in taxonomy])
        for row in rows:
            row["label"] = names[int(row["class_index"])]
    return rows


def write_dataset(
    output_dir: str | Path,
    records: Sequence[VideoRecord],
    taxonomy: Taxonomy,
    settings: Mapping[str, object],
    runs: Sequence[Mapping[str, object]],
    *,
    target_distribution: Mapping[str, float] | None = None,
    pretty_name: str | None = None,
    license: str = "unknown",
    license_name: str | None = None,
    license_link: str | None = None,
) -> dict[str, object]:
    """Write the store's version file, metadata.jsonl, report/ and README.md from all records; returns the report.
    The Hub repo the store was pushed to, if any, stays recorded (and the card's snippets load it)."""
    output_dir = Path(output_dir)
    check_license(license, license_name, license_link)
    write_json_atomic(output_dir / clip_store.STORE_FILE, clip_store.store_info(output_dir))
    write_jsonl_atomic(output_dir / clip_store.METADATA_FILE, metadata_rows(records, taxonomy))
    report = build_report(records, taxonomy, settings, runs, target_distribution)
    write_report(output_dir, report, records)
    write_card(
        output_dir, report, pretty_name=pretty_name or f"{output_dir.name} (VideoNet-style clips)", license=license,
        license_name=license_name, license_link=license_link, repo_id=clip_store.hub_repo_id(output_dir),
    )
    return report
