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
SETTINGS = dict(taxonomy=TAXONOMY, num_frames=4, min_duration=5.0, clip_duration=5.0, progress=False)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    rows = [{"path": str(clip("bikes.mp4")), "id": f"bike{i}", "title": f"mountain bike {i}"} for i in range(6)]
    rows.append({"path": str(clip("carphone_pristine.mp4")), "id": "phone", "title": "car phone"})
    manifest = write_jsonl(folder / "manifest.jsonl", rows)
    return manifest, tiny_classifier(folder / "classifier", ["mountain bike", "car"], top1=0)


def test_a_worker_killed_mid_run_loses_nothing(tmp_path, inputs):
    """SIGKILL a worker while it writes a clip (its temporary file is on disk): every video is still
    processed, and the run itself removes what the dead worker left, with nothing left to chance."""
    manifest, classifier = inputs
    output = tmp_path / "out"
    outcome = {}

    def run():
        outcome["result"] = curate(manifest, output, CurationSettings(classifier=classifier, num_workers=2, **SETTINGS))

    runner = threading.Thread(target=run)
    runner.start()
    killed = None
    while killed is None:
        assert runner.is_alive(), "the run ended before any worker was seen writing a clip"
        for temporary in (output / "clips").glob("*/.*.tmp.mp4"):
            pid = int(temporary.name.split(".tmp.mp4")[0].rsplit(".", 1)[1])
            if pid in {child.pid for child in multiprocessing.active_children()}:
                os.kill(pid, signal.SIGKILL)
                killed = temporary
                break
        time.sleep(0.001)
    runner.join(timeout=600)
    result = outcome["result"]
    assert result.kept == 6
    assert result.executed["export"] == 6
    assert result.report["totals"] == {"candidates": 7, "kept": 6, "rejected": 1, "pass_rate": pytest.approx(6 / 7, abs=1e-5)}
    assert sorted(r["video_id"] for r in read_jsonl(output / "metadata.jsonl")) == [f"bike{i}" for i in range(6)]
    assert not [p for p in output.rglob(".*") if p.is_file()], f"temporaries left (killed while writing {killed.name})"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a device the workers cannot open")
def test_workers_that_cannot_start_stop_the_run_with_a_clear_error(tmp_path, inputs):
    manifest, classifier = inputs
    with pytest.raises(WorkerStartupError, match="could not start .*(CUDA|cuda|Torch not compiled)"):
        curate(manifest, tmp_path / "out", CurationSettings(classifier=classifier, num_workers=1, device="cuda", **SETTINGS))
