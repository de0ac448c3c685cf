"""Titles matched through hashtags, camelCase and run-together words (issue 11.3), measured against the old
whole-word matcher on the labelled set `tests/fixtures/labelled_titles.tsv` over ImageNet-1k."""

import json
from pathlib import Path

import pytest

from vito_hf.curation import (
    CurationSettings,
    TitleMatcher,
    TitleSegmenter,
    curate,
    imagenet1k_taxonomy,
    split_camel_case,
    taxonomy_from_records,
)

LABELLED = Path(__file__).resolve().parents[1] / "fixtures" / "labelled_titles.tsv"


def labelled_titles():
    taxonomy = imagenet1k_taxonomy()
    index = {c.name: c.index for c in taxonomy}
    lines = [line for line in LABELLED.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    rows = []
    for line in lines[1:]:
        kind, title, expected = line.split("\t")
        rows.append((kind, title, {index[name] for name in expected.split("|") if name}))
    return rows


def precision_recall(matcher, rows):
    tp = fp = fn = 0
    for _, title, expected in rows:
        found = set(matcher.match(title))
        tp, fp, fn = tp + len(found & expected), fp + len(found - expected), fn + len(expected - found)
    return tp / (tp + fp), tp / (tp + fn)


def test_labelled_set_has_every_kind():
    rows = labelled_titles()
    kinds = {kind for kind, _, _ in rows}
    assert len(rows) >= 200
    assert kinds == {"plain", "hashtag", "camel", "runon", "plural", "punct", "negative"}
    assert sum(1 for kind, _, expected in rows if kind == "negative" and not expected) >= 40


def test_segmenting_matcher_keeps_precision_and_raises_recall(capsys):
    rows = labelled_titles()
    taxonomy = imagenet1k_taxonomy()
    segmenter = TitleSegmenter.train([title for _, title, _ in rows], taxonomy)
    old = precision_recall(TitleMatcher(taxonomy), rows)
    new = precision_recall(TitleMatcher(taxonomy, segmenter), rows)
    # The same matcher with camelCase split and names joined, but no token split by the model: its share.
    segmenter.min_token_length = 10**6
    rules_only = precision_recall(TitleMatcher(taxonomy, segmenter), rows)
    with capsys.disabled():
        print(f"\nlabelled titles ({len(rows)}): old matcher precision {old[0]:.3f} recall {old[1]:.3f}; "
              f"segmenting matcher precision {new[0]:.3f} recall {new[1]:.3f} "
              f"(without the model's splits: precision {rules_only[0]:.3f} recall {rules_only[1]:.3f})")
    assert new[0] >= old[0]
    assert new[1] > old[1]


def test_segmenter_splits_compounds_and_keeps_words():
    rows = labelled_titles()
    taxonomy = imagenet1k_taxonomy()
    segmenter = TitleSegmenter.train([title for _, title, _ in rows], taxonomy)
    matcher = TitleMatcher(taxonomy, segmenter)
    names = lambda title: {taxonomy[i].name for i in matcher.match(title)}  # noqa: E731
    assert names("#goldenretriever puppy") == {"golden retriever"}
    assert names("MountainBike Trail Day") == {"mountain bike"}
    assert names("#homemadeicecream") == {"ice cream"}  # split by the model, then "icecream" is a lemma
    assert names("friday #pizzanight at home") == {"pizza"}
    assert names("iPod Classic Teardown") == {"iPod"}
    assert names("category theory lecture 3") == set()
    assert segmenter.segment("category") == ("category",)  # no split into known words of two letters or more
    assert split_camel_case("MyGoldenRetriever2 HTMLParser") == "My Golden Retriever 2 HTML Parser"


def test_training_is_deterministic_and_the_model_round_trips(tmp_path):
    rows = labelled_titles()
    taxonomy = imagenet1k_taxonomy()
    titles = [title for _, title, _ in rows]
    first, second = TitleSegmenter.train(titles, taxonomy), TitleSegmenter.train(titles, taxonomy)
    assert first.model == second.model
    files = first.save(tmp_path)
    loaded = TitleSegmenter.load(tmp_path)
    assert (tmp_path / files["model"]).read_bytes() == first.model
    assert [loaded.words(t) for t in titles] == [first.words(t) for t in titles]


@pytest.mark.parametrize("match_segments", [True, False])
def test_curation_records_the_segmenter_in_its_report(tmp_path, match_segments):
    """Matching and the cap only: every candidate is a missing file, so the run ends at the probe."""
    taxonomy = taxonomy_from_records(["golden retriever", "pizza", "pot"])
    titles = ["GoldenRetriever", "golden retriever", "#goldenretrieverpuppy", "pizza night", "jackpot", "hi"]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps({"path": f"v{i}.mp4", "title": t}) + "\n" for i, t in enumerate(titles)))
    settings = CurationSettings(taxonomy=taxonomy, classifier=None, match_segments=match_segments, progress=False)
    out = tmp_path / "out"
    report = curate(manifest, out, settings).report
    matched = report["stages"][1]["passed"]
    assert report["settings"].get("match_segments", False) is match_segments
    if not match_segments:
        assert report["title_segmenter"] is None and not (out / "title_segmenter").exists()
        assert "match_segments" not in report["settings"]  # pinned as before segmentation existed
        assert matched == 2
        return
    assert report["title_segmenter"]["model"] == "title_segmenter/segmenter.model"
    assert "sentencepiece" in (out / "README.md").read_text()
    # The run matched with the model it saved: the saved model gives the same matches again.
    matcher = TitleMatcher(taxonomy, TitleSegmenter.load(out))
    assert matched == sum(1 for t in titles if matcher.match(t)) >= 3  # camelCase at least
