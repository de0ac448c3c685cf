"""The clip-folder builder: curated layout and plain folders, map-style vs streaming, sharding."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from datasets.distributed import split_dataset_by_node

from vito_hf.data.builder import NoUsableClipsError, build_clip_dataset, clip_rows
from vito_hf.curation.clip_export import encode_clip
from vito_hf.data.decoding import decode_frames_at
from sample_clips import sample_clip_paths

BIKES, CARPHONE = sample_clip_paths()[:2]


def curated_folder(root: Path) -> Path:
    """Four real 2 s clips in two classes, a metadata row for a missing clip, and one broken clip."""
    rows = []
    pieces = [(BIKES, 0.0, "street"), (BIKES, 4.0, "street"), (CARPHONE, 0.0, "car"), (CARPHONE, 2.0, "car")]
    for k, (source, start, label) in enumerate(pieces):
        relative = f"clips/{label}/{source.stem}_{k}.mp4"
        info = encode_clip(source, root / relative, start=start, duration=2.0, short_side=48)
        rows.append(
            {
                "file_name": relative,
                "video_id": f"{source.stem}_{k}",
                "label": label,
                "class_index": 0 if label == "street" else 1,
                "title": f"{label} video {k}",
                "source": str(source),
                "duration": info.duration,
                "fps": info.fps,
                "num_frames": info.num_frames,
                "width": info.width,
                "height": info.height,
                "classifier_hits": k,
                "classifier_best_score": 0.5 + k / 10,
            }
        )
    rows.insert(2, {**rows[0], "file_name": "clips/street/gone.mp4", "video_id": "gone"})
    broken = root / "clips" / "car" / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
    rows.append({"file_name": "clips/car/broken.mp4", "video_id": "broken", "label": "car", "class_index": 1})
    with open(root / "metadata.jsonl", "w") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    return root


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return curated_folder(tmp_path_factory.mktemp("curated"))


def _plain(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "video"} | {"path": row["video"]["path"]}


def test_map_style_rows(folder, tmp_path):
    dataset = build_clip_dataset(folder, cache_dir=tmp_path / "cache")
    assert len(dataset) == 4  # the missing and the broken clip are skipped
    first = dataset[0]
    assert first["video_id"] == "bikes_0" and first["label"] == "street" and first["class_index"] == 0
    assert first["classifier_hits"] == 0 and first["classifier_best_score"] == pytest.approx(0.5)
    assert first["duration"] == pytest.approx(2.0) and first["num_frames"] == 50
    assert first["video"]["bytes"] is None and Path(first["video"]["path"]).is_file()
    assert decode_frames_at(first["video"]["path"], [1.0]).shape == (1, 48, 112, 3)


def test_streaming_gives_the_same_rows(folder, tmp_path):
    mapped = [_plain(r) for r in build_clip_dataset(folder, cache_dir=tmp_path / "cache")]
    streamed = [_plain(r) for r in build_clip_dataset(folder, streaming=True)]
    assert streamed == mapped


def test_split_by_node_gives_each_process_its_own_shards(folder, tmp_path):
    streaming = build_clip_dataset(folder, streaming=True)
    assert streaming.num_shards == 5  # one per listed clip that exists, by default
    parts = [[r["video_id"] for r in split_dataset_by_node(streaming, rank=r, world_size=2)] for r in range(2)]
    assert set(parts[0]).isdisjoint(parts[1]) and sorted(parts[0] + parts[1]) == sorted(["bikes_0", "bikes_1", "carphone_pristine_2", "carphone_pristine_3"])
    grouped = build_clip_dataset(folder, streaming=True, num_shards=2)
    assert grouped.num_shards == 2
    halves = [[r["video_id"] for r in split_dataset_by_node(grouped, rank=r, world_size=2)] for r in range(2)]
    assert halves == [["bikes_0", "bikes_1"], ["carphone_pristine_2", "carphone_pristine_3"]]
    mapped = build_clip_dataset(folder, cache_dir=tmp_path / "cache")
    ranks = [split_dataset_by_node(mapped, rank=r, world_size=2)["video_id"] for r in range(2)]
    assert set(ranks[0]).isdisjoint(ranks[1]) and len(ranks[0]) + len(ranks[1]) == 4


def test_cache_follows_edits_of_the_folder(tmp_path):
    root = curated_folder(tmp_path / "data")
    assert len(build_clip_dataset(root, cache_dir=tmp_path / "cache")) == 4
    lines = (root / "metadata.jsonl").read_text().splitlines()
    (root / "metadata.jsonl").write_text("\n".join(lines[1:]) + "\n")
    assert len(build_clip_dataset(root, cache_dir=tmp_path / "cache")) == 3


def test_plain_folder_of_videos_is_probed(tmp_path):
    root = tmp_path / "videos"
    (root / "street").mkdir(parents=True)
    (root / "car").mkdir()
    shutil.copy(BIKES, root / "street" / "bikes.mp4")
    shutil.copy(CARPHONE, root / "car" / "carphone.mp4")
    (root / "car" / "notes.mp4").write_text("not a video")
    (root / "readme.txt").write_text("ignored: not a video extension")
    rows = {r["video_id"]: r for r in build_clip_dataset(root, cache_dir=tmp_path / "cache")}
    assert set(rows) == {"bikes", "carphone"}
    assert rows["bikes"]["label"] == "street" and rows["carphone"]["label"] == "car"
    assert rows["bikes"]["class_index"] == 1 and rows["carphone"]["class_index"] == 0
    assert rows["bikes"]["duration"] == pytest.approx(10.0) and rows["bikes"]["width"] == 640
    assert rows["carphone"]["num_frames"] == 120


def test_embedded_videos_carry_their_bytes(folder, tmp_path):
    row = build_clip_dataset(folder, cache_dir=tmp_path / "cache", embed_videos=True)[0]
    assert row["video"]["path"] == row["file_name"]
    assert row["video"]["bytes"] == (folder / row["file_name"]).read_bytes()
    assert decode_frames_at(row["video"]["bytes"], [0.5]).shape[0] == 1


def test_errors_say_what_to_do(tmp_path, folder):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        build_clip_dataset(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no usable clip"):
        clip_rows(tmp_path / "empty")
    with pytest.raises(ValueError, match="single 'train' split"):
        build_clip_dataset(folder, split="validation")


def test_a_folder_of_non_videos_says_why_every_time(tmp_path):
    """datasets used to end in "Instruction 'train' corresponds to no data", and a rerun lost the reasons."""
    folder = tmp_path / "not_videos"
    folder.mkdir()
    (folder / "notes.mp4").write_text("a text file with a video suffix")
    (folder / "empty.mkv").write_bytes(b"")
    for attempt in range(2):  # the same cache folder: nothing about the failure may be cached
        with pytest.raises(NoUsableClipsError, match="no usable clip") as error:
            build_clip_dataset(folder, cache_dir=tmp_path / "cache")
        assert "notes.mp4" in str(error.value) and "empty.mkv" in str(error.value), attempt
    with pytest.raises(NoUsableClipsError, match="notes.mp4"):
        build_clip_dataset(folder, streaming=True)
