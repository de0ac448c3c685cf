"""`curate`: from candidate videos to a Hub-ready clip store, resumable and shardable.

Stages: candidates -> title match -> per-class cap -> probe -> length filter
-> classifier filter -> clip export. Matching and the cap are cheap and run over
all candidates in every shard (so the cap is global); the per-video stages run
only on this shard's videos, in worker processes or as a Ray Data pipeline
(`executor`), each outcome saved as a state record the moment it is known. A rerun skips videos whose record matches the
current query (and whose clip is still there): it does only what is missing. A rerun over a store written
before sources were published relative to the candidates' root rewrites them (records, metadata, report,
shards), redoing no video.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from ..atomic_files import remove_stale_temporaries
from ..published_paths import local_path_of
from .candidates import Candidate, load_candidates
from .matching import TitleMatcher, apply_class_cap
from .records import PER_VIDEO_STAGES, CurationSettings, VideoRecord
from .segmentation import TitleSegmenter
from .sharding import merge_shards, remove_other_splits, shard_of, write_shard
from .stages import ProcessorSpec, VideoTask, public_reason
from .state import StateStore
from .taxonomy import Taxonomy, load_taxonomy
from .webdataset_export import refresh_shard_store
from .workers import run_tasks


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
    segmenter: TitleSegmenter | None = None,
) -> tuple[list[VideoTask], list[VideoRecord]]:
    """The videos to process with their class queries, and the records of candidates rejected before that
    (`segmenter`: also match inside hashtags and run-together words)."""
    matcher = TitleMatcher(taxonomy, segmenter)
    usable = [c for c in candidates if c.problem is None]
    titles = tqdm(usable, desc="matching titles", unit="title", disable=not progress or len(usable) < 10_000)
    matches = [matcher.match(c.title, c.tags if match_tags else ()) for c in titles]
    assignments = iter(apply_class_cap(matches, per_class_cap))
    tasks, rejected = [], []
    for candidate in candidates:
        if candidate.problem is not None:
            rejected.append(VideoRecord.new(candidate).reject("candidates", candidate.problem_code or "bad_entry", candidate.problem))
            continue
        assignment = next(assignments)
        if assignment.classes:
            tasks.append(VideoTask(candidate, assignment.classes, assignment.capped))
        elif not assignment.capped:
            rejected.append(VideoRecord.new(candidate).reject("match", "no_match", "the title names no class (name or synonym)"))
        else:
            names = ", ".join(taxonomy[i].name for i in assignment.capped)
            reason = f"every matched class already has {per_class_cap} earlier candidates: {names}"
            rejected.append(VideoRecord.new(candidate, capped=assignment.capped).reject("cap", "class_cap", reason))
    return tasks, rejected


def _same_source(recorded: str, candidate: Candidate) -> bool:
    """Whether a record's source names the candidate's video: as written now, or as stores written before
    sources were published relative wrote it (the manifest's entry as given, often an absolute path)."""
    if recorded == candidate.source:
        return True
    if candidate.path is None:
        return False
    local = local_path_of(recorded)
    if local is not None:
        return os.path.normpath(local) == os.path.normpath(candidate.path)
    return os.path.normpath(recorded) == os.path.normpath(candidate.source)


def _reusable(record: VideoRecord | None, task: VideoTask, output_dir: Path) -> bool:
    """Whether a saved record still answers this task (same video, same queries, clip still there)."""
    if record is None or record.queried_classes != list(task.classes):
        return False
    if not _same_source(record.source, task.candidate) or record.title != task.candidate.title:
        return False
    return not record.kept or (output_dir / record.row["file_name"]).is_file()


def _published_form(record: VideoRecord, candidate: Candidate, output_dir: Path) -> bool:
    """Bring a reused record of an older store to what is published now: the candidate's source (relative),
    a reason without absolute paths. Returns whether it changed (then it is saved again)."""
    before = (record.source, record.reason, (record.row or {}).get("source"))
    record.source = candidate.source
    if record.row is not None:
        record.row["source"] = candidate.source
    if record.reason:
        record.reason = public_reason(record.reason, candidate, output_dir)
    return before != (record.source, record.reason, (record.row or {}).get("source"))


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
    settings: CurationSettings | None = None,
) -> CurationResult:
    """Curate `candidates` (a folder, a CSV/JSONL manifest, or Candidates) into the clip store `output_dir`.

    `settings` (default: `CurationSettings()`, the paper's recipe over ImageNet-1k) says what is kept,
    how the work is split (worker processes, shards) and how the report and card look. With
    `num_shards` > 1 only the videos of shard `shard` are processed and their records saved under
    shards/; `merge_shards` then writes the store. Unsharded runs write metadata.jsonl, report/ and
    README.md directly, and with `webdataset_shard_bytes` pack the store into WebDataset shards too (a store
    packed before is repacked, so its shards follow its clips). Calling again resumes: finished videos are not redone. No single video ends
    the run: whatever fails while handling one becomes its rejection, with stage and reason, in the report.
    """
    settings = settings or CurationSettings()
    output_dir = Path(output_dir)
    taxonomy = load_taxonomy(settings.taxonomy)
    settings = settings.resolved(taxonomy, _resolve_classifier(settings.classifier, taxonomy))
    output_dir.mkdir(parents=True, exist_ok=True)
    store = StateStore(output_dir)
    store.check_settings(settings.pinned())
    remove_stale_temporaries(output_dir)
    remove_other_splits(output_dir, settings.num_shards)

    all_candidates = load_candidates(candidates)
    segmenter, segmenter_files = None, None
    if settings.match_segments:
        # Trained on every usable title in every shard alike (deterministic), so shards match the same way.
        segmenter = TitleSegmenter.train([c.title for c in all_candidates if c.problem is None], taxonomy)
        segmenter_files = segmenter.save(output_dir)
    tasks, early = select_videos(
        all_candidates, taxonomy, settings.per_class_cap, settings.match_tags, settings.progress, segmenter
    )
    mine = [t for t in tasks if shard_of(t.candidate.video_id, settings.num_shards) == settings.shard]
    records: dict[str, VideoRecord] = {}
    todo = []
    reading = tqdm(mine, desc="reading state", unit="video", disable=not settings.progress or len(mine) < 10_000)
    for task in reading:
        record = store.load(task.candidate.video_id)
        if _reusable(record, task, output_dir):
            record.capped_classes = list(task.capped)
            if _published_form(record, task.candidate, output_dir):
                store.save(record)
            records[task.candidate.video_id] = record
        else:
            todo.append(task)

    def collect(task: VideoTask, record: VideoRecord) -> None:
        records[task.candidate.video_id] = record

    cpus = os.cpu_count() or 1
    spec = ProcessorSpec(
        output_dir=str(output_dir.resolve()), settings=settings, taxonomy=taxonomy,
        torch_threads=max(1, cpus // settings.num_workers) if settings.num_workers else None,
    )
    reused = len(mine) - len(todo)
    if todo and settings.executor == "ray":
        from .ray_executor import run_tasks_on_ray

        run_tasks_on_ray(
            todo, spec, address=settings.ray_address, num_actors=settings.num_workers, on_record=collect,
            progress=settings.progress,
        )
    elif todo:
        run_tasks(
            todo, spec, num_workers=settings.num_workers, videos_per_unit=settings.videos_per_batch(),
            on_record=collect, progress=settings.progress,
        )
    if todo:
        # A worker killed mid-export leaves its temporary clip; the pool is gone now, so it is stale.
        remove_stale_temporaries(output_dir)
    executed = {stage: sum(stage in records[t.candidate.video_id].executed for t in todo) for stage in PER_VIDEO_STAGES}

    shard, num_shards = settings.shard, settings.num_shards
    shard_records = [r for r in early if shard_of(r.video_id, num_shards) == shard]
    shard_records += [records[t.candidate.video_id] for t in mine]
    run = {"settings": settings.pinned(), "shard": shard, "num_shards": num_shards, "executed": executed, "reused": reused,
           "title_segmenter": segmenter_files}
    write_shard(output_dir, shard, num_shards, shard_records, run, taxonomy)
    result = CurationResult(
        output_dir=output_dir, shard=shard, num_shards=num_shards, candidates=len(all_candidates),
        selected=len(mine), executed=executed, reused=reused, kept=sum(1 for r in shard_records if r.kept),
    )
    if num_shards == 1:
        result.report = merge_shards(
            output_dir, target_distribution=settings.target_distribution, pretty_name=settings.pretty_name,
            license=settings.license, license_name=settings.license_name, license_link=settings.license_link,
        )
        refresh_shard_store(output_dir, settings.webdataset_shard_bytes)
    return result
