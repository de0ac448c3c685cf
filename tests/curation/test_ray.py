"""The Ray Data executor on real clips: the local executor's kept set and rejections, and a killed job resumes."""

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from curation_helpers import clip, kill_job, read_jsonl, tiny_classifier, write_jsonl

from vito_hf.curation import CurationSettings, curate
from vito_hf.data.decoding import probe_video

ray = pytest.importorskip("ray")

CLI = Path(__file__).resolve().parents[2] / "dataset_scripts" / "curate_videonet.py"
NUM_BIKES = 6
CAP = NUM_BIKES
SETTINGS = dict(num_frames=4, min_duration=5.0, clip_duration=2.0, per_class_cap=CAP, progress=False)


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray with 2 CPUs for the module (starting one costs seconds)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Real clips for every outcome: kept, capped, too short, classifier miss, no match, undecodable."""
    folder = tmp_path_factory.mktemp("ray_inputs")
    taxonomy = folder / "classes.json"
    taxonomy.write_text(json.dumps({"mountain bike": ["all-terrain bike"], "car": []}))
    broken = folder / "broken.mp4"
    broken.write_text("this is not a video\n")
    rows = [{"path": str(clip("carphone_pristine.mp4")), "id": "phone", "title": "all-terrain bike on the phone"}]
    rows += [{"path": str(clip("bikes.mp4")), "id": f"bike{i}", "title": f"mountain bike ride {i}"} for i in range(NUM_BIKES)]
    rows += [
        {"path": str(clip("bikes.mp4")), "id": "cars", "title": "car chase"},
        {"path": str(clip("bikes.mp4")), "id": "theory", "title": "category theory"},
        {"path": str(broken), "id": "broken", "title": "car crash"},
    ]
    manifest = write_jsonl(folder / "manifest.jsonl", rows)
    classifier = tiny_classifier(folder / "classifier", ["mountain bike", "car"], top1=0)
    return manifest, taxonomy, classifier


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory, inputs):
    manifest, taxonomy, classifier = inputs
    output = tmp_path_factory.mktemp("local")
    result = curate(manifest, output, CurationSettings(taxonomy=taxonomy, classifier=classifier, **SETTINGS))
    return output, result


def _outcomes(output: Path) -> tuple[list[dict], list[dict]]:
    return read_jsonl(output / "metadata.jsonl"), read_jsonl(output / "report" / "rejected.jsonl")


def _clips(output: Path) -> list[Path]:
    return sorted(p for p in (output / "clips").rglob("*") if p.is_file())


def test_ray_keeps_and_rejects_what_the_local_executor_does(tmp_path, ray_session, inputs, local_reference):
    """With cross-video batches of 2 videos, and 2 actors asked for on 2 CPUs (one is started: with both
    CPUs held by actors, no probe or export task could run and the pipeline used to hang)."""
    manifest, taxonomy, classifier = inputs
    reference, local = local_reference
    settings = CurationSettings(
        taxonomy=taxonomy, classifier=classifier, executor="ray", num_workers=2, cross_video_batching=True, batch_size=8,
        **SETTINGS,
    )
    result = curate(manifest, tmp_path, settings)

    kept, rejected = _outcomes(tmp_path)
    assert sorted(r["video_id"] for r in kept) == [f"bike{i}" for i in range(CAP - 1)]
    assert {r["video_id"]: r["reason_code"] for r in rejected} == {
        f"bike{CAP - 1}": "class_cap", "phone": "too_short", "cars": "classifier_miss", "theory": "no_match",
        "broken": "NotAVideoError",
    }
    assert (kept, rejected) == _outcomes(reference)
    assert result.executed == local.executed == {"probe": 7, "length": 7, "classifier": 6, "export": 5}
    assert [p.relative_to(tmp_path) for p in _clips(tmp_path)] == [p.relative_to(reference) for p in _clips(reference)]

    rerun = curate(manifest, tmp_path, settings)
    assert rerun.reused == result.selected and set(rerun.executed.values()) == {0}


def test_ray_address_without_the_ray_executor_is_a_one_line_error(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("curate_videonet", CLI)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    with pytest.raises(SystemExit) as exit_info:
        script.main(["curate", "--candidates", str(tmp_path), "--output_dir", str(tmp_path / "out"), "--ray_address", "auto"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"{Path(sys.argv[0]).name}: error: --ray_address needs --executor ray (see --help)"
    ]
    assert not (tmp_path / "out").exists()


def _records(output: Path) -> list[Path]:
    return list((output / "state").glob("??/*.json"))


def test_a_killed_ray_job_resumes_without_lost_or_duplicated_clips(tmp_path, ray_session, inputs, local_reference):
    """Kill the CLI with every process it started (driver and the local Ray, workers included) once two
    videos are saved, then resume on the module's Ray: the dataset equals the uninterrupted local one."""
    manifest, taxonomy, classifier = inputs
    output = tmp_path / "killed"
    command = [
        sys.executable, str(CLI), "curate", "--candidates", str(manifest), "--output_dir", str(output),
        "--taxonomy", str(taxonomy), "--classifier", str(classifier), "--frames", "4", "--min_duration", "5",
        "--clip_duration", "2", "--per_class_cap", str(CAP), "--num_workers", "1", "--executor", "ray", "--no_progress",
    ]
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while len(_records(output)) < 2:
        assert process.poll() is None, f"the run ended before it could be killed: {process.stderr.read().decode()[-2000:]}"
        assert time.monotonic() < deadline, "no progress within 300 s"
        time.sleep(0.02)
    kill_job(process.pid)
    process.wait()
    process.stderr.close()
    done_before = len(_records(output))
    kept_before = sum(json.loads(p.read_text())["status"] == "kept" for p in _records(output))
    assert 2 <= done_before < 8
    assert not (output / "metadata.jsonl").exists()

    resumed = curate(
        manifest, output, CurationSettings(taxonomy=taxonomy, classifier=classifier, executor="ray", **SETTINGS)
    )
    assert resumed.selected == 8 and resumed.reused == done_before
    assert resumed.executed["export"] == 5 - kept_before, "a clip saved before the kill was exported again"
    reference, _ = local_reference
    assert _outcomes(output) == _outcomes(reference)
    assert [p.relative_to(output) for p in _clips(output)] == [p.relative_to(reference) for p in _clips(reference)]
    for row in read_jsonl(output / "metadata.jsonl"):
        assert probe_video(output / row["file_name"]).num_frames == row["num_frames"] == 50
    assert not [p for p in output.rglob(".*") if p.is_file()], "temporary files left behind"
