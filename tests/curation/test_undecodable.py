"""A file name that is not valid UTF-8 is that file's problem only, in folder mode, manifest mode and the reader."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import pytest
from curation_helpers import clip, read_jsonl

from vito_hf.curation import CurationSettings, curate, taxonomy_from_records
from vito_hf.data import build_clip_dataset

TAXONOMY = taxonomy_from_records(["mountain bike", "car"])
SETTINGS = CurationSettings(
    taxonomy=TAXONOMY, classifier=None, min_duration=1.0, clip_duration=1.0, short_side=48, progress=False
)
BAD_NAME = os.fsdecode(b"\xff\xfe mountain bike.mp4")  # Python keeps the bytes as lone surrogates


@pytest.fixture
def videos(tmp_path) -> Path:
    folder = tmp_path / "videos"
    folder.mkdir()
    shutil.copy(clip("bikes.mp4"), folder / BAD_NAME)
    shutil.copy(clip("carphone_pristine.mp4"), folder / "car phone.mp4")
    return folder


def test_folder_mode_curates_every_file_and_writes_the_report(videos, tmp_path):
    output = tmp_path / "out"
    result = curate(videos, output, SETTINGS)
    assert result.kept == 2 and (output / "report" / "report.json").is_file()
    sources = sorted(row["source"] for row in read_jsonl(output / "metadata.jsonl"))
    assert sources == ["\\xff\\xfe mountain bike.mp4", "car phone.mp4"]  # the bytes shown, not lost
    assert len(build_clip_dataset(output, cache_dir=tmp_path / "cache")) == 2


def test_manifest_mode_curates_a_path_and_title_with_undecodable_bytes(videos, tmp_path):
    manifest = tmp_path / "manifest.jsonl"
    rows = [
        {"path": str(videos / BAD_NAME), "title": "mountain bike " + os.fsdecode(b"\xff"), "id": "bad"},
        {"path": str(videos / "car phone.mp4"), "title": "car phone", "id": "good"},
    ]
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))  # lone surrogates as JSON escapes
    result = curate(manifest, tmp_path / "out", SETTINGS)
    assert result.kept == 2
    titles = {row["video_id"]: row["title"] for row in read_jsonl(tmp_path / "out" / "metadata.jsonl")}
    assert titles == {"bad": "mountain bike \\xff", "good": "car phone"}


def test_the_reader_skips_an_undecodable_name_with_a_reason(videos, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="vito_hf.data.builder"):
        dataset = build_clip_dataset(videos, cache_dir=tmp_path / "cache")
    assert dataset["file_name"] == ["car phone.mp4"]
    assert "not valid UTF-8" in caplog.text and "\\xff\\xfe mountain bike.mp4" in caplog.text
