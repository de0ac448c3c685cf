"""Run per-video tasks in this process or in a pool of worker processes, surviving worker crashes.

The unit of work is a group of `videos_per_unit` tasks (1, or enough videos to fill a classifier batch
with cross-video batching). Workers are started with "spawn" (safe with torch threads and CUDA). At
most two units per worker are in flight, so memory stays flat for a million videos. A worker that dies (a segfault in a
decoder, the OOM killer) breaks the pool: the tasks then in flight are rerun one at a time in a
fresh single-worker pool, so the video that kills its worker again is found and rejected (in this
run's records, not in the saved state, so a later run tries it again), and the run goes on. Any
other exception that reaches the parent for one task (e.g. a result that cannot be sent back)
becomes that task's rejection. Only a worker that cannot start (the classifier does not load on its
device) stops the run, with that error (`WorkerStartupError`).
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from tqdm.auto import tqdm

from .records import VideoRecord
from .stages import ProcessorSpec, VideoProcessor, VideoTask, unexpected_rejection

OnRecord = Callable[[VideoTask, VideoRecord], None]
OnUnit = Callable[[list[VideoTask], list[VideoRecord]], None]


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


def process_in_worker(unit: list[VideoTask]) -> list[VideoRecord]:
    if _WORKER is None:
        raise WorkerStartupError(
            f"a curation worker process could not start ({_STARTUP_ERROR}); "
            "check the classifier and device, or run with num_workers=0 to debug in one process"
        )
    return _WORKER.process(unit)


def run_tasks(
    tasks: Iterable[VideoTask],
    spec: ProcessorSpec,
    *,
    num_workers: int = 0,
    videos_per_unit: int = 1,
    on_record: OnRecord | None = None,
    progress: bool = True,
) -> None:
    """Process every task; `num_workers` 0 runs them in this process, n >= 1 in n worker processes."""
    tasks = list(tasks)
    units = deque(tasks[i : i + videos_per_unit] for i in range(0, len(tasks), videos_per_unit))
    bar = tqdm(total=len(tasks), desc="curating videos", unit="video", disable=not progress)

    def done(unit: list[VideoTask], records: list[VideoRecord]) -> None:
        bar.update(len(unit))
        if on_record is not None:
            for task, record in zip(unit, records):
                on_record(task, record)

    try:
        if num_workers <= 0:
            processor = VideoProcessor(spec)
            while units:
                unit = units.popleft()
                done(unit, processor.process(unit))
            return
        while units:
            _run_isolated(_run_pool(units, spec, num_workers, done), spec, done)
    finally:
        bar.close()


def _pool(spec: ProcessorSpec, num_workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        max_workers=num_workers, mp_context=multiprocessing.get_context("spawn"), initializer=init_worker, initargs=(spec,)
    )


def _outcome(future: Future, unit: list[VideoTask]) -> list[VideoRecord]:
    """The unit's records; a worker crash propagates, a startup failure stops the run, anything else rejects."""
    try:
        return future.result()
    except (BrokenProcessPool, WorkerStartupError):
        raise
    except Exception as err:  # noqa: BLE001 - one unit's failure is its tasks' rejection
        records = []
        for task in unit:
            record = VideoRecord.new(task.candidate, task.classes, task.capped)
            record.stage = "probe"
            records.append(unexpected_rejection(record, err))
        return records


def _run_pool(units: deque[list[VideoTask]], spec: ProcessorSpec, num_workers: int, done: OnUnit) -> list[VideoTask]:
    """Drain `units` through a pool; returns the tasks in flight when a worker died (empty if none did)."""
    in_flight: dict[Future, list[VideoTask]] = {}
    pool = _pool(spec, num_workers)
    try:
        while units or in_flight:
            while units and len(in_flight) < 2 * num_workers:
                unit = units.popleft()
                in_flight[pool.submit(process_in_worker, unit)] = unit
            finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            broken = False
            for future in finished:
                try:
                    records = _outcome(future, in_flight[future])
                except BrokenProcessPool:
                    broken = True
                    continue
                done(in_flight.pop(future), records)
            if broken:
                return [task for unit in in_flight.values() for task in unit]
        return []
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _run_isolated(suspects: list[VideoTask], spec: ProcessorSpec, done: OnUnit) -> None:
    """Rerun suspects one at a time in a single worker; one that kills its worker again is rejected."""
    pool = None
    try:
        for task in suspects:
            pool = pool or _pool(spec, 1)
            future = pool.submit(process_in_worker, [task])
            try:
                [record] = _outcome(future, [task])
            except BrokenProcessPool:
                pool.shutdown(wait=True, cancel_futures=True)
                pool = None
                record = VideoRecord.new(task.candidate, task.classes, task.capped).reject(
                    "probe", "worker_crashed",
                    "the worker process died while reading this video (a decoder crash or out of memory); skipped",
                )
            done([task], [record])
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
