"""Run the per-video stages as a Ray Data pipeline, on one machine or a cluster.

`curate` reads the candidates, matches titles and applies the per-class cap once, in the driver, over
every candidate (so the cap is global), and reads the state store; the videos still to do flow through:

    probe + length filter  (CPU tasks)
    -> classifier filter   (a pool of actors, one model each, on a GPU when the cluster has them; a
                            Ray batch holds `videos_per_batch` videos whose frames share forward passes)
    -> export + save       (CPU tasks: the clip, then the video's state record)

Each step is the local executor's (`VideoProcessor.probe`, `.classify`, `.finish`), so both executors
keep the same videos for the same reasons, and every finished video's record is saved where it
finished: a killed job resumes from the state store and a rerun does no work. A video that kills the
process it runs in (a decoder's segfault or abort, the OOM killer) is retried by Ray in a fresh worker (a task
is resubmitted, an actor restarted with its batch); the in-flight markers (`inflight`) count each such death
against the video being worked on, so the third attempt rejects it at stage "crash" instead of Ray retrying
it forever, and the other videos of its batch go on. Rows carry the task and
the record pickled. On a remote cluster every node must be able to import vito_hf (install it there,
or connect with a `runtime_env`).
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from .records import VideoRecord
from .stages import ProcessorSpec, VideoProcessor, VideoTask

OnRecord = Callable[[VideoTask, VideoRecord], None]

_PROBE_CPUS = 0.5
"""A header read. Resources unlike the actors' also keep Ray from fusing probing into the classifier actors."""

_MAX_BLOCKS = 4096
"""One video per block for small runs (all of them in flight at once); at most this many blocks for large ones."""


class RayExecutorError(RuntimeError):
    """Ray is missing, cannot start or connect, or the pipeline failed as a whole (not one video)."""


def _probe(row: dict, spec: ProcessorSpec) -> dict:
    task = pickle.loads(row["task"])
    processor = VideoProcessor(spec, classifier=False)
    record = processor.probe(task)
    if spec.settings.classifier is None:
        processor.classify([task], [record])
    return {"task": row["task"], "record": pickle.dumps(record)}


class _ClassifierActor:
    """One classifier model; each call classifies the pending videos of a Ray batch together."""

    def __init__(self, spec: ProcessorSpec):
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        self.processor = VideoProcessor(spec)

    def __call__(self, batch: dict) -> dict:
        tasks = [pickle.loads(t) for t in batch["task"]]
        records = [pickle.loads(r) for r in batch["record"]]
        self.processor.classify(tasks, records)
        return {"task": list(batch["task"]), "record": [pickle.dumps(r) for r in records]}


def _finish(row: dict, spec: ProcessorSpec) -> dict:
    task, record = pickle.loads(row["task"]), pickle.loads(row["record"])
    record = VideoProcessor(spec, classifier=False).finish(task, record)
    return {"task": row["task"], "record": pickle.dumps(record)}


def _with_absolute_path(task: VideoTask) -> VideoTask:
    """The task with its file as an absolute path: Ray workers do not share the driver's working folder."""
    path = task.candidate.path
    if path is None or Path(path).is_absolute():
        return task
    return replace(task, candidate=replace(task.candidate, path=str(Path(path).resolve())))


def _import_ray():
    try:
        import ray
        import ray.data
    except ImportError as err:
        raise RayExecutorError(
            f"executor='ray' needs Ray Data ({err}); install it with `pip install 'vito_hf[ray]'` "
            "or run with executor='local'"
        ) from err
    return ray


def _classifier_gpus(ray, settings) -> int:
    """1 GPU per actor when the classifier may use one and the cluster has GPUs, else 0."""
    if settings.device is not None and not str(settings.device).startswith("cuda"):
        return 0
    return 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0


def _actor_pool_size(ray, wanted: int) -> int:
    """`wanted` actors, but at most the cluster's CPUs less one: each actor holds a CPU, and with every CPU
    held by an actor the probe and export tasks could never be scheduled (the pipeline would hang)."""
    cpus = int(ray.cluster_resources().get("CPU", 0))
    if cpus < 2:
        raise RayExecutorError(
            f"the Ray cluster has {cpus} CPU(s); the Ray executor needs at least 2 (one for a classifier actor, "
            "one for the probe and export tasks); use executor='local' on this machine"
        )
    return max(1, min(wanted, cpus - 1))


def run_tasks_on_ray(
    tasks: Sequence[VideoTask],
    spec: ProcessorSpec,
    *,
    address: str | None = None,
    num_actors: int = 1,
    on_record: OnRecord | None = None,
    progress: bool = True,
) -> None:
    """Process every task on Ray: in this process's Ray session if there is one, else on the cluster at
    `address` ("auto": the one `ray start` began here), else on a new local Ray stopped at the end."""
    ray = _import_ray()
    started = not ray.is_initialized()
    if started:
        try:
            ray.init(address=address or "local", include_dashboard=False, logging_level=logging.INFO if progress else logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError) as err:
            raise RayExecutorError(
                f"cannot start or reach Ray at {address or 'a new local instance'} ({err}); pass the address of a "
                "running cluster (e.g. ray://host:10001 or host:6379) or leave ray_address unset for a local Ray"
            ) from err
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = progress
        if not progress:
            logging.getLogger("ray.data").setLevel(logging.WARNING)
        settings = spec.settings
        blocks = min(len(tasks), _MAX_BLOCKS)
        rows = [{"task": pickle.dumps(_with_absolute_path(t))} for t in tasks]
        dataset = ray.data.from_items(rows, override_num_blocks=blocks)
        dataset = dataset.map(_probe, fn_kwargs={"spec": spec}, num_cpus=_PROBE_CPUS)
        if settings.classifier is not None:
            dataset = dataset.map_batches(
                _ClassifierActor, fn_constructor_kwargs={"spec": spec}, batch_size=settings.videos_per_batch(),
                compute=ray.data.ActorPoolStrategy(size=_actor_pool_size(ray, num_actors)), num_cpus=1,
                num_gpus=_classifier_gpus(ray, settings), batch_format="numpy",
            )
        dataset = dataset.map(_finish, fn_kwargs={"spec": spec}, num_cpus=1)
        try:
            for row in dataset.iter_rows():
                if on_record is not None:
                    on_record(pickle.loads(row["task"]), pickle.loads(row["record"]))
        except Exception as err:  # noqa: BLE001 - stage errors are per-video records; this is the pipeline itself
            raise RayExecutorError(
                f"the Ray curation pipeline failed ({type(err).__name__}: {err}); the videos it finished are saved "
                "in the state store, so running again resumes (check that the classifier loads on the cluster)"
            ) from err
    finally:
        if started:
            ray.shutdown()
