"""Title matching, the per-class cap, taxonomies and candidate lists (no video decoding)."""

import json

import pytest

from vito_hf.curation import (
    CandidateSourceError,
    TaxonomyError,
    TitleMatcher,
    apply_class_cap,
    imagenet1k_taxonomy,
    load_candidates,
    load_taxonomy,
    normalize_words,
    plural_forms,
    select_videos,
    taxonomy_from_records,
)

TAXONOMY = taxonomy_from_records(
    [
        {"name": "cat", "synonyms": ["house cat"]},
        {"name": "tiger"},
        {"name": "tiger cat"},
        {"name": "mountain bike", "synonyms": ["all-terrain bike"]},
        {"name": "butterfly"},
        {"name": "box"},
        {"name": "knife"},
        {"name": "mouse"},
        {"name": "T-shirt"},
        {"name": "potter's wheel"},
    ]
)
INDEX = {c.name: c.index for c in TAXONOMY}
MATCHER = TitleMatcher(TAXONOMY)


def names(title):
    return {TAXONOMY[i].name for i in MATCHER.match(title)}


@pytest.mark.parametrize(
    "title, expected",
    [
        ("CAT", {"cat"}),
        ("my Cat!!!", {"cat"}),
        ("cat.", {"cat"}),
        ("Café cat", {"cat"}),
        ("category theory", set()),
        ("concatenate", set()),
        ("bobcat", set()),
        ("cats", {"cat"}),
        ("butterflies in the garden", {"butterfly"}),
        ("boxes", {"box"}),
        ("knives", {"knife"}),
        ("mice", {"mouse"}),
        ("Mountain-Bikes downtown", {"mountain bike"}),
        ("MOUNTAIN   bike", {"mountain bike"}),
        ("mountain and bike", set()),
        ("all terrain bikes", {"mountain bike"}),
        ("a house cat", {"cat"}),
        ("tshirts for sale", {"T-shirt"}),
        ("T shirt", {"T-shirt"}),
        ("potters wheel", {"potter's wheel"}),
        ("Potter’s Wheel", {"potter's wheel"}),
        ("tiger cat sleeping", {"tiger cat"}),
        ("tiger and cat", {"tiger", "cat"}),
        ("a tiger cat and a mountain bike", {"tiger cat", "mountain bike"}),
    ],
)
def test_title_matching(title, expected):
    assert names(title) == expected


def test_normalisation_and_plurals():
    assert normalize_words("Jack-o'-Lantern, ÉTÉ!") == ("jack", "o", "lantern", "ete")
    assert plural_forms("city") == ("cities",)
    assert plural_forms("day") == ("days",)
    assert plural_forms("church") == ("churches",)
    assert "wolves" in plural_forms("wolf")
    assert plural_forms("man") == ("men",)


def test_tags_are_matched_only_when_asked(tmp_path):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"path": "a.mp4", "title": "holiday", "tags": ["cat"]}) + "\n")
    candidates = load_candidates(manifest)
    assert select_videos(candidates, TAXONOMY, None, match_tags=False)[0] == []
    tasks, _ = select_videos(candidates, TAXONOMY, None, match_tags=True)
    assert [t.classes for t in tasks] == [(INDEX["cat"],)]


def test_cap_keeps_the_first_candidates_per_class_in_order():
    cat, tiger = INDEX["cat"], INDEX["tiger"]
    matches = [(cat,), (cat, tiger), (tiger,), (cat,), (cat, tiger), ()]
    assignments = apply_class_cap(matches, cap=2)
    assert [a.classes for a in assignments] == [(cat,), (cat, tiger), (tiger,), (), (), ()]
    assert [a.capped for a in assignments] == [(), (), (), (cat,), (cat, tiger), ()]
    assert apply_class_cap(matches, cap=2) == assignments
    assert all(a.capped == () for a in apply_class_cap(matches, cap=None))
    with pytest.raises(ValueError, match="per_class_cap"):
        apply_class_cap(matches, cap=0)


def test_select_videos_records_every_rejection(tmp_path):
    rows = [
        {"path": "a.mp4", "title": "cat 1"},
        {"path": "b.mp4", "title": "cat 2"},
        {"path": "c.mp4", "title": "cat 3"},
        {"path": "d.mp4", "title": "holiday"},
        {"url": "https://example.org/v.mp4", "title": "cat 4"},
    ]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tasks, rejected = select_videos(load_candidates(manifest), TAXONOMY, per_class_cap=2)
    assert [t.candidate.title for t in tasks] == ["cat 1", "cat 2"]
    by_title = {r.title: r for r in rejected}
    assert (by_title["cat 3"].stage, by_title["cat 3"].reason_code) == ("cap", "class_cap")
    assert (by_title["holiday"].stage, by_title["holiday"].reason_code) == ("match", "no_match")
    assert (by_title["cat 4"].stage, by_title["cat 4"].reason_code) == ("candidates", "remote_url")
    assert "download" in by_title["cat 4"].reason


def test_imagenet_taxonomy_is_the_ilsvrc_order_with_lemmas():
    taxonomy = imagenet1k_taxonomy()
    assert len(taxonomy) == 1000
    assert (taxonomy[0].id, taxonomy[0].name) == ("n01440764", "tench")
    assert taxonomy[999].id == "n15075141"
    assert taxonomy[671].names == ("mountain bike", "all-terrain bike", "off-roader")
    matcher = TitleMatcher(taxonomy)
    assert [taxonomy[i].name for i in matcher.match("Off-roaders on a forest trail")] == ["mountain bike"]
    assert {taxonomy[i].id for i in matcher.match("a crane lifting steel")} == {"n02012849", "n03126707"}
    assert matcher.match("category theory lecture") == ()


def test_user_taxonomy_formats(tmp_path):
    tsv = tmp_path / "classes.tsv"
    tsv.write_text("index\tid\tname\tsynonyms\n1\tb\tbicycle\tbike|cycle\n0\ta\tcar\tautomobile\n")
    taxonomy = load_taxonomy(tsv)
    assert [(c.index, c.id, c.name) for c in taxonomy] == [(0, "a", "car"), (1, "b", "bicycle")]
    assert taxonomy.by_id("b").synonyms == ("bike", "cycle")

    as_json = tmp_path / "classes.json"
    as_json.write_text(json.dumps({"car": ["automobile"], "bicycle": ["bike", "cycle"]}))
    assert [c.names for c in load_taxonomy(as_json)] == [("car", "automobile"), ("bicycle", "bike", "cycle")]
    assert load_taxonomy(as_json).fingerprint() != taxonomy.fingerprint()

    text = tmp_path / "classes.txt"
    text.write_text("Sports car, sport car\nbicycle\n")
    loaded = load_taxonomy(text)
    assert [(c.id, c.names) for c in loaded] == [("sports_car", ("Sports car", "sport car")), ("bicycle", ("bicycle",))]


@pytest.mark.parametrize(
    "content, message",
    [
        ("id\tlabel\nx\ty\n", "'name' column"),
        ("id\tname\nsame\tcar\nsame\tbus\n", "ids must be unique"),
        ("id\tname\nbad/id\tcar\n", "folder-safe"),
        ("index\tname\n0\tcar\n5\tbus\n", "0..1"),
    ],
)
def test_bad_taxonomy_files_say_what_is_wrong(tmp_path, content, message):
    path = tmp_path / "classes.tsv"
    path.write_text(content)
    with pytest.raises(TaxonomyError, match=message):
        load_taxonomy(path)


def test_candidates_from_a_folder_with_sidecar_titles(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "clip_001.mp4").write_bytes(b"x")
    (tmp_path / "sub" / "clip_001.info.json").write_text(json.dumps({"title": "Tiger cat at home", "tags": ["pet"]}))
    (tmp_path / "b cat.MOV").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("not a video")
    (tmp_path / "folder.mp4").mkdir()
    candidates = load_candidates(tmp_path)
    assert [c.source for c in candidates] == ["b cat.MOV", "folder.mp4", "sub/clip_001.mp4"]
    assert [c.title for c in candidates] == ["b cat", "folder", "Tiger cat at home"]
    assert candidates[2].tags == ("pet",)
    assert len({c.video_id for c in candidates}) == 3
    assert load_candidates(tmp_path) == candidates


def test_candidates_from_manifests(tmp_path):
    (tmp_path / "v").mkdir()
    csv_manifest = tmp_path / "m.csv"
    csv_manifest.write_text(
        "path,title,tags,id\n"
        "v/a.mp4,Cat video,pet|home,yt_abc\n"
        f"file://{tmp_path}/v/b.mp4,,,\n"
        "http://example.org/c.mp4,remote cat,,\n"
        "v/a.mp4,again,,yt_abc\n"
    )
    a, b, c, dup = load_candidates(csv_manifest)
    assert (a.video_id, a.path, a.title, a.tags) == ("yt_abc", str(tmp_path / "v/a.mp4"), "Cat video", ("pet", "home"))
    assert (b.path, b.title, b.problem) == (str(tmp_path / "v/b.mp4"), "b", None)
    assert c.path is None and c.problem_code == "remote_url"
    assert dup.problem_code == "duplicate" and dup.video_id != a.video_id

    jsonl = tmp_path / "m.jsonl"
    jsonl.write_text('{"path": "v/a.mp4", "title": "cat"}\n\n{not json\n{"title": "no path"}\n')
    good, broken, pathless = load_candidates(jsonl)
    assert good.problem is None and good.title == "cat"
    assert broken.problem_code == "bad_entry" and "line 3" in broken.problem
    assert pathless.problem_code == "bad_entry" and "line 4" in pathless.problem


def test_unreadable_candidate_sources_raise_clear_errors(tmp_path):
    with pytest.raises(CandidateSourceError, match="does not exist"):
        load_candidates(tmp_path / "missing")
    (tmp_path / "m.txt").write_text("x")
    with pytest.raises(CandidateSourceError, match="unknown format"):
        load_candidates(tmp_path / "m.txt")
    (tmp_path / "m.csv").write_text("file,title\na.mp4,cat\n")
    with pytest.raises(CandidateSourceError, match="'path', 'url' or 'source'"):
        load_candidates(tmp_path / "m.csv")
