"""A curation killed with SIGKILL mid-run resumes to exactly the dataset of an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from curation_helpers import clip, read_jsonl, tiny_classifier, write_jsonl

from vito_hf.curation import CurationSettings, curate, load_taxonomy
from vito_hf.atomic_files import remove_stale_temporaries, temporary_path
from vito_hf.data.decoding import probe_video

CLI = Path(__file__).resolve().parents[2] / "dataset_scripts" / "curate_videonet.py"
NUM_BIKES = 10
SETTINGS = dict(num_frames=4, min_duration=5.0, clip_duration=2.0)


def _inputs(tmp_path):
    taxonomy = tmp_path / "classes.json"
    taxonomy.write_text(json.dumps({"mountain bike": ["all-terrain bike"], "car": []}))
    rows = [{"path": str(clip("bikes.mp4")), "id": f"bike{i:02d}", "title": f"mountain bike ride {i}"} for i in range(NUM_BIKES)]
    rows += [
        {"path": str(clip("carphone_pristine.mp4")), "id": "phone", "title": "mountain bike on the phone"},
        {"path": str(clip("bikes.mp4")), "id": "cars", "title": "car chase"},
    ]
    manifest = write_jsonl(tmp_path / "manifest.jsonl", rows)
    classifier = tiny_classifier(tmp_path / "classifier", ["mountain bike", "car"], top1=0)
    return manifest, taxonomy, classifier


def _records(output):
    return list((output / "state").glob("??/*.json"))


def test_killed_run_resumes_without_redoing_or_corrupting(tmp_path):
    manifest, taxonomy, classifier = _inputs(tmp_path)
    output = tmp_path / "killed"
    command = [
        sys.executable, str(CLI), "curate", "--candidates", str(manifest), "--output-dir", str(output),
        "--taxonomy", str(taxonomy), "--classifier", str(classifier), "--frames", "4", "--min-duration", "5",
        "--clip-duration", "2", "--num-workers", "0", "--no-progress",
    ]
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while len(_records(output)) < 2:
        assert process.poll() is None, f"the run ended before it could be killed: {process.stderr.read().decode()[-2000:]}"
        assert time.monotonic() < deadline, "no progress within 300 s"
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    process.stderr.close()
    done_before = len(_records(output))
    selected = NUM_BIKES + 2
    assert 2 <= done_before < selected
    assert not (output / "metadata.jsonl").exists()
    for path in (output / "clips").rglob("*.mp4"):
        if not path.name.startswith("."):
            assert probe_video(path).num_frames == 50

    resumed = curate(manifest, output, CurationSettings(taxonomy=taxonomy, classifier=classifier, progress=False, **SETTINGS))
    assert resumed.reused == done_before
    assert resumed.executed["probe"] == selected - done_before
    assert not [p for p in output.rglob(".*") if p.is_file()], "temporary files left behind"

    reference = tmp_path / "reference"
    whole = curate(manifest, reference, CurationSettings(taxonomy=load_taxonomy(taxonomy), classifier=classifier, progress=False, **SETTINGS))
    assert whole.executed["probe"] == selected
    for name in ("metadata.jsonl", "report/rejected.jsonl"):
        assert (output / name).read_bytes() == (reference / name).read_bytes()
    assert len(read_jsonl(output / "metadata.jsonl")) == NUM_BIKES
    for key in ("stages", "classes", "totals", "rejection_reasons"):
        assert resumed.report[key] == whole.report[key]
    for row in read_jsonl(output / "metadata.jsonl"):
        assert probe_video(output / row["file_name"]).num_frames == row["num_frames"] == 50


def test_only_temporaries_of_dead_processes_are_removed(tmp_path):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(finished.stdout)
    final = tmp_path / "clips" / "c" / "v.mp4"
    final.parent.mkdir(parents=True)
    mine = temporary_path(final, ".mp4")
    dead = mine.with_name(mine.name.replace(f".{os.getpid()}.", f".{dead_pid}."))
    other_host = tmp_path / "clips" / "c" / ".v.mp4.some-other-host.1.tmp.mp4"
    for path in (mine, dead, other_host, final):
        path.write_bytes(b"x")
    assert remove_stale_temporaries(tmp_path) == 1
    assert not dead.exists() and mine.exists() and other_host.exists() and final.exists()
