"""Write the finished dataset folder: metadata.jsonl, the report and the dataset card."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from .dataset_card import write_card
from .records import METADATA_COLUMNS
from .report import build_report, write_report
from .state import write_jsonl_atomic
from .taxonomy import Taxonomy

METADATA_FILE = "metadata.jsonl"


def metadata_rows(records: Sequence[Mapping[str, object]]) -> list[dict[str, object]]:
    """The kept clips' rows, in a fixed order (class index, then video id) whatever the run layout."""
    rows = [dict(r["row"]) for r in records if r["status"] == "kept"]
    rows.sort(key=lambda row: (row["class_index"], row["video_id"]))
    return [{column: row.get(column) for column in METADATA_COLUMNS} for row in rows]


def write_dataset(
    output_dir: str | Path,
    records: Sequence[Mapping[str, object]],
    taxonomy: Taxonomy,
    settings: Mapping[str, object],
    runs: Sequence[Mapping[str, object]],
    *,
    target_distribution: Mapping[str, float] | None = None,
    pretty_name: str | None = None,
    license: str = "other",
) -> dict[str, object]:
    """Write metadata.jsonl, report/ and README.md from all records; returns the report."""
    output_dir = Path(output_dir)
    write_jsonl_atomic(output_dir / METADATA_FILE, metadata_rows(records))
    report = build_report(records, taxonomy, settings, runs, target_distribution)
    write_report(output_dir, report, records)
    write_card(output_dir, report, pretty_name=pretty_name or f"{output_dir.name} (VideoNet-style clips)", license=license)
    return report
