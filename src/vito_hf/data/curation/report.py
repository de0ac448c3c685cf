"""The curation report: what each stage passed, per class, against the target class distribution.

Written to `<dataset>/report/`: `report.json` (counts and pass rates per stage
and per class, rejection reasons, distance to the target distribution, the work
the last run did), `rejected.jsonl` (every rejected candidate with stage and
reason) and `class_histogram.png` (kept clips per class against the target).
Everything is computed from the per-video records, so a merged sharded run
reports exactly what one run would.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from .records import STAGES, rejection_row
from .state import write_bytes_atomic, write_json_atomic, write_jsonl_atomic
from .taxonomy import Taxonomy

REPORT_DIR = "report"
PER_VIDEO_STAGES = ("probe", "length", "classifier", "export")


def target_shares(taxonomy: Taxonomy, target: Mapping[str, float] | None) -> list[float]:
    """Share of each class in the target distribution: uniform (ImageNet-like) unless given by class id."""
    if target is None:
        return [1.0 / len(taxonomy)] * len(taxonomy)
    unknown = sorted(set(target) - {c.id for c in taxonomy})
    if unknown:
        raise ValueError(f"target distribution names unknown class ids {unknown[:5]}; use the taxonomy's ids")
    weights = [max(0.0, float(target.get(c.id, 0.0))) for c in taxonomy]
    total = sum(weights)
    if total <= 0:
        raise ValueError("target distribution has no positive weight")
    return [w / total for w in weights]


def _rate(passed: int, seen: int) -> float | None:
    return round(passed / seen, 6) if seen else None


def stage_counts(records: Sequence[Mapping[str, object]]) -> list[dict[str, object]]:
    """For each stage: how many candidates reached it, passed it, were rejected by it."""
    reached = Counter()
    rejected = Counter()
    for record in records:
        last = STAGES.index(str(record["stage"]))
        for stage in STAGES[: last + 1]:
            reached[stage] += 1
        if record["status"] == "rejected":
            rejected[record["stage"]] += 1
    rows = []
    for stage in STAGES:
        passed = reached[stage] - rejected[stage]
        rows.append({"stage": stage, "in": reached[stage], "passed": passed, "rejected": rejected[stage],
                     "pass_rate": _rate(passed, reached[stage])})
    return rows


def class_counts(
    records: Sequence[Mapping[str, object]], taxonomy: Taxonomy, shares: Sequence[float]
) -> list[dict[str, object]]:
    """Per class: candidates whose title matched it, cut by the cap, queried, passing each stage, kept."""
    counts = [Counter() for _ in taxonomy]
    for record in records:
        for index in record.get("capped_classes") or ():
            counts[index]["matched"] += 1
            counts[index]["capped"] += 1
        if record["stage"] in ("candidates", "match", "cap"):
            continue
        last = STAGES.index(str(record["stage"]))
        per_class = (record.get("classifier") or {}).get("per_class", {})
        for index in record["queried_classes"]:
            c = counts[index]
            c["matched"] += 1
            c["queried"] += 1
            for stage in ("probe", "length"):
                c[f"{stage}_passed"] += last > STAGES.index(stage)
            if last > STAGES.index("classifier"):
                hits = per_class.get(str(index), {}).get("hits")
                c["classifier_passed"] += hits is None or hits > 0
        if record["status"] == "kept":
            counts[int(record["class_index"])]["kept"] += 1
    total_kept = sum(c["kept"] for c in counts)
    rows = []
    for cls, c, share in zip(taxonomy, counts, shares, strict=True):
        rows.append({
            "index": cls.index, "id": cls.id, "name": cls.name,
            "matched": c["matched"], "capped": c["capped"], "queried": c["queried"],
            "probe_passed": c["probe_passed"], "length_passed": c["length_passed"],
            "classifier_passed": c["classifier_passed"], "kept": c["kept"],
            "pass_rate": _rate(c["kept"], c["queried"]),
            "kept_share": round(c["kept"] / total_kept, 6) if total_kept else 0.0,
            "target_share": round(share, 6),
        })
    return rows


def build_report(
    records: Sequence[Mapping[str, object]],
    taxonomy: Taxonomy,
    settings: Mapping[str, object],
    runs: Sequence[Mapping[str, object]],
    target: Mapping[str, float] | None = None,
) -> dict[str, object]:
    shares = target_shares(taxonomy, target)
    classes = class_counts(records, taxonomy, shares)
    kept = sum(1 for r in records if r["status"] == "kept")
    reasons: dict[str, Counter] = {}
    for record in records:
        if record["status"] == "rejected":
            reasons.setdefault(str(record["stage"]), Counter())[str(record["reason_code"])] += 1
    executed = Counter()
    for run in runs:
        executed.update(run.get("executed", {}))
    return {
        "settings": dict(settings),
        "taxonomy": {"source": taxonomy.source, "num_classes": len(taxonomy), "fingerprint": taxonomy.fingerprint()},
        "totals": {"candidates": len(records), "kept": kept, "rejected": len(records) - kept,
                   "pass_rate": _rate(kept, len(records))},
        "stages": stage_counts(records),
        "rejection_reasons": {stage: dict(sorted(c.items())) for stage, c in reasons.items()},
        "target": {
            "distribution": "uniform over classes" if target is None else "given",
            "total_variation_distance": round(0.5 * sum(abs(c["kept_share"] - c["target_share"]) for c in classes), 6)
            if kept else None,
            "classes_with_clips": sum(1 for c in classes if c["kept"]),
        },
        "classes": classes,
        "last_run": {
            "executed": {stage: executed.get(stage, 0) for stage in PER_VIDEO_STAGES},
            "reused": sum(int(run.get("reused", 0)) for run in runs),
            "shards": list(runs),
        },
    }


def plot_class_histogram(report: Mapping[str, object], path: Path) -> None:
    """Kept clips per class (bars) against the target count per class (line), as a PNG."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    classes = list(report["classes"])
    kept_total = report["totals"]["kept"]
    many = len(classes) > 60
    if many:
        classes.sort(key=lambda c: (-c["kept"], c["index"]))
    kept = [c["kept"] for c in classes]
    target = [c["target_share"] * kept_total for c in classes]
    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=100)
    positions = range(len(classes))
    ax.bar(positions, kept, width=1.0 if many else 0.8, color="#4c72b0", label="kept clips")
    ax.plot(positions, target, color="#dd8452", drawstyle="steps-mid", linewidth=2, label="target distribution")
    if many:
        ax.set_xlabel(f"classes, sorted by kept clips ({report['target']['classes_with_clips']} of {len(classes)} have clips)")
        ax.set_xticks([])
    else:
        ax.set_xticks(list(positions), [c["name"] for c in classes], rotation=60, ha="right", fontsize=8)
    tvd = report["target"]["total_variation_distance"]
    ax.set_ylabel("clips")
    ax.set_title(f"{kept_total} clips; total variation distance to target: {tvd if tvd is not None else 'n/a'}")
    ax.legend()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    write_bytes_atomic(path, buffer.getvalue())


def write_report(output_dir: Path, report: Mapping[str, object], records: Sequence[Mapping[str, object]]) -> Path:
    """Write report.json, rejected.jsonl and class_histogram.png under `output_dir/report/`."""
    folder = Path(output_dir) / REPORT_DIR
    rejected = sorted((rejection_row(r) for r in records if r["status"] == "rejected"), key=lambda r: r["video_id"])
    write_jsonl_atomic(folder / "rejected.jsonl", rejected)
    plot_class_histogram(report, folder / "class_histogram.png")
    write_json_atomic(folder / "report.json", report)
    return folder
