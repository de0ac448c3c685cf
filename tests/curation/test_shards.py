"""Sharded curation (2 shards, one shared folder or two machines' folders) merges to one run's dataset."""

import runpy
import shutil
from pathlib import Path

import datasets
import pytest
from curation_helpers import clip, read_jsonl, tiny_classifier, write_jsonl

from vito_hf.curation import CurationSettings, ShardMergeError, curate, merge_shards, shard_of, taxonomy_from_records

TAXONOMY = taxonomy_from_records(["mountain bike", "car"])
CLI = Path(__file__).resolve().parents[2] / "dataset_scripts" / "curate_videonet.py"
SETTINGS = dict(taxonomy=TAXONOMY, num_frames=4, min_duration=5.0, clip_duration=1.0, per_class_cap=4, progress=False)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    bikes, carphone = str(clip("bikes.mp4")), str(clip("carphone_pristine.mp4"))
    rows = [{"path": "missing.mp4", "id": "gone", "title": "mountain bike lost"}]
    rows += [{"path": bikes, "id": f"bike{i}", "title": f"mountain bike {i}"} for i in (0, 3, 1, 2, 4, 5)]
    rows += [
        {"path": carphone, "id": "phone", "title": "car phone"},
        {"path": bikes, "id": "car", "title": "car race"},
        {"path": bikes, "id": "other", "title": "holiday"},
    ]
    manifest = write_jsonl(folder / "manifest.jsonl", rows)
    classifier = tiny_classifier(folder / "classifier", ["mountain bike", "car"], top1=0)
    return manifest, classifier, rows


@pytest.fixture(scope="module")
def single(tmp_path_factory, inputs):
    manifest, classifier, _ = inputs
    output = tmp_path_factory.mktemp("single")
    return output, curate(manifest, output, CurationSettings(classifier=classifier, **SETTINGS))


def _same_dataset(a, b, report_a, report_b):
    for name in ("metadata.jsonl", "report/rejected.jsonl"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    for key in ("settings", "taxonomy", "totals", "stages", "classes", "rejection_reasons", "target"):
        assert report_a[key] == report_b[key]
    for row in read_jsonl(a / "metadata.jsonl"):
        assert (a / row["file_name"]).read_bytes() == (b / row["file_name"]).read_bytes()


def test_the_cap_is_global_and_both_shards_have_work(single):
    output, result = single
    kept = [r["video_id"] for r in read_jsonl(output / "metadata.jsonl")]
    assert kept == ["bike0", "bike1", "bike3"]
    rejected = {r["video_id"]: (r["stage"], r["reason_code"]) for r in read_jsonl(output / "report" / "rejected.jsonl")}
    assert rejected == {
        "gone": ("probe", "VideoNotFoundError"), "bike2": ("cap", "class_cap"), "bike4": ("cap", "class_cap"),
        "bike5": ("cap", "class_cap"), "phone": ("length", "too_short"), "car": ("classifier", "classifier_miss"),
        "other": ("match", "no_match"),
    }
    assert result.report["classes"][0]["capped"] == 3
    assert {shard_of(video_id, 2) for video_id in kept} == {0, 1}


def test_two_shards_in_one_folder_merge_to_the_single_run(tmp_path, inputs, single):
    manifest, classifier, _ = inputs
    reference, whole = single
    shared = tmp_path / "shared"
    parts = [curate(manifest, shared, CurationSettings(classifier=classifier, shard=i, num_shards=2, **SETTINGS)) for i in (0, 1)]
    assert all(p.report is None for p in parts)
    assert not (shared / "metadata.jsonl").exists()
    assert sum(p.selected for p in parts) == whole.selected
    with pytest.raises(ShardMergeError, match="shards \\[1\\] of 2"):
        merge_shards(tmp_path / "lonely", [_only_shard(shared, 0, tmp_path / "lonely_src")])
    report = runpy.run_path(str(CLI))["main"](["merge", "--output-dir", str(shared)])
    assert report["kept"] == whole.kept
    _same_dataset(shared, reference, merge_shards(shared), whole.report)


def test_shards_from_separate_folders_merge_with_their_clips(tmp_path, inputs, single):
    manifest, classifier, _ = inputs
    reference, whole = single
    machine_a, machine_b, merged = tmp_path / "a", tmp_path / "b", tmp_path / "merged"
    curate(manifest, machine_a, CurationSettings(classifier=classifier, shard=0, num_shards=2, **SETTINGS))
    curate(manifest, machine_b, CurationSettings(classifier=classifier, shard=1, num_shards=2, **SETTINGS))
    with pytest.raises(ShardMergeError, match="shards \\[1\\] of 2"):
        merge_shards(merged, [machine_a])
    report = merge_shards(merged, [machine_a, machine_b])
    _same_dataset(merged, reference, report, whole.report)
    ds = datasets.load_dataset("videofolder", data_dir=str(merged), split="train", cache_dir=str(tmp_path / "cache"))
    assert sorted(ds["video_id"]) == ["bike0", "bike1", "bike3"]
    with pytest.raises(ShardMergeError, match="appears in both"):
        merge_shards(merged, [machine_a, machine_b, _only_shard(machine_b, 1, tmp_path / "copy")])


def _only_shard(source, shard, target):
    """A copy of a curation folder holding only the records of one shard of a 2-way split."""
    shutil.copytree(source, target)
    for folder in (target / "shards").iterdir():
        if not folder.name.startswith(f"shard-{shard:05d}-"):
            shutil.rmtree(folder)
    return target
