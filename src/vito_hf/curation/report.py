"""The curation report and dataset card: what each stage passed, per class, against the target distribution.

Written to `<dataset>/report/`: `report.json` (counts and pass rates per stage
and per class, rejection reasons, distance to the target distribution, the work
the last run did), `rejected.jsonl` (every rejected candidate with stage and
reason) and `class_histogram.png` (kept clips per class against the target).
Everything is computed from the per-video records, so a merged sharded run
reports exactly what one run would; no absolute local path is published (a local classifier or taxonomy is
named by its last component). The dataset card (`README.md`) summarises the report under a
Hub-ready YAML header whose `configs` entry lists `metadata.jsonl` and the clips (or, for a shard store, the
tars) as the train split and whose `dataset_info` declares the features (`label` a `ClassLabel`), so
`load_dataset(<folder or Hub repo>)` reads the rows typed, without vito_hf; its snippets are what a test runs.
The licence is a Hub licence id, `other` with a name and link, or `unknown` (the default).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from huggingface_hub import DatasetCard, DatasetCardData

from ..atomic_files import write_bytes_atomic, write_json_atomic, write_jsonl_atomic
from ..clip_store import (
    DATA_FILES,
    SHARD_DATA_FILES,
    SHARD_DIR,
    SHARD_INDEX_FILE,
    SHARD_METADATA_FIELD,
    SHARD_VIDEO_FIELD,
    hub_features,
    hub_repo_id,
    hub_shard_features,
    is_shard_store,
    label_names,
    read_shard_index,
)
from ..published_paths import redact_paths
from .records import PER_VIDEO_STAGES, STAGES, VideoRecord, check_license
from .taxonomy import Taxonomy

REPORT_DIR = "report"


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


def stage_counts(records: Sequence[VideoRecord]) -> list[dict[str, object]]:
    """For each stage: how many candidates reached it, passed it, were rejected by it."""
    reached = Counter()
    rejected = Counter()
    for record in records:
        last = STAGES.index(record.stage)
        for stage in STAGES[: last + 1]:
            reached[stage] += 1
        if not record.kept:
            rejected[record.stage] += 1
    rows = []
    for stage in STAGES:
        passed = reached[stage] - rejected[stage]
        rows.append({"stage": stage, "in": reached[stage], "passed": passed, "rejected": rejected[stage],
                     "pass_rate": _rate(passed, reached[stage])})
    return rows


def class_counts(
    records: Sequence[VideoRecord], taxonomy: Taxonomy, shares: Sequence[float]
) -> list[dict[str, object]]:
    """Per class: candidates whose title matched it, cut by the cap, queried, passing each stage, kept."""
    counts = [Counter() for _ in taxonomy]
    for record in records:
        for index in record.capped_classes:
            counts[index]["matched"] += 1
            counts[index]["capped"] += 1
        if record.stage in ("candidates", "match", "cap"):
            continue
        last = STAGES.index(record.stage)
        per_class = (record.classifier or {}).get("per_class", {})
        for index in record.queried_classes:
            c = counts[index]
            c["matched"] += 1
            c["queried"] += 1
            for stage in ("probe", "length"):
                c[f"{stage}_passed"] += last > STAGES.index(stage)
            if last > STAGES.index("classifier"):
                hits = per_class.get(str(index), {}).get("hits")
                c["classifier_passed"] += hits is None or hits > 0
        if record.kept:
            counts[int(record.class_index)]["kept"] += 1
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
    records: Sequence[VideoRecord],
    taxonomy: Taxonomy,
    settings: Mapping[str, object],
    runs: Sequence[Mapping[str, object]],
    target: Mapping[str, float] | None = None,
) -> dict[str, object]:
    shares = target_shares(taxonomy, target)
    classes = class_counts(records, taxonomy, shares)
    kept = sum(1 for r in records if r.kept)
    reasons: dict[str, Counter] = {}
    for record in records:
        if not record.kept:
            reasons.setdefault(record.stage, Counter())[str(record.reason_code)] += 1
    executed = Counter()
    for run in runs:
        executed.update(run.get("executed", {}))
    return public_values({
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
        # The sentencepiece model that split hashtags and run-together words for matching (None: not used).
        "title_segmenter": next((run["title_segmenter"] for run in runs if run.get("title_segmenter")), None),
        "last_run": {
            "executed": {stage: executed.get(stage, 0) for stage in PER_VIDEO_STAGES},
            "reused": sum(int(run.get("reused", 0)) for run in runs),
            "shards": list(runs),
        },
    })


def public_values(value: Any) -> Any:
    """`value` (JSON-like) with every absolute local path in its strings replaced by its last component: the
    report is published, the classifier's and taxonomy's folders on the curator's machine are not."""
    if isinstance(value, str):
        return redact_paths(value)
    if isinstance(value, Mapping):
        return {key: public_values(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [public_values(item) for item in value]
    return value


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


def write_report(output_dir: Path, report: Mapping[str, object], records: Sequence[VideoRecord]) -> Path:
    """Write report.json, rejected.jsonl and class_histogram.png under `output_dir/report/`."""
    folder = Path(output_dir) / REPORT_DIR
    rejected = sorted((r.rejection_row() for r in records if not r.kept), key=lambda row: row["video_id"])
    write_jsonl_atomic(folder / "rejected.jsonl", rejected)
    plot_class_histogram(report, folder / "class_histogram.png")
    write_json_atomic(folder / "report.json", report)
    return folder


def size_category(n: int) -> str:
    """The Hub's size_categories bucket for n examples."""
    for bound, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                        (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")):
        if n < bound:
            return name
    return "10M<n<100M"


def _table(rows: list[list[object]], header: list[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _shown(name: str) -> str:
    """A local path by its last component (a card should not publish the curator's folders)."""
    return Path(name).name if Path(name).is_absolute() else name


def _percent(rate: float | None) -> str:
    return "–" if rate is None else f"{100 * rate:.1f}%"


def class_label_names(report: Mapping[str, object]) -> list[str]:
    """The `label` names of the report's classes, by index (the `ClassLabel` of the published rows)."""
    classes = list(report["classes"])
    return label_names([c["name"] for c in classes], [c["id"] for c in classes])


PLACEHOLDER_SOURCE = "path/to/this/folder"
"""What the card's snippets load when the store has no Hub repo yet (the folder, or the repo id once pushed)."""


def _loading(shard_form: bool, source: str) -> str:
    if shard_form:
        return f"""```python
import datasets

ds = datasets.load_dataset("{source}", split="train", streaming=True)  # WebDataset: __key__, mp4, json
ds = ds.cast_column("mp4", datasets.Video(decode=False))  # bytes for PyAV; decode=True needs torchcodec
features = datasets.Features({{"video": ds.features["mp4"], **ds.features["json"]}})
ds = ds.map(lambda sample: {{"video": sample["mp4"], **sample["json"]}},
            remove_columns=["__key__", "mp4", "json"], features=features)  # the loose store's row
row = next(iter(ds))
print(features["label"].int2str(row["label"]), row["duration"])
```

With vito_hf, for pretraining (frames decoded on access, tars split over processes and workers):

```python
from vito_hf.data import build_clip_dataset
ds = build_clip_dataset("{PLACEHOLDER_SOURCE}", streaming=True)  # a shard store is read as a stream
```"""
    return f"""```python
import datasets

ds = datasets.load_dataset("{source}", split="train")
ds = ds.cast_column("video", datasets.Video(decode=False))  # paths for PyAV; decode=True needs torchcodec
row = ds[0]
print(ds.features["label"].int2str(row["label"]), row["duration"])
```

With vito_hf, for pretraining (frames decoded on access):

```python
from vito_hf.data import build_clip_dataset
ds = build_clip_dataset("{PLACEHOLDER_SOURCE}")
```"""


def render_card(
    report: Mapping[str, object], *, pretty_name: str, license: str = "unknown", license_name: str | None = None,
    license_link: str | None = None, shard_index: Mapping[str, object] | None = None, repo_id: str | None = None,
) -> str:
    """The dataset card of a store: the folder form, or with `shard_index` the WebDataset-shard form (its
    `configs`, features and snippets). `repo_id`: the Hub repo the snippets load (else the folder)."""
    check_license(license, license_name, license_link)
    settings = report["settings"]
    totals = report["totals"]
    names = class_label_names(report)
    if shard_index is None:
        features = hub_features(names)._to_yaml_list()
        config = {"config_name": "default", "data_files": [{"split": "train", "path": DATA_FILES}], "features": features}
    else:  # datasets' webdataset builder takes its features from dataset_info, not from the config
        features = hub_shard_features(names)._to_yaml_list()
        config = {"config_name": "default", "data_files": [{"split": "train", "path": SHARD_DATA_FILES}]}
    data = DatasetCardData(
        license=license,
        license_name=license_name,
        license_link=license_link,
        task_categories=["video-classification", "image-feature-extraction"],
        size_categories=[size_category(int(totals["kept"]))],
        pretty_name=pretty_name,
        tags=["video", "self-supervised", "vito", "videonet"],
        configs=[config],
        dataset_info={"features": features},
    )
    stages = _table(
        [[s["stage"], s["in"], s["passed"], s["rejected"], _percent(s["pass_rate"])] for s in report["stages"]],
        ["stage", "in", "passed", "rejected", "pass rate"],
    )
    top = sorted((c for c in report["classes"] if c["kept"]), key=lambda c: (-c["kept"], c["index"]))[:20]
    classes = _table([[c["name"], c["id"], c["queried"], c["kept"], _percent(c["pass_rate"])] for c in top],
                     ["class", "id", "queried", "kept", "pass rate"])
    classifier = _shown(settings["classifier"]) if settings["classifier"] else "none (filter skipped)"
    taxonomy = _shown(report["taxonomy"]["source"])
    cap = "no cap on videos" if settings["per_class_cap"] is None else f"at most {settings['per_class_cap']} videos"
    codec = {"mjpeg": "MJPEG (every frame a keyframe: cheapest random access; browsers do not play it)",
             "libx264": "all-intra H.264 (every frame a keyframe)"}[settings["codec"]]
    size = "original size" if settings["short_side"] is None else f"short side at most {settings['short_side']} px"
    tvd = report["target"]["total_variation_distance"]
    segmenter = report.get("title_segmenter")
    segmented = (f", also inside hashtags and run-together words (split by the sentencepiece model "
                 f"`{segmenter['model']}`)" if segmenter else "")
    columns = """`video_id`, `label` (a `ClassLabel` of the class names; a name two classes share is followed by the
class id), `class_index`, `class_id`, `title`, `source` (the video's path relative to the candidates' folder or
manifest, or its URL), `duration` (s), `fps`, `num_frames`, `width`, `height`, `classifier_hits` (frames where
the class was top-1), `classifier_best_score` (its best probability)"""
    if shard_index is None:
        layout = f"""`clips/<class id>/<video id>.mp4` and `metadata.jsonl`, one row per clip: `file_name` (the clip, which
`load_dataset` turns into the `video` column), {columns}."""
    else:
        layout = f"""{shard_index['clips']:,} clips in {len(shard_index['shards'])} tar shards of WebDataset
({shard_index['bytes'] / 1e9:.2f} GB) under `{SHARD_DIR}/`: per clip `<key>.{SHARD_VIDEO_FIELD}` (the clip) and
`<key>.{SHARD_METADATA_FIELD}` (its row: `file_name`, the clip's path in the curated folder, and {columns}).
`{SHARD_INDEX_FILE}` lists the clips per shard and per class; `metadata.jsonl` holds every row."""
    statement = {"unknown": " (`unknown`: none was given; choose one with `--license`)",
                 "other": f" ([{license_name}]({license_link}))"}.get(license, "")
    body = f"""
# {pretty_name}

Video clips curated the way VITO's VideoNet was (Parthasarathy et al., *Self-supervised video
pretraining yields robust and more human-aligned visual representations*, NeurIPS 2023), with
`vito_hf.curation`: {totals['kept']} clips kept of {totals['candidates']} candidates
({_percent(totals['pass_rate'])}), in {report['target']['classes_with_clips']} of
{report['taxonomy']['num_classes']} classes.

## How it was made

1. Title matching against {report['taxonomy']['num_classes']} class names and synonyms
   (taxonomy `{taxonomy}`){segmented}, {cap} per class query.
2. Probe and length filter: videos shorter than {settings['min_duration']} s dropped.
3. Classifier filter: `{classifier}` on the first {settings['num_frames']} frames; a video is kept
   for a queried class that is the top-1 prediction on at least one frame.
4. Export: the first {settings['clip_duration']} s at {settings['fps']} fps, {size},
   {codec}.

{stages}

Distance of the class histogram to the target distribution ({report['target']['distribution']}):
total variation {tvd if tvd is not None else 'n/a'}; see `report/class_histogram.png`. Every rejected
candidate is listed with its reason in `report/rejected.jsonl`; counts per class are in
`report/report.json`.

## Largest classes

{classes}

## Layout and columns

{layout}

## Loading

{_loading(shard_index is not None, repo_id or PLACEHOLDER_SOURCE)}

## Licence

The clips are excerpts of third-party videos and keep their sources' terms (`source` column);
the card's `license: {license}` is the curator's statement about this collection{statement}.
"""
    return DatasetCard(f"---\n{data.to_yaml()}\n---\n{body}").content


def write_card(output_dir: Path, report: Mapping[str, object], *, pretty_name: str, **card: Any) -> Path:
    """Write the store's `README.md` (`card`: `render_card`'s licence and form options)."""
    path = Path(output_dir) / "README.md"
    write_bytes_atomic(path, render_card(report, pretty_name=pretty_name, **card).encode())
    return path


def rewrite_card(output_dir: str | Path) -> Path | None:
    """Render the store's card again from its report, keeping the card's name and licence: for the form the store
    has now (a shard index: the shard form) and the Hub repo it records. A store without a card or report keeps
    what it has (returns None)."""
    output_dir = Path(output_dir)
    path = output_dir / "README.md"
    report_path = output_dir / REPORT_DIR / "report.json"
    if not path.is_file() or not report_path.is_file():
        return None
    data = DatasetCard(path.read_text(encoding="utf-8")).data
    report = json.loads(report_path.read_text(encoding="utf-8"))
    index = read_shard_index(output_dir) if is_shard_store(output_dir) else None
    return write_card(
        output_dir, report, pretty_name=data.get("pretty_name") or output_dir.name,
        license=data.get("license") or "unknown", license_name=data.get("license_name"),
        license_link=data.get("license_link"), shard_index=index, repo_id=hub_repo_id(output_dir),
    )
