"""Run per-video tasks in this process or in a pool of worker processes, surviving worker crashes.

Workers are started with "spawn" (safe with torch threads and CUDA). At most two
tasks per worker are in flight, so memory stays flat for a million videos. A
worker that dies (a segfault in a decoder, the OOM killer) breaks the pool: the
tasks then in flight are rerun one at a time in a fresh single-worker pool, so
the video that kills its worker again is found and rejected (in this run's
records, not in the saved state, so a later run tries it again), and the run
goes on. A worker that cannot start (the classifier does not load on its
device) stops the run with that error (`WorkerStartupError`).
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from tqdm.auto import tqdm

from .records import new_record, reject
from .video_processing import ProcessorSpec, VideoProcessor, VideoTask, init_worker, process_in_worker

OnRecord = Callable[[VideoTask, dict], None]


def run_tasks(
    tasks: Iterable[VideoTask],
    spec: ProcessorSpec,
    *,
    num_workers: int = 0,
    on_record: OnRecord | None = None,
    progress: bool = True,
) -> None:
    """Process every task; `num_workers` 0 runs them in this process, n >= 1 in n worker processes."""
    tasks = deque(tasks)
    bar = tqdm(total=len(tasks), desc="curating videos", unit="video", disable=not progress)

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
            _run_isolated(_run_pool(tasks, spec, num_workers, done), spec, done)
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


def _run_isolated(suspects: list[VideoTask], spec: ProcessorSpec, done: OnRecord) -> None:
    """Rerun suspects one at a time in a single worker; one that kills its worker again is rejected."""
    pool = None
    try:
        for task in suspects:
            pool = pool or _pool(spec, 1)
            try:
                record = pool.submit(process_in_worker, task).result()
            except BrokenProcessPool:
                pool.shutdown(wait=True, cancel_futures=True)
                pool = None
                record = reject(
                    new_record(task.candidate, task.classes, task.capped), "probe", "worker_crashed",
                    "the worker process died while reading this video (a decoder crash or out of memory); skipped",
                )
            done(task, record)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
