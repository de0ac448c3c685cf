"""The per-video stages (probe, length, classifier, export) and the worker processes that run them.

One video never stops a run: a typed decode error or any unexpected exception
becomes a rejection at the stage where it happened, with its reason. The
outcome is saved as the video's state record before the next video starts,
except after an unexpected exception (it may be transient, e.g. a device out of
memory): that rejection is reported but not saved, so the next run tries again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..decoding import VideoDecodeError, probe_video
from .candidates import Candidate
from .classifier_filter import ClassifierFilter
from .clip_store import clip_file_name, export_clip
from .length_filter import length_rejection
from .records import new_record, reject
from .settings import CurationSettings
from .state import StateStore
from .taxonomy import Taxonomy


@dataclass(frozen=True)
class VideoTask:
    """One video, the class queries (taxonomy indices) it answers, and those the cap cut it from."""

    candidate: Candidate
    classes: tuple[int, ...]
    capped: tuple[int, ...] = ()


@dataclass(frozen=True)
class ProcessorSpec:
    """Everything a worker process needs to build its `VideoProcessor` (picklable)."""

    output_dir: str
    settings: CurationSettings
    taxonomy: Taxonomy
    batch_size: int = 32
    device: str | None = None
    torch_threads: int | None = None


class VideoProcessor:
    """Runs the stages on one video and saves its record."""

    def __init__(self, spec: ProcessorSpec):
        self.settings = spec.settings
        self.taxonomy = spec.taxonomy
        self.output_dir = Path(spec.output_dir)
        self.store = StateStore(self.output_dir)
        self.classifier = None
        if spec.settings.classifier is not None:
            self.classifier = ClassifierFilter(
                spec.settings.classifier, spec.taxonomy, num_frames=spec.settings.num_frames,
                batch_size=spec.batch_size, device=spec.device,
            )

    def __call__(self, task: VideoTask) -> dict[str, object]:
        record = new_record(task.candidate, task.classes, task.capped)
        try:
            self._run(task, record)
        except VideoDecodeError as err:
            reject(record, str(record["stage"]), type(err).__name__, str(err))
        except Exception as err:  # noqa: BLE001 - one bad file must not end the run
            reject(record, str(record["stage"]), f"unexpected_{type(err).__name__}", f"unexpected {type(err).__name__}: {err}")
            return record
        self.store.save(record)
        return record

    def _run(self, task: VideoTask, record: dict[str, object]) -> None:
        settings = self.settings
        path = task.candidate.path
        record["stage"] = "probe"
        info = probe_video(path)
        record["executed"].append("probe")
        record["probe"] = {k: getattr(info, k) for k in ("duration", "fps", "num_frames", "width", "height", "codec")}

        record["stage"] = "length"
        too_short = length_rejection(info, settings.min_duration)
        record["executed"].append("length")
        if too_short:
            reject(record, "length", "too_short", too_short)
            return

        record["stage"] = "classifier"
        chosen, hits, best = self._classify(task, record)
        if chosen is None:
            return

        record["stage"] = "export"
        cls = self.taxonomy[chosen]
        file_name = clip_file_name(cls.id, task.candidate.video_id)
        clip = export_clip(
            path, self.output_dir, file_name,
            clip_duration=settings.clip_duration, fps=settings.fps, short_side=settings.short_side,
            codec=settings.codec,
        )
        record["executed"].append("export")
        promised = min(settings.clip_duration, info.duration)
        if clip.duration < promised - 2.0 / settings.fps:
            (self.output_dir / file_name).unlink(missing_ok=True)
            reject(
                record, "export", "truncated",
                f"only {clip.duration:.2f} s of the {promised:.2f} s the header promises could be decoded; "
                "the file is truncated or damaged: re-download it",
            )
            return
        record.update(status="kept", class_index=chosen, reason=None, reason_code=None)
        record["row"] = {
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
            "classifier_hits": hits,
            "classifier_best_score": best,
        }

    def _classify(self, task: VideoTask, record: dict[str, object]) -> tuple[int | None, int | None, float | None]:
        """The class the video is kept for (most top-1 hits, then best score, then lowest index), or None."""
        if self.classifier is None:
            return task.classes[0], None, None
        result = self.classifier.check(task.candidate.path, task.classes)
        record["executed"].append("classifier")
        record["classifier"] = {
            "num_frames": result.num_frames,
            "frequent_top1": list(result.frequent_top1),
            "per_class": {str(i): {"hits": c.hits, "best_score": c.best_score} for i, c in result.checks.items()},
        }
        passing = [i for i in task.classes if result.checks[i].hits > 0]
        if not passing:
            unmapped = [i for i in task.classes if not self.classifier.class_labels[i]]
            if len(unmapped) == len(task.classes):
                names = ", ".join(self.taxonomy[i].name for i in unmapped)
                reject(record, "classifier", "class_not_in_classifier", f"the classifier has no label for {names}")
            else:
                queried = ", ".join(self.taxonomy[i].name for i in task.classes)
                reject(
                    record, "classifier", "classifier_miss",
                    f"{queried} never top-1 on the first {result.num_frames} frames "
                    f"(most frequent top-1: {', '.join(result.frequent_top1)})",
                )
            return None, None, None
        chosen = max(passing, key=lambda i: (result.checks[i].hits, result.checks[i].best_score, -i))
        return chosen, result.checks[chosen].hits, result.checks[chosen].best_score


class WorkerStartupError(RuntimeError):
    """A worker process could not set itself up (e.g. load the classifier on its device)."""


_WORKER: VideoProcessor | None = None
_STARTUP_ERROR: str | None = None


def init_worker(spec: ProcessorSpec) -> None:
    """ProcessPoolExecutor initializer: load the classifier once per worker process.

    A failure is kept and reported with the first task rather than raised here, where it would
    only kill the worker and leave the parent with an anonymous broken pool.
    """
    global _WORKER, _STARTUP_ERROR
    try:
        if spec.torch_threads:
            import torch

            torch.set_num_threads(spec.torch_threads)
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        _WORKER = VideoProcessor(spec)
    except Exception as err:  # noqa: BLE001 - reported to the parent by process_in_worker
        _STARTUP_ERROR = f"{type(err).__name__}: {err}"


def process_in_worker(task: VideoTask) -> dict[str, object]:
    if _WORKER is None:
        raise WorkerStartupError(
            f"a curation worker process could not start ({_STARTUP_ERROR}); "
            "check the classifier and device, or run with num_workers=0 to debug in one process"
        )
    return _WORKER(task)
