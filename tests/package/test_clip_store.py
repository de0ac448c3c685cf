"""The clip-store schema, shared by the curation writer and the dataset reader: columns, extensions, version."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from curation_helpers import clip, read_jsonl

from vito_hf import clip_store
from vito_hf.curation import CurationSettings, candidates_from_folder, curate, taxonomy_from_records
from vito_hf.data import build_clip_dataset, clip_rows

TAXONOMY = taxonomy_from_records(["mountain bike", "car"])
SETTINGS = CurationSettings(
    taxonomy=TAXONOMY, classifier=None, min_duration=1.0, clip_duration=1.0, short_side=48, progress=False
)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    videos = tmp_path_factory.mktemp("videos")
    shutil.copy(clip("bikes.mp4"), videos / "mountain bike ride.mp4")
    shutil.copy(clip("carphone_pristine.mp4"), videos / "car phone.mp4")
    output = tmp_path_factory.mktemp("store")
    curate(videos, output, SETTINGS)
    return output


def test_the_writer_writes_the_schema_and_the_reader_reads_all_of_it(store, tmp_path):
    assert json.loads((store / clip_store.STORE_FILE).read_text()) == {"format_version": clip_store.FORMAT_VERSION}
    assert clip_store.store_format_version(store) == clip_store.FORMAT_VERSION
    rows = read_jsonl(store / clip_store.METADATA_FILE)
    assert [sorted(row) for row in rows] == [sorted(clip_store.COLUMNS)] * 2
    dataset = build_clip_dataset(store, cache_dir=tmp_path / "cache")
    assert set(dataset.column_names) == {"video", *clip_store.COLUMNS}
    assert sorted(dataset["class_id"]) == sorted(row["class_id"] for row in rows)
    assert all(row["file_name"] == clip_store.clip_file_name(row["class_id"], row["video_id"]) for row in rows)


def test_a_store_without_a_version_file_is_read_as_version_0(store, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(store, old)
    (old / clip_store.STORE_FILE).unlink()
    assert clip_store.store_format_version(old) == 0
    assert len(build_clip_dataset(old, cache_dir=tmp_path / "cache")) == 2


def test_a_store_of_a_newer_version_is_refused_clearly(store, tmp_path):
    newer = tmp_path / "newer"
    shutil.copytree(store, newer)
    (newer / clip_store.STORE_FILE).write_text(json.dumps({"format_version": clip_store.FORMAT_VERSION + 1}))
    with pytest.raises(clip_store.ClipStoreVersionError, match="newer vito_hf.*Upgrade"):
        build_clip_dataset(newer, cache_dir=tmp_path / "cache")
    (newer / clip_store.STORE_FILE).write_text("{not json")
    with pytest.raises(clip_store.ClipStoreVersionError, match="unreadable"):
        clip_rows(newer)


def test_writer_and_reader_take_the_same_video_extensions(tmp_path):
    """The reader used to skip .wmv and .ts files that curation's folder mode took."""
    folder = tmp_path / "videos"
    folder.mkdir()
    for suffix in (".wmv", ".ts", ".mp4"):
        shutil.copy(clip("carphone_pristine.mp4"), folder / f"car{suffix}")  # FFmpeg reads the content, not the name
    (folder / "notes.txt").write_text("not a video")
    assert sorted(Path(c.path).suffix for c in candidates_from_folder(folder)) == [".mp4", ".ts", ".wmv"]
    assert sorted(Path(row["file_name"]).suffix for row in clip_rows(folder)) == [".mp4", ".ts", ".wmv"]
