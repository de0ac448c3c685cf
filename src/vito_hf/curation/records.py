"""What flows through curation: the settings of a run and the typed per-video record.

`CurationSettings` holds everything `curate` is told; its outcome-deciding part (`pinned`) is saved
in the output folder so reruns stay consistent. A `VideoRecord` says where a video ended (`stage`:
the stage that rejected it, or "export" when kept), why (`reason`, and a short `reason_code` to count
by), which class queries it answered, and, when kept, its metadata row (the clip store's columns).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from .candidates import Candidate
from .clip_export import SUPPORTED_CODECS
from .taxonomy import Taxonomy

STAGES = ("candidates", "match", "cap", "crash", "probe", "length", "classifier", "export")
"""Stage order. probe and length come before the classifier: both filters are pure, so their
order does not change what is kept, and the cheap ones first spare the classifier's work. "crash" sets
aside, before the per-video stages judge it, a video whose processing killed its worker process twice
(`inflight`): it is counted as reaching no per-video stage, and the report has a "crash" line when any did."""

PER_VIDEO_STAGES = ("probe", "length", "classifier", "export")
"""The stages that run per video in worker processes (the others run over the whole candidate list)."""

EXECUTORS = ("local", "ray")

DEFAULT_CLASSIFIER = "microsoft/resnet-50"
"""The paper filters with an ImageNet ResNet-50; this is transformers' port of the v1.5 one."""

OUTCOME_FIELDS = (
    "taxonomy", "classifier", "num_frames", "min_duration", "clip_duration", "fps", "short_side", "codec",
    "per_class_cap", "match_tags", "match_segments",
)


def check_license(license: str, license_name: str | None = None, license_link: str | None = None) -> None:
    """The card's licence must be one the Hub understands: `other` only with a `license_name` and a
    `license_link` (the Hub's rule), a name and link only with `other`."""
    if license == "other" and not (license_name and license_link):
        raise ValueError(
            "license='other' needs license_name and license_link (the licence's short name and a URL of its text); "
            "or pick a Hub licence id, or 'unknown' (the default: the clips keep their sources' terms)."
        )
    if license != "other" and (license_name or license_link):
        raise ValueError(f"license_name and license_link go with license='other', not license={license!r}.")


@dataclass(frozen=True)
class CurationSettings:
    """How `curate` runs. Three groups:

    What is kept and how clips look (pinned in `state/settings.json`: a rerun with other values is
    refused): `taxonomy` (a class-list file, a `Taxonomy`, or None for ImageNet-1k), `classifier` (an
    `AutoModelForImageClassification` folder or Hub id; None skips the classifier filter), the first
    `num_frames` frames it sees, `min_duration` (s) of a kept video, the exported `clip_duration` (s),
    `fps`, `short_side` (None keeps the size) and `codec` ("mjpeg", the fastest random access for
    training, or "libx264", all-intra clips that browsers play), `per_class_cap` videos per class
    query, `match_tags` (match class names in tags too) and `match_segments` (also match inside hashtags,
    camelCase and run-together words, split by a sentencepiece model trained on the run's titles and saved in
    `title_segmenter/`; on by default: on the 246 labelled titles of tests/fixtures/labelled_titles.tsv, recall
    0.446 -> 0.842 and precision 0.957 -> 0.966 over ImageNet-1k).

    How the work is carried out (no effect on the outcome): the `executor` ("local": this process or
    `num_workers` worker processes; "ray": a Ray Data pipeline on the cluster at `ray_address`, default a
    local Ray started for the run, with `num_workers` classifier actors, at least one), classifier
    `batch_size` (frames per forward pass) and `device`, `cross_video_batching` (a batch takes frames of
    several videos, up to `batch_size`; otherwise each video's frames are batched alone), `shard` of
    `num_shards`, `progress` bars.

    The report and card: `target_distribution` ({class id: weight}; None: uniform), `pretty_name`, `license` (a
    Hub licence id; `unknown`, the default, says none was given: the clips keep their sources' terms; `other`
    needs `license_name` and `license_link`, the Hub's rule).

    The store's form: `webdataset_shard_bytes` packs the finished store into WebDataset shards of about that
    many bytes as well (`webdataset_export`; None: loose clips only, unless the store was packed before).
    """

    taxonomy: str | os.PathLike | Taxonomy | None = None
    classifier: str | os.PathLike | None = DEFAULT_CLASSIFIER
    num_frames: int = 100
    min_duration: float = 10.0
    clip_duration: float = 10.0
    fps: float = 25.0
    short_side: int | None = 256
    codec: str = "mjpeg"
    per_class_cap: int | None = 5000
    match_tags: bool = False
    match_segments: bool = True

    num_workers: int = 0
    batch_size: int = 32
    device: str | None = None
    cross_video_batching: bool = False
    executor: str = "local"
    ray_address: str | None = None
    shard: int = 0
    num_shards: int = 1
    progress: bool = True

    target_distribution: Mapping[str, float] | None = None
    pretty_name: str | None = None
    license: str = "unknown"
    license_name: str | None = None
    license_link: str | None = None

    webdataset_shard_bytes: int | None = None

    def __post_init__(self) -> None:
        checks = {
            "num_frames": self.num_frames >= 1,
            "min_duration": self.min_duration >= 0,
            "clip_duration": self.clip_duration > 0,
            "fps": self.fps > 0,
            "short_side": self.short_side is None or self.short_side >= 2,
            "codec": self.codec in SUPPORTED_CODECS,
            "per_class_cap": self.per_class_cap is None or self.per_class_cap >= 1,
            "num_workers": self.num_workers >= 0,
            "batch_size": self.batch_size >= 1,
            "executor": self.executor in EXECUTORS,
            "num_shards": self.num_shards >= 1,
            "shard": 0 <= self.shard < self.num_shards,
            "webdataset_shard_bytes": self.webdataset_shard_bytes is None or self.webdataset_shard_bytes >= 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"{name}={getattr(self, name)!r} is out of range; see CurationSettings")
        check_license(self.license, self.license_name, self.license_link)

    def pinned(self) -> dict[str, object]:
        """The outcome-deciding settings as saved in the output folder (taxonomy by its fingerprint)."""
        if not isinstance(self.taxonomy, Taxonomy):
            raise TypeError("pinned() needs the loaded Taxonomy; curate() resolves it first")
        values = {name: getattr(self, name) for name in OUTCOME_FIELDS}
        if not self.match_segments:  # as stores curated before title segmentation existed pinned it: resumable
            del values["match_segments"]
        values.update(
            taxonomy=self.taxonomy.fingerprint(), min_duration=float(self.min_duration),
            clip_duration=float(self.clip_duration), fps=float(self.fps),
        )
        return values

    def videos_per_batch(self) -> int:
        """How many videos share the classifier's batches: enough to fill one batch, or 1 without cross-video batching."""
        return -(-self.batch_size // self.num_frames) if self.cross_video_batching else 1

    def resolved(self, taxonomy: Taxonomy, classifier: str | None) -> CurationSettings:
        return replace(self, taxonomy=taxonomy, classifier=classifier)


@dataclass
class VideoRecord:
    """The outcome of one candidate; saved as JSON in `state/` and in each shard's records.jsonl."""

    video_id: str
    source: str
    title: str
    queried_classes: list[int] = field(default_factory=list)
    capped_classes: list[int] = field(default_factory=list)
    status: str = "rejected"
    stage: str = STAGES[0]
    reason: str | None = None
    reason_code: str | None = None
    class_index: int | None = None
    probe: dict[str, Any] | None = None
    classifier: dict[str, Any] | None = None
    row: dict[str, Any] | None = None
    executed: list[str] = field(default_factory=list)

    @classmethod
    def new(cls, candidate: Candidate, queried: tuple[int, ...] = (), capped: tuple[int, ...] = ()) -> VideoRecord:
        """A fresh record; `queried` are the class queries it answers, `capped` those the cap cut it from."""
        return cls(candidate.video_id, candidate.source, candidate.title, list(queried), list(capped))

    @property
    def kept(self) -> bool:
        return self.status == "kept"

    def reject(self, stage: str, code: str, reason: str) -> VideoRecord:
        self.status, self.stage, self.reason_code, self.reason = "rejected", stage, code, reason
        self.class_index = None
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VideoRecord:
        """A record from its JSON form; unknown keys (from a newer version) are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def rejection_row(self) -> dict[str, Any]:
        """The line of report/rejected.jsonl for a rejected record."""
        return {k: getattr(self, k) for k in ("video_id", "source", "title", "stage", "reason_code", "reason")}
