"""`curate`: from candidate videos to a Hub-ready dataset folder of clips, resumable and shardable.

Stages: candidates -> title match -> per-class cap -> probe -> length filter
-> classifier filter -> clip export. Matching and the cap are cheap and run over
all candidates in every shard (so the cap is global); the per-video stages run
only on this shard's videos, in worker processes, each outcome saved as a state
record the moment it is known. A rerun skips videos whose record matches the
current query (and whose clip is still there): it does only what is missing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from .candidates import Candidate, load_candidates
from .matching import TitleMatcher, apply_class_cap
from .parallel import run_tasks
from .records import new_record, reject
from .report import PER_VIDEO_STAGES
from .settings import CurationSettings
from .sharding import merge_shards, remove_other_splits, shard_of, write_shard
from .state import StateStore, remove_stale_temporaries
from .taxonomy import Taxonomy, load_taxonomy
from .video_processing import ProcessorSpec, VideoTask

DEFAULT_CLASSIFIER = "microsoft/resnet-50"
"""The paper filters with an ImageNet ResNet-50; this is transformers' port of the v1.5 one."""


@dataclass
class CurationResult:
    """What one call of `curate` did. `report` is set when the dataset folder was written (unsharded runs)."""

    output_dir: Path
    shard: int
    num_shards: int
    candidates: int
    selected: int
    executed: dict[str, int] = field(default_factory=dict)
    reused: int = 0
    kept: int = 0
    report: dict | None = None


def select_videos(
    candidates: Sequence[Candidate],
    taxonomy: Taxonomy,
    per_class_cap: int | None,
    match_tags: bool = False,
    progress: bool = False,
) -> tuple[list[VideoTask], list[dict]]:
    """The videos to process with their class queries, and the records of candidates rejected before that."""
    matcher = TitleMatcher(taxonomy)
    usable = [c for c in candidates if c.problem is None]
    titles = tqdm(usable, desc="matching titles", unit="title", disable=not progress or len(usable) < 10_000)
    matches = [matcher.match(c.title, c.tags if match_tags else ()) for c in titles]
    assignments = iter(apply_class_cap(matches, per_class_cap))
    tasks, rejected = [], []
    for candidate in candidates:
        if candidate.problem is not None:
            rejected.append(reject(new_record(candidate), "candidates", candidate.problem_code or "bad_entry", candidate.problem))
            continue
        assignment = next(assignments)
        if assignment.classes:
            tasks.append(VideoTask(candidate, assignment.classes, assignment.capped))
        elif not assignment.capped:
            rejected.append(reject(new_record(candidate), "match", "no_match", "the title names no class (name or synonym)"))
        else:
            names = ", ".join(taxonomy[i].name for i in assignment.capped)
            reason = f"every matched class already has {per_class_cap} earlier candidates: {names}"
            rejected.append(reject(new_record(candidate, capped=assignment.capped), "cap", "class_cap", reason))
    return tasks, rejected


def _reusable(record: dict | None, task: VideoTask, output_dir: Path) -> bool:
    """Whether a saved record still answers this task (same video, same queries, clip still there)."""
    if record is None or record.get("queried_classes") != list(task.classes):
        return False
    if record.get("source") != task.candidate.source or record.get("title") != task.candidate.title:
        return False
    return record["status"] != "kept" or (output_dir / record["row"]["file_name"]).is_file()


def _resolve_classifier(classifier: str | os.PathLike | None, taxonomy: Taxonomy) -> str | None:
    """A stable name for the classifier (absolute path for local folders), loaded once here to check it.

    Loading in this process first turns a missing or broken classifier into one clear error,
    instead of worker processes dying at start-up.
    """
    if classifier is None:
        return None
    from transformers import AutoModelForImageClassification

    from .classifier_filter import map_taxonomy_to_labels

    name = str(Path(classifier).resolve()) if Path(classifier).is_dir() else str(classifier)
    try:
        model = AutoModelForImageClassification.from_pretrained(name)
    except (OSError, ValueError) as err:
        raise OSError(
            f"cannot load the classifier {name!r} ({err}); pass a local folder with config.json and weights "
            "(an AutoModelForImageClassification), a Hub id this machine can download, or None to skip the filter"
        ) from err
    map_taxonomy_to_labels(taxonomy, model.config.id2label)
    return name


def curate(
    candidates: str | os.PathLike | Sequence[Candidate],
    output_dir: str | os.PathLike,
    *,
    taxonomy: str | os.PathLike | Taxonomy | None = None,
    classifier: str | os.PathLike | None = DEFAULT_CLASSIFIER,
    num_frames: int = 100,
    min_duration: float = 10.0,
    clip_duration: float = 10.0,
    fps: float = 25.0,
    short_side: int | None = 256,
    codec: str = "mjpeg",
    per_class_cap: int | None = 5000,
    match_tags: bool = False,
    num_workers: int = 0,
    batch_size: int = 32,
    device: str | None = None,
    shard: int = 0,
    num_shards: int = 1,
    target_distribution: Mapping[str, float] | None = None,
    pretty_name: str | None = None,
    license: str = "other",
    progress: bool = True,
) -> CurationResult:
    """Curate `candidates` (a folder, a CSV/JSONL manifest, or Candidates) into `output_dir`.

    `taxonomy` None is ImageNet-1k; `classifier` None skips the classifier filter.
    `num_workers` 0 runs in this process, n >= 1 in n worker processes (which also
    isolates decoder crashes). With `num_shards` > 1 only the videos of shard
    `shard` are processed and their records saved under shards/; `merge_shards`
    then writes the dataset. Unsharded runs write metadata.jsonl, report/ and
    README.md directly (`target_distribution`, `pretty_name` and `license` shape that
    report and card; sharded runs give them to `merge_shards`). Calling again
    resumes: finished videos are not redone.
    """
    if not 0 <= shard < num_shards:
        raise ValueError(f"shard must be in [0, num_shards), got shard={shard}, num_shards={num_shards}")
    if num_workers < 0 or batch_size < 1:
        raise ValueError(f"num_workers ({num_workers}) must be >= 0 and batch_size ({batch_size}) >= 1")
    output_dir = Path(output_dir)
    taxonomy = load_taxonomy(taxonomy)
    settings = CurationSettings(
        taxonomy=taxonomy.fingerprint(), classifier=_resolve_classifier(classifier, taxonomy),
        num_frames=num_frames, min_duration=float(min_duration), clip_duration=float(clip_duration), fps=float(fps),
        short_side=short_side, codec=codec, per_class_cap=per_class_cap, match_tags=match_tags,
    )
    output_dir.mkdir(parents=True, exist_ok=True)
    store = StateStore(output_dir)
    store.check_settings(settings.to_dict())
    remove_stale_temporaries(output_dir)
    remove_other_splits(output_dir, num_shards)

    all_candidates = load_candidates(candidates)
    tasks, early = select_videos(all_candidates, taxonomy, per_class_cap, match_tags, progress)
    mine = [t for t in tasks if shard_of(t.candidate.video_id, num_shards) == shard]
    records: dict[str, dict] = {}
    todo = []
    for task in tqdm(mine, desc="reading state", unit="video", disable=not progress or len(mine) < 10_000):
        record = store.load(task.candidate.video_id)
        if _reusable(record, task, output_dir):
            record["capped_classes"] = list(task.capped)
            records[task.candidate.video_id] = record
        else:
            todo.append(task)

    def collect(task: VideoTask, record: dict) -> None:
        records[task.candidate.video_id] = record

    cpus = os.cpu_count() or 1
    spec = ProcessorSpec(
        output_dir=str(output_dir), settings=settings, taxonomy=taxonomy, batch_size=batch_size, device=device,
        torch_threads=max(1, cpus // num_workers) if num_workers else None,
    )
    reused = len(mine) - len(todo)
    if todo:
        run_tasks(todo, spec, num_workers=num_workers, on_record=collect, progress=progress)
    executed = {stage: sum(stage in records[t.candidate.video_id]["executed"] for t in todo) for stage in PER_VIDEO_STAGES}

    shard_records = [r for r in early if shard_of(str(r["video_id"]), num_shards) == shard]
    shard_records += [records[t.candidate.video_id] for t in mine]
    run = {"settings": settings.to_dict(), "shard": shard, "num_shards": num_shards,
           "executed": executed, "reused": reused}
    write_shard(output_dir, shard, num_shards, shard_records, run, taxonomy)
    result = CurationResult(
        output_dir=output_dir, shard=shard, num_shards=num_shards, candidates=len(all_candidates),
        selected=len(mine), executed=executed, reused=reused,
        kept=sum(1 for r in shard_records if r["status"] == "kept"),
    )
    if num_shards == 1:
        result.report = merge_shards(
            output_dir, target_distribution=target_distribution, pretty_name=pretty_name, license=license
        )
    return result
