"""End-to-end curation of real clips: expected kept/rejected files, report, card, loading, idempotent reruns."""

import json
import shutil

import datasets
import pytest
from curation_helpers import clip, read_jsonl, tiny_classifier
from huggingface_hub import DatasetCard

from vito_hf.curation import CurationSettings, CurationSettingsError, curate, imagenet1k_taxonomy
from vito_hf.data.decoding import probe_video

MOUNTAIN_BIKE = 671
GOLDEN_RETRIEVER = 207
SETTINGS = dict(num_frames=4, min_duration=5.0, clip_duration=2.0, progress=False)


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    labels = [c.name for c in imagenet1k_taxonomy()]
    return tiny_classifier(tmp_path_factory.mktemp("classifier"), labels, top1=MOUNTAIN_BIKE)


@pytest.fixture(scope="module")
def candidates(tmp_path_factory):
    folder = tmp_path_factory.mktemp("candidates")
    bikes, carphone = clip("bikes.mp4"), clip("carphone_pristine.mp4")
    for name, source in [
        ("Mountain bikes downtown.mp4", bikes),
        ("off-roader street race.mp4", bikes),
        ("golden retriever park.mp4", bikes),
        ("mountain bike phone call.mp4", carphone),
        ("category theory.mp4", bikes),
        ("clip_7.mp4", bikes),
    ]:
        shutil.copyfile(source, folder / name)
    (folder / "clip_7.info.json").write_text(json.dumps({"title": "Egyptian cat by the window"}))
    (folder / "tiger cat.mp4").write_text("this is not a video\n")
    return folder


@pytest.fixture(scope="module")
def curated(tmp_path_factory, candidates, classifier):
    output = tmp_path_factory.mktemp("curated")
    result = curate(candidates, output, CurationSettings(classifier=classifier, **SETTINGS))
    return output, result


def test_kept_clips_and_metadata(curated):
    output, result = curated
    rows = read_jsonl(output / "metadata.jsonl")
    assert result.kept == 2 and result.candidates == 7
    assert [r["title"] for r in rows] == ["Mountain bikes downtown", "off-roader street race"]
    for row in rows:
        assert row["file_name"] == f"clips/n03792782/{row['video_id']}.mp4"
        assert (row["label"], row["class_index"], row["class_id"]) == ("mountain bike", MOUNTAIN_BIKE, "n03792782")
        assert row["classifier_hits"] == 4 and 0 < row["classifier_best_score"] <= 1
        assert (row["fps"], row["num_frames"], row["height"]) == (25.0, 50, 256)
        assert row["duration"] == pytest.approx(2.0, abs=0.05)
        info = probe_video(output / row["file_name"])
        assert (info.num_frames, info.width, info.height) == (50, row["width"], 256)
    clips = sorted(p.relative_to(output).as_posix() for p in (output / "clips").rglob("*") if p.is_file())
    assert clips == sorted(r["file_name"] for r in rows)


def test_every_rejection_is_listed_with_its_stage_and_reason(curated):
    output, _ = curated
    rejected = {r["title"]: r for r in read_jsonl(output / "report" / "rejected.jsonl")}
    expected = {
        "category theory": ("match", "no_match"),
        "tiger cat": ("probe", "NotAVideoError"),
        "mountain bike phone call": ("length", "too_short"),
        "golden retriever park": ("classifier", "classifier_miss"),
        "Egyptian cat by the window": ("classifier", "classifier_miss"),
    }
    assert {t: (r["stage"], r["reason_code"]) for t, r in rejected.items()} == expected
    assert "4.00 s < 5 s" in rejected["mountain bike phone call"]["reason"]
    assert "most frequent top-1: mountain bike" in rejected["golden retriever park"]["reason"]


def test_report_counts_per_stage_and_class(curated):
    output, result = curated
    report = json.loads((output / "report" / "report.json").read_text())
    assert report == result.report
    stages = {s["stage"]: (s["in"], s["passed"], s["rejected"]) for s in report["stages"]}
    assert stages == {
        "candidates": (7, 7, 0), "match": (7, 6, 1), "cap": (6, 6, 0), "probe": (6, 5, 1),
        "length": (5, 4, 1), "classifier": (4, 2, 2), "export": (2, 2, 0),
    }
    assert report["totals"] == {"candidates": 7, "kept": 2, "rejected": 5, "pass_rate": pytest.approx(2 / 7, abs=1e-5)}
    bike, dog = report["classes"][MOUNTAIN_BIKE], report["classes"][GOLDEN_RETRIEVER]
    assert (bike["queried"], bike["probe_passed"], bike["length_passed"], bike["classifier_passed"], bike["kept"]) == (3, 3, 2, 2, 2)
    assert bike["pass_rate"] == pytest.approx(2 / 3, abs=1e-5)
    assert (dog["queried"], dog["length_passed"], dog["classifier_passed"], dog["kept"]) == (1, 1, 0, 0)
    assert report["target"]["classes_with_clips"] == 1
    assert report["target"]["total_variation_distance"] == pytest.approx(0.999, abs=1e-6)
    assert report["last_run"]["executed"] == {"probe": 5, "length": 5, "classifier": 4, "export": 2}
    assert (output / "report" / "class_histogram.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_dataset_card_and_loading_with_datasets(curated, tmp_path):
    output, _ = curated
    card = DatasetCard.load(output / "README.md")
    assert card.data.size_categories == ["n<1K"]
    assert card.data.configs[0]["data_files"][0]["path"] == ["metadata.jsonl", "clips/**/*.mp4"]
    assert "| classifier | 4 | 2 | 2 | 50.0% |" in card.text
    for kwargs in ({"path": "videofolder", "data_dir": str(output)}, {"path": str(output)}):
        ds = datasets.load_dataset(**kwargs, split="train", cache_dir=str(tmp_path / "cache"))
        ds = ds.cast_column("video", datasets.Video(decode=False))
        assert len(ds) == 2
        label = ds.features["label"]  # the card's ClassLabel; videofolder with data_dir ignores the card: a string
        assert (label.int2str(ds[0]["label"]) if "data_dir" not in kwargs else ds[0]["label"]) == "mountain bike"
        assert ds[0]["classifier_hits"] == 4
        assert ds[0]["video"]["path"].endswith(read_jsonl(output / "metadata.jsonl")[0]["file_name"])


def test_rerun_does_no_work_and_changes_nothing(curated, candidates, classifier):
    output, first = curated
    clips = sorted((output / "clips").rglob("*.mp4"))
    stamps = [p.stat().st_mtime_ns for p in clips]
    metadata = (output / "metadata.jsonl").read_bytes()
    again = curate(candidates, output, CurationSettings(classifier=classifier, **SETTINGS))
    assert again.executed == {"probe": 0, "length": 0, "classifier": 0, "export": 0}
    assert again.reused == first.selected == 6
    assert again.report["last_run"]["executed"] == again.executed
    assert [p.stat().st_mtime_ns for p in clips] == stamps
    assert (output / "metadata.jsonl").read_bytes() == metadata
    assert again.report["stages"] == first.report["stages"]


def test_rerun_with_a_new_candidate_processes_only_it(tmp_path, candidates, classifier):
    folder = tmp_path / "candidates"
    shutil.copytree(candidates, folder)
    output = tmp_path / "out"
    curate(folder, output, CurationSettings(classifier=classifier, **SETTINGS))
    shutil.copyfile(clip("bikes.mp4"), folder / "all-terrain bikes.mp4")
    (output / read_jsonl(output / "metadata.jsonl")[0]["file_name"]).unlink()
    result = curate(folder, output, CurationSettings(classifier=classifier, **SETTINGS))
    assert result.executed == {"probe": 2, "length": 2, "classifier": 2, "export": 2}
    assert result.kept == 3 and len(read_jsonl(output / "metadata.jsonl")) == 3


def test_other_settings_in_the_same_folder_are_refused(curated, candidates, classifier):
    output, _ = curated
    with pytest.raises(CurationSettingsError, match=r"min_duration: 5\.0 -> 3\.0"):
        curate(candidates, output, CurationSettings(classifier=classifier, **{**SETTINGS, "min_duration": 3.0}))


def test_the_report_measures_against_a_given_target(curated, candidates, classifier):
    output, _ = curated
    result = curate(candidates, output, CurationSettings(classifier=classifier, target_distribution={"n03792782": 1.0}, **SETTINGS))
    assert result.executed["probe"] == 0
    assert result.report["target"]["distribution"] == "given"
    assert result.report["target"]["total_variation_distance"] == 0.0
    assert result.report["classes"][MOUNTAIN_BIKE]["target_share"] == 1.0
    with pytest.raises(ValueError, match="unknown class ids"):
        curate(candidates, output, CurationSettings(classifier=classifier, target_distribution={"nope": 1.0}, **SETTINGS))


def test_without_a_classifier_every_matched_long_video_is_kept(tmp_path, candidates):
    output = tmp_path / "out"
    result = curate(candidates, output, CurationSettings(classifier=None, codec="libx264", **SETTINGS))
    rows = read_jsonl(output / "metadata.jsonl")
    assert sorted(r["label"] for r in rows) == ["Egyptian cat", "golden retriever", "mountain bike", "mountain bike"]
    assert all(r["classifier_hits"] is None and r["classifier_best_score"] is None for r in rows)
    assert all(probe_video(output / r["file_name"]).codec == "h264" for r in rows)
    assert result.report["stages"][5] == {"stage": "classifier", "in": 4, "passed": 4, "rejected": 0, "pass_rate": 1.0}
    ds = datasets.load_dataset("videofolder", data_dir=str(output), split="train", cache_dir=str(tmp_path / "cache"))
    assert len(ds) == 4
