"""Reading shards as fast as loose files (issue 20): the tar walker finds the members tarfile finds, in every tar
format, and refuses damaged tars; a clip inside a tar decodes in place to the same frames as the loose file, with
the loose file's typed errors; a local shard store's rows reference their clips instead of copying them."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from curation_helpers import clip

from vito_hf.curation.clip_export import encode_clip
from vito_hf.curation.webdataset_export import write_shard_store
from vito_hf.data import build_clip_dataset
from vito_hf.data.decoding import (
    CorruptVideoError,
    NotAVideoError,
    VideoNotFoundError,
    decode_frames_at,
    read_source_bytes,
    tar_member_source,
)
from vito_hf.data.tar_members import iter_tar_members

CLIP = clip("carphone_pristine.mp4")


def write_tar(path: Path, files: dict[str, bytes], tar_format: int, directories: tuple[str, ...] = ()) -> Path:
    with tarfile.open(path, "w", format=tar_format) as tar:
        for name in directories:
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1.5  # a float mtime: pax tars get a pax header per member
            tar.addfile(info, io.BytesIO(data))
    return path


def tarfile_members(path: Path) -> list[tuple[str, int, int]]:
    with tarfile.open(path) as tar:
        return [(m.name, m.offset_data, m.size) for m in tar if m.isreg()]


def walked(path: Path) -> list[tuple[str, int, int]]:
    with open(path, "rb") as handle:
        return [(m.name, m.offset, m.size) for m in iter_tar_members(handle)]


FILES = {
    "000000001.mp4": CLIP.read_bytes(),
    "000000001.json": b'{"file_name": "clips/car/a.mp4"}',
    "empty.txt": b"",
    "exactly-one-block.bin": bytes(range(256)) * 2,
    f"{'long-folder-name/' * 8}clip.mp4": b"x" * 700,  # longer than ustar's 100-byte name field
    "vidéo-ünïcode.json": b"{}",
}


@pytest.mark.parametrize("tar_format", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
def test_the_walker_finds_what_tarfile_finds(tar_format, tmp_path):
    files = dict(FILES)
    if tar_format == tarfile.USTAR_FORMAT:  # ustar has no long or non-ASCII names
        files = {name: data for name, data in files.items() if len(name) < 100 and name.isascii()}
    path = write_tar(tmp_path / "a.tar", files, tar_format, directories=("a-folder",))
    assert walked(path) == tarfile_members(path)
    assert [name for name, _, _ in walked(path)] == list(files)
    with open(path, "rb") as handle:
        for member in iter_tar_members(handle):
            handle.seek(member.offset)
            assert handle.read(member.size) == files[member.name]


def test_a_damaged_tar_is_refused_where_it_breaks(tmp_path):
    path = write_tar(tmp_path / "a.tar", FILES, tarfile.PAX_FORMAT)
    whole = path.read_bytes()
    cut = tmp_path / "cut.tar"
    cut.write_bytes(whole[: walked(path)[0][1] + 1000])  # the clip's data breaks off
    with pytest.raises(tarfile.ReadError, match="cut off"):
        list(walked(cut))
    flipped = bytearray(whole)
    flipped[5] ^= 0xFF  # inside the first header's name
    bad = tmp_path / "bad.tar"
    bad.write_bytes(bytes(flipped))
    with pytest.raises(tarfile.ReadError, match="checksum"):
        list(walked(bad))


def test_a_clip_in_a_tar_decodes_in_place_like_the_loose_file(tmp_path):
    path = write_tar(tmp_path / "a.tar", FILES, tarfile.PAX_FORMAT)
    name, offset, size = walked(path)[0]
    source = tar_member_source(path, offset, size)
    assert read_source_bytes(source) == CLIP.read_bytes()
    times = [0.0, 1.3, 3.9, 1.3]
    np.testing.assert_array_equal(decode_frames_at(source, times), decode_frames_at(CLIP, times))


def test_a_tar_member_fails_with_the_errors_of_a_loose_file(tmp_path):
    path = write_tar(tmp_path / "a.tar", FILES, tarfile.PAX_FORMAT)
    members = {name: (offset, size) for name, offset, size in walked(path)}
    with pytest.raises(NotAVideoError, match="does not recognise"):
        decode_frames_at(tar_member_source(path, *members["000000001.json"]), [0.0])
    offset, size = members["000000001.mp4"]
    with pytest.raises(CorruptVideoError, match="damaged"):
        decode_frames_at(tar_member_source(path, offset, 2000), [0.0])  # the clip cut off after 2 kB
    with pytest.raises(VideoNotFoundError, match="no such file"):
        decode_frames_at(tar_member_source(tmp_path / "gone.tar", offset, size), [0.0])


def test_a_local_shard_store_references_its_clips_and_a_reread_gives_the_same_rows(tmp_path):
    store = tmp_path / "store"
    rows = []
    for k, start in enumerate((0.0, 1.5)):
        relative = f"clips/car/carphone_{k}.mp4"
        info = encode_clip(CLIP, store / relative, start=start, duration=1.5, short_side=48)
        rows.append({"file_name": relative, "video_id": f"carphone_{k}", "label": "car", "class_index": 0,
                     "duration": info.duration, "fps": info.fps, "num_frames": info.num_frames,
                     "width": info.width, "height": info.height})
    (store / "metadata.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    write_shard_store(store, tmp_path / "shards", shard_clips=1)
    streamed = list(build_clip_dataset(tmp_path / "shards", streaming=True))
    assert sorted(row["file_name"] for row in streamed) == [row["file_name"] for row in rows]
    for row in streamed:
        assert row["video"]["bytes"] is None and row["video"]["path"].startswith("subfile,")
        assert read_source_bytes(row["video"]["path"]) == (store / row["file_name"]).read_bytes()
        np.testing.assert_array_equal(
            decode_frames_at(row["video"]["path"], [0.2, 1.0]), decode_frames_at(store / row["file_name"], [0.2, 1.0])
        )
    assert list(build_clip_dataset(tmp_path / "shards", streaming=True)) == streamed
    for tar in (tmp_path / "shards" / "webdataset").glob("*.tar"):  # no pax header per member (int mtime)
        with tarfile.open(tar) as opened:
            assert all(not member.pax_headers for member in opened)
