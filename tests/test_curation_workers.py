"""Worker processes: a worker killed mid-run loses no video; workers that cannot start stop the run clearly."""

import multiprocessing
import os
import signal
import threading
import time

import pytest
import torch
from curation_helpers import clip, read_jsonl, tiny_classifier, write_jsonl

from vito_hf.curation import CurationSettings, WorkerStartupError, curate, taxonomy_from_records

TAXONOMY = taxonomy_from_records(["mountain bike", "car"])
SETTINGS = dict(taxonomy=TAXONOMY, num_frames=4, min_duration=5.0, clip_duration=2.0, progress=False)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    rows = [{"path": str(clip("bikes.mp4")), "id": f"bike{i}", "title": f"mountain bike {i}"} for i in range(6)]
    rows.append({"path": str(clip("carphone_pristine.mp4")), "id": "phone", "title": "car phone"})
    manifest = write_jsonl(folder / "manifest.jsonl", rows)
    return manifest, tiny_classifier(folder / "classifier", ["mountain bike", "car"], top1=0)


def test_a_worker_killed_mid_run_loses_nothing(tmp_path, inputs):
    manifest, classifier = inputs
    output = tmp_path / "out"
    outcome = {}

    def run():
        outcome["result"] = curate(manifest, output, CurationSettings(classifier=classifier, num_workers=2, **SETTINGS))

    runner = threading.Thread(target=run)
    runner.start()
    deadline = time.monotonic() + 300
    while not list((output / "state").glob("??/*.json")):
        assert runner.is_alive() and time.monotonic() < deadline
        time.sleep(0.02)
    workers = multiprocessing.active_children()
    assert workers, "no worker process to kill"
    os.kill(workers[0].pid, signal.SIGKILL)
    runner.join(timeout=600)
    result = outcome["result"]
    assert result.kept == 6
    assert result.executed["export"] == 6
    assert result.report["totals"] == {"candidates": 7, "kept": 6, "rejected": 1, "pass_rate": pytest.approx(6 / 7, abs=1e-5)}
    assert sorted(r["video_id"] for r in read_jsonl(output / "metadata.jsonl")) == [f"bike{i}" for i in range(6)]
    assert not [p for p in output.rglob(".*") if p.is_file()]


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a device the workers cannot open")
def test_workers_that_cannot_start_stop_the_run_with_a_clear_error(tmp_path, inputs):
    manifest, classifier = inputs
    with pytest.raises(WorkerStartupError, match="could not start .*(CUDA|cuda|Torch not compiled)"):
        curate(manifest, tmp_path / "out", CurationSettings(classifier=classifier, num_workers=1, device="cuda", **SETTINGS))
