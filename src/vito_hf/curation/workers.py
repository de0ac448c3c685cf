"""Run per-video tasks in this process or in a pool of worker processes, surviving worker crashes.

The unit of work is a group of `videos_per_unit` tasks (1, or enough videos to fill a classifier batch
with cross-video batching). Workers are started with "spawn" (safe with torch threads and CUDA), each with
its own pipe and one unit at a time, so memory stays flat for a million videos. A worker that dies (a
segfault or abort in a decoder, the OOM killer) takes only its own unit down: the unit goes back to the
front of the queue for a fresh worker, the other workers carry on. The in-flight markers (`inflight`) tell
the fresh worker which video of the unit was being worked on when its predecessor died; that video is
counted a crash and, at the second, rejected at stage "crash" (saved, so a rerun does not try it again);
the rest of the unit is processed as if nothing happened. Any other exception that reaches the parent for
one unit (e.g. a result that cannot be sent back) becomes its tasks' rejection. Only a worker that cannot
start (the classifier does not load on its device) stops the run, with that error (`WorkerStartupError`).
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait

from tqdm.auto import tqdm

from .records import VideoRecord
from .stages import ProcessorSpec, VideoProcessor, VideoTask

OnRecord = Callable[[VideoTask, VideoRecord], None]
OnUnit = Callable[[list[VideoTask], list[VideoRecord]], None]


class WorkerStartupError(RuntimeError):
    """A worker process could not set itself up (e.g. load the classifier on its device)."""


_WORKER: VideoProcessor | None = None
_STARTUP_ERROR: str | None = None


def init_worker(spec: ProcessorSpec) -> None:
    """Load the classifier once per worker process.

    A failure is kept and reported with the first task rather than raised here, where it would
    only kill the worker and leave the parent with an anonymous dead process.
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
        _run_pool(units, spec, num_workers, done)
    finally:
        bar.close()


def _serve(connection: Connection, spec: ProcessorSpec) -> None:
    """A worker process: set up, then process each unit the parent sends until it closes the pipe."""
    init_worker(spec)
    while True:
        try:
            unit = connection.recv()
        except EOFError:
            return
        try:
            outcome = ("records", process_in_worker(unit))
        except WorkerStartupError as err:
            outcome = ("startup", str(err))
        except Exception as err:  # noqa: BLE001 - the parent turns it into the unit's rejection
            outcome = ("error", f"{type(err).__name__}: {err}")
        try:
            connection.send(outcome)
        except Exception as err:  # noqa: BLE001 - e.g. a record that cannot be pickled
            connection.send(("error", f"{type(err).__name__}: {err}"))


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    connection: Connection
    unit: list[VideoTask] | None = None


def _start_worker(spec: ProcessorSpec) -> _Worker:
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_serve, args=(child, spec), daemon=True, name="vito_hf-curation-worker")
    process.start()
    child.close()
    return _Worker(process, parent)


def _rejected(unit: list[VideoTask], stage: str, code: str, reason: str) -> list[VideoRecord]:
    return [VideoRecord.new(t.candidate, t.classes, t.capped).reject(stage, code, reason) for t in unit]


def _run_pool(units: deque[list[VideoTask]], spec: ProcessorSpec, num_workers: int, done: OnUnit) -> None:
    """Drain `units` through `num_workers` worker processes, replacing any that dies and requeuing its unit."""
    workers = [_start_worker(spec) for _ in range(min(num_workers, len(units)))]
    deaths: dict[tuple[str, ...], int] = {}
    finished_any = False
    try:
        while units or any(w.unit is not None for w in workers):
            for worker in workers:
                if worker.unit is None and units:
                    worker.unit = units.popleft()
                    try:
                        worker.connection.send(worker.unit)
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # it died idle; found dead below
            busy = [w for w in workers if w.unit is not None]
            wait([w.connection for w in busy] + [w.process.sentinel for w in busy])
            for index, worker in enumerate(workers):
                unit = worker.unit
                if unit is None:
                    continue
                try:
                    if not worker.connection.poll():
                        if worker.process.is_alive():
                            continue
                        raise EOFError
                    kind, payload = worker.connection.recv()
                except (EOFError, OSError):
                    workers[index] = _replace_dead(worker, spec)
                    if not _requeue(unit, units, deaths, done) and not finished_any:
                        raise WorkerStartupError(
                            f"curation worker processes died {deaths[_key(unit)]} times (last exit code "
                            f"{worker.process.exitcode}) before finishing any video; check that the classifier loads "
                            "and runs on this machine, or run with num_workers=0 to see the error in one process"
                        )
                    continue
                worker.unit = None
                finished_any = True
                if kind == "startup":
                    raise WorkerStartupError(payload)
                if kind == "error":
                    payload = _rejected(unit, "probe", "unexpected_error", f"unexpected error in the worker: {payload}")
                done(unit, payload)
    finally:
        for worker in workers:
            _stop(worker)


def _key(unit: list[VideoTask]) -> tuple[str, ...]:
    return tuple(t.candidate.video_id for t in unit)


def _requeue(unit: list[VideoTask], units: deque[list[VideoTask]], deaths: dict, done: OnUnit) -> bool:
    """Put a dead worker's unit first in line for a fresh worker (True). The markers attribute each death to a
    video, which is rejected at its second; a unit that kills more workers than its videos can account for died
    of something outside any video's step, and is given up (False; unsaved, so a rerun tries again)."""
    key = _key(unit)
    deaths[key] = deaths.get(key, 0) + 1
    if deaths[key] <= 2 * len(unit) + 1:
        units.appendleft(unit)
        return True
    done(unit, _rejected(
        unit, "crash", "unexpected_worker_death",
        f"worker processes died {deaths[key]} times with this video's group, outside any video's step; skipped in this run",
    ))
    return False


def _replace_dead(worker: _Worker, spec: ProcessorSpec) -> _Worker:
    _stop(worker)
    return _start_worker(spec)


def _stop(worker: _Worker) -> None:
    """Close the pipe (an idle worker then returns), and make sure the process is gone."""
    worker.connection.close()
    worker.process.join(timeout=None if worker.unit is None else 0)
    if worker.process.is_alive():
        worker.process.kill()
        worker.process.join()
