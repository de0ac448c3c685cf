"""The per-video outcome record that every stage writes and the report reads.

A record says where the video ended (`stage`: the stage that rejected it, or
"export" when kept), why (`reason`, and a short `reason_code` to count by), which
class queries it answered, and, when kept, its metadata row.
"""

from __future__ import annotations

from .candidates import Candidate

STAGES = ("candidates", "match", "cap", "probe", "length", "classifier", "export")
"""Stage order. probe and length come before the classifier: both filters are pure, so their
order does not change what is kept, and the cheap ones first spare the classifier's work."""

METADATA_COLUMNS = (
    "file_name", "video_id", "label", "class_index", "class_id", "title", "source",
    "duration", "fps", "num_frames", "width", "height", "classifier_hits", "classifier_best_score",
)


def new_record(
    candidate: Candidate, queried: tuple[int, ...] = (), capped: tuple[int, ...] = ()
) -> dict[str, object]:
    """A fresh record; `queried` are the class queries it answers, `capped` those the cap cut it from."""
    return {
        "video_id": candidate.video_id,
        "source": candidate.source,
        "title": candidate.title,
        "queried_classes": list(queried),
        "capped_classes": list(capped),
        "status": "rejected",
        "stage": STAGES[0],
        "reason": None,
        "reason_code": None,
        "class_index": None,
        "probe": None,
        "classifier": None,
        "row": None,
        "executed": [],
    }


def reject(record: dict[str, object], stage: str, code: str, reason: str) -> dict[str, object]:
    record.update(status="rejected", stage=stage, reason_code=code, reason=reason)
    return record


def rejection_row(record: dict[str, object]) -> dict[str, object]:
    """The line of report/rejected.jsonl for a rejected record."""
    return {k: record[k] for k in ("video_id", "source", "title", "stage", "reason_code", "reason")}
