"""In-flight markers: a video that kills its worker process is found, counted, retried once, then rejected.

A decoder that segfaults or aborts, or the out-of-memory killer, ends the whole worker process, not one call;
nothing in that process can record why. So before a worker process works on a video (probe, classifier decode
and forward pass, export) it marks the video in flight, `state/inflight/<video_id>.json` = {"run", "host", "pid",
"step", "active": true, "crashes": [...]}, and clears `active` when the step returns (by value or exception).
Both executors retry a dead worker's work in a fresh process (the local pool requeues it, Ray retries the task
or restarts the actor); the fresh process finds the marker still active, written in this run by another
process, and so knows that process died in that step of that video: a crash, appended to `crashes` with the
signal read from the dead process's fault report. At `MAX_CRASHES` the video is rejected (stage "crash")
instead of tried again. A marker is removed when the video's record is saved.

An active marker from another run means the run itself was killed from outside (the driver, with its
workers): not the video's fault, so not counted; the crashes counted before stay, so a
crash-rerun-crash sequence still ends in a rejection.

Fault reports: each worker process points `faulthandler` at `state/faults/<run>/<host>.<pid>.txt`, where
SIGSEGV, SIGABRT, SIGBUS, SIGFPE and SIGILL leave "Fatal Python error: <signal>". A process killed by SIGKILL (the
OOM killer) leaves none, and is reported as such. The driver removes its run's reports when it ends, and
those of dead drivers of this host when it starts.
"""

from __future__ import annotations

import faulthandler
import json
import os
import shutil
import socket
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..atomic_files import process_alive, write_atomic
from .state import STATE_DIR

MAX_CRASHES = 2
"""A video whose processing killed its worker this many times is rejected: one crash may be bad luck (memory
pressure from elsewhere), a second one in a fresh process is the video."""

INFLIGHT_DIR = "inflight"
FAULTS_DIR = "faults"

_FAULT_MESSAGES = {
    "Segmentation fault": "SIGSEGV", "Aborted": "SIGABRT", "Bus error": "SIGBUS",
    "Floating-point exception": "SIGFPE", "Floating point exception": "SIGFPE", "Illegal instruction": "SIGILL",
}
_NO_REPORT = "SIGKILL (no fault report: the out-of-memory killer or a kill from outside)"
_fault_file = None  # (path, open file) this process's faulthandler writes to


def new_run_id() -> str:
    """An id for one `curate` call: the driver's host and pid (so a later run can tell it is dead) and a nonce."""
    return f"{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:8]}"


class InFlight:
    """The in-flight markers of one output folder, as seen by one process of run `run_id`."""

    def __init__(self, output_dir: str | Path, run_id: str):
        self.state = Path(output_dir) / STATE_DIR
        self.root = self.state / INFLIGHT_DIR
        self.run_id = run_id
        self.host, self.pid = socket.gethostname(), os.getpid()
        self._crashes: dict[str, list[dict]] = {}  # of the videos this process marked active

    def path_for(self, video_id: str) -> Path:
        return self.root / f"{video_id}.json"

    def load(self, video_id: str) -> dict | None:
        try:
            return json.loads(self.path_for(video_id).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
            return None

    def begin(self, video_ids: Sequence[str], step: str) -> dict[str, list[dict]]:
        """Mark `video_ids` in flight at `step`, counting a crash for each whose marker says an earlier process of
        this run died on it. Returns {video id: its crashes} for those at `MAX_CRASHES`: reject them, do not work."""
        self._enable_fault_report()
        given_up = {}
        for video_id in video_ids:
            marker = self.load(video_id) or {}
            crashes = list(marker.get("crashes", []))
            if marker.get("active") and marker.get("run") == self.run_id and (marker.get("host"), marker.get("pid")) != (self.host, self.pid):
                crashes.append({"step": marker.get("step"), "signal": self._fault_signal(marker.get("host"), marker.get("pid"))})
            if len(crashes) >= MAX_CRASHES:
                self._write(video_id, {"active": False, "step": step, "crashes": crashes})
                given_up[video_id] = crashes
            else:
                self._write(video_id, {"active": True, "step": step, "crashes": crashes})
                self._crashes[video_id] = crashes
        return given_up

    def end(self, video_ids: Iterable[str]) -> None:
        """The step on these videos returned: a death from now on is not theirs."""
        for video_id in video_ids:
            if video_id in self._crashes:
                self._write(video_id, {"active": False, "crashes": self._crashes.pop(video_id)})

    def finished(self, video_id: str, *, keep_crashes: bool) -> None:
        """The video's outcome is known: drop its marker (kept, inactive, if it has crashes and the outcome
        will be retried by a later run)."""
        marker = self.load(video_id)
        if marker is None:
            return
        if keep_crashes and marker.get("crashes"):
            self._write(video_id, {**marker, "active": False})
        else:
            self.path_for(video_id).unlink(missing_ok=True)

    def _write(self, video_id: str, fields: dict) -> None:
        marker = {"run": self.run_id, "host": self.host, "pid": self.pid, **fields}
        # Not fsynced: a marker lost with the machine's power only means one crash less counted.
        write_atomic(self.path_for(video_id), lambda path: path.write_text(json.dumps(marker, sort_keys=True), encoding="utf-8"))

    def _fault_path(self, host: str | None, pid: int | None) -> Path:
        return self.state / FAULTS_DIR / self.run_id / f"{host}.{pid}.txt"

    def _fault_signal(self, host: str | None, pid: int | None) -> str:
        try:
            text = self._fault_path(host, pid).read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return _NO_REPORT
        for line in text.splitlines():
            if line.startswith("Fatal Python error: "):
                message = line.removeprefix("Fatal Python error: ").strip()
                return _FAULT_MESSAGES.get(message, message)
        return _NO_REPORT

    def _enable_fault_report(self) -> None:
        """Point this process's faulthandler at its report file of this run (once; again if the run changed)."""
        global _fault_file
        path = self._fault_path(self.host, self.pid)
        if _fault_file is not None and _fault_file[0] == path and path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "w", encoding="utf-8")  # noqa: SIM115 - held open: faulthandler writes to its descriptor
        faulthandler.enable(file=handle, all_threads=False)
        if _fault_file is not None:
            _fault_file[1].close()
        _fault_file = (path, handle)


def crash_reason(crashes: Sequence[dict]) -> str:
    """The rejection reason: how often and how the worker died, in which step."""
    deaths = ", then ".join(f"{c['signal']} in {c['step']}" for c in crashes)
    return (
        f"the worker process died {len(crashes)} times while processing this video ({deaths}), each time in a fresh "
        "process: a decoder crash or out of memory; skipped so that the run goes on"
    )


def remove_fault_reports(output_dir: str | Path, run_id: str | None = None) -> None:
    """Remove run `run_id`'s fault reports, or (None) those of runs whose driver was on this host and is dead."""
    folder = Path(output_dir) / STATE_DIR / FAULTS_DIR
    if run_id is not None:
        shutil.rmtree(folder / run_id, ignore_errors=True)
        return
    host = socket.gethostname()
    for run in folder.glob(f"{host}.*.*") if folder.is_dir() else ():
        pid = run.name[len(host) + 1 :].split(".")[0]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(run, ignore_errors=True)

