"""Row -> views -> batch: the view transform, the collator, bad clips, streaming, DataLoader workers."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from vito_hf.curation.clip_export import encode_clip
from vito_hf.data.augmentation import ViewAugmentation, byol_view_augmentations, random_resized_crop
from vito_hf.data.builder import build_clip_dataset
from vito_hf.data.collation import IMAGENET_MEAN, IMAGENET_STD, DeviceViewAugmentation, VitoPretrainingCollator
from vito_hf.data.decoding import decode_frames_at
from sample_clips import sample_clip_paths
from vito_hf.data.samplers import MarginalSampler
from vito_hf.data.transforms import VitoViewTransform
from vito_hf.data.view_datasets import ResamplingViewDataset, SkippingViewDataset, views_dataset

SIZE = 32


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """A plain folder of three short real clips and one file that is not a video."""
    root = tmp_path_factory.mktemp("store")
    bikes, carphone = sample_clip_paths()[:2]
    encode_clip(bikes, root / "street" / "a.mp4", start=0.0, duration=3.0, short_side=64)
    encode_clip(bikes, root / "street" / "b.mp4", start=5.0, duration=3.0, short_side=64)
    encode_clip(carphone, root / "car" / "c.mp4", duration=3.0, short_side=64)
    return root


@pytest.fixture(scope="module")
def dataset(store, tmp_path_factory):
    return build_clip_dataset(store, cache_dir=tmp_path_factory.mktemp("cache"))


def test_set_transform_gives_uint8_views(dataset):
    transform = VitoViewTransform(image_size=SIZE, generator=torch.Generator().manual_seed(0))
    views = dataset.with_transform(transform)
    item = views[0]
    assert item["pixel_values"].shape == (3, 3, SIZE, SIZE) and item["pixel_values"].dtype == torch.uint8
    batch = views[0:3]
    assert len(batch["pixel_values"]) == 3 and batch["skip_reason"] == [None, None, None]


def test_views_are_crops_of_the_frames_at_the_sampled_times(dataset):
    whole = ViewAugmentation(crop_scale=(1.0, 1.0), crop_ratio=(64 / 64, 64 / 64), flip_p=0.0)
    row = dataset[2]
    transform = VitoViewTransform(image_size=SIZE, augmentations=[whole] * 3, generator=torch.Generator().manual_seed(4))
    views = transform(row)["pixel_values"]
    replay = torch.Generator().manual_seed(4)
    times = MarginalSampler()(row["duration"], replay).times
    frames = decode_frames_at(row["video"]["path"], times)
    expected = torch.stack([random_resized_crop(frames[v], SIZE, whole, replay) for v in range(3)])
    assert torch.equal(views, expected)


def test_worker_photometric_and_determinism(dataset):
    def make() -> VitoViewTransform:
        return VitoViewTransform(image_size=SIZE, photometric_in_worker=True, generator=torch.Generator().manual_seed(1))

    a, b = make()(dataset[0]), make()(dataset[0])
    assert a["pixel_values"].dtype == torch.float32 and torch.equal(a["pixel_values"], b["pixel_values"])
    assert 0.0 <= a["pixel_values"].min() and a["pixel_values"].max() <= 1.0


def test_collator_shapes_dtype_and_normalisation():
    views = [{"pixel_values": torch.randint(0, 256, (3, 3, SIZE, SIZE), dtype=torch.uint8)} for _ in range(4)]
    plain = VitoPretrainingCollator(apply_photometric=False)(views)["pixel_values"]
    assert plain.shape == (4, 3, 3, SIZE, SIZE) and plain.dtype == torch.float32
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    assert torch.allclose(plain[1, 2], (views[1]["pixel_values"][2].float() / 255 - mean) / std, atol=1e-6)
    augmented = VitoPretrainingCollator(generator=torch.Generator().manual_seed(0))(views)["pixel_values"]
    assert augmented.shape == plain.shape and augmented.dtype == torch.float32
    assert not torch.allclose(augmented, plain)
    raw = VitoPretrainingCollator(apply_photometric=False, normalize=False)(views)["pixel_values"]
    assert raw.dtype == torch.uint8
    on_device = DeviceViewAugmentation(generator=torch.Generator().manual_seed(0))(raw)
    assert torch.allclose(on_device, augmented, atol=1e-5)  # same draws, same result as in the collator
    floats = [{"pixel_values": v["pixel_values"].float() / 255} for v in views]
    assert torch.allclose(VitoPretrainingCollator()(floats)["pixel_values"], plain, atol=1e-6)


def test_bad_clip_is_skipped_counted_and_dropped(dataset, tmp_path, caplog):
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    transform = VitoViewTransform(image_size=SIZE)
    with caplog.at_level(logging.WARNING):
        out = transform({"video": [dataset[0]["video"], {"path": str(bad), "bytes": None}], "duration": [3.0, 3.0]})
    assert out["pixel_values"][0] is not None and out["pixel_values"][1] is None
    assert "NotAVideoError" in out["skip_reason"][1]
    assert transform.skipped.count == 1 and "bad.mp4" in transform.skipped.reasons[0]
    assert "Skipping a clip" in caplog.text
    collator = VitoPretrainingCollator(apply_photometric=False)
    examples = [{"pixel_values": out["pixel_values"][0]}, {"pixel_values": None, "skip_reason": out["skip_reason"][1]}]
    assert collator(examples)["pixel_values"].shape[0] == 1 and collator.dropped.count == 1
    with pytest.raises(RuntimeError, match="every clip of this batch"):
        collator([examples[1]])


def test_resampling_dataset_keeps_batches_full(dataset, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"")
    rows = [dataset[0], {"video": {"path": str(bad), "bytes": None}, "duration": 3.0}, dataset[1]]
    transform = VitoViewTransform(image_size=SIZE)
    wrapped = ResamplingViewDataset(rows, transform, generator=torch.Generator().manual_seed(0))
    items = [wrapped[i] for i in range(3)]
    assert all(item["pixel_values"].shape == (3, 3, SIZE, SIZE) for item in items)
    assert transform.skipped.count >= 1
    with pytest.raises(RuntimeError, match="failed to decode"):
        ResamplingViewDataset([rows[1]], transform, max_attempts=3)[0]


def test_streaming_with_map_and_skipping(store, tmp_path):
    streaming = build_clip_dataset(store, streaming=True)
    transform = VitoViewTransform(image_size=SIZE)
    mapped = streaming.map(transform, remove_columns=["video"])
    first = next(iter(mapped))
    assert torch.as_tensor(first["pixel_values"]).shape == (3, 3, SIZE, SIZE)
    bad = tmp_path / "x.mp4"
    bad.write_text("junk")
    rows = [{"video": str(bad), "duration": 2.0}, *list(streaming)]
    skipping = views_dataset(iter(rows), transform)
    assert isinstance(skipping, SkippingViewDataset)
    assert len(list(skipping)) == 3


def test_dataloader_with_two_workers(dataset):
    transform = VitoViewTransform(image_size=SIZE)
    loader = torch.utils.data.DataLoader(
        views_dataset(dataset, transform),
        batch_size=3,
        num_workers=2,
        collate_fn=VitoPretrainingCollator(augmentations=byol_view_augmentations(3)),
    )
    batches = list(loader)
    assert [b["pixel_values"].shape for b in batches] == [(3, 3, 3, SIZE, SIZE)]
    values = batches[0]["pixel_values"]
    assert np.isfinite(values.numpy()).all() and values.mean().abs() < 3
