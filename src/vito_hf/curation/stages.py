"""The per-video stages (probe, length filter, classifier filter, clip export), shared by both executors.

`VideoProcessor.process` runs them on a few videos at once: probe and length filter per video, the
classifier on the frames of all of them together (cross-video batching), then export and saving per
video. The Ray executor calls the same three steps (`probe`, `classify`, `finish`) as separate tasks.

One video never stops a run: a typed decode error or any unexpected exception, in any stage or while
saving the outcome, becomes a rejection at the stage where it happened, with its reason. The outcome is
saved as the video's state record before the next video starts, except after an unexpected exception
(it may be transient, e.g. a device out of memory): that rejection is reported but not saved, so the
next run tries again.

A kept video becomes `clips/<class id>/<video id>.mp4` of the clip store: the first `clip_duration`
seconds (the stretch the classifier filter looked at), encoded by `encode_clip` with every frame a
keyframe and written under a temporary name that says which host and process made it, then renamed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from ..clip_store import clip_file_name
from ..data.decoding import VideoDecodeError, VideoInfo, probe_video
from ..published_paths import redact_paths
from .candidates import Candidate
from .classifier_filter import ClassifierFilter, ClassifierResult
from .clip_export import encode_clip
from .records import CurationSettings, VideoRecord
from .state import StateStore
from .taxonomy import Taxonomy

_LENGTH_SLACK_S = 1e-3
T = TypeVar("T")


@dataclass(frozen=True)
class VideoTask:
    """One video, the class queries (taxonomy indices) it answers, and those the cap cut it from."""

    candidate: Candidate
    classes: tuple[int, ...]
    capped: tuple[int, ...] = ()


@dataclass(frozen=True)
class ProcessorSpec:
    """Everything a worker process needs to build its `VideoProcessor` (picklable); `settings` are resolved."""

    output_dir: str
    settings: CurationSettings
    taxonomy: Taxonomy
    torch_threads: int | None = None


def length_rejection(info: VideoInfo, min_duration: float) -> str | None:
    """Why the video is too short, or None. The paper drops videos under 10 s, so every clip spans its length."""
    if info.duration + _LENGTH_SLACK_S >= min_duration:
        return None
    return f"too short: {info.duration:.2f} s < {min_duration:g} s"


def unexpected_rejection(record: VideoRecord, err: BaseException) -> VideoRecord:
    """A rejection at the record's current stage for an exception nobody anticipated."""
    return record.reject(record.stage, f"unexpected_{type(err).__name__}", f"unexpected {type(err).__name__}: {err}")


def pending(record: VideoRecord) -> bool:
    """Whether the record still awaits a stage (neither kept nor rejected)."""
    return not record.kept and record.reason_code is None


class VideoProcessor:
    """Runs the stages on videos and saves their records; `classifier=False` builds it without the model."""

    def __init__(self, spec: ProcessorSpec, classifier: bool = True):
        self.settings = spec.settings
        self.taxonomy = spec.taxonomy
        self.output_dir = Path(spec.output_dir)
        self.store = StateStore(self.output_dir)
        self.classifier = None
        if classifier and spec.settings.classifier is not None:
            self.classifier = ClassifierFilter(
                spec.settings.classifier, spec.taxonomy, num_frames=spec.settings.num_frames,
                batch_size=spec.settings.batch_size, device=spec.settings.device,
            )

    def __call__(self, task: VideoTask) -> VideoRecord:
        return self.process([task])[0]

    def process(self, tasks: Sequence[VideoTask]) -> list[VideoRecord]:
        """Every stage on `tasks`, the classifier batching their frames together; each record saved."""
        records = [self.probe(task) for task in tasks]
        self.classify(tasks, records)
        return [self.finish(task, record) for task, record in zip(tasks, records)]

    def probe(self, task: VideoTask) -> VideoRecord:
        """A new record after the probe and the length filter."""
        record = VideoRecord.new(task.candidate, task.classes, task.capped)
        _guarded(record, lambda: self._probe(task, record))
        return record

    def classify(self, tasks: Sequence[VideoTask], records: Sequence[VideoRecord]) -> None:
        """The classifier filter on the pending `records`: the class each is kept for, or its rejection."""
        todo = [(t, r) for t, r in zip(tasks, records) if pending(r)]
        for _, record in todo:
            record.stage = "classifier"
        if self.classifier is None:
            for task, record in todo:
                record.class_index = task.classes[0]
            return
        decoded = []
        for task, record in todo:
            pixels = _guarded(record, lambda: self.classifier.decode(task.candidate.path))
            if pixels is not None:
                decoded.append((task, record, pixels))
        try:
            predictions = self.classifier.predict_pixels([pixels for _, _, pixels in decoded])
        except Exception as err:  # noqa: BLE001 - e.g. device out of memory: these videos' (unsaved) rejection
            for _, record, _ in decoded:
                unexpected_rejection(record, err)
            return
        for (task, record, _), (top1, probs) in zip(decoded, predictions):
            _guarded(record, lambda: self._decide(task, record, self.classifier.result(top1, probs, task.classes)))

    def finish(self, task: VideoTask, record: VideoRecord) -> VideoRecord:
        """Export the clip of a record that passed every filter, then save the record (unless the failure
        was unexpected, so that the next run tries again)."""
        if pending(record):
            record.stage = "export"
            _guarded(record, lambda: self._export(task, record))
        if record.reason:  # error messages name the files they could not read: published, so never absolute
            record.reason = public_reason(record.reason, task.candidate, self.output_dir)
        if (record.reason_code or "").startswith("unexpected_"):
            return record
        try:
            self.store.save(record)
        except Exception as err:  # noqa: BLE001 - an unsavable record is this video's problem only
            return unexpected_rejection(record, err)
        return record

    def _probe(self, task: VideoTask, record: VideoRecord) -> None:
        record.stage = "probe"
        info = probe_video(task.candidate.path)
        record.executed.append("probe")
        record.probe = {k: getattr(info, k) for k in ("duration", "fps", "num_frames", "width", "height", "codec")}
        record.stage = "length"
        too_short = length_rejection(info, self.settings.min_duration)
        record.executed.append("length")
        if too_short:
            record.reject("length", "too_short", too_short)

    def _decide(self, task: VideoTask, record: VideoRecord, result: ClassifierResult) -> None:
        """Keep the class with most top-1 hits (then best score, then lowest index), or reject."""
        record.executed.append("classifier")
        record.classifier = {
            "num_frames": result.num_frames,
            "frequent_top1": list(result.frequent_top1),
            "per_class": {str(i): {"hits": c.hits, "best_score": c.best_score} for i, c in result.checks.items()},
        }
        passing = [i for i in task.classes if result.checks[i].hits > 0]
        if passing:
            record.class_index = max(passing, key=lambda i: (result.checks[i].hits, result.checks[i].best_score, -i))
            return
        unmapped = [i for i in task.classes if not self.classifier.class_labels[i]]
        if len(unmapped) == len(task.classes):
            names = ", ".join(self.taxonomy[i].name for i in unmapped)
            record.reject("classifier", "class_not_in_classifier", f"the classifier has no label for {names}")
        else:
            queried = ", ".join(self.taxonomy[i].name for i in task.classes)
            record.reject(
                "classifier", "classifier_miss",
                f"{queried} never top-1 on the first {result.num_frames} frames "
                f"(most frequent top-1: {', '.join(result.frequent_top1)})",
            )

    def _export(self, task: VideoTask, record: VideoRecord) -> None:
        settings = self.settings
        chosen = record.class_index
        cls = self.taxonomy[chosen]
        file_name = clip_file_name(cls.id, task.candidate.video_id)
        clip = encode_clip(
            task.candidate.path, self.output_dir / file_name, start=0.0, duration=settings.clip_duration,
            fps=settings.fps, short_side=settings.short_side, codec=settings.codec,
        )
        record.executed.append("export")
        promised = min(settings.clip_duration, record.probe["duration"])
        if clip.duration < promised - 2.0 / settings.fps:
            (self.output_dir / file_name).unlink(missing_ok=True)
            record.reject(
                "export", "truncated",
                f"only {clip.duration:.2f} s of the {promised:.2f} s the header promises could be decoded; "
                "the file is truncated or damaged: re-download it",
            )
            return
        check = (record.classifier or {}).get("per_class", {}).get(str(chosen), {})
        record.status, record.reason, record.reason_code = "kept", None, None
        record.row = {
            "file_name": file_name,
            "video_id": task.candidate.video_id,
            "label": cls.name,
            "class_index": cls.index,
            "class_id": cls.id,
            "title": task.candidate.title,
            "source": task.candidate.source,
            "duration": clip.duration,
            "fps": clip.fps,
            "num_frames": clip.num_frames,
            "width": clip.width,
            "height": clip.height,
            "classifier_hits": check.get("hits"),
            "classifier_best_score": check.get("best_score"),
        }


def public_reason(reason: str, candidate: Candidate, output_dir: str | Path) -> str:
    """`reason` with the candidate's local path shown as its source, the store's as `.`, and any other absolute
    path by its last component (the report publishes reasons)."""
    known = {str(Path(output_dir).resolve()): "."}
    if candidate.path:
        known[candidate.path] = candidate.source
        known[str(Path(candidate.path).resolve())] = candidate.source
    return redact_paths(reason, known)


def _guarded(record: VideoRecord, step: Callable[[], T]) -> T | None:
    """`step()`, with a decode error or any unexpected exception turned into the record's rejection."""
    try:
        return step()
    except VideoDecodeError as err:
        record.reject(record.stage, type(err).__name__, str(err))
    except Exception as err:  # noqa: BLE001 - one bad file must not end the run
        unexpected_rejection(record, err)
    return None
