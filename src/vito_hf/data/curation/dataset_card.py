"""The dataset card (README.md) of a curated clip folder, with a Hub-ready YAML header.

The header's `configs` entry lists `metadata.jsonl` and the clips as the train
split, so `load_dataset(<folder or Hub repo>)` and
`load_dataset("videofolder", data_dir=<folder>)` read the clips with their
metadata columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from huggingface_hub import DatasetCard, DatasetCardData

from .state import write_bytes_atomic

DATA_FILES = ["metadata.jsonl", "clips/**/*.mp4"]


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


def render_card(report: Mapping[str, object], *, pretty_name: str, license: str = "other") -> str:
    settings = report["settings"]
    totals = report["totals"]
    data = DatasetCardData(
        license=license,
        task_categories=["video-classification", "image-feature-extraction"],
        size_categories=[size_category(int(totals["kept"]))],
        pretty_name=pretty_name,
        tags=["video", "self-supervised", "vito", "videonet"],
        configs=[{"config_name": "default", "data_files": [{"split": "train", "path": DATA_FILES}]}],
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
    body = f"""
# {pretty_name}

Video clips curated the way VITO's VideoNet was (Parthasarathy et al., *Self-supervised video
pretraining yields robust and more human-aligned visual representations*, NeurIPS 2023), with
`vito_hf.data.curation`: {totals['kept']} clips kept of {totals['candidates']} candidates
({_percent(totals['pass_rate'])}), in {report['target']['classes_with_clips']} of
{report['taxonomy']['num_classes']} classes.

## How it was made

1. Title matching against {report['taxonomy']['num_classes']} class names and synonyms
   (taxonomy `{taxonomy}`), {cap} per class query.
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

`clips/<class id>/<video id>.mp4` and `metadata.jsonl`, one row per clip: `file_name`, `video_id`,
`label` (class name), `class_index`, `class_id`, `title`, `source`, `duration` (s), `fps`,
`num_frames`, `width`, `height`, `classifier_hits` (frames where the class was top-1),
`classifier_best_score` (its best probability).

## Loading

```python
import datasets
ds = datasets.load_dataset("videofolder", data_dir="path/to/this/folder", split="train")
ds = ds.cast_column("video", datasets.Video(decode=False))  # decode with PyAV: torchcodec is optional

from vito_hf.data import build_clip_dataset
ds = build_clip_dataset("path/to/this/folder")  # frames decoded on access, for VITO pretraining
```

## Licence

The clips are excerpts of third-party videos and keep their sources' terms (`source` column);
the card's `license: {license}` is the curator's statement about this collection.
"""
    return DatasetCard(f"---\n{data.to_yaml()}\n---\n{body}").content


def write_card(output_dir: Path, report: Mapping[str, object], *, pretty_name: str, license: str = "other") -> Path:
    path = Path(output_dir) / "README.md"
    write_bytes_atomic(path, render_card(report, pretty_name=pretty_name, license=license).encode())
    return path
