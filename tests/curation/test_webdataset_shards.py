"""WebDataset shards (issue 11.2): curation and the converter pack a store into tars with an index and card; the
tars hold every clip's exact bytes and metadata; the stream splits them over processes x workers so each clip is
seen once per epoch; a real VitoTrainer run trains from the tars alone; the push command uploads them."""

from __future__ import annotations

import json
import logging
import shutil
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from accelerate.data_loader import prepare_data_loader
from curation_helpers import clip, read_jsonl
from huggingface_hub import DatasetCard
from training_helpers import cpu_args, tiny_model

from vito_hf import clip_store
from vito_hf.curation import CurationSettings, curate, taxonomy_from_records
from vito_hf.curation.webdataset_export import plan_shards, write_shard_store
from vito_hf.data import DataArguments, build_clip_dataset, build_pretraining_data
from vito_hf.data.builder import ShardSplitError, check_shard_split
from vito_hf.data.decoding import read_source_bytes
from vito_hf.training import VitoTrainer

REPOSITORY = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPOSITORY / "dataset_scripts"))
sys.path.insert(0, str(REPOSITORY / "training_scripts"))
from convert_to_webdataset import main as convert  # noqa: E402
from push_to_hub import main as push  # noqa: E402

TAXONOMY = taxonomy_from_records(["mountain bike", "car"])
TITLES = {  # six real clips in two classes: bikes and carphone footage under several titles
    "mountain bike ride.mp4": "bikes.mp4",
    "mountain bike downhill.mp4": "bikes.mp4",
    "mountain bike trail.mp4": "bikes.mp4",
    "car phone call.mp4": "carphone_pristine.mp4",
    "car phone again.mp4": "carphone_pristine.mp4",
    "car phone parked.mp4": "carphone_pristine.mp4",
}
DATA = DataArguments(image_size=32, num_views=2, window_seconds=0.5, device_augmentation=False)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """A curated store packed in place by the curation setting, one clip per shard (shards of 1 byte)."""
    videos = tmp_path_factory.mktemp("videos")
    for title, source in TITLES.items():
        (videos / title).symlink_to(clip(source))
    output = tmp_path_factory.mktemp("store")
    settings = CurationSettings(taxonomy=TAXONOMY, classifier=None, min_duration=1.0, clip_duration=1.0,
                                short_side=48, progress=False, webdataset_shard_bytes=1)
    curate(videos, output, settings)
    return output


@pytest.fixture(scope="module")
def tars_only(store, tmp_path_factory) -> Path:
    """The store converted into another folder by the command (two clips per shard): no loose clip there."""
    output = tmp_path_factory.mktemp("converted") / "wds"
    convert(["--store", str(store), "--output_dir", str(output), "--shard_clips", "2"])
    return output


def streamed(root: Path) -> dict[str, dict]:
    return {row["file_name"]: row for row in build_clip_dataset(root, streaming=True)}


@pytest.mark.parametrize("packed", ["store", "tars_only"])
def test_every_clip_round_trips_with_its_bytes_and_metadata(packed, store, request):
    root = request.getfixturevalue(packed)
    assert not (root / clip_store.CLIPS_DIR).exists() or packed == "store"
    rows = read_jsonl(store / clip_store.METADATA_FILE)
    assert len(rows) == len(TITLES)
    rows_from_tars = streamed(root)
    assert sorted(rows_from_tars) == sorted(row["file_name"] for row in rows)
    for row in rows:
        got = rows_from_tars[row["file_name"]]
        assert got["video"]["bytes"] is None  # a local tar's clip is read in place, not copied into the row
        assert read_source_bytes(got["video"]["path"]) == (store / row["file_name"]).read_bytes()
        assert {column: got[column] for column in clip_store.COLUMNS} == row


def test_the_index_counts_clips_per_shard_and_class(store, tars_only):
    rows = read_jsonl(store / clip_store.METADATA_FILE)
    for root, per_shard in ((store, [1] * 6), (tars_only, [2, 2, 2])):
        index = json.loads((root / clip_store.SHARD_INDEX_FILE).read_text())
        assert index["format_version"] == clip_store.SHARD_FORMAT_VERSION
        assert [shard["clips"] for shard in index["shards"]] == per_shard
        assert sorted(p.name for p in (root / clip_store.SHARD_DIR).glob("*.tar")) == [
            Path(shard["file"]).name for shard in index["shards"]
        ]
        assert index["classes"] == dict(Counter(row["class_id"] for row in rows))
        for shard in index["shards"]:
            in_tar = build_clip_dataset(root, streaming=True).shard(len(index["shards"]), index["shards"].index(shard))
            assert shard["classes"] == dict(Counter(row["class_id"] for row in in_tar))
            assert shard["bytes"] == (root / shard["file"]).stat().st_size
        card = DatasetCard((root / "README.md").read_text())
        assert card.data.configs[0]["data_files"] == [{"split": "train", "path": clip_store.SHARD_DATA_FILES}]
        assert f"{len(rows)} clips in {len(per_shard)} tar shards" in card.text


def test_repacking_is_byte_identical_and_drops_stale_shards(store, tmp_path):
    first = write_shard_store(store, tmp_path / "a", shard_clips=4)
    (tmp_path / "a" / clip_store.shard_file_name(7)).write_bytes(b"left from an earlier packing")
    second = write_shard_store(store, tmp_path / "a", shard_clips=4)
    write_shard_store(store, tmp_path / "b", shard_clips=4)
    assert first == second and len(first["shards"]) == 2
    for shard in first["shards"]:
        assert (tmp_path / "a" / shard["file"]).read_bytes() == (tmp_path / "b" / shard["file"]).read_bytes()
    assert not (tmp_path / "a" / clip_store.shard_file_name(7)).exists()
    assert not list((tmp_path / "a").rglob(".*"))  # no temporary left


def test_a_curation_rerun_repacks_the_shards_with_their_recorded_sizes(tmp_path):
    """Rerun without the setting after a new candidate arrives: the stream must not serve the old shards."""
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "mountain bike ride.mp4").symlink_to(clip("bikes.mp4"))
    settings = CurationSettings(taxonomy=TAXONOMY, classifier=None, min_duration=1.0, clip_duration=1.0,
                                short_side=48, progress=False)
    curate(videos, tmp_path / "store", replace(settings, webdataset_shard_bytes=1))
    (videos / "car phone call.mp4").symlink_to(clip("carphone_pristine.mp4"))
    curate(videos, tmp_path / "store", settings)
    index = json.loads((tmp_path / "store" / clip_store.SHARD_INDEX_FILE).read_text())
    assert index["clips"] == 2 and [shard["clips"] for shard in index["shards"]] == [1, 1]
    assert sorted(streamed(tmp_path / "store")) == sorted(
        row["file_name"] for row in read_jsonl(tmp_path / "store" / clip_store.METADATA_FILE)
    )


def test_shards_close_before_the_size_bound():
    assert plan_shards([4, 4, 4, 9, 1], shard_bytes=8) == [[0, 1], [2], [3], [4]]
    assert plan_shards([1] * 5, shard_bytes=100, shard_clips=2) == [[0, 1], [2, 3], [4]]


def epoch_of_reader(dataset, rank: int, epoch: int) -> list[str]:
    """What process `rank` of 2 streams in `epoch` through 2 DataLoader workers, split by Accelerate and
    datasets exactly as Trainer's loader is (the views are decoded from the tars' bytes on the way)."""
    loader = torch.utils.data.DataLoader(dataset, batch_size=1, num_workers=2, collate_fn=lambda batch: batch)
    loader = prepare_data_loader(loader, num_processes=2, process_index=rank, put_on_device=False,
                                 dispatch_batches=False)
    loader.set_epoch(epoch)
    names = []
    for batch in loader:
        for example in batch:
            assert example["pixel_values"].shape == (2, 3, 32, 32)
            names.append(example["file_name"])
    return names


def test_two_processes_by_two_workers_see_every_clip_once_per_epoch(store):
    data = build_pretraining_data(DATA, seed=0, data_dir=store, world_size=2, num_workers=2)
    every_clip = sorted(row["file_name"] for row in read_jsonl(store / clip_store.METADATA_FILE))
    for epoch in (0, 1):
        data.callbacks[0].seeding.set_epoch(epoch)
        per_rank = [epoch_of_reader(data.train_dataset, rank, epoch) for rank in (0, 1)]
        assert sorted(per_rank[0] + per_rank[1]) == every_clip
        assert per_rank[0] and per_rank[1] and not set(per_rank[0]) & set(per_rank[1])


def test_more_readers_than_shards_is_refused_with_what_to_do(store, tars_only, caplog):
    with pytest.raises(ShardSplitError, match="3 shards for 2 processes x 2 DataLoader workers = 4 readers.*shard_mb"):
        build_pretraining_data(DATA, seed=0, data_dir=tars_only, world_size=2, num_workers=2)
    check_shard_split(4, world_size=2, num_workers=2)
    with caplog.at_level(logging.WARNING):
        check_shard_split(6, world_size=2, num_workers=2)
    assert "do not split evenly over 4 readers" in caplog.text
    with pytest.raises(ValueError, match="shard store.*streaming=True"):
        build_clip_dataset(store)


def test_a_damaged_shard_costs_its_own_clips_only(tars_only, tmp_path, caplog):
    damaged = tmp_path / "damaged"
    shutil.copytree(tars_only, damaged)
    index = json.loads((damaged / clip_store.SHARD_INDEX_FILE).read_text())
    broken = damaged / index["shards"][1]["file"]
    broken.write_bytes(broken.read_bytes()[:700])  # the first member's header, then its data breaks off
    with caplog.at_level(logging.WARNING):
        rows = streamed(damaged)
    assert len(rows) == 4 and "is damaged after 0 clips" in caplog.text
    (damaged / index["shards"][2]["file"]).unlink()
    with pytest.raises(FileNotFoundError, match="1 of 3 shards listed.*missing"):
        build_clip_dataset(damaged, streaming=True)
    index_path = damaged / clip_store.SHARD_INDEX_FILE
    index_path.write_text(json.dumps({**index, "format_version": clip_store.SHARD_FORMAT_VERSION + 1}))
    with pytest.raises(clip_store.ClipStoreVersionError, match="newer vito_hf.*Upgrade"):
        build_clip_dataset(damaged, streaming=True)


def test_vito_trainer_trains_from_the_tars_alone(tars_only, tmp_path):
    data = build_pretraining_data(replace(DATA, num_views=3), seed=0, data_dir=tars_only)
    trainer = VitoTrainer(model=tiny_model(), args=cpu_args(tmp_path, max_steps=3, per_device_train_batch_size=2),
                          device_augmentation=data.device_augmentation, **data.trainer_kwargs())
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert trainer.state.global_step == 3 and len(losses) == 3
    assert all(torch.isfinite(torch.tensor(losses)))


def test_the_push_dry_run_lists_the_shards_index_and_card_not_the_loose_clips(store, capsys):
    status = push(["dataset", str(store), "--repo-id", "someone/clips-wds", "--dry-run"])
    listed = capsys.readouterr().out.split()
    assert status == 0
    index = json.loads((store / clip_store.SHARD_INDEX_FILE).read_text())
    assert {shard["file"] for shard in index["shards"]} | {clip_store.SHARD_INDEX_FILE, "README.md"} <= set(listed)
    assert not [name for name in listed if name.startswith(("clips/", "state/"))]
    assert any((store / clip_store.CLIPS_DIR).rglob("*.mp4"))  # there were loose clips to leave out


def test_a_push_of_a_store_missing_a_listed_shard_stops_before_sending(tars_only, tmp_path, capsys):
    incomplete = tmp_path / "incomplete"
    shutil.copytree(tars_only, incomplete)
    (incomplete / clip_store.shard_file_name(1)).unlink()
    with pytest.raises(SystemExit) as exited:
        push(["dataset", str(incomplete), "--repo-id", "someone/clips-wds", "--dry-run"])
    assert exited.value.code == 2
    assert "1 of 3 shards listed" in capsys.readouterr().err
