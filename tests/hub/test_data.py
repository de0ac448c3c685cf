"""Pretraining data from the Hub (issues 19 and 20): a shard store at a URL streams its tars through fsspec with the
same split by process and worker as local shards (fsspec's memory file system stands in for the Hub's, which
`hf://` URLs reach through the same code); a Hub dataset by repo id or hf:// URL is read from the Hugging Face cache
offline; one not cached fails at once with what to do, also from the pretraining command line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import fsspec
import pytest
import torch
from accelerate.data_loader import prepare_data_loader
from curation_helpers import clip
from huggingface_hub import constants
from hub_stand_in import HubStandIn

from vito_hf import clip_store
from vito_hf.curation.clip_export import encode_clip
from vito_hf.curation.webdataset_export import write_shard_store
from vito_hf.data import DataArguments, build_clip_dataset, build_pretraining_data
from vito_hf.data.builder import ShardSplitError
from vito_hf.data.store_location import _hub_store, locate_store, parse_hub_url
from vito_hf.hub_access import HubUnreachableError

REPOSITORY = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPOSITORY / "training_scripts"))
from run_pretraining import main as run_pretraining  # noqa: E402

DATA = DataArguments(image_size=32, num_views=2, window_seconds=0.5, device_augmentation=False)
SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> tuple[Path, Path]:
    """A loose store of four real 1.5 s clips in two classes, and the same clips packed one per tar."""
    root = tmp_path_factory.mktemp("stores")
    store, rows = root / "loose", []
    for k, (name, start, label) in enumerate([("bikes.mp4", 0.0, "bike"), ("bikes.mp4", 3.0, "bike"),
                                              ("carphone_pristine.mp4", 0.0, "car"),
                                              ("carphone_pristine.mp4", 2.0, "car")]):
        relative = clip_store.clip_file_name(label, f"{label}_{k}")
        info = encode_clip(clip(name), store / relative, start=start, duration=1.5, short_side=48)
        rows.append({"file_name": relative, "video_id": f"{label}_{k}", "label": label, "class_id": label,
                     "class_index": int(label == "car"), "duration": info.duration, "fps": info.fps,
                     "num_frames": info.num_frames, "width": info.width, "height": info.height})
    (store / clip_store.METADATA_FILE).write_text("".join(json.dumps(row) + "\n" for row in rows))
    write_shard_store(store, root / "shards", shard_clips=1)
    return store, root / "shards"


@pytest.fixture
def in_memory(stores):
    """The shard store copied into fsspec's memory file system: a remote store without a network."""
    fs = fsspec.filesystem("memory")
    fs.put(str(stores[1]), "/hub-stand-in/shards", recursive=True)
    yield "memory://hub-stand-in/shards"
    fs.rm("/hub-stand-in", recursive=True)


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache under a temporary HF_HOME, with HF_HUB_OFFLINE=1."""
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    _hub_store.cache_clear()
    yield tmp_path / "hub"
    _hub_store.cache_clear()


def cache_dataset(cache: Path, repo_id: str, folder: Path) -> None:
    """Put `folder` in `cache` as `snapshot_download` leaves a dataset: blobs, a snapshot of links, refs/main."""
    repo = cache / f"datasets--{repo_id.replace('/', '--')}"
    for k, path in enumerate(sorted(p for p in folder.rglob("*") if p.is_file())):
        blob = repo / "blobs" / f"{k:040x}"
        blob.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, blob)
        link = repo / "snapshots" / SHA / path.relative_to(folder)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(Path("../" * (len(path.relative_to(folder).parts) - 1)) / ".." / ".." / "blobs" / blob.name)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(SHA)


def names(rows) -> list[str]:
    return sorted(row["file_name"] for row in rows)


def test_a_shard_store_at_a_url_streams_every_clip_with_its_bytes(stores, in_memory):
    loose, _ = stores
    rows = list(build_clip_dataset(in_memory, streaming=True))
    assert names(rows) == names(json.loads(line) for line in (loose / clip_store.METADATA_FILE).read_text().splitlines())
    for row in rows:  # streamed from the remote tar: the clip's bytes travel in the row
        assert row["video"] == {"path": row["file_name"], "bytes": (loose / row["file_name"]).read_bytes()}
    with pytest.raises(ValueError, match="streaming=True"):
        build_clip_dataset(in_memory)


def reader_epoch(dataset, rank: int) -> list[str]:
    """What process `rank` of 2 reads through 2 DataLoader workers, split as Trainer's loader splits it."""
    loader = torch.utils.data.DataLoader(dataset, batch_size=1, num_workers=2, collate_fn=lambda batch: batch)
    loader = prepare_data_loader(loader, num_processes=2, process_index=rank, put_on_device=False,
                                 dispatch_batches=False)
    seen = []
    for batch in loader:
        for example in batch:
            assert example["pixel_values"].shape == (2, 3, 32, 32)
            seen.append(example["file_name"])
    return seen


def test_url_shards_split_over_processes_and_workers_like_local_shards(stores, in_memory):
    every_clip = names(build_clip_dataset(stores[1], streaming=True))
    data = build_pretraining_data(DATA, seed=0, data_dir=in_memory, world_size=2, num_workers=2)
    per_rank = [reader_epoch(data.train_dataset, rank) for rank in (0, 1)]
    assert sorted(per_rank[0] + per_rank[1]) == every_clip
    assert per_rank[0] and per_rank[1] and not set(per_rank[0]) & set(per_rank[1])
    with pytest.raises(ShardSplitError, match="4 shards for 3 processes x 2 DataLoader workers"):
        build_pretraining_data(DATA, seed=0, data_dir=in_memory, world_size=3, num_workers=2)


def test_a_url_must_hold_a_complete_shard_store(stores, in_memory):
    fs = fsspec.filesystem("memory")
    fs.put(str(stores[0]), "/hub-stand-in/loose", recursive=True)
    with pytest.raises(FileNotFoundError, match="only a shard store can be read from a URL"):
        build_clip_dataset("memory://hub-stand-in/loose", streaming=True)
    fs.rm(f"/hub-stand-in/shards/{clip_store.shard_file_name(2)}")
    with pytest.raises(FileNotFoundError, match="1 of 4 shards listed.*missing"):
        build_clip_dataset(in_memory, streaming=True)


@pytest.mark.parametrize("form", ["loose", "shards"])
def test_a_cached_hub_dataset_is_read_offline_by_repo_id_and_url(form, stores, hub_cache):
    local = stores[0] if form == "loose" else stores[1]
    cache_dataset(hub_cache, f"someone/videonet-{form}", local)
    expected = names(build_clip_dataset(local, streaming=True))
    for data_dir in (f"someone/videonet-{form}", f"hf://datasets/someone/videonet-{form}",
                     f"hf://datasets/someone/videonet-{form}@{SHA}"):
        located = locate_store(data_dir)
        assert located == hub_cache / f"datasets--someone--videonet-{form}" / "snapshots" / SHA
        assert names(build_clip_dataset(data_dir, streaming=True)) == expected
    if form == "loose":
        assert names(build_clip_dataset(f"someone/videonet-{form}")) == expected  # map-style from the cache
    data = build_pretraining_data(DATA, seed=0, data_dir=f"someone/videonet-{form}")
    assert data.train_dataset is not None


def test_offline_a_dataset_not_in_the_cache_fails_at_once_saying_what_to_do(hub_cache):
    started = time.perf_counter()
    with pytest.raises(HubUnreachableError) as caught:
        build_clip_dataset("someone/not-downloaded")
    message = str(caught.value)
    assert "offline mode is on (HF_HUB_OFFLINE=1)" in message and "not in the local Hugging Face cache" in message
    assert "hf download someone/not-downloaded --repo-type dataset" in message and "local folder" in message
    assert time.perf_counter() - started < 30  # the bar is 10 s; measured by hand, see the report


def test_an_unreachable_hub_falls_back_to_the_cache_or_fails_saying_so(stores, hub_cache, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    cache_dataset(hub_cache, "someone/cached", stores[1])
    assert locate_store("someone/cached") == hub_cache / "datasets--someone--cached" / "snapshots" / SHA
    with pytest.raises(HubUnreachableError, match=r"unreachable at http://127.0.0.1:9.*not in the local"):
        locate_store("someone/elsewhere")


def test_the_pretraining_command_answers_offline_with_the_error(hub_cache, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        run_pretraining(["--output_dir", str(tmp_path / "run"), "--preset", "tiny", "--data_dir",
                         "hf://datasets/someone/not-downloaded", "--max_steps", "1"])
    assert exited.value.code not in (0, None)
    shown = capsys.readouterr()
    assert "--data_dir someone/not-downloaded: The Hugging Face Hub is unreachable: offline mode is on" in (
        shown.err + shown.out)
    assert not (tmp_path / "run").exists()


def test_names_that_are_not_hub_datasets_are_refused_or_read_locally(tmp_path, hub_cache, monkeypatch):
    with pytest.raises(ValueError, match="hf://datasets/<user>/<name>"):
        parse_hub_url("hf://models/someone/encoder")
    assert parse_hub_url("hf://datasets/someone/videonet@v1.0") == ("someone/videonet", "v1.0")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "curated" / "clips").mkdir(parents=True)  # a local folder that looks like a repo id stays local
    assert locate_store("curated/clips") == Path("curated/clips")
    assert locate_store(tmp_path / "anything") == tmp_path / "anything"


READ_BY_REPO_ID = """
import time
from vito_hf.data import build_clip_dataset
started = time.perf_counter()
rows = list(build_clip_dataset("someone/videonet", streaming=True))
print("ROWS", sorted(row["file_name"] for row in rows), f"{time.perf_counter() - started:.2f}")
"""


def test_a_folder_store_by_repo_id_is_downloaded_then_read_offline_from_the_cache(stores, tmp_path):
    """Through `hub_stand_in` (a local server answering the Hub's repo-info and file endpoints): real
    `snapshot_download` into a fresh HF_HOME, then the same read with HF_HUB_OFFLINE=1 from that cache."""
    loose = stores[0]
    expected = names(build_clip_dataset(loose, streaming=True))
    environment = {key: value for key, value in os.environ.items() if not key.startswith("HF_")}
    environment.update(PYTHONPATH=str(REPOSITORY / "src"), HF_HOME=str(tmp_path / "hf-home"))
    with HubStandIn() as stand_in:
        stand_in.repos["someone/videonet"] = {p.relative_to(loose).as_posix(): p.read_bytes()
                                              for p in loose.rglob("*") if p.is_file()}
        stand_in.shas["someone/videonet"] = SHA
        online = subprocess.run([sys.executable, "-c", READ_BY_REPO_ID], capture_output=True, text=True,
                                env=dict(environment, HF_ENDPOINT=stand_in.endpoint), timeout=600)
    assert online.returncode == 0, online.stderr[-3000:]
    assert f"ROWS {expected}" in online.stdout
    assert (tmp_path / "hf-home" / "hub" / "datasets--someone--videonet" / "snapshots" / SHA).is_dir()
    offline = subprocess.run([sys.executable, "-c", READ_BY_REPO_ID], env=dict(environment, HF_HUB_OFFLINE="1"),
                             capture_output=True, text=True, timeout=600)
    assert offline.returncode == 0, offline.stderr[-3000:]
    assert f"ROWS {expected}" in offline.stdout
