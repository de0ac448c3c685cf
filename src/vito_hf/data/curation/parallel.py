"""Run per-video tasks in this process or in a pool of worker processes, surviving worker crashes.

Workers are started with "spawn" (safe with torch threads and CUDA). At most two
tasks per worker are in flight, so memory stays flat for a million videos. A
worker that dies (a segfault in a decoder, the OOM killer) breaks the pool: the
tasks then in flight are rerun one at a time in a fresh single-worker pool, so
the video that kills its worker again is found, recorded as rejected, and the
run goes on.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from tqdm.auto import tqdm

from .records import new_record, reject
from .state import StateStore
from .video_processing import ProcessorSpec, VideoProcessor, VideoTask, init_worker, process_in_worker

OnRecord = Callable[[VideoTask, dict], None]


def run_tasks(
    tasks: Iterable[VideoTask],
    spec: ProcessorSpec,
    *,
    num_workers: int = 0,
    on_record: OnRecord | None = None,
    progress: bool = True,
    total: int | None = None,
) -> None:
    """Process every task; `num_workers` 0 runs them in this process, n >= 1 in n worker processes."""
    tasks = deque(tasks)
    bar = tqdm(total=total if total is not None else len(tasks), desc="curating videos", unit="video", disable=not progress)

    def done(task: VideoTask, record: dict) -> None:
        bar.update(1)
        if on_record is not None:
            on_record(task, record)

    try:
        if num_workers <= 0:
            processor = VideoProcessor(spec)
            while tasks:
                task = tasks.popleft()
                done(task, processor(task))
            return
        while tasks:
            suspects = _run_pool(tasks, spec, num_workers, done)
            for task in suspects:
                _run_isolated(task, spec, done)
    finally:
        bar.close()


def _pool(spec: ProcessorSpec, num_workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        max_workers=num_workers, mp_context=multiprocessing.get_context("spawn"), initializer=init_worker, initargs=(spec,)
    )


def _run_pool(tasks: deque[VideoTask], spec: ProcessorSpec, num_workers: int, done: OnRecord) -> list[VideoTask]:
    """Drain `tasks` through a pool; returns the tasks in flight when a worker died (empty if none did)."""
    in_flight = {}
    pool = _pool(spec, num_workers)
    try:
        while tasks or in_flight:
            while tasks and len(in_flight) < 2 * num_workers:
                task = tasks.popleft()
                in_flight[pool.submit(process_in_worker, task)] = task
            finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            broken = False
            for future in finished:
                try:
                    record = future.result()
                except BrokenProcessPool:
                    broken = True
                    continue
                done(in_flight.pop(future), record)
            if broken:
                return list(in_flight.values())
        return []
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _run_isolated(task: VideoTask, spec: ProcessorSpec, done: OnRecord) -> None:
    """Rerun one suspect alone; if its worker dies again, record it as rejected."""
    pool = _pool(spec, 1)
    try:
        record = pool.submit(process_in_worker, task).result()
    except BrokenProcessPool:
        record = reject(
            new_record(task.candidate, task.classes, task.capped), "probe", "worker_crashed",
            "the worker process died while reading this video (a decoder crash or out of memory); skipped",
        )
        StateStore(spec.output_dir).save(record)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    done(task, record)
