"""The classifier filter on real clips with tiny real classifiers whose predictions we control."""

import numpy as np
import pytest
from curation_helpers import clip, read_jsonl, tiny_classifier, write_jsonl

from vito_hf.curation import (
    ClassifierFilter,
    ClassifierMappingError,
    CurationSettings,
    curate,
    imagenet1k_taxonomy,
    map_taxonomy_to_labels,
    taxonomy_from_records,
)

TAXONOMY = taxonomy_from_records(["mountain bike", "car", "cat"])


def test_query_class_passes_only_when_it_is_top1(tmp_path):
    model = tiny_classifier(tmp_path / "cls", ["mountain bike", "car", "cat"], top1=0)
    classifier = ClassifierFilter(model, TAXONOMY, num_frames=5, batch_size=2)
    assert classifier.mapping_rule == "index"
    result = classifier.check(clip("bikes.mp4"), [0, 1])
    assert result.num_frames == 5
    assert result.checks[0].hits == 5
    assert result.checks[1].hits == 0
    assert result.checks[0].best_score > result.checks[1].best_score
    assert result.frequent_top1 == ("mountain bike",)


def test_reads_only_the_first_frames_and_stops_at_the_end(tmp_path):
    model = tiny_classifier(tmp_path / "cls", ["mountain bike", "car", "cat"], top1=1)
    short = ClassifierFilter(model, TAXONOMY, num_frames=3)
    assert short.check(clip("carphone_pristine.mp4"), [1]).num_frames == 3
    longer = ClassifierFilter(model, TAXONOMY, num_frames=500, batch_size=64)
    assert longer.check(clip("carphone_pristine.mp4"), [1]).checks[1].hits == 120


def test_batching_does_not_change_predictions(tmp_path):
    model = tiny_classifier(tmp_path / "cls", ["mountain bike", "car", "cat"], top1=None, frame_dependent=True)
    top1_a, probs_a = ClassifierFilter(model, TAXONOMY, num_frames=7, batch_size=3).predict(clip("bikes.mp4"))
    top1_b, probs_b = ClassifierFilter(model, TAXONOMY, num_frames=7, batch_size=32).predict(clip("bikes.mp4"))
    assert probs_a.shape == (7, 3)
    np.testing.assert_allclose(probs_a, probs_b, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(top1_a, top1_b)


def test_cross_video_batches_give_each_video_its_own_predictions(tmp_path):
    """Frames of three videos (5 + 5 + 3) in batches of 4 that straddle the videos: each video gets
    back exactly the predictions it gets alone."""
    model = tiny_classifier(tmp_path / "cls", ["mountain bike", "car", "cat"], top1=None, frame_dependent=True)
    classifier = ClassifierFilter(model, TAXONOMY, num_frames=5, batch_size=4)
    videos = [classifier.decode(clip("bikes.mp4")), classifier.decode(clip("carphone_pristine.mp4"))]
    videos.append(videos[1][:3])
    together = classifier.predict_pixels(videos)
    assert [len(top1) for top1, _ in together] == [5, 5, 3]
    for pixels, (top1, probs) in zip(videos, together):
        alone_top1, alone_probs = classifier.predict_pixels([pixels])[0]
        np.testing.assert_allclose(probs, alone_probs, rtol=1e-4, atol=1e-6)
        np.testing.assert_array_equal(top1, alone_top1)
    assert not np.allclose(together[0][1], together[1][1], atol=1e-3), "the two clips must be told apart"


def test_local_cross_video_batching_keeps_the_same_videos(tmp_path):
    model = tiny_classifier(tmp_path / "cls", ["mountain bike", "car", "cat"], top1=None, frame_dependent=True)
    rows = [{"path": str(clip(name)), "id": f"{name[:4]}{i}", "title": "mountain bike or car or cat"}
            for i in range(2) for name in ("bikes.mp4", "carphone_pristine.mp4")]
    manifest = write_jsonl(tmp_path / "manifest.jsonl", rows)
    settings = dict(taxonomy=TAXONOMY, classifier=model, num_frames=3, min_duration=0.0, clip_duration=1.0, progress=False)
    alone = curate(manifest, tmp_path / "alone", CurationSettings(**settings))
    together = curate(manifest, tmp_path / "together", CurationSettings(cross_video_batching=True, batch_size=4, **settings))
    assert CurationSettings(cross_video_batching=True, batch_size=4, num_frames=3).videos_per_batch() == 2
    assert together.executed == alone.executed
    kept = {run: read_jsonl(tmp_path / run / "metadata.jsonl") for run in ("alone", "together")}
    assert [(r["video_id"], r["label"], r["classifier_hits"]) for r in kept["together"]] == [
        (r["video_id"], r["label"], r["classifier_hits"]) for r in kept["alone"]
    ]
    assert [r["classifier_best_score"] for r in kept["together"]] == pytest.approx(
        [r["classifier_best_score"] for r in kept["alone"]], rel=1e-4
    )
    rejected = {run: read_jsonl(tmp_path / run / "report" / "rejected.jsonl") for run in ("alone", "together")}
    assert [(r["video_id"], r["reason_code"]) for r in rejected["together"]] == [
        (r["video_id"], r["reason_code"]) for r in rejected["alone"]
    ]
    assert together.kept >= 1


def test_without_an_image_processor_imagenet_normalisation_is_used(tmp_path):
    model = tiny_classifier(tmp_path / "cls", ["mountain bike", "car", "cat"], top1=2, processor=False)
    classifier = ClassifierFilter(model, TAXONOMY, num_frames=2)
    assert classifier.processor is None
    assert classifier.check(clip("bikes.mp4"), [2]).checks[2].hits == 2


def test_classes_map_by_name_when_the_label_counts_differ(tmp_path):
    labels = ["tabby, tabby cat", "all-terrain bike, mountain bike", "sports car", "airliner", "Mountain Bike"]
    rule, mapping = map_taxonomy_to_labels(TAXONOMY, dict(enumerate(labels)))
    assert rule == "name"
    assert mapping == [frozenset({1, 4}), frozenset(), frozenset()]
    model = tiny_classifier(tmp_path / "cls", labels, top1=4)
    result = ClassifierFilter(model, TAXONOMY, num_frames=2).check(clip("bikes.mp4"), [0, 1])
    assert result.checks[0].hits == 2 and result.checks[1].hits == 0


def test_imagenet_classifiers_map_by_index_and_unnamed_labels_are_refused():
    imagenet = imagenet1k_taxonomy()
    assert map_taxonomy_to_labels(imagenet, {i: f"LABEL_{i}" for i in range(1000)})[0] == "index"
    with pytest.raises(ClassifierMappingError, match="no label name"):
        map_taxonomy_to_labels(TAXONOMY, {i: f"LABEL_{i}" for i in range(5)})


def test_a_class_the_classifier_lacks_is_rejected_with_that_reason(tmp_path):
    labels = ["mountain bike", "airliner", "tabby", "golf ball"]
    classifier = tiny_classifier(tmp_path / "cls", labels, top1=0)
    manifest = write_jsonl(tmp_path / "m.jsonl", [
        {"path": str(clip("bikes.mp4")), "id": "bike", "title": "mountain bike"},
        {"path": str(clip("bikes.mp4")), "id": "car", "title": "car"},
    ])
    settings = CurationSettings(
        taxonomy=TAXONOMY, classifier=classifier, num_frames=2, min_duration=1.0, clip_duration=1.0, progress=False
    )
    result = curate(manifest, tmp_path / "out", settings)
    assert result.kept == 1
    (rejected,) = read_jsonl(tmp_path / "out" / "report" / "rejected.jsonl")
    assert (rejected["video_id"], rejected["reason_code"]) == ("car", "class_not_in_classifier")
    assert "no label for car" in rejected["reason"]
